package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of Dial as a user sees it: against hand-written servers that can
// answer anything, against httptest servers running Upgrade, and through a
// CONNECT proxy written here.

// noProxy keeps tests independent of HTTP_PROXY and friends.
func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

// testCtx is a context that bounds one test's Dial.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

// dialTest dials urlStr; a Conn it returns is closed when the test ends.
func dialTest(t *testing.T, ctx context.Context, urlStr string, opts *DialOptions) (*Conn, *http.Response, error) {
	t.Helper()
	c, resp, err := Dial(ctx, urlStr, opts)
	if c != nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, resp, err
}

// wsURL turns an httptest server's URL into a ws or wss one.
func wsURL(srv *httptest.Server) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// startRawServer accepts TCP connections on loopback and runs handle for
// each in its own goroutine, with a reader of the connection. Cleanup closes
// the listener and every connection, and waits for the handlers.
func startRawServer(t *testing.T, handle func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
		wg     sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns = append(conns, c)
			wg.Add(1)
			mu.Unlock()
			c.SetDeadline(time.Now().Add(testWait))
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// readRequestHead reads a request's line and header as sent.
func readRequestHead(br *bufio.Reader) (line string, h http.Header, err error) {
	tr := textproto.NewReader(br)
	if line, err = tr.ReadLine(); err != nil {
		return "", nil, err
	}
	mh, err := tr.ReadMIMEHeader()
	return line, http.Header(mh), err
}

// wantAccept computes Sec-WebSocket-Accept as RFC 6455 §4.2.2 says.
func wantAccept(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// answer101 is a valid 101 answer for key, with extra header lines.
func answer101(key string, extra ...string) string {
	var b strings.Builder
	b.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
	b.WriteString("Sec-WebSocket-Accept: " + wantAccept(key) + "\r\n")
	for _, l := range extra {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// drain reads until the client goes away.
func drain(br *bufio.Reader) { io.Copy(io.Discard, br) }

func TestDialURL(t *testing.T) {
	errNoDial := errors.New("test dialer does not dial")
	tests := []struct {
		url  string
		addr string // what the dialer gets; "" if the URL is refused
	}{
		{"ws://example.com/chat", "example.com:80"},
		{"wss://example.com/chat", "example.com:443"},
		{"http://example.com/chat", "example.com:80"},
		{"https://example.com/chat", "example.com:443"},
		{"ws://example.com:8080/", "example.com:8080"},
		{"wss://example.com:80/", "example.com:80"},
		{"ws://[::1]/", "[::1]:80"},
		{"wss://[::1]:9443", "[::1]:9443"},
		{"ftp://example.com/", ""},
		{"example.com/chat", ""},
		{"ws://example.com/chat#frag", ""},
		{"ws://example.com/chat#", ""},
		{"ws:///chat", ""},
		{"ws://:80/chat", ""},
		{"ws://user:secret@example.com/", ""},
		{"ws://exa mple.com/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			var dialed []string
			opts := &DialOptions{
				Proxy: noProxy,
				NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dialed = append(dialed, network+" "+addr)
					return nil, errNoDial
				},
			}
			c, resp, err := dialTest(t, testCtx(t), tt.url, opts)
			if c != nil || resp != nil || err == nil {
				t.Fatalf("Dial = %v, %v, %v; want an error", c, resp, err)
			}
			if !strings.HasPrefix(err.Error(), "websocket: ") {
				t.Errorf("error %q does not start with the package prefix", err)
			}
			if tt.addr == "" {
				if dialed != nil {
					t.Errorf("refused URL dialed %q", dialed)
				}
				return
			}
			if !errors.Is(err, errNoDial) {
				t.Errorf("error %v does not wrap the dialer's", err)
			}
			if want := []string{"tcp " + tt.addr}; !slices.Equal(dialed, want) {
				t.Errorf("dialed %q, want %q", dialed, want)
			}
		})
	}
}

// TestDialRequest checks the request line and headers a server receives.
func TestDialRequest(t *testing.T) {
	type request struct {
		line   string
		header http.Header
	}
	requests := make(chan request, 1)
	addr := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		line, h, err := readRequestHead(br)
		if err != nil {
			return
		}
		requests <- request{line, h}
		io.WriteString(c, answer101(h.Get("Sec-WebSocket-Key")))
		drain(br)
	})
	tests := []struct {
		url   string
		host  string // DialOptions.Header's Host, if any
		line  string
		wantH string // the Host header
	}{
		{"ws://" + addr + "/chat?room=a%20b&x=%2F", "", "GET /chat?room=a%20b&x=%2F HTTP/1.1", addr},
		{"ws://" + addr, "", "GET / HTTP/1.1", addr},
		{"ws://" + addr + "/a%2Fb/c%3F", "", "GET /a%2Fb/c%3F HTTP/1.1", addr},
		{"http://" + addr + "/x/?y", "", "GET /x/?y HTTP/1.1", addr},
		{"ws://" + addr + "/v", "chat.example.com:8443", "GET /v HTTP/1.1", "chat.example.com:8443"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			opts := &DialOptions{Header: http.Header{}}
			if tt.host != "" {
				opts.Header.Set("Host", tt.host)
			}
			if _, _, err := dialTest(t, testCtx(t), tt.url, opts); err != nil {
				t.Fatal(err)
			}
			req := <-requests
			if req.line != tt.line {
				t.Errorf("request line %q, want %q", req.line, tt.line)
			}
			if got := req.header.Values("Host"); !slices.Equal(got, []string{tt.wantH}) {
				t.Errorf("Host %q, want %q", got, tt.wantH)
			}
			for name, want := range map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"} {
				if got := req.header.Values(name); !slices.Equal(got, []string{want}) {
					t.Errorf("%s %q, want %q", name, got, want)
				}
			}
			if key, err := base64.StdEncoding.DecodeString(req.header.Get("Sec-WebSocket-Key")); err != nil || len(key) != 16 {
				t.Errorf("Sec-WebSocket-Key %q is not 16 bytes in base64", req.header.Get("Sec-WebSocket-Key"))
			}
			if got := req.header.Values("Sec-WebSocket-Extensions"); got != nil {
				t.Errorf("the client offered extensions %q", got)
			}
		})
	}
}

// TestDialRefusesAnswer checks answers Dial must not accept: the error says
// what was wrong and the answer is returned.
func TestDialRefusesAnswer(t *testing.T) {
	const refusal = "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n\r\nno entry for strangers"
	tests := []struct {
		name     string
		offer    []string
		answer   func(key string) string
		status   int
		errSays  string
		wantBody string
	}{
		{"403", nil, func(string) string { return refusal }, 403, "403", "no entry for strangers"},
		{"200", nil, func(string) string { return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi" }, 200, "200", "hi"},
		{"no Upgrade", nil, func(k string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + wantAccept(k) + "\r\n\r\n"
		}, 101, "Upgrade", ""},
		{"Upgrade h2c", nil, func(k string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + wantAccept(k) + "\r\n\r\n"
		}, 101, "Upgrade", ""},
		{"no Connection", nil, func(k string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " + wantAccept(k) + "\r\n\r\n"
		}, 101, "Connection", ""},
		{"no Accept", nil, func(string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
		}, 101, "Sec-WebSocket-Accept", ""},
		{"wrong Accept", nil, func(string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + sampleAccept + "\r\n\r\n"
		}, 101, "Sec-WebSocket-Accept", ""},
		{"subprotocol not offered", []string{"a"}, func(k string) string { return answer101(k, "Sec-WebSocket-Protocol: b") }, 101, "subprotocol", ""},
		{"subprotocol when none offered", nil, func(k string) string { return answer101(k, "Sec-WebSocket-Protocol: a") }, 101, "subprotocol", ""},
		{"two subprotocols in a list", []string{"a", "b"}, func(k string) string { return answer101(k, "Sec-WebSocket-Protocol: a, b") }, 101, "subprotocol", ""},
		{"two subprotocol lines", []string{"a", "b"}, func(k string) string {
			return answer101(k, "Sec-WebSocket-Protocol: a", "Sec-WebSocket-Protocol: b")
		}, 101, "subprotocol", ""},
		{"an extension", nil, func(k string) string { return answer101(k, "Sec-WebSocket-Extensions: permessage-deflate") }, 101, "extension", ""},
		{"an unknown extension", nil, func(k string) string { return answer101(k, "Sec-WebSocket-Extensions: x-foo; bar=1") }, 101, "extension", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, h, err := readRequestHead(br); err == nil {
					io.WriteString(c, tt.answer(h.Get("Sec-WebSocket-Key")))
					drain(br)
				}
			})
			c, resp, err := dialTest(t, testCtx(t), "ws://"+addr+"/", &DialOptions{Subprotocols: tt.offer})
			if c != nil || err == nil {
				t.Fatalf("Dial succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.errSays) {
				t.Errorf("error %q does not say %q", err, tt.errSays)
			}
			var herr *HandshakeError
			if !errors.As(err, &herr) || herr.Status != tt.status {
				t.Errorf("error %v (%T), want a *HandshakeError with status %d", err, err, tt.status)
			}
			if resp == nil {
				t.Fatal("no response returned")
			}
			if resp.StatusCode != tt.status {
				t.Errorf("response status %d, want %d", resp.StatusCode, tt.status)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || string(body) != tt.wantBody {
				t.Errorf("body %q, %v; want %q", body, err, tt.wantBody)
			}
		})
	}
}

// TestDialBoundsErrorBody checks that a refusal with an endless body leaves
// the caller a few KiB of it and does not keep Dial waiting.
func TestDialBoundsErrorBody(t *testing.T) {
	chunk := bytes.Repeat([]byte("x"), 8<<10)
	slowly := func(c net.Conn) {
		for {
			time.Sleep(50 * time.Millisecond)
			if _, err := c.Write([]byte("y")); err != nil {
				return
			}
		}
	}
	tests := []struct {
		name string
		head string
		rest func(c net.Conn) // writes the rest of the body, forever
	}{
		{"fast, no length", "HTTP/1.1 403 Forbidden\r\n\r\n", func(c net.Conn) {
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}},
		{"fast, huge length", "HTTP/1.1 403 Forbidden\r\nContent-Length: 1000000000000\r\n\r\n", func(c net.Conn) {
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}},
		// 8 KiB at once, then a byte every 50ms: Dial has what it keeps
		// right away and should not wait for the rest.
		{"slow, no length", "HTTP/1.1 403 Forbidden\r\n\r\n", slowly},
		{"slow, huge length", "HTTP/1.1 403 Forbidden\r\nContent-Length: 1000000000000\r\n\r\n", slowly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, _, err := readRequestHead(br); err != nil {
					return
				}
				if _, err := c.Write(append([]byte(tt.head), chunk...)); err != nil {
					return
				}
				tt.rest(c)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, resp, err := dialTest(t, ctx, "ws://"+addr+"/", nil)
			if ctx.Err() != nil {
				t.Errorf("Dial waited for the endless body until its context ended: %v", err)
			}
			var herr *HandshakeError
			if !errors.As(err, &herr) || herr.Status != 403 {
				t.Fatalf("error %v, want a *HandshakeError with status 403", err)
			}
			if resp == nil {
				t.Fatal("no response returned")
			}
			body, _ := io.ReadAll(resp.Body)
			if len(body) == 0 || len(body) > 4<<10 {
				t.Errorf("body of %d bytes, want 1 to 4096", len(body))
			}
		})
	}
}

// TestDialBoundsResponseHead checks that a server cannot make Dial read an
// answer's head forever.
func TestDialBoundsResponseHead(t *testing.T) {
	tests := []struct {
		name  string
		start string
		more  []byte // repeated until the client goes away
	}{
		{"endless header lines", "HTTP/1.1 101 Switching Protocols\r\n", []byte("X-Filler: " + strings.Repeat("f", 100) + "\r\n")},
		{"one endless line", "HTTP/1.1 101 Switching Protocols\r\nX-Filler: ", bytes.Repeat([]byte("f"), 4096)},
		{"endless status line", "HTTP/1.1 101 ", bytes.Repeat([]byte("s"), 4096)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, _, err := readRequestHead(br); err != nil {
					return
				}
				if _, err := io.WriteString(c, tt.start); err != nil {
					return
				}
				for {
					if _, err := c.Write(tt.more); err != nil {
						return
					}
				}
			})
			ctx := testCtx(t)
			c, resp, err := dialTest(t, ctx, "ws://"+addr+"/", nil)
			if c != nil || resp != nil || err == nil {
				t.Fatalf("Dial = %v, %v, %v; want an error and no response", c, resp, err)
			}
			if ctx.Err() != nil {
				t.Errorf("Dial read until its context ended: %v", err)
			}
			if !strings.Contains(err.Error(), "larger than") {
				t.Errorf("error %q does not say the answer is too large", err)
			}
		})
	}
}

// slowServer reads a request and answers it one byte per 100ms.
func slowServer(t *testing.T) string {
	return startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		_, h, err := readRequestHead(br)
		if err != nil {
			return
		}
		answer := answer101(h.Get("Sec-WebSocket-Key"))
		for i := range len(answer) {
			time.Sleep(100 * time.Millisecond)
			if _, err := io.WriteString(c, answer[i:i+1]); err != nil {
				return
			}
		}
	})
}

// TestDialTimeouts checks that Dial gives up when its context ends, or after
// HandshakeTimeout when the context has no deadline, and says why. The
// attempts repeat what depends on which timer the runtime fires first.
func TestDialTimeouts(t *testing.T) {
	silent := func(t *testing.T) string {
		return startRawServer(t, func(c net.Conn, br *bufio.Reader) { drain(br) })
	}
	tests := []struct {
		name     string
		server   func(t *testing.T) string
		deadline bool // ctx has the timeout; otherwise HandshakeTimeout
		timeout  time.Duration
		attempts int
	}{
		{"slowloris, context deadline", slowServer, true, 300 * time.Millisecond, 1},
		{"slowloris, HandshakeTimeout", slowServer, false, 300 * time.Millisecond, 1},
		{"silent, context deadline", silent, true, 50 * time.Millisecond, 5},
		{"silent, HandshakeTimeout", silent, false, 50 * time.Millisecond, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.server(t)
			for i := range tt.attempts {
				ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
				opts := &DialOptions{HandshakeTimeout: time.Hour} // ignored: ctx has a deadline
				if !tt.deadline {
					cancel()
					ctx, cancel = context.WithCancel(context.Background())
					opts.HandshakeTimeout = tt.timeout
				}
				c, _, err := dialTest(t, ctx, "ws://"+addr+"/", opts)
				cancel()
				if c != nil || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("attempt %d: Dial error %v, want one wrapping context.DeadlineExceeded", i+1, err)
				}
			}
		})
	}
}

// TestDialCanceled checks that canceling ctx stops Dial.
func TestDialCanceled(t *testing.T) {
	t.Run("canceled while waiting for the answer", func(t *testing.T) {
		received := make(chan struct{})
		addr := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
			if _, _, err := readRequestHead(br); err == nil {
				close(received)
				drain(br) // never answers
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-received:
				cancel()
			case <-ctx.Done():
			}
		}()
		// Without a deadline of ctx's own, a Dial that missed the
		// cancellation would end at HandshakeTimeout, with another error.
		c, _, err := dialTest(t, ctx, "ws://"+addr+"/", &DialOptions{HandshakeTimeout: testWait})
		if c != nil || !errors.Is(err, context.Canceled) {
			t.Fatalf("Dial error %v, want one wrapping context.Canceled", err)
		}
	})
	t.Run("canceled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		c, _, err := dialTest(t, ctx, "ws://127.0.0.1:1/", nil)
		if c != nil || !errors.Is(err, context.Canceled) {
			t.Fatalf("Dial error %v, want one wrapping context.Canceled", err)
		}
	})
}

// roundTrip sends a message each way between client and server.
func roundTrip(t *testing.T, client, server *Conn) {
	t.Helper()
	for _, c := range []*Conn{client, server} {
		c.SetReadDeadline(time.Now().Add(testWait))
		c.SetWriteDeadline(time.Now().Add(testWait))
	}
	for _, dir := range []struct {
		from, to *Conn
		msg      string
	}{{client, server, "ping from client"}, {server, client, "pong from server"}} {
		if err := dir.from.WriteMessage(TextMessage, []byte(dir.msg)); err != nil {
			t.Fatalf("writing %q: %v", dir.msg, err)
		}
		typ, p, err := dir.to.ReadMessage()
		if err != nil || typ != TextMessage || string(p) != dir.msg {
			t.Fatalf("read %v %q %v, want %q", typ, p, err, dir.msg)
		}
	}
}

// TestDialKeepsEarlyFrames has the server send frames in the same write as
// its 101: Dial's reader holds them already.
func TestDialKeepsEarlyFrames(t *testing.T) {
	addr := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
		_, h, err := readRequestHead(br)
		if err != nil {
			return
		}
		out := []byte(answer101(h.Get("Sec-WebSocket-Key")))
		out = append(out, rawFrame(0x81, false, []byte("hello early"))...)
		out = append(out, rawFrame(0x82, false, bytes.Repeat([]byte{9}, 200))...)
		c.Write(out)
		drain(br)
	})
	client, _, err := dialTest(t, testCtx(t), "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	client.SetReadDeadline(time.Now().Add(testWait))
	for _, want := range []struct {
		typ MessageType
		p   []byte
	}{{TextMessage, []byte("hello early")}, {BinaryMessage, bytes.Repeat([]byte{9}, 200)}} {
		typ, p, err := client.ReadMessage()
		if err != nil || typ != want.typ || !bytes.Equal(p, want.p) {
			t.Fatalf("ReadMessage = %v, %q, %v; want %v, %q", typ, p, err, want.typ, want.p)
		}
	}
}
