//go:build unix

package websocket_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ws6455/websocket"
)

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
	checkReport(t, p.name, p.checks(), want)
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
	args := []string{chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--no-default-browser-check", "--mute-audio",
		"--user-data-dir=" + profile}
	if ctl.http2 {
		args = append(args, "--ignore-certificate-errors") // httptest's certificate
	}
	startPeer(t, "chromium", append(args, page)...)

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
	// Over HTTP/2 every WebSocket shares the page's TCP connection, whose
	// bytes then say nothing about one WebSocket's compression.
	if !ctl.http2 {
		ctl.verifyDeflate(t, "chromium", deflateCtlIDs)
	}
}
