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
	"syscall"
	"testing"
	"time"

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

	t.Run("Node", func(t *testing.T) {
		node := requireNode(t)
		t.Run("Server", func(t *testing.T) {
			testPeerServer(t, startPeer(t, "node server", node, "peer.js", "server"))
		})
		t.Run("Client", func(t *testing.T) {
			p := startPeer(t, "node client", node, "peer.js", "client", echoURL, ctl.wsURL)
			testPeerClient(t, p, ctl, "node", expectedChecks(true))
		})
	})

	t.Run("Python", func(t *testing.T) {
		python := requirePython(t)
		t.Run("Server", func(t *testing.T) {
			testPeerServer(t, startPeer(t, "python server", python, "peer.py", "server"))
		})
		t.Run("Client", func(t *testing.T) {
			p := startPeer(t, "python client", python, "peer.py", "client", echoURL, ctl.wsURL)
			testPeerClient(t, p, ctl, "python", expectedChecks(true))
		})
	})

	t.Run("Chromium", func(t *testing.T) {
		testChromium(t, requireChromium(t), ctl, echoURL)
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
func testChromium(t *testing.T, chromium string, ctl *ctlServer, echoURL string) {
	page := ctl.httpURL + "/browser?" + url.Values{"echo": {echoURL}, "ctl": {ctl.wsURL}}.Encode()
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
	checkReport(t, "chromium", checks, expectedChecks(false))
	ctl.verify(t, ctx, "chromium")
}

// ---- in-process server ----

// ctlServer is an in-process server for peer clients: it serves the browser
// page, takes the page's report, and runs the scenarios whose server side the
// test must see. It records one ctlResult per peer and path.
type ctlServer struct {
	srv     *httptest.Server
	httpURL string // http://127.0.0.1:port
	wsURL   string // ws://127.0.0.1:port

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
}

func startCtlServer(t *testing.T) *ctlServer {
	s := &ctlServer{results: make(map[string]ctlResult), changed: make(chan struct{})}
	s.srv = httptest.NewServer(s)
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

// ---- the echo example as a subprocess ----

var listenLine = regexp.MustCompile(`listening on (ws://[^/\s]+/)`)

// startEchoExample builds examples/echo, starts it on a free port and returns
// its WebSocket URL.
func startEchoExample(t *testing.T) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "echo")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/echo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/echo failed: %v\n%s", err, out)
	}
	p := startPeer(t, "echo example", bin, "-addr", "127.0.0.1:0")

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
