package websocket

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// ---- the read path, frame by frame ----

// newDeflatePeer returns a Conn in the given role that negotiated d, and the
// raw other end of its connection.
func newDeflatePeer(t testing.TB, client bool, d *deflateConfig) (*Conn, net.Conn) {
	t.Helper()
	a, b := tcpPair(t)
	c := newConn(a, nil, connConfig{client: client, closeTimeout: time.Second, deflate: d})
	t.Cleanup(func() { c.CloseNow() })
	return c, b
}

// testDeflate is the configuration of the table's Conns: the peer compresses
// with context takeover and a full window.
func testDeflate() *deflateConfig {
	return &deflateConfig{readWindowBits: 15, level: flate.BestSpeed, threshold: 1}
}

// compressed builds a frame with RSV1 set, the first of a compressed message.
func compressed(b0 byte, payload []byte) frameSpec {
	return frameSpec{b0: b0 | rsv1Bit, payload: payload}
}

// rfcHello is the payload of RFC 7692 §7.2.3.1's example: "Hello".
var rfcHello = []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}

// deflateCase is one row of the compressed read table.
type deflateCase struct {
	name      string
	frames    []frameSpec
	noExt     bool // the Conn did not negotiate permessage-deflate
	noContext bool // the peer promised no context takeover
	limit     int64
	want      []message
	failCode  StatusCode
	pongs     []string
}

var deflateCases = func() []deflateCase {
	text := jsonLike(40000, 1)
	ref := deflateRef(flate.BestSpeed, text)
	third := len(ref) / 3
	bin := make([]byte, 3000)
	for i := range bin {
		bin[i] = byte(i * i)
	}
	// A peer with context takeover: the second message is mostly
	// references to the first; the uncompressed one in between is not part
	// of the history (RFC 7692 §7.2.2).
	ctx := newRefDeflater(flate.BestSpeed)
	m1, m2 := jsonLike(5000, 2), jsonLike(5000, 2)
	c1, c2 := ctx.message(m1), ctx.message(m2)
	c3 := ctx.message(m1[:3000])
	// n empty stored blocks, the last one's four bytes removed: a message
	// that inflates to nothing however long it is.
	emptyBlocks := func(n int) []byte {
		p := bytes.Repeat([]byte("\x00\x00\x00\xff\xff"), n)
		return p[:len(p)-len(syncTail)]
	}
	// A final block that holds all the data, then the rest of the message
	// as RFC 7692 §7.2.1 step 3 makes it: an empty stored block, its last
	// four bytes removed. compress/flate never sets BFINAL on a block with
	// data, so set it by hand on the first (and only) data block.
	finalText := []byte(strings.Repeat("Hello, final block. ", 10))
	bfinal := deflateRef(flate.HuffmanOnly, finalText)
	if bfinal[0]&0b111 != 0b100 {
		panic("compress/flate did not write one dynamic Huffman block")
	}
	bfinal[0] |= 1
	afterFinal := deflateRefDict(flate.BestSpeed, finalText, finalText)
	// A final block followed by another block with data.
	finalThenMore := deflateRef(flate.BestSpeed, []byte("Hello"))
	finalThenMore = append(finalThenMore[:len(finalThenMore):len(finalThenMore)], syncTail...)
	finalThenMore[0] |= 1
	finalThenMoreSplit := len(finalThenMore) // where the second stream starts
	finalThenMore = append(finalThenMore, deflateRef(flate.BestSpeed, []byte(" and more"))...)

	return []deflateCase{
		{name: "compressed text", frames: []frameSpec{compressed(0x81, deflateRef(flate.BestSpeed, []byte("hello, compressed world")))},
			want: []message{{TextMessage, "hello, compressed world"}}},
		{name: "compressed binary", frames: []frameSpec{compressed(0x82, deflateRef(flate.BestCompression, bin))},
			want: []message{{BinaryMessage, string(bin)}}},
		{name: "large message in one frame", frames: []frameSpec{compressed(0x81, ref)}, want: []message{{TextMessage, string(text)}}},
		{name: "RFC 7692 §7.2.3.1 example", frames: []frameSpec{compressed(0x81, rfcHello)}, want: []message{{TextMessage, "Hello"}}},
		{name: "RFC 7692 §7.2.3.2 example: shared window", frames: []frameSpec{compressed(0x81, rfcHello), compressed(0x81, []byte{0xf2, 0x00, 0x11, 0x00, 0x00})},
			want: []message{{TextMessage, "Hello"}, {TextMessage, "Hello"}}},
		{name: "RFC 7692 §7.2.3.3 example: stored block", frames: []frameSpec{compressed(0x81, []byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00})},
			want: []message{{TextMessage, "Hello"}}},
		{name: "RFC 7692 §7.2.3.4 example: BFINAL set", frames: []frameSpec{compressed(0x81, []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})},
			want: []message{{TextMessage, "Hello"}}},
		{name: "RFC 7692 §7.2.3.5 example: two blocks", frames: []frameSpec{compressed(0x81, []byte{0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00})},
			want: []message{{TextMessage, "Hello"}}},
		{name: "final Huffman block, then the message goes on with context", frames: []frameSpec{compressed(0x81, bfinal), compressed(0x81, afterFinal)},
			want: []message{{TextMessage, string(finalText)}, {TextMessage, string(finalText)}}},
		{name: "empty message is one 0x00 byte", frames: []frameSpec{compressed(0x81, []byte{0}), compressed(0x82, []byte{0})},
			want: []message{{TextMessage, ""}, {BinaryMessage, ""}}},
		{name: "empty stored blocks inflate to nothing", frames: []frameSpec{compressed(0x82, emptyBlocks(10))}, want: []message{{BinaryMessage, ""}}},

		{name: "fragments: RSV1 on the first only", frames: []frameSpec{compressed(0x01, ref[:third]), contMiddle(string(ref[third : 2*third])), contLast(string(ref[2*third:]))},
			want: []message{{TextMessage, string(text)}}},
		{name: "fragments with a ping between", frames: []frameSpec{compressed(0x01, ref[:third]), pingFrame("p1"), contMiddle(string(ref[third : 2*third])), pingFrame("p2"), contLast(string(ref[2*third:]))},
			want: []message{{TextMessage, string(text)}}, pongs: []string{"p1", "p2"}},
		{name: "fragments of one byte", frames: func() []frameSpec {
			p := deflateRef(flate.BestSpeed, []byte("tiny fragments, h\u00e9llo"))
			fs := []frameSpec{compressed(0x01, p[:1])}
			for _, b := range p[1 : len(p)-1] {
				fs = append(fs, contMiddle(string([]byte{b})))
			}
			return append(fs, contLast(string(p[len(p)-1:])))
		}(), want: []message{{TextMessage, "tiny fragments, h\u00e9llo"}}},
		{name: "empty first and last fragments", frames: []frameSpec{compressed(0x02, nil), contMiddle(string(ref)), contLast("")},
			want: []message{{BinaryMessage, string(text)}}},
		{name: "uncompressed and compressed messages mixed", frames: []frameSpec{
			compressed(0x81, deflateRef(flate.BestSpeed, []byte("one"))), textFrame("two"),
			compressed(0x82, deflateRef(flate.BestSpeed, bin)), binaryFrame("four"),
			textFirst("fi"), contLast("ve"), compressed(0x81, deflateRef(flate.BestSpeed, []byte("six"))),
		}, want: []message{{TextMessage, "one"}, {TextMessage, "two"}, {BinaryMessage, string(bin)}, {BinaryMessage, "four"}, {TextMessage, "five"}, {TextMessage, "six"}}},
		{name: "context takeover across messages", frames: []frameSpec{compressed(0x81, c1), textFrame("not in the history"), compressed(0x81, c2), compressed(0x82, c3)},
			want: []message{{TextMessage, string(m1)}, {TextMessage, "not in the history"}, {TextMessage, string(m2)}, {BinaryMessage, string(m1[:3000])}}},

		{name: "context used after the peer promised none", noContext: true, frames: []frameSpec{compressed(0x81, c1), compressed(0x81, c2)},
			want: []message{{TextMessage, string(m1)}}, failCode: StatusInvalidPayload},
		{name: "RSV1 on a continuation", frames: []frameSpec{compressed(0x01, ref[:third]), {b0: 0x80 | rsv1Bit, payload: ref[third:]}}, failCode: StatusProtocolError},
		{name: "RSV1 on a middle continuation", frames: []frameSpec{compressed(0x01, ref[:third]), {b0: rsv1Bit, payload: ref[third : 2*third]}, contLast(string(ref[2*third:]))}, failCode: StatusProtocolError},
		{name: "RSV1 on a continuation of an uncompressed message", frames: []frameSpec{textFirst("a"), {b0: 0x80 | rsv1Bit, payload: []byte("b")}}, failCode: StatusProtocolError},
		{name: "RSV1 on a ping", frames: []frameSpec{{b0: 0x89 | rsv1Bit, payload: []byte("p")}}, failCode: StatusProtocolError},
		{name: "RSV1 on a pong", frames: []frameSpec{{b0: 0x8A | rsv1Bit}}, failCode: StatusProtocolError},
		{name: "RSV1 on a close", frames: []frameSpec{{b0: 0x88 | rsv1Bit, payload: []byte{0x03, 0xe8}}}, failCode: StatusProtocolError},
		{name: "RSV1 on a ping between fragments", frames: []frameSpec{compressed(0x01, ref[:third]), {b0: 0x89 | rsv1Bit}, contLast(string(ref[third:]))}, failCode: StatusProtocolError},
		{name: "RSV1 without the extension", noExt: true, frames: []frameSpec{compressed(0x81, deflateRef(flate.BestSpeed, []byte("a")))}, failCode: StatusProtocolError},
		{name: "RSV2 with the extension", frames: []frameSpec{{b0: 0xA1, payload: []byte("a")}}, failCode: StatusProtocolError},
		{name: "RSV3 with the extension", frames: []frameSpec{{b0: 0x91, payload: []byte("a")}}, failCode: StatusProtocolError},
		{name: "RSV1 and RSV2", frames: []frameSpec{{b0: 0xE1, payload: rfcHello}}, failCode: StatusProtocolError},
		{name: "RSV1 and RSV3", frames: []frameSpec{{b0: 0xD2, payload: rfcHello}}, failCode: StatusProtocolError},
		{name: "RSV2 on a continuation", frames: []frameSpec{compressed(0x01, ref[:third]), {b0: 0xA0, payload: ref[third:]}}, failCode: StatusProtocolError},

		{name: "garbage does not inflate", frames: []frameSpec{compressed(0x82, []byte{0xff, 0xff, 0xff, 0xff})}, failCode: StatusInvalidPayload},
		{name: "reserved block type", frames: []frameSpec{compressed(0x82, []byte{0x06, 0x00})}, failCode: StatusInvalidPayload},
		{name: "stored block with a bad length check", frames: []frameSpec{compressed(0x82, []byte{0x00, 0x05, 0x00, 0xfa, 0xfe, 'h', 'e', 'l', 'l', 'o'})}, failCode: StatusInvalidPayload},
		{name: "message cut inside a block", frames: []frameSpec{compressed(0x82, ref[:len(ref)/2])}, failCode: StatusInvalidPayload},
		{name: "zero-length compressed payload", frames: []frameSpec{compressed(0x82, nil)}, failCode: StatusInvalidPayload},
		{name: "stored block cut by the end of the message", frames: []frameSpec{compressed(0x82, []byte{0x00, 0x09, 0x00, 0xf6, 0xff})}, failCode: StatusInvalidPayload},
		{name: "final stored block cut by the end of the message", frames: []frameSpec{compressed(0x82, []byte{0x01, 0x09, 0x00, 0xf6, 0xff})}, failCode: StatusInvalidPayload},
		// After a final block, the rest of the payload is inflated as a new
		// deflate stream (RFC 7692 §7.2.3.4 shows the simplest such rest).
		{name: "final block followed by more data", frames: []frameSpec{compressed(0x81, finalThenMore)}, want: []message{{TextMessage, "Hello and more"}}},
		{name: "final block, more data in the next fragment", frames: []frameSpec{compressed(0x01, finalThenMore[:finalThenMoreSplit]), contLast(string(finalThenMore[finalThenMoreSplit:]))},
			want: []message{{TextMessage, "Hello and more"}}},
		// A new deflate stream costs work; with an empty window, a message
		// may start about 256, and one more per 4 bytes of its payload.
		{name: "200 new streams in 402 bytes", frames: []frameSpec{compressed(0x82, bytes.Repeat([]byte{0x03, 0x00}, 201))},
			want: []message{{BinaryMessage, ""}}},
		{name: "999 new streams in 2000 bytes", frames: []frameSpec{compressed(0x82, bytes.Repeat([]byte{0x03, 0x00}, 1000))},
			failCode: StatusInvalidPayload},
		// The same bytes are the same message however they are fragmented.
		{name: "final block, then empty fragments", frames: []frameSpec{compressed(0x01, []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), contMiddle(""), contLast("")},
			want: []message{{TextMessage, "Hello"}}},
		{name: "invalid UTF-8 in compressed text", frames: []frameSpec{compressed(0x81, deflateRef(flate.BestSpeed, []byte("valid, then \xff")))}, failCode: StatusInvalidPayload},
		{name: "compressed text ends inside a rune", frames: []frameSpec{compressed(0x81, deflateRef(flate.BestSpeed, []byte("euro \xe2\x82")))}, failCode: StatusInvalidPayload},
		{name: "surrogate in compressed fragments", frames: []frameSpec{compressed(0x01, deflateRef(flate.BestSpeed, []byte("\xed\xa0\x80"))[:2]), contLast(string(deflateRef(flate.BestSpeed, []byte("\xed\xa0\x80"))[2:]))}, failCode: StatusInvalidPayload},
		{name: "compressed binary need not be UTF-8", frames: []frameSpec{compressed(0x82, deflateRef(flate.BestSpeed, []byte("\xff\xfe")))}, want: []message{{BinaryMessage, "\xff\xfe"}}},

		{name: "inflates past the limit", limit: 1000, frames: []frameSpec{compressed(0x81, deflateRef(flate.BestSpeed, bytes.Repeat([]byte("a"), 1001)))}, failCode: StatusMessageTooBig},
		{name: "inflates to the limit", limit: 1000, frames: []frameSpec{compressed(0x81, deflateRef(flate.BestSpeed, bytes.Repeat([]byte("a"), 1000)))}, want: []message{{TextMessage, strings.Repeat("a", 1000)}}},
		{name: "wire size past the limit, inflating to nothing", limit: 1000, frames: []frameSpec{compressed(0x02, emptyBlocks(100)[:500]), contMiddle(string(emptyBlocks(100)[:500])), contLast(string(emptyBlocks(100)))}, failCode: StatusMessageTooBig},
		{name: "wire size of a stored message at the limit", limit: 1000, frames: []frameSpec{compressed(0x82, deflateRef(flate.NoCompression, bin[:1000]))}, want: []message{{BinaryMessage, string(bin[:1000])}}},
	}
}()

func TestDeflateReadRules(t *testing.T) {
	for _, split := range []bool{false, true} {
		for _, streaming := range []bool{false, true} {
			for _, role := range []string{"server", "client"} {
				for _, tc := range deflateCases {
					name := role + "/" + tc.name
					if streaming {
						name = "NextReader/" + name
					}
					if split {
						name = "one-byte-reads/" + name
					}
					t.Run(name, func(t *testing.T) {
						testDeflateCase(t, tc, role == "client", split, streaming)
					})
				}
			}
		}
	}
}

// describeMessages shows messages briefly: long ones are cut.
func describeMessages(msgs []message) string {
	var parts []string
	for _, m := range msgs {
		d := m.data
		if len(d) > 40 {
			d = fmt.Sprintf("%s... (%d bytes)", d[:40], len(d))
		}
		parts = append(parts, fmt.Sprintf("%v %q", m.typ, d))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// testDeflateCase runs one row, as testProtocolCase does for uncompressed
// rows: a raw peer sends the frames and a normal close, and reports the
// pongs and the close code the Conn sent.
func testDeflateCase(t *testing.T, tc deflateCase, client, split, streaming bool) {
	a, raw := tcpPair(t)
	var tr transport = a
	if split {
		tr = oneByteReads{a}
	}
	cfg := connConfig{client: client, closeTimeout: time.Second}
	if !tc.noExt {
		cfg.deflate = testDeflate()
		cfg.deflate.readNoContext = tc.noContext
	}
	c := newConn(tr, nil, cfg)
	t.Cleanup(func() { c.CloseNow() })
	if tc.limit > 0 {
		c.SetReadLimit(tc.limit)
	}
	// A close frame ends every row: one that should fail but does not
	// then ends with the close instead of waiting for more.
	frames := append(tc.frames[:len(tc.frames):len(tc.frames)], closeCode(1000, ""))
	peerClose := StatusNormalClosure
	go raw.Write(encodeFrames(frames, !client))

	sentc := collectSent(t, raw, !client)
	got, readErr := readMessages(c, streaming)
	if fmt.Sprint(got) != fmt.Sprint(tc.want) {
		t.Errorf("messages = %s, want %s", describeMessages(got), describeMessages(tc.want))
	}
	s := <-sentc
	if tc.failCode != 0 {
		var pe *ProtocolError
		if !errors.As(readErr, &pe) || pe.Code != tc.failCode {
			t.Errorf("read error = %v, want a failure with %v", readErr, tc.failCode)
		}
		if s.code != tc.failCode {
			t.Errorf("close frame sent with %v, want %v", s.code, tc.failCode)
		}
	} else {
		if CloseStatus(readErr) != peerClose {
			t.Errorf("read error = %v, want the peer's close %v", readErr, peerClose)
		}
		if s.code != peerClose {
			t.Errorf("close reply sent with %v, want %v", s.code, peerClose)
		}
	}
	if fmt.Sprint(s.pongs) != fmt.Sprint(tc.pongs) {
		t.Errorf("pongs sent = %q, want %q", s.pongs, tc.pongs)
	}
}

// TestDeflateReadWindow has a peer compress with context takeover and a
// window of 2^bits bytes: each message may refer to that much of the ones
// before. The reader must keep at least that much history, and a window
// larger than the messages works too.
func TestDeflateReadWindow(t *testing.T) {
	for _, bits := range []int{8, 9, 12, 15} {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			d := testDeflate()
			d.readWindowBits = bits
			c, raw := newDeflatePeer(t, false, d)
			window := 1 << bits
			var history, all []byte
			var want []message
			seed := uint64(bits)
			for i, n := range []int{10, 300, window - 1, window, window + 1, 3, 2 * window, 40000, 1, 700} {
				// Each message starts with what ended the one before,
				// from as far back as the window reaches.
				p := randomText(n, seed+uint64(i))
				if k := min(len(history), window, n); k > 0 {
					copy(p, history[len(history)-k:])
				}
				dict := history[max(0, len(history)-window):]
				all = append(all, rawFrame(0xC2, true, deflateRefDict(flate.BestCompression, dict, p))...)
				history = append(history, p...)
				want = append(want, message{BinaryMessage, string(p)})
			}
			go raw.Write(all)
			for i, w := range want {
				_, got, err := c.ReadMessage()
				if err != nil || string(got) != w.data {
					t.Fatalf("message %d of %d bytes: read %d bytes, %v", i, len(w.data), len(got), err)
				}
			}
		})
	}
}

// TestSlidingWindow checks the history against the simplest reference:
// everything written, of which the last size bytes count.
func TestSlidingWindow(t *testing.T) {
	for _, size := range []int{1, 2, 256, 1000} {
		sw := slidingWindow{size: size}
		var all []byte
		x := uint64(size)
		for i := range 2000 {
			x = x*6364136223846793005 + 1442695040888963407
			n := int(x>>33) % (size*5/2 + 2)
			if i%7 == 0 {
				n = 0
			}
			p := randomText(n, x)
			sw.write(p)
			all = append(all, p...)
			want := all[max(0, len(all)-size):]
			if got := sw.history(); !bytes.Equal(got, want) {
				t.Fatalf("size %d, after %d writes (the last of %d bytes): history of %d bytes differs from the last %d written", size, i+1, n, len(got), len(want))
			}
			if cap(sw.buf) > 2*size {
				t.Fatalf("size %d: the window grew to %d bytes", size, cap(sw.buf))
			}
		}
	}
}

// TestDeflateReadEmptyReads reads compressed messages from a transport that
// returns no bytes and no error before every read, as io.Reader allows. The
// messages must arrive whole; a read that found nothing used to fail the
// connection with an error whose Error method panicked.
func TestDeflateReadEmptyReads(t *testing.T) {
	a, raw := tcpPair(t)
	c := newConn(&emptyReads{Conn: a}, nil, connConfig{closeTimeout: time.Second, deflate: testDeflate()})
	t.Cleanup(func() { c.CloseNow() })
	// Stored blocks, which flate reads with Read in large pieces.
	msg := jsonLike(200000, 3)
	go raw.Write(rawFrame(0xC1, true, deflateRef(flate.NoCompression, msg)))
	_, p, err := c.ReadMessage()
	if err != nil || !bytes.Equal(p, msg) {
		t.Fatalf("ReadMessage = %d bytes, %v; want the %d bytes sent", len(p), err, len(msg))
	}
}

// emptyReads returns 0, nil before every read of its connection.
type emptyReads struct {
	net.Conn
	empty bool
}

func (e *emptyReads) Read(p []byte) (int, error) {
	if e.empty = !e.empty; e.empty {
		return 0, nil
	}
	return e.Conn.Read(p)
}

// TestDeflateFlushPerFragment reads a message whose sender flushed each
// fragment with a final block (RFC 7692 §7.2.3.4 allows it), so each of its
// 200 fragments of about 40 bytes starts a new deflate stream, after a
// message that filled the 32 KiB window. The limit on new streams must let
// it through: it allows one such stream per 36 bytes or so.
func TestDeflateFlushPerFragment(t *testing.T) {
	c, raw := newDeflatePeer(t, false, testDeflate())
	go closeOnClose(raw)
	first := jsonLike(32<<10, 1)
	wire := rawFrame(0xC1, true, newRefDeflater(flate.BestSpeed).message(first))
	var want []byte
	const fragments = 200
	for i := range fragments {
		chunk := fmt.Appendf(nil, `{"token":%d,"text":"word%d "}`, i, i)
		want = append(want, chunk...)
		var stream bytes.Buffer
		w, _ := flate.NewWriter(&stream, flate.BestSpeed)
		w.Write(chunk)
		w.Close()        // a final block
		b0 := byte(0x00) // continuation
		if i == 0 {
			b0 = 0x01 | rsv1Bit
		}
		if i == fragments-1 {
			b0 |= 0x80
		}
		wire = append(wire, rawFrame(b0, true, stream.Bytes())...)
	}
	go raw.Write(wire)
	if _, p, err := c.ReadMessage(); err != nil || !bytes.Equal(p, first) {
		t.Fatalf("first message: %d bytes, %v", len(p), err)
	}
	if _, p, err := c.ReadMessage(); err != nil || !bytes.Equal(p, want) {
		t.Fatalf("ReadMessage = %q, %v; want the %d bytes of the %d fragments", p, err, len(want), fragments)
	}
}
