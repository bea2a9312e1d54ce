package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain fails the run when a test leaves a goroutine of this package, or
// a connection end, behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "FAIL: goroutines left behind:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to wait for every goroutine running this
// package's code or blocked on a test connection to end, and describes those
// that did not.
func leakedGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "leakedGoroutines") || strings.Contains(g, "testing.(*M).Run") {
				continue
			}
			if strings.Contains(g, "ws6455/websocket") || strings.Contains(g, "net.(*pipe)") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tcpPair returns the two ends of a loopback TCP connection. Unlike
// net.Pipe, writes are buffered by the kernel, as in real use.
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// newPair returns a client and a server Conn talking to each other over
// loopback TCP, closed when the test ends.
func newPair(t testing.TB, clientCfg, serverCfg connConfig) (client, server *Conn) {
	t.Helper()
	a, b := tcpPair(t)
	clientCfg.client = true
	serverCfg.client = false
	client = newConn(a, nil, clientCfg)
	server = newConn(b, nil, serverCfg)
	t.Cleanup(func() { client.CloseNow(); server.CloseNow() })
	return client, server
}

// newRawPeer returns a Conn in the given role and the raw other end of its
// connection, for tests that speak bytes to it.
func newRawPeer(t testing.TB, client bool) (*Conn, net.Conn) {
	t.Helper()
	a, b := tcpPair(t)
	c := newConn(a, nil, connConfig{client: client, closeTimeout: time.Second})
	t.Cleanup(func() { c.CloseNow() })
	return c, b
}

// testKey is the masking key of frames that tests build.
var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// rawFrame builds a frame by hand, independently of putHeader, with the
// payload masked by testKey when masked is set. length, when not -1,
// replaces the length field's value (the payload is still what is appended).
func rawFrame(b0 byte, masked bool, payload []byte) []byte {
	var out []byte
	out = append(out, b0)
	var b1 byte
	if masked {
		b1 = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, b1|byte(n))
	case n < 1<<16:
		out = append(out, b1|126, byte(n>>8), byte(n))
	default:
		out = append(out, b1|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	if masked {
		out = append(out, testKey[:]...)
		for i, c := range payload {
			out = append(out, c^testKey[i%4])
		}
		return out
	}
	return append(out, payload...)
}

// readRawFrame reads one frame from a raw connection end, by hand, and
// returns its first byte and unmasked payload.
func readRawFrame(t testing.TB, r io.Reader) (byte, []byte, error) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(ext[0])<<8 | uint64(ext[1])
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return 0, nil, err
		}
		n = 0
		for _, b := range ext {
			n = n<<8 | uint64(b)
		}
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return 0, nil, err
		}
	}
	if n > 1<<24 {
		return 0, nil, fmt.Errorf("frame of %d bytes is too large for a test", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	if masked {
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	return h[0], p, nil
}

// readCloseCode reads frames from a raw end until a close frame, skipping
// others, and returns its status code (1005 for an empty one).
func readCloseCode(t testing.TB, r net.Conn) StatusCode {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		b0, p, err := readRawFrame(t, r)
		if err != nil {
			t.Fatalf("reading the close frame: %v", err)
		}
		if b0&0x0f != byte(opClose) {
			continue
		}
		if len(p) < 2 {
			return StatusNoStatusReceived
		}
		return StatusCode(int(p[0])<<8 | int(p[1]))
	}
}

var _ = bytes.Equal
var _ = errors.Is

// frameSpec describes one frame a raw peer sends in a protocol table.
type frameSpec struct {
	b0      byte // FIN, RSV and opcode bits
	payload []byte
	raw     []byte // when set, sent as is instead of a built frame
}

func textFrame(s string) frameSpec   { return frameSpec{b0: 0x81, payload: []byte(s)} }
func binaryFrame(s string) frameSpec { return frameSpec{b0: 0x82, payload: []byte(s)} }
func textFirst(s string) frameSpec   { return frameSpec{b0: 0x01, payload: []byte(s)} }
func contMiddle(s string) frameSpec  { return frameSpec{b0: 0x00, payload: []byte(s)} }
func contLast(s string) frameSpec    { return frameSpec{b0: 0x80, payload: []byte(s)} }
func pingFrame(s string) frameSpec   { return frameSpec{b0: 0x89, payload: []byte(s)} }
func pongFrame(s string) frameSpec   { return frameSpec{b0: 0x8A, payload: []byte(s)} }
func closeFrame(p ...byte) frameSpec {
	return frameSpec{b0: 0x88, payload: p}
}
func closeCode(code int, reason string) frameSpec {
	return closeFrame(append([]byte{byte(code >> 8), byte(code)}, reason...)...)
}

type message struct {
	typ  MessageType
	data string
}

// protocolCase is one row of the protocol tables: frames in; the messages
// the reader gets, then either the status of the peer's close (peerClose)
// or the status this side fails the connection with (failCode).
type protocolCase struct {
	name      string
	frames    []frameSpec
	limit     int64
	want      []message
	peerClose StatusCode // the *CloseError the read ends with
	failCode  StatusCode // the close code this side sends on failing
	pongs     []string   // pong payloads this side must send, in order
}

var protocolCases = []protocolCase{
	{name: "text", frames: []frameSpec{textFrame("hello")}, want: []message{{TextMessage, "hello"}}},
	{name: "binary", frames: []frameSpec{binaryFrame("\x00\xff")}, want: []message{{BinaryMessage, "\x00\xff"}}},
	{name: "empty text", frames: []frameSpec{textFrame("")}, want: []message{{TextMessage, ""}}},
	{name: "16-bit length", frames: []frameSpec{textFrame(strings.Repeat("a", 126))}, want: []message{{TextMessage, strings.Repeat("a", 126)}}},
	{name: "64-bit length", frames: []frameSpec{binaryFrame(strings.Repeat("b", 70000))}, want: []message{{BinaryMessage, strings.Repeat("b", 70000)}}},
	{name: "fragments", frames: []frameSpec{textFirst("hel"), contMiddle(""), contLast("lo")}, want: []message{{TextMessage, "hello"}}},
	{name: "ping between fragments", frames: []frameSpec{textFirst("hel"), pingFrame("p1"), contLast("lo")},
		want: []message{{TextMessage, "hello"}}, pongs: []string{"p1"}},
	{name: "ping answered with its payload", frames: []frameSpec{pingFrame(strings.Repeat("x", 125)), textFrame("a")},
		want: []message{{TextMessage, "a"}}, pongs: []string{strings.Repeat("x", 125)}},
	{name: "unsolicited pong ignored", frames: []frameSpec{pongFrame("zz"), textFrame("a")}, want: []message{{TextMessage, "a"}}},
	{name: "rune split across fragments", frames: []frameSpec{textFirst("\xe2\x82"), contLast("\xac")}, want: []message{{TextMessage, "€"}}},
	{name: "four-byte rune in single-byte fragments", frames: []frameSpec{textFirst("\xf0"), contMiddle("\x9f"), contMiddle("\x98"), contLast("\x80")},
		want: []message{{TextMessage, "😀"}}},

	{name: "close 1000 with reason", frames: []frameSpec{textFrame("a"), closeCode(1000, "bye")}, want: []message{{TextMessage, "a"}}, peerClose: 1000},
	{name: "close without code", frames: []frameSpec{closeFrame()}, peerClose: StatusNoStatusReceived},
	{name: "close 3000", frames: []frameSpec{closeCode(3000, "")}, peerClose: 3000},
	{name: "close 4999", frames: []frameSpec{closeCode(4999, "")}, peerClose: 4999},
	{name: "close 1014", frames: []frameSpec{closeCode(1014, "")}, peerClose: 1014},

	{name: "one-byte close payload", frames: []frameSpec{closeFrame(0x03)}, failCode: StatusProtocolError},
	{name: "close 999", frames: []frameSpec{closeCode(999, "")}, failCode: StatusProtocolError},
	{name: "close 1004", frames: []frameSpec{closeCode(1004, "")}, failCode: StatusProtocolError},
	{name: "close 1005", frames: []frameSpec{closeCode(1005, "")}, failCode: StatusProtocolError},
	{name: "close 1006", frames: []frameSpec{closeCode(1006, "")}, failCode: StatusProtocolError},
	{name: "close 1015", frames: []frameSpec{closeCode(1015, "")}, failCode: StatusProtocolError},
	{name: "close 1016", frames: []frameSpec{closeCode(1016, "")}, failCode: StatusProtocolError},
	{name: "close 2999", frames: []frameSpec{closeCode(2999, "")}, failCode: StatusProtocolError},
	{name: "close 5000", frames: []frameSpec{closeCode(5000, "")}, failCode: StatusProtocolError},
	{name: "close reason not UTF-8", frames: []frameSpec{closeCode(1000, "\xff")}, failCode: StatusProtocolError},

	{name: "RSV1 without extension", frames: []frameSpec{{b0: 0xC1, payload: []byte("a")}}, failCode: StatusProtocolError},
	{name: "RSV2", frames: []frameSpec{{b0: 0xA1, payload: []byte("a")}}, failCode: StatusProtocolError},
	{name: "RSV3", frames: []frameSpec{{b0: 0x91, payload: []byte("a")}}, failCode: StatusProtocolError},
	{name: "opcode 3", frames: []frameSpec{{b0: 0x83}}, failCode: StatusProtocolError},
	{name: "opcode 7", frames: []frameSpec{{b0: 0x87}}, failCode: StatusProtocolError},
	{name: "opcode 0xB", frames: []frameSpec{{b0: 0x8B}}, failCode: StatusProtocolError},
	{name: "opcode 0xF", frames: []frameSpec{{b0: 0x8F}}, failCode: StatusProtocolError},
	{name: "fragmented ping", frames: []frameSpec{{b0: 0x09, payload: []byte("a")}}, failCode: StatusProtocolError},
	{name: "ping over 125 bytes", frames: []frameSpec{pingFrame(strings.Repeat("x", 126))}, failCode: StatusProtocolError},
	{name: "close over 125 bytes", frames: []frameSpec{closeCode(1000, strings.Repeat("x", 124))}, failCode: StatusProtocolError},
	{name: "continuation without message", frames: []frameSpec{contLast("a")}, failCode: StatusProtocolError},
	{name: "text inside a message", frames: []frameSpec{textFirst("a"), textFrame("b")}, failCode: StatusProtocolError},
	{name: "binary inside a message", frames: []frameSpec{textFirst("a"), binaryFrame("b")}, failCode: StatusProtocolError},
	{name: "messages before a bad frame arrive", frames: []frameSpec{textFrame("a"), binaryFrame("b"), {b0: 0x83}},
		want: []message{{TextMessage, "a"}, {BinaryMessage, "b"}}, failCode: StatusProtocolError},

	{name: "invalid UTF-8", frames: []frameSpec{textFrame("a\xffb")}, failCode: StatusInvalidPayload},
	{name: "surrogate", frames: []frameSpec{textFrame("\xed\xa0\x80")}, failCode: StatusInvalidPayload},
	{name: "text ends inside a rune", frames: []frameSpec{textFrame("\xe2\x82")}, failCode: StatusInvalidPayload},
	{name: "fragmented text ends inside a rune", frames: []frameSpec{textFirst("a"), contLast("\xe2")}, failCode: StatusInvalidPayload},
	{name: "invalid UTF-8 in the first fragment fails before the rest", frames: []frameSpec{textFirst("\xc0")}, failCode: StatusInvalidPayload},
	{name: "binary need not be UTF-8", frames: []frameSpec{binaryFrame("\xff")}, want: []message{{BinaryMessage, "\xff"}}},

	{name: "message over the limit", limit: 10, frames: []frameSpec{textFrame("12345678901")}, failCode: StatusMessageTooBig},
	{name: "message at the limit", limit: 10, frames: []frameSpec{textFrame("1234567890")}, want: []message{{TextMessage, "1234567890"}}},
	{name: "fragments over the limit", limit: 10, frames: []frameSpec{textFirst("123456"), contLast("78901")}, failCode: StatusMessageTooBig},

	{name: "16-bit length below 126", frames: []frameSpec{{raw: []byte{0x82, 126, 0, 5}}}, failCode: StatusProtocolError},
	{name: "64-bit length below 65536", frames: []frameSpec{{raw: []byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5}}}, failCode: StatusProtocolError},
	{name: "64-bit length with the top bit set", frames: []frameSpec{{raw: []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}}}, failCode: StatusProtocolError},
	{name: "petabyte length", frames: []frameSpec{{raw: []byte{0x82, 127, 0, 4, 0, 0, 0, 0, 0, 0}}}, failCode: StatusMessageTooBig},
}

// encodeFrames renders the frames as a peer in the other role would: masked
// when the reader is a server. A raw frame gets a masking bit and key added
// to its header when masked.
func encodeFrames(frames []frameSpec, masked bool) []byte {
	var out []byte
	for _, f := range frames {
		if f.raw != nil {
			raw := append([]byte(nil), f.raw...)
			if masked {
				raw[1] |= 0x80
				raw = append(raw, testKey[:]...)
			}
			out = append(out, raw...)
			continue
		}
		out = append(out, rawFrame(f.b0, masked, f.payload)...)
	}
	return out
}

// oneByteReads is a transport that returns at most one byte per read, so
// every frame arrives in pieces, as it may from a slow network.
type oneByteReads struct{ net.Conn }

func (o oneByteReads) Read(p []byte) (int, error) { return o.Conn.Read(p[:min(len(p), 1)]) }

func TestProtocolRules(t *testing.T) {
	for _, split := range []bool{false, true} {
		for _, streaming := range []bool{false, true} {
			for _, role := range []string{"server", "client"} {
				for _, tc := range protocolCases {
					name := role + "/" + tc.name
					if streaming {
						name = "NextReader/" + name
					}
					if split {
						name = "one-byte-reads/" + name
					}
					t.Run(name, func(t *testing.T) { testProtocolCase(t, tc, role, split, streaming) })
				}
			}
		}
	}
}

// readWhole reads one message with ReadMessage, or with NextReader and the
// reader it returns.
func readWhole(c *Conn, streaming bool) (MessageType, []byte, error) {
	if !streaming {
		return c.ReadMessage()
	}
	typ, r, err := c.NextReader()
	if err != nil {
		return 0, nil, err
	}
	p, err := io.ReadAll(r)
	return typ, p, err
}

// sentFrames is what a Conn sent to a raw peer, up to its close frame.
type sentFrames struct {
	pongs []string
	code  StatusCode // of the close frame; 1005 for one without a code
	err   error      // why no close frame came, if none did
}

// collectSent reads what the Conn sends on raw until its close frame, and
// answers that as a peer would: masked when the peer is a client, and with
// TCP closed first when the peer is a server (RFC 6455 §7.1.1), so the Conn
// need not wait. When no close frame comes it closes raw, so that a Conn
// wrongly waiting for more stops.
func collectSent(t testing.TB, raw net.Conn, peerIsClient bool) <-chan sentFrames {
	sentc := make(chan sentFrames, 1)
	go func() {
		var s sentFrames
		raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			b0, p, err := readRawFrame(t, raw)
			if err != nil {
				s.err = err
				raw.Close()
				break
			}
			if op := opcode(b0 & 0x0f); op == opPong {
				s.pongs = append(s.pongs, string(p))
			} else if op == opClose {
				s.code = StatusNoStatusReceived
				if len(p) >= 2 {
					s.code = StatusCode(int(p[0])<<8 | int(p[1]))
				}
				raw.Write(rawFrame(0x88, peerIsClient, p[:min(len(p), 2)]))
				if !peerIsClient {
					raw.Close()
				}
				break
			}
		}
		sentc <- s
	}()
	return sentc
}

// readMessages reads messages until the first error, which it returns.
func readMessages(c *Conn, streaming bool) ([]message, error) {
	var got []message
	for {
		typ, p, err := readWhole(c, streaming)
		if err != nil {
			return got, err
		}
		got = append(got, message{typ, string(p)})
	}
}

func testProtocolCase(t *testing.T, tc protocolCase, role string, split, streaming bool) {
	a, raw := tcpPair(t)
	var tr transport = a
	if split {
		tr = oneByteReads{a}
	}
	c := newConn(tr, nil, connConfig{client: role == "client", closeTimeout: time.Second})
	t.Cleanup(func() { c.CloseNow() })
	if tc.limit > 0 {
		c.SetReadLimit(tc.limit)
	}
	frames := tc.frames
	if tc.failCode == 0 && tc.peerClose == 0 {
		// Rows that only carry messages end with a normal close.
		frames = append(frames[:len(frames):len(frames)], closeCode(1000, ""))
		tc.peerClose = StatusNormalClosure
	}
	// A client's peer is a server, which does not mask.
	in := encodeFrames(frames, role == "server")
	go raw.Write(in)

	sentc := collectSent(t, raw, role == "server")
	got, readErr := readMessages(c, streaming)
	if fmt.Sprint(got) != fmt.Sprint(tc.want) {
		t.Errorf("messages = %v, want %v", got, tc.want)
	}
	s := <-sentc
	switch {
	case tc.failCode != 0:
		var fe *ProtocolError
		if !errors.As(readErr, &fe) || fe.Code != tc.failCode {
			t.Errorf("read error = %v, want a failure with %v", readErr, tc.failCode)
		}
		if s.code != tc.failCode {
			t.Errorf("close frame sent with %v, want %v (raw end: %v)", s.code, tc.failCode, s.err)
		}
	case tc.peerClose != 0:
		if CloseStatus(readErr) != tc.peerClose {
			t.Errorf("read error = %v, want the peer's close %v", readErr, tc.peerClose)
		}
		// RFC 6455 §5.5.1: echo the code; 1000 for a close without one.
		want := tc.peerClose
		if want == StatusNoStatusReceived {
			want = StatusNormalClosure
		}
		if s.code != want {
			t.Errorf("close reply sent with %v, want %v", s.code, want)
		}
	}
	if fmt.Sprint(s.pongs) != fmt.Sprint(tc.pongs) {
		t.Errorf("pongs sent = %q, want %q", s.pongs, tc.pongs)
	}
	// After the read error every read returns the same error.
	if _, _, err := c.ReadMessage(); err != readErr {
		t.Errorf("second read error = %v, want the first one again", err)
	}
}

func TestRoundTrip(t *testing.T) {
	// Around the length forms, the pooled buffer, the client's 32 KiB
	// masking pieces and the server's split of frames over two buffers.
	sizes := []int{0, 1, 125, 126, 65535, 65536, largeBufferSize - 1, largeBufferSize + maxHeaderSize,
		32<<10 + 1, 2 * largeBufferSize, 2*largeBufferSize + 1, 1 << 20}
	for _, clientSends := range []bool{true, false} {
		for _, streaming := range []bool{false, true} {
			name := fmt.Sprintf("client-sends=%v/streaming=%v", clientSends, streaming)
			t.Run(name, func(t *testing.T) {
				client, server := newPair(t, connConfig{}, connConfig{})
				from, to := server, client
				if clientSends {
					from, to = client, server
				}
				for i, n := range sizes {
					typ := MessageType(1 + i%2)
					// Bytes that differ along the message, so that a
					// piece sent twice, out of order or from the wrong
					// offset shows.
					msg := make([]byte, n)
					for j := range msg {
						msg[j] = 'a' + byte((i+j/7)%26)
					}
					errc := make(chan error, 1)
					go func() {
						if !streaming {
							errc <- from.WriteMessage(typ, msg)
							return
						}
						w, err := from.NextWriter(typ)
						if err != nil {
							errc <- err
							return
						}
						// Uneven pieces, so frame boundaries fall anywhere.
						for p := msg; len(p) > 0; {
							k := min(len(p), 1000+len(p)%777)
							if _, err := w.Write(p[:k]); err != nil {
								errc <- err
								return
							}
							p = p[k:]
						}
						errc <- w.Close()
					}()
					var got []byte
					var gotType MessageType
					var err error
					if streaming {
						var r io.Reader
						if gotType, r, err = to.NextReader(); err == nil {
							got, err = io.ReadAll(r)
						}
					} else {
						gotType, got, err = to.ReadMessage()
					}
					if err != nil {
						t.Fatalf("size %d: read: %v", n, err)
					}
					if err := <-errc; err != nil {
						t.Fatalf("size %d: write: %v", n, err)
					}
					if gotType != typ || !bytes.Equal(got, msg) {
						t.Fatalf("size %d: got %v message of %d bytes, want %v of %d", n, gotType, len(got), typ, n)
					}
				}
			})
		}
	}
}

// TestConcurrentWriters has goroutines write whole and streamed messages at
// once; the reader must get every message intact, each goroutine's in order.
func TestConcurrentWriters(t *testing.T) {
	for _, fromClient := range []bool{true, false} {
		t.Run(fmt.Sprintf("client-writes=%v", fromClient), func(t *testing.T) {
			client, server := newPair(t, connConfig{}, connConfig{})
			w, r := server, client
			if fromClient {
				w, r = client, server
			}
			const writers, perWriter = 6, 30
			errc := make(chan error, writers)
			for g := range writers {
				go func() {
					for i := range perWriter {
						// Sizes from a few bytes to past the write buffer.
						msg := fmt.Appendf(nil, "%d:%d:", g, i)
						msg = append(msg, bytes.Repeat([]byte{'A' + byte(g)}, (g*7919+i*104729)%40000)...)
						var err error
						if (g+i)%2 == 0 {
							err = w.WriteMessage(BinaryMessage, msg)
						} else {
							var mw io.WriteCloser
							if mw, err = w.NextWriter(BinaryMessage); err == nil {
								half := len(msg) / 2
								mw.Write(msg[:half])
								mw.Write(msg[half:])
								err = mw.Close()
							}
						}
						if err != nil {
							errc <- err
							return
						}
					}
					errc <- nil
				}()
			}
			// Pings from another goroutine go out between frames.
			go func() {
				for range 20 {
					w.Pong([]byte("between"))
				}
			}()
			next := make([]int, writers)
			for range writers * perWriter {
				_, p, err := r.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				var g, i int
				if _, err := fmt.Sscanf(string(p), "%d:%d:", &g, &i); err != nil {
					t.Fatalf("message starts %q: %v", p[:min(len(p), 20)], err)
				}
				if i != next[g] {
					t.Fatalf("writer %d: got message %d, want %d", g, i, next[g])
				}
				next[g]++
				body := p[len(fmt.Sprintf("%d:%d:", g, i)):]
				if len(body) != (g*7919+i*104729)%40000 || bytes.Count(body, []byte{'A' + byte(g)}) != len(body) {
					t.Fatalf("writer %d message %d is damaged", g, i)
				}
			}
			for range writers {
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestControlFramesBetweenFragments checks that a control frame goes out
// between the frames of a message being streamed (RFC 6455 §5.4).
func TestControlFramesBetweenFragments(t *testing.T) {
	c, raw := newRawPeer(t, false)
	w, err := c.NextWriter(TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("x"), largeBufferSize)); err != nil {
		t.Fatal(err)
	}
	if err := c.Pong([]byte("in between")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	want := []struct {
		b0      byte
		payload string
	}{
		{0x01, strings.Repeat("x", largeBufferSize-maxHeaderSize)},
		{0x8A, "in between"},
		{0x80, strings.Repeat("x", maxHeaderSize)},
	}
	for i, f := range want {
		b0, p, err := readRawFrame(t, raw)
		if err != nil {
			t.Fatal(err)
		}
		if b0 != f.b0 || string(p) != f.payload {
			t.Fatalf("frame %d: first byte %#x with %d bytes, want %#x with %d", i, b0, len(p), f.b0, len(f.payload))
		}
	}
}

func TestCloseHandshake(t *testing.T) {
	t.Run("server closes, client reading", func(t *testing.T) {
		client, server := newPair(t, connConfig{}, connConfig{})
		readErr := make(chan error, 1)
		go func() {
			_, _, err := client.ReadMessage()
			readErr <- err
		}()
		if err := server.Close(StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("Close: %v", err)
		}
		err := <-readErr
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != StatusNormalClosure || ce.Reason != "bye" {
			t.Fatalf("client read error = %v, want the close 1000 \"bye\"", err)
		}
	})
	t.Run("client closes, nobody reading on the client", func(t *testing.T) {
		client, server := newPair(t, connConfig{}, connConfig{})
		readErr := make(chan error, 1)
		go func() {
			_, _, err := server.ReadMessage()
			readErr <- err
		}()
		if err := client.Close(4000, "done"); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-readErr; CloseStatus(err) != 4000 {
			t.Fatalf("server read error = %v, want the close 4000", err)
		}
		// The connection is gone on both sides: writes fail.
		if err := client.WriteMessage(TextMessage, []byte("late")); err == nil {
			t.Error("write after Close succeeded")
		}
		if err := server.WriteMessage(TextMessage, []byte("late")); err == nil {
			t.Error("server write after the closing handshake succeeded")
		}
	})
	t.Run("data in flight before the close is dropped, not a failure", func(t *testing.T) {
		client, server := newPair(t, connConfig{}, connConfig{})
		for range 3 {
			server.WriteMessage(TextMessage, []byte("unread"))
		}
		go func() {
			// The server reads the client's close and answers it.
			server.ReadMessage()
			for {
				if _, _, err := server.ReadMessage(); err != nil {
					return
				}
			}
		}()
		if err := client.Close(StatusNormalClosure, ""); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
	t.Run("peer never answers", func(t *testing.T) {
		a, raw := tcpPair(t)
		c := newConn(a, nil, connConfig{closeTimeout: 100 * time.Millisecond})
		err := c.Close(StatusNormalClosure, "")
		if err == nil || !strings.Contains(err.Error(), "did not answer") {
			t.Fatalf("Close = %v, want an error saying the peer did not answer", err)
		}
		if code := readCloseCode(t, raw); code != StatusNormalClosure {
			t.Fatalf("close frame code %v", code)
		}
		// Close closed TCP: the raw end sees EOF.
		raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := raw.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("raw read after Close = %v, want EOF", err)
		}
	})
	t.Run("idempotent", func(t *testing.T) {
		client, server := newPair(t, connConfig{}, connConfig{})
		go server.ReadMessage()
		if err := client.Close(StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
		if err := client.Close(StatusNormalClosure, ""); err != nil {
			t.Fatalf("second Close = %v", err)
		}
		if err := client.CloseNow(); err != nil {
			t.Fatalf("CloseNow after Close = %v", err)
		}
	})
	t.Run("invalid code or reason", func(t *testing.T) {
		client, _ := newPair(t, connConfig{}, connConfig{})
		for _, tc := range []struct {
			code   StatusCode
			reason string
		}{{999, ""}, {1005, "x"}, {1006, ""}, {1015, ""}, {5000, ""}, {1000, strings.Repeat("r", 124)}, {1000, "\xff"}} {
			if err := client.Close(tc.code, tc.reason); err == nil {
				t.Errorf("Close(%d, %d-byte reason) succeeded", tc.code, len(tc.reason))
			}
		}
	})
}

func TestCloseNowUnblocks(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		client, _ := newPair(t, connConfig{}, connConfig{})
		errc := make(chan error, 1)
		go func() {
			_, _, err := client.ReadMessage()
			errc <- err
		}()
		time.Sleep(10 * time.Millisecond) // let the read block
		client.CloseNow()
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read error = %v, want one wrapping net.ErrClosed", err)
		}
	})
	t.Run("write to a peer that does not read", func(t *testing.T) {
		client, _ := newPair(t, connConfig{}, connConfig{})
		errc := make(chan error, 2)
		big := make([]byte, 32<<20) // more than the socket buffers hold
		for range 2 {               // one writer blocked on the socket, one on the lock
			go func() { errc <- client.WriteMessage(BinaryMessage, big) }()
		}
		time.Sleep(50 * time.Millisecond)
		client.CloseNow()
		for range 2 {
			if err := <-errc; !errors.Is(err, net.ErrClosed) {
				t.Fatalf("write error = %v, want one wrapping net.ErrClosed", err)
			}
		}
	})
}

func TestAbnormalClosure(t *testing.T) {
	for _, tc := range []struct {
		name string
		sent []byte
	}{
		{"between frames", nil},
		{"inside a header", []byte{0x81}},
		{"inside a payload", []byte{0x81, 0x85, 1, 2, 3, 4, 'h'}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, raw := newRawPeer(t, false)
			raw.Write(tc.sent)
			raw.Close()
			_, _, err := c.ReadMessage()
			if CloseStatus(err) != StatusAbnormalClosure {
				t.Fatalf("read error = %v, want status 1006", err)
			}
		})
	}
}

func TestPing(t *testing.T) {
	t.Run("pong arrives", func(t *testing.T) {
		client, server := newPair(t, connConfig{}, connConfig{})
		go server.ReadMessage()
		go client.ReadMessage() // pongs are read by the reader
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, payload := range []string{"", "a", strings.Repeat("p", 125)} {
			if err := client.Ping(ctx, []byte(payload)); err != nil {
				t.Fatalf("Ping(%d bytes): %v", len(payload), err)
			}
		}
		if err := server.Ping(ctx, []byte("from server")); err != nil {
			t.Fatalf("server Ping: %v", err)
		}
	})
	t.Run("no pong", func(t *testing.T) {
		c, _ := newRawPeer(t, true)
		go c.ReadMessage()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := c.Ping(ctx, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Ping = %v, want the context's deadline", err)
		}
	})
	t.Run("payload too long", func(t *testing.T) {
		c, _ := newRawPeer(t, true)
		if err := c.Ping(context.Background(), make([]byte, 126)); err == nil {
			t.Fatal("Ping with 126 bytes succeeded")
		}
	})
	t.Run("handlers", func(t *testing.T) {
		pings := make(chan string, 1)
		pongs := make(chan string, 1)
		a, raw := tcpPair(t)
		c := newConn(a, nil, connConfig{
			pingHandler: func(c *Conn, p []byte) error { pings <- string(p); return nil },
			pongHandler: func(c *Conn, p []byte) error { pongs <- string(p); return nil },
		})
		defer c.CloseNow()
		raw.Write(rawFrame(0x89, true, []byte("ping!")))
		raw.Write(rawFrame(0x8A, true, []byte("pong!")))
		raw.Write(rawFrame(0x81, true, []byte("msg")))
		if _, p, err := c.ReadMessage(); err != nil || string(p) != "msg" {
			t.Fatalf("ReadMessage = %q, %v", p, err)
		}
		if got := <-pings; got != "ping!" {
			t.Errorf("ping handler got %q", got)
		}
		if got := <-pongs; got != "pong!" {
			t.Errorf("pong handler got %q", got)
		}
		// The ping handler replaced the automatic pong: nothing was sent.
		raw.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if n, _ := raw.Read(make([]byte, 1)); n != 0 {
			t.Error("a pong was sent although a ping handler was set")
		}
	})
}

func TestReadDeadline(t *testing.T) {
	c, _ := newRawPeer(t, true)
	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, _, err := c.ReadMessage()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read error = %v, want a deadline error", err)
	}
}

func TestNextReaderDiscardsRest(t *testing.T) {
	c, raw := newRawPeer(t, false)
	raw.Write(rawFrame(0x01, true, []byte("first part ")))
	raw.Write(rawFrame(0x80, true, []byte("first end")))
	raw.Write(rawFrame(0x82, true, []byte("second")))
	_, r, err := c.NextReader()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	typ, p, err := c.ReadMessage()
	if err != nil || typ != BinaryMessage || string(p) != "second" {
		t.Fatalf("ReadMessage = %v %q %v, want the second message", typ, p, err)
	}
}

func TestBufferedBytesBeforeFirstRead(t *testing.T) {
	for _, n := range []int{5, smallReadSize + 1, largeBufferSize + 1} {
		a, _ := tcpPair(t)
		msg := bytes.Repeat([]byte("q"), n)
		c := newConn(a, rawFrame(0x82, true, msg), connConfig{})
		_, p, err := c.ReadMessage()
		if err != nil || !bytes.Equal(p, msg) {
			t.Fatalf("%d buffered bytes: got %d bytes, %v", n, len(p), err)
		}
		c.CloseNow()
	}
}

func TestWriteChecksType(t *testing.T) {
	c, _ := newRawPeer(t, true)
	if err := c.WriteMessage(MessageType(9), nil); err == nil {
		t.Error("WriteMessage with an invalid type succeeded")
	}
	if _, err := c.NextWriter(0); err == nil {
		t.Error("NextWriter with an invalid type succeeded")
	}
}

// BenchmarkEcho measures a message written by one side and read by the other,
// for each way of writing and reading, over loopback TCP (the kernel buffers
// writes, as in real use) and over net.Pipe (no kernel: each write waits for
// the reader, so it shows the library's own cost per message).
func BenchmarkEcho(b *testing.B) {
	for _, transport := range []string{"tcp", "pipe"} {
		for _, size := range []int{16, 128, 1 << 10, 16 << 10, 64 << 10, 1 << 20} {
			for _, mode := range []string{"WriteMessage+ReadMessage", "NextWriter+NextReader"} {
				for _, fromClient := range []bool{true, false} {
					dir := "server-to-client"
					if fromClient {
						dir = "client-to-server"
					}
					b.Run(fmt.Sprintf("%s/%s/%s/%d", transport, mode, dir, size), func(b *testing.B) {
						benchmarkEcho(b, transport == "pipe", size, mode == "NextWriter+NextReader", fromClient)
					})
				}
			}
		}
	}
}

func benchmarkEcho(b *testing.B, pipe bool, size int, streaming, fromClient bool) {
	var client, server *Conn
	if pipe {
		a, c := net.Pipe()
		client = newConn(a, nil, connConfig{client: true})
		server = newConn(c, nil, connConfig{})
		b.Cleanup(func() { client.CloseNow(); server.CloseNow() })
	} else {
		client, server = newPair(b, connConfig{}, connConfig{})
	}
	w, r := server, client
	if fromClient {
		w, r = client, server
	}
	msg := bytes.Repeat([]byte("x"), size)
	buf := make([]byte, 32<<10)
	done := make(chan error, 1)
	go func() {
		for range b.N {
			var err error
			if streaming {
				var mw io.WriteCloser
				if mw, err = w.NextWriter(BinaryMessage); err == nil {
					if _, err = mw.Write(msg); err == nil {
						err = mw.Close()
					}
				}
			} else {
				err = w.WriteMessage(BinaryMessage, msg)
			}
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if streaming {
			_, mr, err := r.NextReader()
			if err != nil {
				b.Fatal(err)
			}
			for {
				_, err := mr.Read(buf)
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		} else if _, _, err := r.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// readerFunc makes a function an io.Reader.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestHeartbeat(t *testing.T) {
	t.Run("live peer", func(t *testing.T) {
		client, server := newPair(t, connConfig{}, connConfig{})
		go server.ReadMessage()
		go client.ReadMessage()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- client.Heartbeat(ctx, 5*time.Millisecond, 5*time.Second) }()
		// Several rounds answered, then the caller stops it.
		time.Sleep(50 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Heartbeat = %v, want nil after ctx ended", err)
		}
		if client.isClosed() {
			t.Fatal("Heartbeat closed a live connection")
		}
	})
	t.Run("silent peer", func(t *testing.T) {
		c, raw := newRawPeer(t, true) // the raw end reads nothing, answers nothing
		readErr := make(chan error, 1)
		go func() {
			_, _, err := c.ReadMessage()
			readErr <- err
		}()
		err := c.Heartbeat(context.Background(), 5*time.Millisecond, 20*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "no pong") {
			t.Fatalf("Heartbeat = %v, want an error saying no pong came", err)
		}
		if !errors.Is(<-readErr, net.ErrClosed) {
			t.Fatal("the blocked read did not end when Heartbeat closed the connection")
		}
		// The peer saw pings carrying distinct payloads.
		raw.SetReadDeadline(time.Now().Add(time.Second))
		b0, p, err := readRawFrame(t, raw)
		if err != nil || b0 != 0x89 || len(p) != 8 {
			t.Fatalf("first frame %#x %q %v, want a ping with an 8-byte payload", b0, p, err)
		}
	})
	t.Run("closed connection", func(t *testing.T) {
		c, _ := newRawPeer(t, true)
		c.CloseNow()
		if err := c.Heartbeat(context.Background(), time.Millisecond, time.Second); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Heartbeat on a closed Conn = %v", err)
		}
	})
}

// BenchmarkIdleConnection measures the Go heap a connection holds while idle
// after a message each way, per Conn, for each compression mode. The
// connections have no goroutine of their own, so the heap is all they cost
// besides the reading goroutine the user runs and the kernel's socket
// buffers. Run with -benchtime=1x: each iteration makes 200 pairs.
func BenchmarkIdleConnection(b *testing.B) {
	noTakeover := &deflateConfig{readNoContext: true, writeNoContext: true, readWindowBits: 15, level: 1, threshold: 0}
	takeover := &deflateConfig{readWindowBits: 15, level: 1, threshold: 0}
	for _, tc := range []struct {
		name    string
		deflate *deflateConfig
	}{{"uncompressed", nil}, {"no-context-takeover", noTakeover}, {"context-takeover", takeover}} {
		b.Run(tc.name, func(b *testing.B) {
			const pairs = 200
			msg := []byte(strings.Repeat("idle connections cost little ", 40))
			var perConn float64
			for range b.N {
				// Two collections empty sync.Pool (and its victim cache): the
				// pooled buffers and compressors are shared, not per Conn.
				runtime.GC()
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				conns := make([]*Conn, 0, 2*pairs)
				for range pairs {
					client, server := newPair(b, connConfig{deflate: tc.deflate}, connConfig{deflate: tc.deflate})
					for _, pair := range [][2]*Conn{{client, server}, {server, client}} {
						if err := pair[0].WriteMessage(TextMessage, msg); err != nil {
							b.Fatal(err)
						}
						if _, _, err := pair[1].ReadMessage(); err != nil {
							b.Fatal(err)
						}
					}
					conns = append(conns, client, server)
				}
				runtime.GC()
				runtime.GC()
				runtime.ReadMemStats(&after)
				perConn = float64(after.HeapAlloc-before.HeapAlloc) / float64(len(conns))
				runtime.KeepAlive(conns)
				for _, c := range conns {
					c.CloseNow()
				}
			}
			b.ReportMetric(perConn, "heap-bytes/conn")
		})
	}
}

func TestConnLock(t *testing.T) {
	t.Run("excludes", func(t *testing.T) {
		l := newConnLock()
		var wg sync.WaitGroup
		count := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 2000 {
					l.lock(nil, nil)
					count++ // the race detector and the total catch a second holder
					l.unlock()
				}
			}()
		}
		finished := make(chan struct{})
		go func() { wg.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Fatal("waiters still asleep after 10s: an unlock lost a wake-up")
		}
		if count != 8*2000 {
			t.Fatalf("count = %d, want %d: two goroutines held the lock at once", count, 8*2000)
		}
	})
	t.Run("waiter gives up", func(t *testing.T) {
		l := newConnLock()
		l.lock(nil, nil)
		if l.lock(nil, time.After(10*time.Millisecond)) {
			t.Fatal("lock succeeded while held, past its timeout")
		}
		done := make(chan struct{})
		close(done)
		if l.lock(done, nil) {
			t.Fatal("lock succeeded while held, after done was closed")
		}
		// Waiters that gave up leave the lock usable.
		l.unlock()
		if !l.tryLock() {
			t.Fatal("the lock is not free after its holder unlocked it")
		}
		l.unlock()
	})
	t.Run("waiter wakes", func(t *testing.T) {
		l := newConnLock()
		l.lock(nil, nil)
		got := make(chan bool)
		go func() { got <- l.lock(nil, time.After(5*time.Second)) }()
		time.Sleep(5 * time.Millisecond) // let it sleep on the lock
		l.unlock()
		if !<-got {
			t.Fatal("a waiter did not get the lock when it was unlocked")
		}
	})
}
