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
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
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

	ctl := startCtlServer(t, false)
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

// TestInteropHTTP2 runs the browser page over HTTP/2 with TLS, where
// Chromium opens its WebSockets as extended CONNECT streams (RFC 8441) on the
// page's connection.
func TestInteropHTTP2(t *testing.T) {
	if testing.Short() {
		t.Skip("interop tests run peer programs; skipped in -short mode")
	}
	if !inExtendedConnectChild(t) {
		return
	}
	checkNoGoroutineLeak(t)
	chromium := requireChromium(t)
	ctl := startCtlServer(t, true)
	testChromium(t, chromium, ctl, ctl.wsURL+"/echo", ctl.wsURL+"/echoz")

	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	if len(ctl.upgrades) < 9 {
		t.Errorf("the server saw %d WebSocket requests, want the page's 9: %q", len(ctl.upgrades), ctl.upgrades)
	}
	for _, u := range ctl.upgrades {
		if !strings.HasPrefix(u, "HTTP/2.0 CONNECT ") {
			t.Errorf("a WebSocket came as %q, want an HTTP/2 CONNECT", u)
		}
	}
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
