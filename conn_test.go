package websocket

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
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

func TestProtocolRules(t *testing.T) {
	for _, role := range []string{"server", "client"} {
		for _, tc := range protocolCases {
			t.Run(role+"/"+tc.name, func(t *testing.T) {
				c, raw := newRawPeer(t, role == "client")
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

				// The raw end collects what the Conn sends until its close frame.
				type sent struct {
					pongs []string
					code  StatusCode
					err   error
				}
				sentc := make(chan sent, 1)
				go func() {
					var s sent
					raw.SetReadDeadline(time.Now().Add(5 * time.Second))
					for {
						b0, p, err := readRawFrame(t, raw)
						if err != nil {
							s.err = err
							break
						}
						if op := opcode(b0 & 0x0f); op == opPong {
							s.pongs = append(s.pongs, string(p))
						} else if op == opClose {
							s.code = StatusNoStatusReceived
							if len(p) >= 2 {
								s.code = StatusCode(int(p[0])<<8 | int(p[1]))
							}
							// Answer, so the Conn need not wait for us.
							raw.Write(rawFrame(0x88, role == "server", p[:min(len(p), 2)]))
							if role == "client" {
								raw.Close() // a server closes TCP first (RFC 6455 §7.1.1)
							}
							break
						}
					}
					sentc <- s
				}()

				var got []message
				var readErr error
				for {
					typ, p, err := c.ReadMessage()
					if err != nil {
						readErr = err
						break
					}
					got = append(got, message{typ, string(p)})
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("messages = %v, want %v", got, tc.want)
				}
				s := <-sentc
				switch {
				case tc.failCode != 0:
					var fe *failError
					if !errors.As(readErr, &fe) || fe.code != tc.failCode {
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
			})
		}
	}
}
