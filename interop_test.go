//go:build unix

package websocket_test

// Interoperability tests against real peers: the npm ws package (Node.js),
// Python's websockets package and headless Chromium. The peers live in
// testdata/interop (peer.js, peer.py, browser.html); .ci/run installs them.
//
// Our side plays both roles:
//   - Dial against a peer server (node, python), which serves one scenario
//     per path and prints a JSON line on stdout when a connection closes.
//   - Upgrade under peer clients (node, python, chromium): the echo example,
//     built and run as a subprocess, for the echo checks; an in-process
//     server (ctlServer) for the checks that need to see our server's side.
//     Peer clients print one JSON line per check; Chromium POSTs its checks.
//
// A missing peer tool skips its subtest, or fails it when CI is set.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ws6455/websocket"
)

// Shared with testdata/interop/peer.js, peer.py and browser.html.
const (
	fragmentedText = "fragmented: h\u00e9llo \u2713"
	peerPing       = "ping-from-peer"
	goPing         = "ping-from-go"
)

var (
	interopSizes = []int{0, 125, 126, 65535, 65536, 1 << 20}
	// streamText is 264,000 bytes; written in 64 KiB pieces, the piece
	// boundaries fall inside multi-byte characters.
	streamText = strings.Repeat("h\u00e9llo \u2713 ", 24000)
)

const (
	scenarioTimeout = 15 * time.Second // one connection's scenario, either side
	peerRunTimeout  = 40 * time.Second // a peer client's whole run
	interopDir      = "testdata/interop"
)

func TestInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("interop tests run peer programs; skipped in -short mode")
	}
	checkNoGoroutineLeak(t)

	ctl := startCtlServer(t)
	echoURL := startEchoExample(t)
	// The echo example that accepts permessage-deflate, with context
	// takeover, compressing every message.
	echozURL := startEchoExample(t, "-compress")

	t.Run("Node", func(t *testing.T) {
		node := requireNode(t)
		t.Run("Server", func(t *testing.T) {
			p := startPeer(t, "node server", node, "peer.js", "server")
			testPeerServer(t, p)
			t.Run("Deflate", func(t *testing.T) { testNodeServerDeflate(t, p) })
		})
		t.Run("Client", func(t *testing.T) {
			p := startPeer(t, "node client", node, "peer.js", "client", echoURL, ctl.wsURL)
			testPeerClient(t, p, ctl, "node", expectedChecks(true))
		})
		t.Run("DeflateClient", func(t *testing.T) {
			testNodeClientDeflate(t, node, ctl, echozURL)
		})
	})

	t.Run("Python", func(t *testing.T) {
		python := requirePython(t)
		t.Run("Server", func(t *testing.T) {
			p := startPeer(t, "python server", python, "peer.py", "server")
			testPeerServer(t, p)
			t.Run("Deflate", func(t *testing.T) { testPythonServerDeflate(t, p) })
		})
		t.Run("Client", func(t *testing.T) {
			p := startPeer(t, "python client", python, "peer.py", "client", echoURL, ctl.wsURL, echozURL)
			testPeerClient(t, p, ctl, "python", append(expectedChecks(true), deflateChecks...))
			ctl.verifyDeflate(t, "python", deflateCtlIDs)
		})
	})

	t.Run("Chromium", func(t *testing.T) {
		testChromium(t, requireChromium(t), ctl, echoURL, echozURL)
	})
}

// expectedChecks lists the checks a peer client reports. A browser cannot
// fragment, ping or send invalid UTF-8, so it runs the shorter list.
func expectedChecks(full bool) []string {
	var names []string
	for _, kind := range []string{"text", "binary"} {
		for _, n := range interopSizes {
			names = append(names, fmt.Sprintf("echo/%s/%d", kind, n))
		}
	}
	if full {
		names = append(names, "echo/fragmented-send", "echo/ping", "badutf8")
	}
	return append(names, "echo/close", "subprotocol",
		"ctl/stream", "ctl/close-by-server", "ctl/close-by-client", "ctl/ping")
}

// ---- our Dial against a peer server ----

// testPeerServer runs our client against each scenario path of peer p.
func testPeerServer(t *testing.T, p *peerProcess) {
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	ev, err := p.waitEvent(ctx, func(e peerEvent) bool { return e.Event == "listening" })
	if err != nil {
		t.Fatalf("waiting for the %s to listen failed: %v", p.name, err)
	}
	base := fmt.Sprintf("ws://127.0.0.1:%d", ev.Port)

	// wantPeerClose checks the close frame the peer received on path; a
	// reason of "*" matches any.
	wantPeerClose := func(t *testing.T, ctx context.Context, path string, code websocket.StatusCode, reason string) {
		t.Helper()
		ev, err := p.waitEvent(ctx, func(e peerEvent) bool { return e.Event == "close" && e.Path == path })
		if err != nil {
			t.Errorf("waiting for the %s to report its close on %s failed: %v", p.name, path, err)
			return
		}
		if websocket.StatusCode(ev.Code) != code || (reason != "*" && ev.Reason != reason) {
			t.Errorf("%s received close %d %q on %s, want %d %q", p.name, ev.Code, ev.Reason, path, code, reason)
		}
	}

	t.Run("Echo", func(t *testing.T) {
		c, ctx := dialInterop(t, base+"/echo", nil)
		for _, typ := range []websocket.MessageType{websocket.TextMessage, websocket.BinaryMessage} {
			for _, n := range interopSizes {
				want := interopPayload(n, typ)
				if err := c.WriteMessage(typ, want); err != nil {
					t.Fatalf("writing a %d-byte message of type %d failed: %v", n, typ, err)
				}
				gotType, got, err := c.ReadMessage()
				if err != nil {
					t.Fatalf("reading the echo of a %d-byte message of type %d failed: %v", n, typ, err)
				}
				if gotType != typ || !bytes.Equal(got, want) {
					t.Errorf("echo of a %d-byte message of type %d: got %d bytes of type %d", n, typ, len(got), gotType)
				}
			}
		}

		// A message written in pieces goes out as several frames.
		if err := writeInPieces(c, websocket.TextMessage, []byte(streamText), 64<<10); err != nil {
			t.Fatal(err)
		}
		gotType, got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("reading the echo of the streamed message failed: %v", err)
		}
		if gotType != websocket.TextMessage || string(got) != streamText {
			t.Errorf("echo of the streamed message: got %d bytes of type %d, want %d bytes of text", len(got), gotType, len(streamText))
		}

		// Ping returns when a concurrent read consumes the pong.
		type readResult struct {
			p   []byte
			err error
		}
		readc := make(chan readResult, 1)
		go func() {
			_, p, err := c.ReadMessage()
			readc <- readResult{p, err}
		}()
		if err := c.Ping(ctx, []byte(goPing)); err != nil {
			t.Errorf("Ping failed: %v", err)
		}
		if err := c.WriteMessage(websocket.TextMessage, []byte("after ping")); err != nil {
			t.Errorf("writing after the ping failed: %v", err)
		}
		if r := <-readc; r.err != nil || string(r.p) != "after ping" {
			t.Errorf("read during the ping: got %q, %v; want %q", r.p, r.err, "after ping")
		}

		if err := c.Close(websocket.StatusNormalClosure, "client bye"); err != nil {
			t.Errorf("Close failed: %v", err)
		}
		wantPeerClose(t, ctx, "/echo", websocket.StatusNormalClosure, "client bye")
	})

	t.Run("Fragmented", func(t *testing.T) {
		c, ctx := dialInterop(t, base+"/fragmented", nil)
		typ, got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("reading the fragmented message failed: %v", err)
		}
		if typ != websocket.TextMessage || string(got) != fragmentedText {
			t.Errorf("fragmented message: got %q of type %d, want %q of text", got, typ, fragmentedText)
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Errorf("Close failed: %v", err)
		}
		wantPeerClose(t, ctx, "/fragmented", websocket.StatusNormalClosure, "")
	})

	t.Run("Subprotocol", func(t *testing.T) {
		c, ctx := dialInterop(t, base+"/subprotocol", &websocket.DialOptions{Subprotocols: []string{"unknown.v9", "chat"}})
		if got := c.Subprotocol(); got != "chat" {
			t.Errorf("Subprotocol() = %q, want %q", got, "chat")
		}
		_, got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("reading the peer's subprotocol failed: %v", err)
		}
		if string(got) != "chat" {
			t.Errorf("the %s negotiated %q, want %q", p.name, got, "chat")
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Errorf("Close failed: %v", err)
		}
		wantPeerClose(t, ctx, "/subprotocol", websocket.StatusNormalClosure, "")
	})

	t.Run("InvalidUTF8", func(t *testing.T) {
		c, ctx := dialInterop(t, base+"/badutf8", nil)
		typ, got, err := c.ReadMessage()
		if err == nil {
			t.Fatalf("reading a text message with invalid UTF-8 returned %q of type %d, want an error", got, typ)
		}
		if !strings.Contains(strings.ToLower(err.Error()), "utf-8") {
			t.Errorf("the error for invalid UTF-8 does not say so: %v", err)
		}
		wantPeerClose(t, ctx, "/badutf8", websocket.StatusInvalidPayload, "*")
	})

	t.Run("PingFromPeer", func(t *testing.T) {
		c, ctx := dialInterop(t, base+"/ping", nil)
		_, got, err := c.ReadMessage() // the read answers the ping
		if err != nil {
			t.Fatalf("reading the peer's pong report failed: %v", err)
		}
		if want := "pong:" + peerPing; string(got) != want {
			t.Errorf("the %s reported %q, want %q", p.name, got, want)
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Errorf("Close failed: %v", err)
		}
		wantPeerClose(t, ctx, "/ping", websocket.StatusNormalClosure, "")
	})

	t.Run("CloseByPeer", func(t *testing.T) {
		c, ctx := dialInterop(t, base+"/close-by-peer", nil)
		_, _, err := c.ReadMessage()
		if code := websocket.CloseStatus(err); code != websocket.StatusNormalClosure {
			t.Errorf("read after the peer's close: CloseStatus = %d (err %v), want %d", code, err, websocket.StatusNormalClosure)
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Reason != "peer bye" {
			t.Errorf("read after the peer's close: reason %q, want %q", ce.Reason, "peer bye")
		}
		// Our answer echoes the peer's code (RFC 6455 §5.5.1); the reason is ours to choose.
		wantPeerClose(t, ctx, "/close-by-peer", websocket.StatusNormalClosure, "*")
	})
}

// dialInterop dials url; every wait on the returned Conn ends, at the latest,
// when the returned context does, since that closes the Conn.
func dialInterop(t *testing.T, url string, opts *websocket.DialOptions) (*websocket.Conn, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	t.Cleanup(cancel)
	c, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dialing %s failed: %v", url, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("dialing %s: response status %d, want 101", url, resp.StatusCode)
	}
	stop := context.AfterFunc(ctx, func() { c.CloseNow() })
	t.Cleanup(func() {
		stop()
		c.CloseNow()
	})
	return c, ctx
}

// interopPayload returns n bytes: lowercase letters for text, a pattern of
// all byte values for binary. The peers build the same.
func interopPayload(n int, typ websocket.MessageType) []byte {
	p := make([]byte, n)
	for i := range p {
		if typ == websocket.BinaryMessage {
			p[i] = byte(i*31 + 7)
		} else {
			p[i] = 'a' + byte(i%26)
		}
	}
	return p
}

// writeInPieces writes one message of type typ through NextWriter, piece
// bytes per Write call.
func writeInPieces(c *websocket.Conn, typ websocket.MessageType, p []byte, piece int) error {
	w, err := c.NextWriter(typ)
	if err != nil {
		return fmt.Errorf("starting a streamed message failed: %w", err)
	}
	for len(p) > 0 {
		n := min(piece, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			w.Close()
			return fmt.Errorf("writing a piece of a streamed message failed: %w", err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("finishing a streamed message failed: %w", err)
	}
	return nil
}

// ---- peer clients against the echo example and ctlServer ----

// testPeerClient waits for peer client p to finish, then checks what it
// reported and what the in-process server saw of it.
func testPeerClient(t *testing.T, p *peerProcess, ctl *ctlServer, peer string, want []string) {
	ctx, cancel := context.WithTimeout(context.Background(), peerRunTimeout)
	defer cancel()
	if err := p.wait(ctx); err != nil {
		t.Errorf("the %s did not finish cleanly: %v", p.name, err)
	}
	var checks []peerEvent
	for _, ev := range p.events() {
		if ev.Event == "check" {
			checks = append(checks, ev)
		}
	}
	checkReport(t, p.name, checks, want)
	ctl.verify(t, ctx, peer)
}

// checkReport fails for every check in want that is missing from checks and
// for every check that failed.
func checkReport(t *testing.T, peer string, checks []peerEvent, want []string) {
	t.Helper()
	seen := make(map[string]bool)
	for _, c := range checks {
		seen[c.Name] = true
		if !c.OK {
			t.Errorf("%s: check %s failed: %s", peer, c.Name, c.Detail)
		}
	}
	for _, name := range want {
		if !seen[name] {
			t.Errorf("%s: check %s did not run", peer, name)
		}
	}
}

// testChromium loads browser.html in headless Chromium and waits for the
// page to POST its checks.
func testChromium(t *testing.T, chromium string, ctl *ctlServer, echoURL, echozURL string) {
	page := ctl.httpURL + "/browser?" + url.Values{"echo": {echoURL}, "ctl": {ctl.wsURL}, "echoz": {echozURL}}.Encode()
	profile := t.TempDir() // before startPeer, so that Chromium is gone when it is removed
	startPeer(t, "chromium", chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--no-default-browser-check", "--mute-audio",
		"--user-data-dir="+profile, page)

	ctx, cancel := context.WithTimeout(context.Background(), peerRunTimeout)
	defer cancel()
	res, err := ctl.wait(ctx, "chromium/report")
	if err != nil {
		t.Fatalf("waiting for the page's report failed: %v", err)
	}
	var checks []peerEvent
	if err := json.Unmarshal(res.report, &checks); err != nil {
		t.Fatalf("decoding the page's report %q failed: %v", res.report, err)
	}
	checkReport(t, "chromium", checks, append(expectedChecks(false), deflateChecks...))
	ctl.verify(t, ctx, "chromium")
	ctl.verifyDeflate(t, "chromium", deflateCtlIDs)
}

// ---- in-process server ----

// ctlServer is an in-process server for peer clients: it serves the browser
// page, takes the page's report, and runs the scenarios whose server side the
// test must see. It records one ctlResult per peer and path.
type ctlServer struct {
	srv     *httptest.Server
	httpURL string // http://127.0.0.1:port
	wsURL   string // ws://127.0.0.1:port
	wire    *countingListener

	mu      sync.Mutex
	results map[string]ctlResult // by peer + path, e.g. "node/ping"
	changed chan struct{}        // closed and replaced when a result arrives

	handlers sync.WaitGroup // handlers outlive their request once upgraded
}

type ctlResult struct {
	err     error                // the scenario's step: write, Close or Ping
	code    websocket.StatusCode // CloseStatus of the error that ended reading
	reason  string               // the peer's close reason
	readErr error                // the error that ended reading
	report  []byte               // the browser's POSTed checks

	// For /deflate: the payload bytes echoed, and the bytes that crossed
	// the wire each way, handshake included.
	payload         int64
	wireIn, wireOut int64
	deflateAnswer   string
}

func startCtlServer(t *testing.T) *ctlServer {
	s := &ctlServer{results: make(map[string]ctlResult), changed: make(chan struct{})}
	s.srv = httptest.NewUnstartedServer(s)
	s.wire = &countingListener{Listener: s.srv.Listener}
	s.srv.Listener = s.wire
	s.srv.Start()
	s.httpURL = s.srv.URL
	s.wsURL = "ws" + strings.TrimPrefix(s.srv.URL, "http")
	t.Cleanup(func() {
		s.srv.Close()
		// Every handler's waits are bounded by scenarioTimeout.
		s.handlers.Wait()
	})
	return s
}

func (s *ctlServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handlers.Add(1)
	defer s.handlers.Done()
	peer := r.URL.Query().Get("peer")
	switch r.URL.Path {
	case "/browser":
		http.ServeFile(w, r, filepath.Join(interopDir, "browser.html"))
		return
	case "/report":
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		s.record(peer+"/report", ctlResult{err: err, report: body})
		return
	case "/stream", "/close-by-server", "/close-by-client", "/ping":
	case "/deflate":
		s.serveDeflate(w, r)
		return
	default:
		http.NotFound(w, r)
		return
	}
	key := peer + r.URL.Path
	c, err := websocket.Upgrade(w, r, &websocket.UpgradeOptions{CloseTimeout: 5 * time.Second})
	if err != nil {
		s.record(key, ctlResult{err: fmt.Errorf("upgrade failed: %w", err)})
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.CloseNow() })
	defer stop()
	s.record(key, serveScenario(ctx, c, r.URL.Path))
}

// serveScenario runs the server side of one ctlServer scenario.
func serveScenario(ctx context.Context, c *websocket.Conn, path string) ctlResult {
	var res ctlResult
	switch path {
	case "/stream":
		res.err = writeInPieces(c, websocket.TextMessage, []byte(streamText), 64<<10)
		res.code, res.reason, res.readErr = readUntilClose(c)
	case "/close-by-server":
		if res.err = c.WriteMessage(websocket.TextMessage, []byte("closing")); res.err == nil {
			res.err = c.Close(websocket.StatusNormalClosure, "server bye")
		}
	case "/close-by-client":
		res.code, res.reason, res.readErr = readUntilClose(c)
	case "/ping":
		// The pong arrives through a concurrent read.
		done := make(chan struct{})
		go func() {
			defer close(done)
			res.code, res.reason, res.readErr = readUntilClose(c)
		}()
		res.err = c.Ping(ctx, []byte(goPing))
		msg := "pong received"
		if res.err != nil {
			msg = "ping failed: " + res.err.Error()
		}
		c.WriteMessage(websocket.TextMessage, []byte(msg))
		<-done
	}
	return res
}

// readUntilClose reads until an error and returns the peer's close status
// and reason (-1 and "" when reading did not end with a close) and the error.
func readUntilClose(c *websocket.Conn) (websocket.StatusCode, string, error) {
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason, err
		}
		return -1, "", err
	}
}

func (s *ctlServer) record(key string, res ctlResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results[key] = res
	close(s.changed)
	s.changed = make(chan struct{})
}

// wait returns the result recorded under key, waiting for it until ctx ends.
func (s *ctlServer) wait(ctx context.Context, key string) (ctlResult, error) {
	for {
		s.mu.Lock()
		res, ok := s.results[key]
		changed := s.changed
		s.mu.Unlock()
		if ok {
			return res, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctlResult{}, fmt.Errorf("no result for %s: %w", key, ctx.Err())
		}
	}
}

// verify checks what our server saw of peer's ctl scenarios.
func (s *ctlServer) verify(t *testing.T, ctx context.Context, peer string) {
	t.Helper()
	get := func(path string) (ctlResult, bool) {
		res, err := s.wait(ctx, peer+path)
		if err != nil {
			t.Errorf("server side of %s: %v", path, err)
			return res, false
		}
		return res, true
	}
	wantClientBye := func(path string, res ctlResult) {
		if res.code != websocket.StatusNormalClosure || res.reason != "client bye" {
			t.Errorf("server side of %s: read ended with %v, want the %s's close 1000 %q", path, res.readErr, peer, "client bye")
		}
	}
	if res, ok := get("/stream"); ok {
		if res.err != nil {
			t.Errorf("server side of /stream: %v", res.err)
		}
		wantClientBye("/stream", res)
	}
	if res, ok := get("/close-by-server"); ok && res.err != nil {
		t.Errorf("server side of /close-by-server: Close failed: %v", res.err)
	}
	if res, ok := get("/close-by-client"); ok {
		wantClientBye("/close-by-client", res)
	}
	if res, ok := get("/ping"); ok {
		if res.err != nil {
			t.Errorf("server side of /ping: Ping failed: %v", res.err)
		}
		wantClientBye("/ping", res)
	}
}

// ---- permessage-deflate ----
//
// Together these stand in for Autobahn's cases 12 and 13: every combination
// of window bits (8, 9, 15) and context takeover that a peer can be made to
// ask for or grant, in both directions, with each of our compression modes.
// Each check makes sure compression was negotiated (the answer) and used
// (bytes on the wire).

// deflateText is shared with peer.js and peer.py: JSON-like text that
// compresses well.
var deflateText = []byte(strings.Repeat(`{"user":"ada","msg":"h\u00e9llo \u2713","n":12345},`, 1500))

// deflateChecks are the permessage-deflate checks of the Python client and
// Chromium, and deflateCtlIDs the ctlServer connections they make.
var (
	deflateChecks = []string{"deflate/echo", "deflate/ctl-noctx", "deflate/ctl-ctx"}
	deflateCtlIDs = [][2]string{{"no-context-takeover", "ctl-noctx"}, {"context-takeover", "ctl-ctx"}}
)

// wireCount counts the bytes of one connection each way.
type wireCount struct{ in, out atomic.Int64 }

type countedConn struct {
	net.Conn
	n *wireCount
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.in.Add(int64(n))
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.out.Add(int64(n))
	return n, err
}

// countingListener counts the bytes of every connection it accepts, by the
// connection's remote address.
type countingListener struct {
	net.Listener
	counts sync.Map // remote address -> *wireCount
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := &wireCount{}
	l.counts.Store(c.RemoteAddr().String(), n)
	return &countedConn{Conn: c, n: n}, nil
}

func (l *countingListener) count(remoteAddr string) *wireCount {
	if n, ok := l.counts.Load(remoteAddr); ok {
		return n.(*wireCount)
	}
	return &wireCount{}
}

// parseExtension splits the value of a Sec-WebSocket-Extensions header that
// holds one extension into its name and parameters.
func parseExtension(v string) (string, map[string]string) {
	parts := strings.Split(v, ";")
	params := make(map[string]string)
	for _, p := range parts[1:] {
		name, value, _ := strings.Cut(p, "=")
		params[strings.TrimSpace(name)] = strings.Trim(strings.TrimSpace(value), `"`)
	}
	return strings.TrimSpace(parts[0]), params
}

// serveDeflate echoes every message of a peer, compressing in the mode its
// query names (mode=no-context-takeover or context-takeover), and records
// how many bytes crossed the wire for how many echoed.
func (s *ctlServer) serveDeflate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	key := q.Get("peer") + "/deflate/" + q.Get("mode") + "/" + q.Get("id")
	mode := websocket.CompressionContextTakeover
	if q.Get("mode") == "no-context-takeover" {
		mode = websocket.CompressionNoContextTakeover
	}
	wire := s.wire.count(r.RemoteAddr)
	c, err := websocket.Upgrade(w, r, &websocket.UpgradeOptions{
		Compression: mode, CompressionThreshold: -1, ReadLimit: 64 << 20, CloseTimeout: 5 * time.Second,
	})
	if err != nil {
		s.record(key, ctlResult{err: fmt.Errorf("upgrade failed: %w", err)})
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.CloseNow() })
	defer stop()
	var res ctlResult
	_, offer := parseExtension(r.Header.Get("Sec-WebSocket-Extensions"))
	res.deflateAnswer = offer["server_max_window_bits"]
	for {
		typ, p, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				res.code, res.reason = ce.Code, ce.Reason
			} else {
				res.code = -1
			}
			res.readErr = err
			break
		}
		if err := c.WriteMessage(typ, p); err != nil && res.err == nil {
			res.err = err
		}
		res.payload += int64(len(p))
	}
	c.CloseNow()
	res.wireIn, res.wireOut = wire.in.Load(), wire.out.Load()
	s.record(key, res)
}

// verifyDeflate checks what our server saw of peer's /deflate connections,
// each a (mode, id) pair: a clean close, and compression at work both ways.
// A peer that asked for a server window under 15 bits gets Huffman coding
// only, which saves less.
func (s *ctlServer) verifyDeflate(t *testing.T, peer string, conns [][2]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	for _, mc := range conns {
		key := peer + "/deflate/" + mc[0] + "/" + mc[1]
		res, err := s.wait(ctx, key)
		if err != nil {
			t.Errorf("server side of %s: %v", key, err)
			continue
		}
		if res.err != nil || res.code != websocket.StatusNormalClosure {
			t.Errorf("server side of %s: echo error %v, reading ended with %v", key, res.err, res.readErr)
		}
		outBound := 0.5
		if bits := res.deflateAnswer; bits != "" && bits != "15" {
			outBound = 0.9
		}
		if float64(res.wireIn) > 0.5*float64(res.payload) || float64(res.wireOut) > outBound*float64(res.payload) {
			t.Errorf("server side of %s: %d payload bytes echoed took %d bytes in and %d out: not compressed", key, res.payload, res.wireIn, res.wireOut)
		}
	}
}

// dialCounted dials url with opts, counting the connection's bytes.
func dialCounted(t *testing.T, url string, opts websocket.DialOptions) (*websocket.Conn, *http.Response, *wireCount, context.Context, error) {
	t.Helper()
	n := &wireCount{}
	opts.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countedConn{Conn: c, n: n}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	t.Cleanup(cancel)
	c, resp, err := websocket.Dial(ctx, url, &opts)
	if err != nil {
		return nil, resp, n, ctx, err
	}
	stop := context.AfterFunc(ctx, func() { c.CloseNow() })
	t.Cleanup(func() {
		stop()
		c.CloseNow()
	})
	return c, resp, n, ctx, nil
}

// checkAnswer checks a Sec-WebSocket-Extensions answer: permessage-deflate
// with exactly the parameters in want.
func checkDeflateAnswer(t *testing.T, resp *http.Response, want map[string]string) {
	t.Helper()
	values := resp.Header.Values("Sec-WebSocket-Extensions")
	if len(values) != 1 {
		t.Fatalf("Sec-WebSocket-Extensions %q, want permessage-deflate with %v", values, want)
	}
	name, params := parseExtension(values[0])
	if name != "permessage-deflate" || fmt.Sprint(params) != fmt.Sprint(want) {
		t.Fatalf("Sec-WebSocket-Extensions %q, want permessage-deflate with %v", values[0], want)
	}
}

// deflateEcho sends each message, every other one of more than 32 KiB in
// 16 KiB pieces, and checks its echo. The echo of deflateText must take at
// most outBound of its size on the wire going out and inBound coming back:
// compression is in use on both sides.
func deflateEcho(t *testing.T, c *websocket.Conn, n *wireCount, messages [][]byte, outBound, inBound float64) {
	t.Helper()
	for i, msg := range messages {
		typ := websocket.TextMessage
		if !utf8.Valid(msg) {
			typ = websocket.BinaryMessage
		}
		out, in := n.out.Load(), n.in.Load()
		var err error
		if streamed := i%2 == 1 && len(msg) > 32<<10; streamed {
			err = writeInPieces(c, typ, msg, 16<<10)
		} else {
			err = c.WriteMessage(typ, msg)
		}
		if err != nil {
			t.Fatalf("writing a %d-byte message: %v", len(msg), err)
		}
		gotType, got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("reading the echo of a %d-byte message: %v", len(msg), err)
		}
		if gotType != typ || !bytes.Equal(got, msg) {
			t.Fatalf("echo of a %d-byte %v message: got %d bytes of %v", len(msg), typ, len(got), gotType)
		}
		if bytes.Equal(msg, deflateText) {
			sent, back := n.out.Load()-out, n.in.Load()-in
			if float64(sent) > outBound*float64(len(msg)) || float64(back) > inBound*float64(len(msg)) {
				t.Errorf("a %d-byte text took %d bytes out and %d back: want at most %.0f%% and %.0f%%", len(msg), sent, back, 100*outBound, 100*inBound)
			}
		}
	}
}

// testNodeServerDeflate dials the Node server's /deflate path in each of
// our modes, with every server configuration of context takeover and
// window bits. The server grants what it is configured to, on top of what
// we ask.
func testNodeServerDeflate(t *testing.T, p *peerProcess) {
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	ev, err := p.waitEvent(ctx, func(e peerEvent) bool { return e.Event == "listening" })
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("ws://127.0.0.1:%d", ev.Port)
	binary := interopPayload(70000, websocket.BinaryMessage)
	t.Run("disabled", func(t *testing.T) {
		path := "/deflate?mode=disabled"
		c, resp, n, ctx, err := dialCounted(t, base+path, websocket.DialOptions{})
		if err != nil {
			t.Fatalf("dialing %s failed: %v", path, err)
		}
		if got := resp.Header.Values("Sec-WebSocket-Extensions"); got != nil {
			t.Errorf("Sec-WebSocket-Extensions %q without an offer", got)
		}
		deflateEcho(t, c, n, [][]byte{deflateText, deflateText, binary}, 1.1, 1.1)
		if err := c.Close(websocket.StatusNormalClosure, "client bye"); err != nil {
			t.Errorf("Close failed: %v", err)
		}
		if ev, err := p.waitEvent(ctx, func(e peerEvent) bool { return e.Event == "close" && e.Path == path }); err != nil || ev.Code != 1000 {
			t.Errorf("the node server's close on %s: %+v, %v", path, ev, err)
		}
	})
	for _, mode := range []websocket.CompressionMode{websocket.CompressionNoContextTakeover, websocket.CompressionContextTakeover} {
		for _, snct := range []bool{false, true} {
			for _, cnct := range []bool{false, true} {
				for _, smwb := range []int{8, 9, 15} {
					for _, cmwb := range []int{8, 9, 15} {
						q := url.Values{"smwb": {fmt.Sprint(smwb)}, "cmwb": {fmt.Sprint(cmwb)}, "mode": {strings.ReplaceAll(mode.String(), " ", "-")}}
						// Unset, not false: ws refuses an offer of
						// server_no_context_takeover (with 400) when told
						// false.
						if snct {
							q.Set("snct", "1")
						}
						if cnct {
							q.Set("cnct", "1")
						}
						path := "/deflate?" + q.Encode()
						t.Run(q.Encode(), func(t *testing.T) {
							c, resp, n, ctx, err := dialCounted(t, base+path, websocket.DialOptions{Compression: mode, CompressionThreshold: -1})
							if err != nil {
								t.Fatalf("dialing %s failed: %v", path, err)
							}
							want := map[string]string{"server_max_window_bits": fmt.Sprint(smwb), "client_max_window_bits": fmt.Sprint(cmwb)}
							if snct || mode == websocket.CompressionNoContextTakeover {
								want["server_no_context_takeover"] = ""
							}
							if cnct || mode == websocket.CompressionNoContextTakeover {
								want["client_no_context_takeover"] = ""
							}
							checkDeflateAnswer(t, resp, want)
							// Under 15 bits, our side sends Huffman
							// codes only.
							outBound := 0.25
							if cmwb < 15 {
								outBound = 0.75
							}
							deflateEcho(t, c, n, [][]byte{deflateText, deflateText, binary, []byte("x"), {}}, outBound, 0.25)
							if err := c.Close(websocket.StatusNormalClosure, "client bye"); err != nil {
								t.Errorf("Close failed: %v", err)
							}
							ev, err := p.waitEvent(ctx, func(e peerEvent) bool { return e.Event == "close" && e.Path == path })
							if err != nil || ev.Code != 1000 {
								t.Errorf("the node server's close on %s: %+v, %v", path, ev, err)
							}
						})
					}
				}
			}
		}
	}
}

// testPythonServerDeflate dials the Python server, whose every path
// compresses with websockets' defaults, in each of our modes.
func testPythonServerDeflate(t *testing.T, p *peerProcess) {
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	ev, err := p.waitEvent(ctx, func(e peerEvent) bool { return e.Event == "listening" })
	if err != nil {
		t.Fatal(err)
	}
	var messages [][]byte
	for _, typ := range []websocket.MessageType{websocket.TextMessage, websocket.BinaryMessage} {
		for _, size := range interopSizes {
			messages = append(messages, interopPayload(size, typ))
		}
	}
	messages = append(messages, deflateText, deflateText, []byte(streamText))
	for _, mode := range []websocket.CompressionMode{websocket.CompressionNoContextTakeover, websocket.CompressionContextTakeover} {
		t.Run(mode.String(), func(t *testing.T) {
			path := "/echo?deflate=" + url.QueryEscape(mode.String())
			c, resp, n, ctx, err := dialCounted(t, fmt.Sprintf("ws://127.0.0.1:%d%s", ev.Port, path), websocket.DialOptions{Compression: mode, CompressionThreshold: -1})
			if err != nil {
				t.Fatalf("dialing failed: %v", err)
			}
			// websockets' server asks for 12-bit windows both ways.
			want := map[string]string{"server_max_window_bits": "12", "client_max_window_bits": "12"}
			if mode == websocket.CompressionNoContextTakeover {
				want["server_no_context_takeover"], want["client_no_context_takeover"] = "", ""
			}
			checkDeflateAnswer(t, resp, want)
			deflateEcho(t, c, n, messages, 0.75, 0.25)
			if err := c.Close(websocket.StatusNormalClosure, "client bye"); err != nil {
				t.Errorf("Close failed: %v", err)
			}
			ev, err := p.waitEvent(ctx, func(e peerEvent) bool { return e.Event == "close" && e.Path == path })
			if err != nil || ev.Code != 1000 {
				t.Errorf("the python server's close on %s: %+v, %v", path, ev, err)
			}
		})
	}
}

// deflateClientConfigs are the names of peer.js's DEFLATE_CONFIGS.
func deflateClientConfigs() []string {
	var names []string
	for _, snct := range []int{0, 1} {
		for _, cnct := range []int{0, 1} {
			for _, smwb := range []string{"-", "8", "9", "15"} {
				for _, cmwb := range []string{"bare", "8", "9", "15"} {
					names = append(names, fmt.Sprintf("snct=%d,cnct=%d,smwb=%s,cmwb=%s", snct, cnct, smwb, cmwb))
				}
			}
		}
	}
	return names
}

// testNodeClientDeflate runs peer.js's deflate-client against the echo
// example with -compress (context takeover), with every client
// configuration, and against ctlServer's /deflate in both modes, with every
// window configuration.
func testNodeClientDeflate(t *testing.T, node string, ctl *ctlServer, echozURL string) {
	targets := []struct{ mode, label, url string }{
		{"ctx", "echo", echozURL},
		{"noctx", "ctl-noctx", ctl.wsURL + "/deflate?peer=node&mode=no-context-takeover"},
		{"ctx", "ctl-ctx", ctl.wsURL + "/deflate?peer=node&mode=context-takeover"},
	}
	args := []string{node, "peer.js", "deflate-client"}
	var want []string
	var conns [][2]string
	for i, target := range targets {
		args = append(args, target.mode, target.label, target.url)
		for _, cfg := range deflateClientConfigs() {
			// Past the first target, peer.js leaves context takeover alone.
			if i > 0 && !strings.HasPrefix(cfg, "snct=0,cnct=0,") {
				continue
			}
			want = append(want, "deflate/"+target.label+"/"+cfg)
			if target.label != "echo" {
				mode := strings.TrimPrefix(target.url[strings.Index(target.url, "mode="):], "mode=")
				conns = append(conns, [2]string{mode, cfg})
			}
		}
	}
	p := startPeer(t, "node deflate client", args...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*peerRunTimeout)
	defer cancel()
	if err := p.wait(ctx); err != nil {
		t.Errorf("the %s did not finish cleanly: %v", p.name, err)
	}
	var checks []peerEvent
	for _, ev := range p.events() {
		if ev.Event == "check" {
			checks = append(checks, ev)
		}
	}
	checkReport(t, p.name, checks, want)
	ctl.verifyDeflate(t, "node", conns)
}

// ---- the echo example as a subprocess ----

var listenLine = regexp.MustCompile(`listening on (ws://[^/\s]+/)`)

// startEchoExample builds examples/echo, starts it on a free port with the
// extra flags and returns its WebSocket URL.
func startEchoExample(t *testing.T, flags ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "echo")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/echo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/echo failed: %v\n%s", err, out)
	}
	p := startPeer(t, "echo example", append([]string{bin, "-addr", "127.0.0.1:0"}, flags...)...)

	ctx, cancel = context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	line, err := p.waitLine(ctx, p.stderr, listenLine.MatchString)
	if err != nil {
		t.Fatalf("waiting for the echo example to listen failed: %v", err)
	}
	return listenLine.FindStringSubmatch(line)[1]
}

// ---- peer tools ----

// missingPeer skips the test, or fails it when CI is set: there the peers
// are installed by .ci/run, so a missing one is a broken setup.
func missingPeer(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, and .ci/run should have installed it)", msg)
	}
	t.Skipf("%s; skipping", msg)
}

func requireNode(t *testing.T) string {
	node, err := exec.LookPath("node")
	if err != nil {
		missingPeer(t, "node not found: install Node.js")
	}
	if _, err := os.Stat(filepath.Join(interopDir, "node_modules", "ws", "package.json")); err != nil {
		missingPeer(t, "the ws package is not installed: run npm ci --prefix %s", interopDir)
	}
	return node
}

// requirePython returns Debian's python3, which has python3-websockets; a
// python3 earlier on PATH (pyenv, say) may not have it.
func requirePython(t *testing.T) string {
	const python = "/usr/bin/python3"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, python, "-c", "import websockets").CombinedOutput(); err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		missingPeer(t, "%s cannot import websockets (%v: %s): install python3-websockets", python, err, lines[len(lines)-1])
	}
	return python
}

func requireChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	missingPeer(t, "chromium not found: install chromium")
	return ""
}

// ---- subprocesses ----

// peerProcess is a running peer program whose output the test watches.
type peerProcess struct {
	name   string
	stdout *lineLog
	stderr *lineLog
	exited chan struct{} // closed when the process has exited and its output is in
	err    error         // from Wait; read only after exited is closed
}

// startPeer starts argv in testdata/interop. Cleanup kills its process group
// (Chromium starts helpers) and waits for it.
func startPeer(t *testing.T, name string, argv ...string) *peerProcess {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = interopDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	p := &peerProcess{name: name, stdout: newLineLog(), stderr: newLineLog(), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	// The peer scripts exit when their stdin closes, should the test die
	// before it can kill them.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("starting the %s failed: %v", name, err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the %s failed: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		stdin.Close()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("the %s did not exit after SIGKILL", name)
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s", name, p.stdout.tail(8<<10))
			t.Logf("%s stderr:\n%s", name, p.stderr.tail(8<<10))
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit error.
func (p *peerProcess) wait(ctx context.Context) error {
	select {
	case <-p.exited:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("the %s is still running: %w", p.name, ctx.Err())
	}
}

// waitLine returns the first line of l that matches, waiting until ctx ends
// or the process exits.
func (p *peerProcess) waitLine(ctx context.Context, l *lineLog, match func(string) bool) (string, error) {
	exited := false
	for {
		lines, changed := l.snapshot()
		for _, line := range lines {
			if match(line) {
				return line, nil
			}
		}
		if exited {
			return "", fmt.Errorf("the %s exited (%v) without printing the line", p.name, p.err)
		}
		select {
		case <-changed:
		case <-p.exited:
			exited = true // look once more: all output is in
		case <-ctx.Done():
			return "", fmt.Errorf("the %s did not print the line: %w", p.name, ctx.Err())
		}
	}
}

// peerEvent is one JSON line a peer prints, or one check in the browser's report.
type peerEvent struct {
	Event  string `json:"event"`
	Port   int    `json:"port"`
	Path   string `json:"path"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

func parseEvent(line string) (peerEvent, bool) {
	var ev peerEvent
	err := json.Unmarshal([]byte(line), &ev)
	return ev, err == nil
}

// waitEvent returns the first stdout event that matches.
func (p *peerProcess) waitEvent(ctx context.Context, match func(peerEvent) bool) (peerEvent, error) {
	line, err := p.waitLine(ctx, p.stdout, func(line string) bool {
		ev, ok := parseEvent(line)
		return ok && match(ev)
	})
	if err != nil {
		return peerEvent{}, err
	}
	ev, _ := parseEvent(line)
	return ev, nil
}

// events returns the stdout events so far.
func (p *peerProcess) events() []peerEvent {
	lines, _ := p.stdout.snapshot()
	var evs []peerEvent
	for _, line := range lines {
		if ev, ok := parseEvent(line); ok {
			evs = append(evs, ev)
		}
	}
	return evs
}

// lineLog is an io.Writer that keeps what is written as lines.
type lineLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	changed chan struct{} // closed and replaced on every write
}

func newLineLog() *lineLog { return &lineLog{changed: make(chan struct{})} }

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// snapshot returns the complete lines so far and a channel closed on the
// next write.
func (l *lineLog) snapshot() ([]string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines[:len(l.lines):len(l.lines)], l.changed
}

// tail returns the last n bytes written, at most.
func (l *lineLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := strings.Join(l.lines, "\n") + "\n" + string(l.partial)
	if len(all) > n {
		all = "..." + all[len(all)-n:]
	}
	return all
}

// ---- goroutines ----

// checkNoGoroutineLeak fails t if, after every other cleanup of t, more
// goroutines run than when it was called. Call it first.
func checkNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines still running after the interop tests (%d before):\n%s",
					runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
