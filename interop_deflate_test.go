//go:build unix

package websocket_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ws6455/websocket"
)

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
	c, _, end, err := upgradeScenario(w, r, &websocket.UpgradeOptions{
		Compression: mode, CompressionThreshold: -1, ReadLimit: 64 << 20, CloseTimeout: 5 * time.Second,
	})
	if err != nil {
		s.record(key, ctlResult{err: fmt.Errorf("upgrade failed: %w", err)})
		return
	}
	defer end()
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
	checkReport(t, p.name, p.checks(), want)
	ctl.verifyDeflate(t, "node", conns)
}
