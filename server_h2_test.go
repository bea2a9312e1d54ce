package websocket_test

// Tests of WebSockets over HTTP/2 (RFC 8441): a bare HTTP/2 client (h2Stream;
// net/http's client refuses the :protocol pseudo-header) opens extended
// CONNECT streams to an httptest server whose handler calls Upgrade.
// net/http's server takes extended CONNECT only with GODEBUG
// http2xconnect=1, which it reads once at start, so TestHTTP2 and
// TestInteropHTTP2 run themselves again in a child process with it set.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/websocket"
)

// inExtendedConnectChild reports whether the test runs in a process whose
// HTTP/2 server accepts extended CONNECT. When not, it runs the test in a
// child process that does, fails t if the child fails, and returns false:
// the caller has nothing more to do.
func inExtendedConnectChild(t *testing.T) bool {
	t.Helper()
	if strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
		return true
	}
	args := []string{"-test.run=^" + t.Name() + "$", "-test.v", "-test.timeout=2m"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GODEBUG="+os.Getenv("GODEBUG")+",http2xconnect=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("%s with GODEBUG=http2xconnect=1 failed (%v):\n%s", t.Name(), err, out)
	}
	return false
}

// h2Server is an HTTP/2 server over TLS whose handler calls Upgrade with
// opts and then serve. The handler returns when serve does.
type h2Server struct {
	*httptest.Server
	requests chan *http.Request // each request that Upgrade accepted
}

func startH2Server(t *testing.T, opts *websocket.UpgradeOptions, serve func(c *websocket.Conn, r *http.Request), setup ...func(*http.Server)) *h2Server {
	t.Helper()
	s := &h2Server{requests: make(chan *http.Request, 16)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Upgrade(w, r, opts)
		if err != nil {
			return
		}
		s.requests <- r
		serve(c, r)
	}))
	s.EnableHTTP2 = true
	for _, f := range setup {
		f(s.Config)
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// h2Stream is a bare HTTP/2 client connection that opens one extended
// CONNECT stream (id 1) and carries its bytes. net/http's client refuses the
// :protocol pseudo-header, hence this. It does no flow control of its own
// sending: tests keep what they send under the 64 KiB of the first window.
type h2Stream struct {
	conn     net.Conn
	wmu      sync.Mutex
	status   chan string    // the response's :status
	body     *io.PipeReader // the response's DATA
	bodyW    *io.PipeWriter
	noCredit bool // never give the server flow control credit back
}

// openStream sends an extended CONNECT for a WebSocket with header to s, and
// returns the stream once the response's status came. noCredit leaves the
// server's sending window as it starts (64 KiB).
func openStream(t *testing.T, s *h2Server, header http.Header, noCredit bool) (*h2Stream, string) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(s.Certificate())
	conn, err := tls.Dial("tcp", s.Listener.Addr().String(), &tls.Config{RootCAs: roots, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h := &h2Stream{conn: conn, status: make(chan string, 1), noCredit: noCredit}
	h.body, h.bodyW = io.Pipe()
	t.Cleanup(func() { h.body.Close() })
	// The preface comes first, before readFrames may acknowledge the
	// server's SETTINGS.
	io.WriteString(conn, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	h.writeFrame(h2Settings, 0, 0, nil)
	go h.readFrames()
	// RFC 8441 §4 pseudo-headers, then the others, all as HPACK literals
	// without indexing (RFC 7541 §6.2.2).
	var block []byte
	field := func(name, value string) {
		block = append(block, 0)
		block = hpackString(hpackString(block, name), value)
	}
	field(":method", "CONNECT")
	field(":protocol", "websocket")
	field(":scheme", "https")
	field(":path", "/")
	field(":authority", s.Listener.Addr().String())
	for name, values := range header {
		for _, v := range values {
			field(strings.ToLower(name), v)
		}
	}
	h.writeFrame(h2Headers, h2EndHeaders, 1, block)
	select {
	case status := <-h.status:
		return h, status
	case <-time.After(10 * time.Second):
		t.Fatal("no response to the extended CONNECT")
		return nil, ""
	}
}

// HTTP/2 frame types and flags (RFC 9113 §6).
const (
	h2Data, h2Headers, h2RSTStream, h2Settings, h2Ping, h2GoAway, h2WindowUpdate = 0, 1, 3, 4, 6, 7, 8
	h2EndStream, h2Ack, h2EndHeaders                                             = 1, 1, 4
)

func (h *h2Stream) writeFrame(typ, flags byte, stream uint32, payload []byte) error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	hdr := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hdr[5:], stream)
	_, err := h.conn.Write(append(hdr, payload...))
	return err
}

// readFrames answers the server's SETTINGS and PINGs and passes on what
// stream 1 brings, until the connection ends.
func (h *h2Stream) readFrames() {
	defer h.bodyW.CloseWithError(io.ErrUnexpectedEOF)
	var hdr [9]byte
	for {
		if _, err := io.ReadFull(h.conn, hdr[:]); err != nil {
			return
		}
		payload := make([]byte, int(hdr[0])<<16|int(hdr[1])<<8|int(hdr[2]))
		if _, err := io.ReadFull(h.conn, payload); err != nil {
			return
		}
		typ, flags, stream := hdr[3], hdr[4], binary.BigEndian.Uint32(hdr[5:])&(1<<31-1)
		switch {
		case typ == h2Settings && flags&h2Ack == 0:
			h.writeFrame(h2Settings, h2Ack, 0, nil)
		case typ == h2Ping && flags&h2Ack == 0:
			h.writeFrame(h2Ping, h2Ack, 0, payload)
		case typ == h2Headers && stream == 1:
			h.status <- hpackStatus(payload)
		case typ == h2Data && stream == 1:
			if _, err := h.bodyW.Write(payload); err != nil {
				return
			}
			if len(payload) > 0 && !h.noCredit {
				credit := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
				h.writeFrame(h2WindowUpdate, 0, 0, credit)
				h.writeFrame(h2WindowUpdate, 0, 1, credit)
			}
		case typ == h2RSTStream && stream == 1:
			h.bodyW.CloseWithError(fmt.Errorf("the server reset the stream with code %d", binary.BigEndian.Uint32(payload)))
		case typ == h2GoAway:
			return
		}
		if (typ == h2Data || typ == h2Headers) && stream == 1 && flags&h2EndStream != 0 {
			h.bodyW.Close()
		}
	}
}

func (h *h2Stream) Read(p []byte) (int, error) { return h.body.Read(p) }

// Write sends p as DATA frames of at most 16 KiB, the default largest frame.
func (h *h2Stream) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		n := min(len(rest), 16<<10)
		if err := h.writeFrame(h2Data, 0, 1, rest[:n]); err != nil {
			return len(p) - len(rest), err
		}
		rest = rest[n:]
	}
	return len(p), nil
}

// Close ends the client's side of the stream.
func (h *h2Stream) Close() error { return h.writeFrame(h2Data, h2EndStream, 1, nil) }

// hpackString appends s as an HPACK string literal without Huffman coding
// (RFC 7541 §5.2): its length as an integer with a 7-bit prefix, then s.
func hpackString(b []byte, s string) []byte {
	n := len(s)
	if n < 127 {
		b = append(b, byte(n))
	} else {
		b = append(b, 127)
		for n -= 127; n >= 128; n >>= 7 {
			b = append(b, byte(n)|128)
		}
		b = append(b, byte(n))
	}
	return append(b, s...)
}

// hpackStatus reads the :status that starts a response's header block, as
// net/http's encoder writes it: an index into the static table (RFC 7541
// Appendix A) for the statuses it holds, else a literal with the :status
// name (indexes 8 to 14) and a value Huffman coding would not shorten.
func hpackStatus(block []byte) string {
	static := map[byte]string{0x88: "200", 0x89: "204", 0x8a: "206", 0x8b: "304", 0x8c: "400", 0x8d: "404", 0x8e: "500"}
	if status, ok := static[block[0]]; ok {
		return status
	}
	if len(block) >= 5 && 0x48 <= block[0] && block[0] <= 0x4e && block[1] == 3 {
		return string(block[2:5])
	}
	return fmt.Sprintf("undecoded %x", block)
}

// dialH2 opens a WebSocket over HTTP/2 and returns our client Conn on it.
func dialH2(t *testing.T, s *h2Server, noCredit bool) *websocket.Conn {
	t.Helper()
	stream, status := openStream(t, s, http.Header{"Sec-Websocket-Version": {"13"}}, noCredit)
	if status != "200" {
		body, _ := io.ReadAll(stream)
		t.Fatalf("the server answered %s: %s", status, body)
	}
	c := websocket.NewClientConn(stream, "")
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// TestHTTP2 runs its subtests in one child process, where net/http's
// server takes extended CONNECT.
func TestHTTP2(t *testing.T) {
	if !inExtendedConnectChild(t) {
		return
	}
	t.Run("Echo", testHTTP2Echo)
	t.Run("ServerCloses", testHTTP2ServerCloses)
	t.Run("Refusals", testHTTP2Refusals)
	t.Run("HandlerReturns", testHTTP2HandlerReturns)
	t.Run("CloseNowUnblocksWriter", testHTTP2CloseNowUnblocksWriter)
	t.Run("ReadDeadline", testHTTP2ReadDeadline)
	t.Run("DeadlinesPassedWhileIdle", testHTTP2DeadlinesPassedWhileIdle)
	t.Run("DeadlinesClearedAfterUse", testHTTP2DeadlinesClearedAfterUse)
	t.Run("OutlivesServerTimeouts", testHTTP2OutlivesServerTimeouts)
}

// echo writes back every message it reads until the read fails. A text
// message "send N" gets N bytes back instead.
func echo(c *websocket.Conn, _ *http.Request) {
	for {
		typ, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		var n int
		if _, err := fmt.Sscanf(string(p), "send %d", &n); err == nil {
			p = bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		}
		if err := c.WriteMessage(typ, p); err != nil {
			return
		}
	}
}

func testHTTP2Echo(t *testing.T) {
	s := startH2Server(t, nil, echo)
	c := dialH2(t, s, false)
	if r := <-s.requests; r.ProtoMajor != 2 || r.Method != http.MethodConnect {
		t.Errorf("Upgrade accepted a %s %s request, want CONNECT over HTTP/2", r.Proto, r.Method)
	}
	for _, n := range []int{0, 125, 126, 20000} {
		msg := bytes.Repeat([]byte("h\u00e9llo "), n/7+1)[:n]
		msg = bytes.ToValidUTF8(msg, nil)
		if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
			t.Fatalf("writing %d bytes failed: %v", len(msg), err)
		}
		if typ, got, err := c.ReadMessage(); err != nil || typ != websocket.TextMessage || !bytes.Equal(got, msg) {
			t.Fatalf("the echo of %d bytes came back as %v of %d bytes, %v", len(msg), typ, len(got), err)
		}
	}
	// Past the stream's flow control window, in many DATA frames.
	const big = 4 << 20
	if err := c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("send %d", big))); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.ReadMessage(); err != nil || len(got) != big || !bytes.HasPrefix(got, []byte("0123456789abcdef")) {
		t.Fatalf("reading %d bytes from the server gave %d bytes, %v", big, len(got), err)
	}
	// A ping, answered while the reader waits for a fragmented message.
	echoed := make(chan string, 1)
	go func() {
		_, got, err := c.ReadMessage()
		echoed <- fmt.Sprintf("%s %v", got, err)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx, []byte("are you there")); err != nil {
		t.Fatalf("the ping failed: %v", err)
	}
	w, err := c.NextWriter(websocket.BinaryMessage)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		w.Write([]byte("fragment "))
	}
	w.Close()
	if got, want := <-echoed, strings.Repeat("fragment ", 3)+" <nil>"; got != want {
		t.Fatalf("the fragmented message came back as %q, want %q", got, want)
	}
	// Close returns once the server's close frame came and its handler
	// returned, which ends the stream.
	if err := c.Close(websocket.StatusGoingAway, "bye"); err != nil {
		t.Errorf("the closing handshake failed: %v", err)
	}
}

func testHTTP2ServerCloses(t *testing.T) {
	serverClosed := make(chan error, 1)
	s := startH2Server(t, nil, func(c *websocket.Conn, _ *http.Request) {
		serverClosed <- c.Close(websocket.StatusPolicyViolation, "go away")
	})
	c := dialH2(t, s, false)
	if _, _, err := c.ReadMessage(); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("the client read %v, want the server's close 1008", err)
	}
	if err := <-serverClosed; err != nil {
		t.Errorf("the server's Close failed: %v", err)
	}
}

func testHTTP2Refusals(t *testing.T) {
	s := startH2Server(t, nil, echo)
	tests := []struct {
		name   string
		header http.Header
		status string
		want   string // in the body
	}{
		{"no version", http.Header{}, "400", "Sec-WebSocket-Version"},
		{"version 8", http.Header{"Sec-Websocket-Version": {"8"}}, "426", "version 13"},
		{"other origin", http.Header{"Sec-Websocket-Version": {"13"}, "Origin": {"https://evil.example"}}, "403", "origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, status := openStream(t, s, tt.header, false)
			body, _ := io.ReadAll(stream)
			if status != tt.status || !strings.Contains(string(body), tt.want) {
				t.Errorf("got %s %q, want %s and a body that names %q", status, body, tt.status, tt.want)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		resp, err := s.Client().Get(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.ProtoMajor != 2 {
			t.Fatalf("the GET went over %s, want HTTP/2", resp.Proto)
		}
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "CONNECT" || !strings.Contains(string(body), "RFC 8441") {
			t.Errorf("a GET over HTTP/2 got %s, Allow %q, %q; want 405, Allow CONNECT and a body naming RFC 8441",
				resp.Status, resp.Header.Get("Allow"), body)
		}
	})
	select {
	case r := <-s.requests:
		t.Errorf("Upgrade accepted %v", r.Header)
	default:
	}
}

func testHTTP2HandlerReturns(t *testing.T) {
	conns := make(chan *websocket.Conn, 1)
	s := startH2Server(t, nil, func(c *websocket.Conn, _ *http.Request) { conns <- c })
	client := dialH2(t, s, false)
	server := <-conns
	// The handler has returned, or is about to; its request's context
	// ends once it has.
	<-(<-s.requests).Context().Done()

	// The ResponseWriter must not be touched after the handler returned: the
	// Conn is closed instead.
	if err := server.WriteMessage(websocket.TextMessage, []byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("a write after the handler returned gave %v, want net.ErrClosed", err)
	}
	if _, _, err := server.ReadMessage(); err == nil {
		t.Error("a read after the handler returned succeeded")
	}
	// The end of the stream reaches the client as a lost connection.
	if _, _, err := client.ReadMessage(); websocket.CloseStatus(err) != websocket.StatusAbnormalClosure {
		t.Errorf("the client read %v, want an abnormal closure", err)
	}
}

func testHTTP2CloseNowUnblocksWriter(t *testing.T) {
	writeErr := make(chan error, 1)
	conns := make(chan *websocket.Conn, 1)
	s := startH2Server(t, nil, func(c *websocket.Conn, _ *http.Request) {
		conns <- c
		writeErr <- c.WriteMessage(websocket.BinaryMessage, make([]byte, 1<<20))
	})
	// The client gives no flow control credit back: the write blocks once
	// the server has sent 64 KiB.
	dialH2(t, s, true)
	server := <-conns
	select {
	case err := <-writeErr:
		t.Fatalf("1 MiB went out to a client that gives no credit: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	server.CloseNow()
	select {
	case err := <-writeErr:
		if err == nil {
			t.Error("the blocked write succeeded after CloseNow")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("CloseNow did not unblock a write waiting for flow control credit")
	}
}

func testHTTP2ReadDeadline(t *testing.T) {
	readErr := make(chan error, 1)
	s := startH2Server(t, nil, func(c *websocket.Conn, _ *http.Request) {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, _, err := c.ReadMessage()
		readErr <- err
	})
	dialH2(t, s, false)
	select {
	case err := <-readErr:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("the read returned %v, want an error wrapping os.ErrDeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read deadline did not end the read")
	}
}

// testHTTP2DeadlinesPassedWhileIdle lets a read and a write deadline pass
// while the connection is idle, then reads and writes with fresh ones. As on
// a net.Conn, the passed deadlines must not hurt. net/http's HTTP/2
// deadlines are timers that reset the stream or close the request body when
// they fire, idle or not.
func testHTTP2DeadlinesPassedWhileIdle(t *testing.T) {
	done := make(chan error, 1)
	s := startH2Server(t, nil, func(c *websocket.Conn, _ *http.Request) {
		done <- func() error {
			for _, msg := range []string{"one", "two"} {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, p, err := c.ReadMessage(); err != nil || string(p) != msg {
					return fmt.Errorf("read %q, %v; want %q", p, err, msg)
				}
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
					return fmt.Errorf("writing %q: %w", msg, err)
				}
				// Idle, with deadlines that pass.
				c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
				c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
				time.Sleep(50 * time.Millisecond)
			}
			return nil
		}()
		c.SetReadDeadline(time.Time{})
		c.ReadMessage() // until the client closes
	})
	c := dialH2(t, s, false)
	for _, msg := range []string{"one", "two"} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, p, err := c.ReadMessage(); err != nil || string(p) != msg {
			t.Fatalf("client read %q, %v; want the echo of %q", p, err, msg)
		}
	}
	if err := <-done; err != nil {
		t.Errorf("server: %v", err)
	}
}

// testHTTP2DeadlinesClearedAfterUse reads and writes under deadlines so
// short that they often pass just after the read or write, and clears them
// at once. net/http applies a deadline, and its removal, later on a
// goroutine of its own, so a deadline handed to it could still fire after
// its removal, and end reading or writing for good. A read or write that
// fails at its deadline has ended its stream for good, as a timed-out read
// or write ends a Conn's; the test then goes on with a new stream and twice
// the deadline, until it has checked enough rounds, so that the deadlines
// stay close to what a read or write takes.
func testHTTP2DeadlinesClearedAfterUse(t *testing.T) {
	const rounds = 200
	for _, side := range []string{"read", "write"} {
		t.Run(side, func(t *testing.T) {
			deadline, checked := 50*time.Microsecond, 0
			for checked < rounds {
				n, err := deadlineRounds(t, side, rounds-checked, deadline)
				if err != nil {
					t.Fatal(err)
				}
				checked += n
				deadline *= 2
			}
		})
	}
}

// deadlineRounds runs up to rounds rounds of testHTTP2DeadlinesClearedAfterUse
// on a new stream: a read or write under deadline, then, the deadline
// cleared and passed, one without. It returns how many rounds it checked,
// fewer when a deadline passed during a read or write.
func deadlineRounds(t *testing.T, side string, rounds int, deadline time.Duration) (int, error) {
	type result struct {
		checked int
		err     error
	}
	done := make(chan result, 1)
	s := startH2Server(t, nil, func(c *websocket.Conn, _ *http.Request) {
		r := result{}
		for r.checked < rounds && r.err == nil {
			var err error
			if side == "read" {
				c.SetReadDeadline(time.Now().Add(deadline))
				_, _, err = c.ReadMessage()
				c.SetReadDeadline(time.Time{})
			} else {
				c.SetWriteDeadline(time.Now().Add(deadline))
				err = c.WriteMessage(websocket.BinaryMessage, []byte{1})
				c.SetWriteDeadline(time.Time{})
			}
			if err != nil {
				break // it passed during the read or write
			}
			time.Sleep(time.Millisecond) // past the deadline
			if side == "read" {
				_, _, err = c.ReadMessage()
			} else {
				err = c.WriteMessage(websocket.BinaryMessage, []byte{2})
			}
			if err != nil {
				r.err = fmt.Errorf("round %d with a %v deadline: after a %s that met its deadline, which was then cleared, the next %s failed: %w", r.checked, deadline, side, side, err)
			}
			r.checked++
		}
		done <- r
		c.ReadMessage() // until the client closes
	})
	c := dialH2(t, s, false)
	go func() {
		for range 2 * rounds {
			if side == "read" {
				c.WriteMessage(websocket.BinaryMessage, []byte{1})
			} else if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	r := <-done
	return r.checked, r.err
}

// testHTTP2OutlivesServerTimeouts checks that the http.Server's timeouts,
// meant for one request, do not end a WebSocket on an HTTP/2 stream.
func testHTTP2OutlivesServerTimeouts(t *testing.T) {
	s := startH2Server(t, nil, echo, func(srv *http.Server) {
		srv.ReadTimeout = 100 * time.Millisecond
		srv.WriteTimeout = 100 * time.Millisecond
	})
	c := dialH2(t, s, false)
	time.Sleep(300 * time.Millisecond)
	if err := c.WriteMessage(websocket.TextMessage, []byte("still there?")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "still there?" {
		t.Fatalf("after the server's timeouts, the echo came back as %q, %v", p, err)
	}
}
