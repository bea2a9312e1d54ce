package websocket

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

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

// TestFailMidFrame fails the connection part-way through a frame, on text
// that is not UTF-8, and then answers as a peer should: the rest of the
// frame, then a close frame. The Conn must drop that rest and see the close
// frame; taking the rest for frame headers, it used to miss it and wait out
// the close timeout. The frame's key is zero, so its payload is on the wire
// as it is, and after the bad byte it looks like the header of a 1 MiB
// continuation frame.
func TestFailMidFrame(t *testing.T) {
	a, raw := tcpPair(t)
	c := newConn(a, nil, connConfig{closeTimeout: time.Minute})
	t.Cleanup(func() { c.CloseNow() })
	payload := make([]byte, 100)
	payload[0] = 0xff // never valid in UTF-8
	copy(payload[1:], []byte{0x80, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0})
	frame := append([]byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
	raw.Write(frame[:7]) // the header and the bad byte
	read := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		read <- err
	}()
	raw.SetReadDeadline(time.Now().Add(faultWait))
	b0, p, err := readRawFrame(t, raw)
	if err != nil || b0 != 0x88 || len(p) < 2 {
		t.Fatalf("the Conn sent %#x %q, %v; want a close frame", b0, p, err)
	}
	raw.Write(frame[7:])
	raw.Write(rawFrame(0x88, true, p[:2]))
	select {
	case err := <-read:
		if fe, ok := errors.AsType[*ProtocolError](err); !ok || fe.Code != StatusInvalidPayload {
			t.Errorf("ReadMessage = %v, want a failure with 1007", err)
		}
	case <-time.After(faultWait):
		c.CloseNow()
		<-read
		t.Fatalf("the Conn still waited for the peer's close frame %v after it came", faultWait)
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
