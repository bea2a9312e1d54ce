package websocket

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// Tests of Upgrade as a client sees it: requests are written by hand on raw
// TCP so that any header can be missing, repeated or wrong, and the answer
// is read as bytes off the wire.

// testWait bounds every wait of these tests; none should come near it.
const testWait = 10 * time.Second

// upgradeResult is what one call of Upgrade in a test server returned, with
// the request's header as the handler saw it.
type upgradeResult struct {
	conn   *Conn
	err    error
	header http.Header
}

// handleUpgrades makes srv (not started yet) call upgrade for every request
// and report each result on the returned channel. Cleanup closes srv and
// every Conn nobody received.
func handleUpgrades(t *testing.T, srv *httptest.Server, upgrade func(http.ResponseWriter, *http.Request) (*Conn, error)) <-chan upgradeResult {
	t.Helper()
	results := make(chan upgradeResult, 64)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Clone()
		c, err := upgrade(w, r)
		select {
		case results <- upgradeResult{conn: c, err: err, header: header}:
		default:
			if c != nil {
				c.CloseNow()
			}
		}
	})
	t.Cleanup(func() {
		srv.Close()
		for {
			select {
			case res := <-results:
				if res.conn != nil {
					res.conn.CloseNow()
				}
			default:
				return
			}
		}
	})
	return results
}

// startUpgradeServer starts an httptest server whose handler calls Upgrade
// with opts.
func startUpgradeServer(t *testing.T, opts *UpgradeOptions) (*httptest.Server, <-chan upgradeResult) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	results := handleUpgrades(t, srv, func(w http.ResponseWriter, r *http.Request) (*Conn, error) {
		return Upgrade(w, r, opts)
	})
	srv.Start()
	return srv, results
}

// nextUpgrade waits for the next result of the server's handler; its Conn,
// if any, is closed when the test ends.
func nextUpgrade(t *testing.T, results <-chan upgradeResult) upgradeResult {
	t.Helper()
	select {
	case res := <-results:
		if res.conn != nil {
			t.Cleanup(func() { res.conn.CloseNow() })
		}
		return res
	case <-time.After(testWait):
		t.Fatal("the handler did not return from Upgrade")
		return upgradeResult{}
	}
}

// sampleKey is the Sec-WebSocket-Key of RFC 6455 §1.3's example; sampleAccept
// is the answer the RFC gives for it.
const (
	sampleKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	sampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// buildRequest returns a valid handshake request, altered by edits. An edit
// "Name: value" replaces every default line of that name (several edits of
// one name make several lines); "-Name" removes them. line replaces the
// request line unless empty.
func buildRequest(line string, edits ...string) string {
	if line == "" {
		line = "GET /chat?room=1 HTTP/1.1"
	}
	lines := []string{
		"Host: server.example.com",
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Version: 13",
		"Sec-WebSocket-Key: " + sampleKey,
	}
	name := func(l string) string {
		n, _, _ := strings.Cut(strings.TrimPrefix(l, "-"), ":")
		return strings.ToLower(n)
	}
	replaced := map[string]bool{}
	var added []string
	for _, e := range edits {
		n := name(e)
		if !replaced[n] {
			replaced[n] = true
			lines = slices.DeleteFunc(lines, func(l string) bool { return name(l) == n })
		}
		if !strings.HasPrefix(e, "-") {
			added = append(added, e)
		}
	}
	return line + "\r\n" + strings.Join(append(lines, added...), "\r\n") + "\r\n\r\n"
}

// rawDial opens a TCP connection to addr, closed when the test ends.
func rawDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testWait)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(testWait))
	t.Cleanup(func() { c.Close() })
	return c
}

// rawHandshake writes request (and anything after it) to srv in one write
// and reads the answer's head and body. br holds what follows the answer.
func rawHandshake(t *testing.T, srv *httptest.Server, request []byte) (resp *http.Response, body string, c net.Conn, br *bufio.Reader) {
	t.Helper()
	c = rawDial(t, srv.Listener.Addr().String())
	if _, err := c.Write(request); err != nil {
		t.Fatal(err)
	}
	br = bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	return resp, string(b), c, br
}

const script = "<script>alert(1)</script>"

func TestUpgradeRejects(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		edits  []string
		status int
		names  string // what the body must mention
	}{
		{"POST", "POST /chat HTTP/1.1", nil, 405, "GET"},
		{"PUT", "PUT /chat HTTP/1.1", nil, 405, "GET"},
		{"HTTP/1.0", "GET /chat HTTP/1.0", nil, 400, "HTTP/1.1"},
		{"no Connection", "", []string{"-Connection"}, 400, "Connection"},
		{"Connection keep-alive", "", []string{"Connection: keep-alive"}, 400, "Connection"},
		{"Connection close", "", []string{"Connection: close"}, 400, "Connection"},
		{"Connection Upgrade2", "", []string{"Connection: Upgrade2"}, 400, "Connection"},
		{"Connection script", "", []string{"Connection: " + script}, 400, "Connection"},
		{"no Upgrade", "", []string{"-Upgrade"}, 400, "Upgrade"},
		{"Upgrade h2c", "", []string{"Upgrade: h2c"}, 400, "Upgrade"},
		{"Upgrade h2c lines", "", []string{"Upgrade: h2c", "Upgrade: TLS/1.2"}, 400, "Upgrade"},
		{"Upgrade web socket", "", []string{"Upgrade: web socket"}, 400, "Upgrade"},
		{"Upgrade script", "", []string{"Upgrade: " + script}, 400, "Upgrade"},
		{"no version", "", []string{"-Sec-WebSocket-Version"}, 400, "Sec-WebSocket-Version"},
		// A 426 carries Sec-WebSocket-Version: 13 (RFC 6455 §4.4), checked below.
		{"version 8", "", []string{"Sec-WebSocket-Version: 8"}, 426, "version 13"},
		{"version script", "", []string{"Sec-WebSocket-Version: " + script}, 426, "version 13"},
		{"two version lines", "", []string{"Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"}, 426, "version 13"},
		{"version 13 twice", "", []string{"Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 13"}, 426, "version 13"},
		{"version list", "", []string{"Sec-WebSocket-Version: 13, 8"}, 426, "version 13"},
		{"no key", "", []string{"-Sec-WebSocket-Key"}, 400, "Sec-WebSocket-Key"},
		{"key not base64", "", []string{"Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="}, 400, "Sec-WebSocket-Key"},
		{"key url alphabet", "", []string{"Sec-WebSocket-Key: " + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 16))}, 400, "Sec-WebSocket-Key"},
		{"key 15 bytes", "", []string{"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(make([]byte, 15))}, 400, "Sec-WebSocket-Key"},
		{"key 17 bytes", "", []string{"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(make([]byte, 17))}, 400, "Sec-WebSocket-Key"},
		{"key script", "", []string{"Sec-WebSocket-Key: " + script}, 400, "Sec-WebSocket-Key"},
		{"two keys", "", []string{"Sec-WebSocket-Key: " + sampleKey, "Sec-WebSocket-Key: " + sampleKey}, 400, "Sec-WebSocket-Key"},
		{"cross origin script", "", []string{"Origin: https://" + script}, 403, "origin"},
	}
	srv, results := startUpgradeServer(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, _, _ := rawHandshake(t, srv, []byte(buildRequest(tt.line, tt.edits...)))
			res := nextUpgrade(t, results)

			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d (body %q)", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q, want text/plain", ct)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", resp.Header.Get("X-Content-Type-Options"))
			}
			if !strings.Contains(strings.ToLower(body), strings.ToLower(tt.names)) {
				t.Errorf("body %q does not mention %q", body, tt.names)
			}
			if strings.Contains(body, "<script") {
				t.Errorf("body echoes the request: %q", body)
			}
			if got := resp.Header.Values("Allow"); tt.status == 405 && !slices.Equal(got, []string{"GET"}) {
				t.Errorf("Allow %q, want GET", got)
			}
			if got := resp.Header.Values("Sec-WebSocket-Version"); tt.status == 426 && !slices.Equal(got, []string{"13"}) {
				t.Errorf("Sec-WebSocket-Version %q, want 13", got)
			}
			if resp.Header.Get("Sec-WebSocket-Accept") != "" || resp.Header.Get("Upgrade") != "" {
				t.Errorf("a refusal carries handshake headers: %v", resp.Header)
			}

			var herr *HandshakeError
			if !errors.As(res.err, &herr) {
				t.Fatalf("Upgrade returned %v (%T), want a *HandshakeError", res.err, res.err)
			}
			if herr.Status != tt.status {
				t.Errorf("HandshakeError.Status %d, want %d", herr.Status, tt.status)
			}
			if res.conn != nil {
				t.Error("Upgrade returned a Conn with its error")
			}
			if !strings.HasPrefix(res.err.Error(), "websocket: ") {
				t.Errorf("error %q does not start with the package prefix", res.err)
			}
		})
	}
}

// TestUpgradeAccepts checks header forms that RFC 6455 and RFC 9110 allow.
func TestUpgradeAccepts(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
	}{
		{"defaults", nil},
		{"Connection keep-alive, Upgrade", []string{"Connection: keep-alive, Upgrade"}},
		{"Connection UPGRADE", []string{"Connection: UPGRADE"}},
		{"Connection list without spaces", []string{"Connection: Upgrade,keep-alive"}},
		{"Connection two lines", []string{"Connection: keep-alive", "Connection: upgrade"}},
		{"Upgrade WebSocket", []string{"Upgrade: WebSocket"}},
		{"Upgrade WEBSOCKET", []string{"Upgrade: WEBSOCKET"}},
		{"Upgrade list", []string{"Upgrade: h2c, websocket"}},
		{"Upgrade two lines", []string{"Upgrade: h2c", "Upgrade: websocket"}},
		{"headers in lower case", []string{"-Sec-WebSocket-Version", "-Sec-WebSocket-Key", "sec-websocket-version: 13", "sec-websocket-key: " + sampleKey}},
	}
	srv, results := startUpgradeServer(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _, _, _ := rawHandshake(t, srv, []byte(buildRequest("", tt.edits...)))
			res := nextUpgrade(t, results)
			if resp.StatusCode != http.StatusSwitchingProtocols || res.err != nil {
				t.Fatalf("status %d, Upgrade error %v; want 101 and nil", resp.StatusCode, res.err)
			}
		})
	}
}

func TestUpgradeResponse(t *testing.T) {
	srv, results := startUpgradeServer(t, nil)
	resp, body, _, _ := rawHandshake(t, srv, []byte(buildRequest("")))
	res := nextUpgrade(t, results)
	if res.err != nil {
		t.Fatal(res.err)
	}
	want := map[string]string{
		"Upgrade":              "websocket",
		"Connection":           "Upgrade",
		"Sec-WebSocket-Accept": sampleAccept, // RFC 6455 §1.3
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("status %d, want 101", resp.StatusCode)
	}
	for name, v := range want {
		if got := resp.Header.Values(name); !slices.Equal(got, []string{v}) {
			t.Errorf("%s: %q, want %q", name, got, v)
		}
	}
	for _, name := range []string{"Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions", "Content-Length", "Transfer-Encoding"} {
		if got := resp.Header.Values(name); got != nil {
			t.Errorf("unexpected %s: %q", name, got)
		}
	}
	if body != "" {
		t.Errorf("101 with a body: %q", body)
	}
}

func TestUpgradeOrigin(t *testing.T) {
	allow := func(*http.Request) bool { return true }
	deny := func(*http.Request) bool { return false }
	tests := []struct {
		name   string
		origin string // "" sends none
		host   string // "" keeps the default Host
		opts   *UpgradeOptions
		status int
	}{
		{"no Origin", "", "", nil, 101},
		{"same host", "https://server.example.com", "", nil, 101},
		{"same host other case", "https://SERVER.Example.COM", "Server.EXAMPLE.com", nil, 101},
		{"same host and port", "http://server.example.com:8080", "server.example.com:8080", nil, 101},
		{"other port", "http://server.example.com:8081", "server.example.com:8080", nil, 403},
		{"cross origin", "https://evil.example.net", "", nil, 403},
		{"null", "null", "", nil, 403},
		{"not a URL", "::::", "", nil, 403},
		{"pattern subdomain", "https://a.example.com", "", &UpgradeOptions{OriginPatterns: []string{"*.example.com"}}, 101},
		{"pattern other case", "https://A.Example.COM", "", &UpgradeOptions{OriginPatterns: []string{"*.EXAMPLE.com"}}, 101},
		{"pattern other site", "https://example.org", "", &UpgradeOptions{OriginPatterns: []string{"*.example.com"}}, 403},
		{"pattern parent", "https://example.com", "", &UpgradeOptions{OriginPatterns: []string{"*.example.com"}}, 403},
		{"pattern suffix trick", "https://a.example.com.evil.net", "", &UpgradeOptions{OriginPatterns: []string{"*.example.com"}}, 403},
		{"pattern null", "null", "", &UpgradeOptions{OriginPatterns: []string{"*.example.com"}}, 403},
		{"star allows cross origin", "https://evil.example.net", "", &UpgradeOptions{OriginPatterns: []string{"*"}}, 101},
		{"star allows null", "null", "", &UpgradeOptions{OriginPatterns: []string{"*"}}, 101},
		{"star allows file", "file://", "", &UpgradeOptions{OriginPatterns: []string{"*"}}, 101},
		{"CheckOrigin allows cross origin", "https://evil.example.net", "", &UpgradeOptions{CheckOrigin: allow}, 101},
		{"CheckOrigin allows null", "null", "", &UpgradeOptions{CheckOrigin: allow}, 101},
		{"CheckOrigin denies same host", "https://server.example.com", "", &UpgradeOptions{CheckOrigin: deny}, 403},
		{"CheckOrigin denies no Origin", "", "", &UpgradeOptions{CheckOrigin: deny}, 403},
		{"CheckOrigin beats patterns", "https://a.example.com", "", &UpgradeOptions{CheckOrigin: deny, OriginPatterns: []string{"*"}}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, results := startUpgradeServer(t, tt.opts)
			var edits []string
			if tt.origin != "" {
				edits = append(edits, "Origin: "+tt.origin)
			}
			if tt.host != "" {
				edits = append(edits, "Host: "+tt.host)
			}
			resp, body, _, _ := rawHandshake(t, srv, []byte(buildRequest("", edits...)))
			res := nextUpgrade(t, results)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.status, body)
			}
			if tt.status == 101 {
				if res.err != nil {
					t.Errorf("Upgrade: %v", res.err)
				}
				return
			}
			if !strings.Contains(strings.ToLower(body), "origin") {
				t.Errorf("body %q does not mention the origin", body)
			}
			var herr *HandshakeError
			if !errors.As(res.err, &herr) || herr.Status != 403 {
				t.Errorf("Upgrade returned %v, want a *HandshakeError with status 403", res.err)
			}
		})
	}
}

func TestUpgradeSubprotocols(t *testing.T) {
	tests := []struct {
		name    string
		server  []string
		offered []string // header lines
		want    string   // "" for no Sec-WebSocket-Protocol header
	}{
		{"server order wins", []string{"chat.v2", "chat.v1"}, []string{"chat.v1, chat.v2"}, "chat.v2"},
		{"server order wins again", []string{"chat.v1", "chat.v2"}, []string{"chat.v2, chat.v1"}, "chat.v1"},
		{"one shared", []string{"a", "b"}, []string{"x, b, y"}, "b"},
		{"several lines", []string{"b"}, []string{"x", "a, b"}, "b"},
		{"spaces and empty items", []string{"b"}, []string{" ,x ,,  b  ,"}, "b"},
		{"none offered", []string{"a", "b"}, nil, ""},
		{"none shared", []string{"a", "b"}, []string{"c, d"}, ""},
		{"names are case-sensitive", []string{"chat"}, []string{"Chat"}, ""},
		{"server has none", nil, []string{"a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, results := startUpgradeServer(t, &UpgradeOptions{Subprotocols: tt.server})
			var edits []string
			for _, v := range tt.offered {
				edits = append(edits, "Sec-WebSocket-Protocol: "+v)
			}
			resp, _, _, _ := rawHandshake(t, srv, []byte(buildRequest("", edits...)))
			res := nextUpgrade(t, results)
			if res.err != nil {
				t.Fatal(res.err)
			}
			got := resp.Header.Values("Sec-WebSocket-Protocol")
			switch {
			case tt.want == "" && got != nil:
				t.Errorf("Sec-WebSocket-Protocol %q, want no header", got)
			case tt.want != "" && !slices.Equal(got, []string{tt.want}):
				t.Errorf("Sec-WebSocket-Protocol %q, want %q", got, tt.want)
			}
			if p := res.conn.Subprotocol(); p != tt.want {
				t.Errorf("server Conn.Subprotocol() = %q, want %q", p, tt.want)
			}
		})
	}
}

// TestUpgradeResponseHeader checks that headers the handler set reach the
// 101, that none can forge the handshake's own, and that a value with a
// line break cannot add a header.
func TestUpgradeResponseHeader(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	results := handleUpgrades(t, srv, func(w http.ResponseWriter, r *http.Request) (*Conn, error) {
		w.Header().Add("Set-Cookie", "session=abc; Path=/; HttpOnly")
		w.Header().Set("Sec-WebSocket-Extensions", "permessage-deflate")
		w.Header().Set("Content-Length", "10")
		return Upgrade(w, r, &UpgradeOptions{ResponseHeader: http.Header{
			"X-Served-By":          {"test"},
			"X-Note":               {"a\r\nX-Injected: 1", "b\nX-Injected-Lf: 1"},
			"Sec-Websocket-Accept": {"forged"},
			"Connection":           {"close"},
			"Upgrade":              {"h2c"},
		}})
	})
	srv.Start()
	resp, _, _, _ := rawHandshake(t, srv, []byte(buildRequest("")))
	if res := nextUpgrade(t, results); res.err != nil {
		t.Fatal(res.err)
	}
	want := map[string][]string{
		"Set-Cookie":               {"session=abc; Path=/; HttpOnly"},
		"X-Served-By":              {"test"},
		"Sec-Websocket-Accept":     {sampleAccept},
		"Connection":               {"Upgrade"},
		"Upgrade":                  {"websocket"},
		"X-Injected":               nil,
		"X-Injected-Lf":            nil,
		"Sec-Websocket-Extensions": nil,
		"Content-Length":           nil,
	}
	for name, v := range want {
		if got := resp.Header.Values(name); !slices.Equal(got, v) {
			t.Errorf("%s: %q, want %q", name, got, v)
		}
	}
	if notes := resp.Header.Values("X-Note"); len(notes) != 2 {
		t.Errorf("X-Note: %q, want both values on lines of their own", notes)
	}
}

func TestUpgradeRefusesExtensions(t *testing.T) {
	for _, offer := range []string{
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate",
		"x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover",
	} {
		t.Run(offer, func(t *testing.T) {
			srv, results := startUpgradeServer(t, nil)
			resp, _, _, _ := rawHandshake(t, srv, []byte(buildRequest("", "Sec-WebSocket-Extensions: "+offer)))
			if res := nextUpgrade(t, results); res.err != nil {
				t.Fatal(res.err)
			}
			if resp.StatusCode != 101 {
				t.Fatalf("status %d, want 101", resp.StatusCode)
			}
			if got := resp.Header.Values("Sec-WebSocket-Extensions"); got != nil {
				t.Errorf("Sec-WebSocket-Extensions %q, want none", got)
			}
		})
	}
}

// TestUpgradeKeepsEarlyFrames sends frames in the same TCP write as the
// request: the HTTP server has read them already when Upgrade hijacks.
func TestUpgradeKeepsEarlyFrames(t *testing.T) {
	srv, results := startUpgradeServer(t, nil)
	req := []byte(buildRequest(""))
	req = append(req, rawFrame(0x81, true, []byte("early bird"))...)
	req = append(req, rawFrame(0x82, true, bytes.Repeat([]byte{7}, 300))...)
	resp, _, _, _ := rawHandshake(t, srv, req)
	res := nextUpgrade(t, results)
	if res.err != nil || resp.StatusCode != 101 {
		t.Fatalf("status %d, Upgrade error %v", resp.StatusCode, res.err)
	}
	res.conn.SetReadDeadline(time.Now().Add(testWait))
	for _, want := range []struct {
		typ MessageType
		p   []byte
	}{{TextMessage, []byte("early bird")}, {BinaryMessage, bytes.Repeat([]byte{7}, 300)}} {
		typ, p, err := res.conn.ReadMessage()
		if err != nil || typ != want.typ || !bytes.Equal(p, want.p) {
			t.Fatalf("ReadMessage = %v, %q, %v; want %v, %q", typ, p, err, want.typ, want.p)
		}
	}
}

// unwrapper is middleware's ResponseWriter: it hides Hijack, and Unwrap
// gives the original to http.ResponseController.
type unwrapper struct{ http.ResponseWriter }

func (u unwrapper) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// hider hides Hijack and has no Unwrap.
type hider struct{ http.ResponseWriter }

func TestUpgradeThroughMiddleware(t *testing.T) {
	t.Run("Unwrap", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(nil)
		results := handleUpgrades(t, srv, func(w http.ResponseWriter, r *http.Request) (*Conn, error) {
			return Upgrade(unwrapper{w}, r, nil)
		})
		srv.Start()
		resp, _, c, br := rawHandshake(t, srv, []byte(buildRequest("")))
		res := nextUpgrade(t, results)
		if res.err != nil || resp.StatusCode != 101 {
			t.Fatalf("status %d, Upgrade error %v", resp.StatusCode, res.err)
		}
		if _, err := c.Write(rawFrame(0x81, true, []byte("through"))); err != nil {
			t.Fatal(err)
		}
		res.conn.SetReadDeadline(time.Now().Add(testWait))
		res.conn.SetWriteDeadline(time.Now().Add(testWait))
		if _, p, err := res.conn.ReadMessage(); err != nil || string(p) != "through" {
			t.Fatalf("ReadMessage = %q, %v", p, err)
		}
		if err := res.conn.WriteMessage(TextMessage, []byte("back")); err != nil {
			t.Fatal(err)
		}
		if b0, p, err := readRawFrame(t, br); err != nil || b0 != 0x81 || string(p) != "back" {
			t.Fatalf("client read %#x %q %v", b0, p, err)
		}
	})
	t.Run("no Unwrap", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(nil)
		results := handleUpgrades(t, srv, func(w http.ResponseWriter, r *http.Request) (*Conn, error) {
			return Upgrade(hider{w}, r, nil)
		})
		srv.Start()
		resp, _, _, _ := rawHandshake(t, srv, []byte(buildRequest("")))
		res := nextUpgrade(t, results)
		if resp.StatusCode != http.StatusInternalServerError || res.err == nil || res.conn != nil {
			t.Fatalf("status %d, Upgrade = %v, %v; want 500 and an error", resp.StatusCode, res.conn, res.err)
		}
		if !errors.Is(res.err, http.ErrNotSupported) {
			t.Errorf("error %v does not wrap http.ErrNotSupported", res.err)
		}
	})
}

// TestUpgradeOutlivesServerTimeouts checks that the deadlines an http.Server
// puts on a request's connection do not cut the WebSocket that replaced it.
func TestUpgradeOutlivesServerTimeouts(t *testing.T) {
	const timeout = 200 * time.Millisecond
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.ReadTimeout = timeout
	srv.Config.WriteTimeout = timeout
	results := handleUpgrades(t, srv, func(w http.ResponseWriter, r *http.Request) (*Conn, error) {
		return Upgrade(w, r, nil)
	})
	srv.Start()

	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	client, _, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.CloseNow() })
	res := nextUpgrade(t, results)
	if res.err != nil {
		t.Fatal(res.err)
	}
	server := res.conn

	time.Sleep(timeout + 300*time.Millisecond) // past both server timeouts

	// The server's own deadlines are the point of the test: bound its
	// waits by closing it instead.
	client.SetReadDeadline(time.Now().Add(testWait))
	client.SetWriteDeadline(time.Now().Add(testWait))
	watchdog := time.AfterFunc(testWait, func() { server.CloseNow() })
	defer watchdog.Stop()
	if err := client.WriteMessage(TextMessage, []byte("still here?")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := server.ReadMessage(); err != nil || string(p) != "still here?" {
		t.Fatalf("server read %q, %v", p, err)
	}
	if err := server.WriteMessage(TextMessage, []byte("yes")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := client.ReadMessage(); err != nil || string(p) != "yes" {
		t.Fatalf("client read %q, %v", p, err)
	}
}

func TestIsUpgradeRequest(t *testing.T) {
	for _, tc := range []struct {
		connection, upgrade []string
		want                bool
	}{
		{[]string{"Upgrade"}, []string{"websocket"}, true},
		{[]string{"keep-alive, upgrade"}, []string{"WebSocket"}, true},
		{[]string{"keep-alive", "Upgrade"}, []string{"h2c", "websocket"}, true},
		{nil, []string{"websocket"}, false},
		{[]string{"Upgrade"}, nil, false},
		{[]string{"Upgraded"}, []string{"websocket"}, false},
		{[]string{"Upgrade"}, []string{"websockets"}, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Connection"] = tc.connection
		r.Header["Upgrade"] = tc.upgrade
		if got := IsUpgradeRequest(r); got != tc.want {
			t.Errorf("Connection %q, Upgrade %q: IsUpgradeRequest = %v, want %v", tc.connection, tc.upgrade, got, tc.want)
		}
	}
	// Over HTTP/2 (RFC 8441 §4), net/http's server puts the :protocol
	// pseudo-header among the headers.
	for _, tc := range []struct {
		method, protocol string
		want             bool
	}{
		{http.MethodConnect, "websocket", true},
		{http.MethodConnect, "", false},
		{http.MethodConnect, "WebSocket", false},
		{http.MethodGet, "websocket", false},
	} {
		r := httptest.NewRequest(tc.method, "/", nil)
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
		if tc.protocol != "" {
			r.Header.Set(":protocol", tc.protocol)
		}
		if got := IsUpgradeRequest(r); got != tc.want {
			t.Errorf("HTTP/2 %s with :protocol %q: IsUpgradeRequest = %v, want %v", tc.method, tc.protocol, got, tc.want)
		}
	}
}
