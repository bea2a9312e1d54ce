//go:build unix

package websocket_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws6455/websocket"
)

// ---- in-process server ----

// ctlServer is an in-process server for peer clients: it serves the browser
// page, takes the page's report, and runs the scenarios whose server side the
// test must see. It records one ctlResult per peer and path.
type ctlServer struct {
	srv     *httptest.Server
	http2   bool   // TLS with HTTP/2, which carries WebSockets as in RFC 8441
	httpURL string // http://127.0.0.1:port, or https://
	wsURL   string // ws://127.0.0.1:port, or wss://
	wire    *countingListener

	mu       sync.Mutex
	results  map[string]ctlResult // by peer + path, e.g. "node/ping"
	changed  chan struct{}        // closed and replaced when a result arrives
	upgrades []string             // each WebSocket request's protocol, method and path

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

// startCtlServer starts a ctlServer over plain HTTP/1.1, or with http2 over
// TLS with HTTP/2 offered.
func startCtlServer(t *testing.T, http2 bool) *ctlServer {
	s := &ctlServer{results: make(map[string]ctlResult), changed: make(chan struct{}), http2: http2}
	s.srv = httptest.NewUnstartedServer(s)
	s.wire = &countingListener{Listener: s.srv.Listener}
	s.srv.Listener = s.wire
	if http2 {
		s.srv.EnableHTTP2 = true
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
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
	if websocket.IsUpgradeRequest(r) {
		s.mu.Lock()
		s.upgrades = append(s.upgrades, r.Proto+" "+r.Method+" "+r.URL.Path)
		s.mu.Unlock()
	}
	switch r.URL.Path {
	case "/echo", "/echoz":
		serveEcho(w, r)
		return
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
	c, ctx, end, err := upgradeScenario(w, r, &websocket.UpgradeOptions{CloseTimeout: 5 * time.Second})
	if err != nil {
		s.record(key, ctlResult{err: fmt.Errorf("upgrade failed: %w", err)})
		return
	}
	defer end()
	s.record(key, serveScenario(ctx, c, r.URL.Path))
}

// upgradeScenario upgrades r with opts for a scenario that may last
// scenarioTimeout: its context ends then, and closes the Conn. The caller
// defers end, which closes the Conn in any case.
func upgradeScenario(w http.ResponseWriter, r *http.Request, opts *websocket.UpgradeOptions) (*websocket.Conn, context.Context, func(), error) {
	c, err := websocket.Upgrade(w, r, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	stop := context.AfterFunc(ctx, func() { c.CloseNow() })
	return c, ctx, func() { stop(); cancel(); c.CloseNow() }, nil
}

// serveEcho echoes as the echo example does, within scenarioTimeout, for a
// browser whose WebSockets must go to the page's own origin: Chromium uses
// HTTP/2 for a WebSocket only on a connection it already has.
func serveEcho(w http.ResponseWriter, r *http.Request) {
	opts := &websocket.UpgradeOptions{Subprotocols: []string{"chat"}, ReadLimit: 64 << 20}
	if r.URL.Path == "/echoz" {
		opts.Compression = websocket.CompressionContextTakeover
		opts.CompressionThreshold = -1
	}
	c, _, end, err := upgradeScenario(w, r, opts)
	if err != nil {
		return
	}
	defer end()
	for {
		typ, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(typ, p); err != nil {
			return
		}
	}
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
