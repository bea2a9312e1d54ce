package websocket

// Fuzz targets, each checked against a reference or a property that must
// hold for every input. Seed corpora built from the protocol rules live in
// testdata/fuzz/<FuzzName>/, next to the seeds added here.

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzUTF8Validator feeds the input to the validator in chunks whose sizes
// the fuzzer picks: sizes[i] is the length of chunk i, and what is left after
// the last size is one more chunk. The verdict must be utf8.Valid's, and the
// chunk that fails must be the one holding the first byte no continuation
// could make valid (RFC 6455 §8.1: fail the connection as soon as possible).
func FuzzUTF8Validator(f *testing.F) {
	for _, tc := range utf8Cases {
		f.Add([]byte(tc.in), []byte{1, 1, 1})
		f.Add([]byte(tc.in), []byte{0, 2})
	}
	f.Fuzz(func(t *testing.T, data, sizes []byte) {
		var cuts []int
		end := 0
		for _, s := range sizes {
			end = min(end+int(s), len(data))
			cuts = append(cuts, end)
		}
		failed, valid := validateChunks(string(data), cuts)
		if want := utf8.Valid(data); valid != want {
			t.Fatalf("% x cut at %v: valid=%v, utf8.Valid says %v", data, cuts, valid, want)
		}
		want := -1
		if i := firstImpossible(string(data)); i >= 0 {
			want = chunkHolding(cuts, i)
		}
		if failed != want {
			t.Fatalf("% x cut at %v: chunk %d failed, want chunk %d", data, cuts, failed, want)
		}
	})
}

// FuzzParseHeader checks that parseHeader reads nothing past the header
// size it announces and that what it accepts, putHeader writes back the same:
// the decoder accepts only the shortest length forms (RFC 6455 §5.2).
func FuzzParseHeader(f *testing.F) {
	for _, tc := range goldenHeaders {
		f.Add([]byte(tc.bytes))
	}
	f.Add([]byte("\x82\x7e\x00\x7d"))
	f.Add([]byte("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		size := headerSize(data[0], data[1])
		if len(data) < size {
			return
		}
		// An exact-size copy makes a read past the header panic.
		exact := bytes.Clone(data[:size])
		h, n, err := parseHeader(exact)
		if err != nil {
			if !errors.Is(err, errLengthForm) && !errors.Is(err, errLengthTopBit) {
				t.Fatalf("% x: unexpected error %v", exact, err)
			}
			return
		}
		if n != size {
			t.Fatalf("% x: parseHeader read %d bytes, headerSize says %d", exact, n, size)
		}
		if h.length < 0 || h.rsv&^(rsv1Bit|rsv2Bit|rsv3Bit) != 0 || h.op > 0xf {
			t.Fatalf("% x: parsed to an impossible header %+v", exact, h)
		}
		var buf [maxHeaderSize]byte
		m := putHeader(buf[:], h)
		if !bytes.Equal(buf[:m], exact) {
			t.Fatalf("% x parsed to %+v, which encodes as % x", exact, h, buf[:m])
		}
	})
}

// memTransport is an in-memory transport: reads come from a fixed input, at
// most chunk bytes at a time, then io.EOF; writes are kept. Nothing blocks,
// so a Conn over it needs no deadline to end and no goroutine, and an exec
// costs microseconds. It is a net.Conn too, for dialProxy and handshake.
type memTransport struct {
	in     *bytes.Reader
	chunk  int
	out    bytes.Buffer
	closed bool
}

func (m *memTransport) Read(p []byte) (int, error) {
	if m.closed {
		return 0, net.ErrClosed
	}
	if m.chunk > 0 && len(p) > m.chunk {
		p = p[:m.chunk]
	}
	return m.in.Read(p)
}

func (m *memTransport) Write(p []byte) (int, error) {
	if m.closed {
		return 0, net.ErrClosed
	}
	return m.out.Write(p)
}

func (m *memTransport) Close() error                     { m.closed = true; return nil }
func (m *memTransport) SetDeadline(time.Time) error      { return nil }
func (m *memTransport) SetReadDeadline(time.Time) error  { return nil }
func (m *memTransport) SetWriteDeadline(time.Time) error { return nil }
func (m *memTransport) LocalAddr() net.Addr              { return memAddr{} }
func (m *memTransport) RemoteAddr() net.Addr             { return memAddr{} }

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }

const fuzzReadLimit = 1 << 20

type fuzzMessage struct {
	typ     MessageType
	payload string
}

// readAllMessages reads every message a Conn made with cfg gets from input.
// The first pre bytes of input go to newConn as bytes the HTTP layer
// buffered behind the handshake; the transport hands out the rest at most
// chunk bytes at a time (0: no limit). It reads whole messages with
// ReadMessage when readSize is 0, else through NextReader in readSize
// pieces, then closes the Conn. It returns the messages read to their end,
// the error that ended reading, and what the Conn sent before Close and in
// all.
func readAllMessages(t *testing.T, input []byte, pre int, cfg connConfig, chunk, readSize int) (msgs []fuzzMessage, err error, sentBeforeClose, sent []byte) {
	cfg.applyDefaults() // as newConn does: the read limit checked below is the Conn's
	pre = min(pre, len(input))
	tr := &memTransport{in: bytes.NewReader(input[pre:]), chunk: chunk}
	// A clone: the fuzzer's input must not change, whatever the Conn does
	// with its buffer.
	c := newConn(tr, bytes.Clone(input[:pre]), cfg)
	defer c.CloseNow()
	buf := make([]byte, readSize)
	for {
		// Every message takes at least two bytes of input.
		if len(msgs) > len(input)/2 {
			t.Fatalf("read %d messages from %d bytes", len(msgs), len(input))
		}
		var typ MessageType
		var p []byte
		if readSize == 0 {
			typ, p, err = c.ReadMessage()
		} else {
			var r io.Reader
			typ, r, err = c.NextReader()
			for err == nil {
				var n int
				n, err = r.Read(buf)
				p = append(p, buf[:n]...)
			}
			if err == io.EOF {
				err = nil
			}
		}
		if err != nil {
			break
		}
		if typ != TextMessage && typ != BinaryMessage {
			t.Fatalf("message of type %v", typ)
		}
		if typ == TextMessage && !utf8.Valid(p) {
			t.Fatalf("text message %q is not valid UTF-8 (RFC 6455 §8.1)", p)
		}
		if int64(len(p)) > cfg.readLimit {
			t.Fatalf("a %d-byte message passed the %d-byte read limit", len(p), cfg.readLimit)
		}
		msgs = append(msgs, fuzzMessage{typ, string(p)})
	}
	// Once reading failed, it keeps failing the same way.
	if _, _, again := c.ReadMessage(); again != err {
		t.Fatalf("read after %v returned %v", err, again)
	}
	sentBeforeClose = bytes.Clone(tr.out.Bytes())
	// Close must return at once: nothing more can arrive. When the peer's
	// close frame came, or the Conn failed and closed already, there is
	// nothing left to report.
	cerr := c.Close(StatusNormalClosure, "")
	if cerr != nil && CloseStatus(err) != StatusAbnormalClosure {
		t.Fatalf("Close after reading ended with %v: %v", err, cerr)
	}
	if !tr.closed {
		t.Fatal("Close left the transport open")
	}
	return msgs, err, sentBeforeClose, tr.out.Bytes()
}

// FuzzConnRead feeds arbitrary bytes to a Conn, as a client or as a server,
// and reads until reading fails. Besides not panicking or looping, it checks
// what RFC 6455 asks of the reader: text is valid UTF-8 (§8.1), reading ends
// with a close frame from the peer, a failure or a lost connection (§7), the
// Conn's own frames follow its role's masking rule (§5.1) and its close frame
// carries the right code (§5.5.1, §7.1.7). Reading whole messages and reading
// in small pieces must give the same messages and the same ending.
func FuzzConnRead(f *testing.F) {
	for _, client := range []bool{false, true} {
		masked := !client
		frame := func(b0 byte, payload string) []byte {
			h := header{fin: b0&finBit != 0, op: opcode(b0 & 0xf), rsv: b0 & 0x70, masked: masked, length: int64(len(payload))}
			if masked {
				h.key = goldenMaskKey
			}
			return encodeCodecFrames([]codecFrame{{h, []byte(payload)}})
		}
		cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
		f.Add(cat(frame(0x81, "hello"), frame(0x88, "\x03\xe8")), client, uint16(0))
		f.Add(cat(frame(0x01, "h\xc3"), frame(0x89, "ping"), frame(0x80, "\xa9llo")), client, uint16(3))
		f.Add(cat(frame(0x82, strings.Repeat("x", 126)), frame(0x82, strings.Repeat("y", 65536))), client, uint16(0))
		f.Add(cat(frame(0x81, "\xed\xa0\x80")), client, uint16(1))
		f.Add(cat(frame(0x83, "")), client, uint16(0))
		f.Add(cat(frame(0x88, "\x03")), client, uint16(0))
		f.Add(frame(0x81, "no close frame")[:8], client, uint16(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, client bool, chunk uint16) {
		checkConnReads(t, data, 0, connConfig{client: client, readLimit: fuzzReadLimit, closeTimeout: 100 * time.Millisecond}, int(chunk))
	})
}

// FuzzConnReadDeflate is FuzzConnRead with permessage-deflate negotiated,
// which FuzzConnRead never has: arbitrary frames, compressed or not, read
// with or without context takeover, with any window size and read limit,
// and the first pre bytes handed to the Conn as bytes the HTTP layer
// buffered behind the handshake. Besides no panic, no hang and no message
// past the read limit (inflating is where a small frame becomes a large
// message), reading whole messages, reading in small pieces and reading with
// nothing buffered must give the same messages and the same ending: where a
// frame's bytes come from must not change what they inflate to. The Conn's
// own frames must be pongs and, unless the connection was lost (1006),
// exactly one close frame, last, with the right code. flags: client (1), no
// context takeover (2), window bits 8 + flags>>2&7, read limit 64 KiB, 1,
// 300 or math.MaxInt64 by flags>>5&3.
func FuzzConnReadDeflate(f *testing.F) {
	for _, client := range []bool{false, true} {
		frame := func(b0 byte, payload []byte) []byte { return rawFrame(b0, !client, payload) }
		flags := uint8(btoi(client))
		d := newRefDeflater(1)
		m1, m2 := d.message(jsonLike(700, 1)), d.message(jsonLike(700, 1))
		closeFrame := frame(0x88, []byte("\x03\xe8"))
		f.Add(slices.Concat(frame(0xc1, rfcHello), closeFrame), flags, uint16(0), uint16(0))
		f.Add(slices.Concat(frame(0xc1, m1), frame(0xc1, m2), closeFrame), flags, uint16(7), uint16(3))
		f.Add(slices.Concat(frame(0xc1, m1), frame(0xc1, m2), closeFrame), flags|2, uint16(7), uint16(300))
		f.Add(slices.Concat(frame(0x41, m1[:10]), frame(0x89, []byte("p")), frame(0x00, m1[10:20]), frame(0x80, m1[20:]), closeFrame), flags|(7<<2), uint16(1), uint16(600))
		f.Add(slices.Concat(frame(0xc2, []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}), closeFrame), flags, uint16(0), uint16(0))
		f.Add(slices.Concat(frame(0x42, rfcHello), frame(0x00, nil), frame(0x80, nil), frame(0x81, []byte("plain")), closeFrame), flags, uint16(2), uint16(5))
		f.Add(slices.Concat(frame(0xc1, deflateRef(9, make([]byte, 70000))), closeFrame), flags|(3<<2), uint16(0), uint16(0))
		f.Add(slices.Concat(frame(0xc1, rfcHello), closeFrame), flags|(3<<5), uint16(0), uint16(0))
		f.Add(slices.Concat(frame(0xc1, m1), frame(0x81, []byte("plain")), closeFrame), flags|(2<<5), uint16(0), uint16(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, flags uint8, chunk, pre uint16) {
		limits := []int64{64 << 10, 1, 300, math.MaxInt64}
		checkConnReads(t, data, int(pre), connConfig{
			client:       flags&1 != 0,
			readLimit:    limits[flags>>5&3],
			closeTimeout: 100 * time.Millisecond,
			deflate:      &deflateConfig{readNoContext: flags&2 != 0, readWindowBits: 8 + int(flags>>2&7), level: 1, threshold: 1},
		}, int(chunk))
	})
}

// checkConnReads checks what FuzzConnRead and FuzzConnReadDeflate ask of a
// Conn made with cfg that reads data, the first pre bytes of it buffered
// behind the handshake: readAllMessages' checks and checkConnOutput's, one
// close frame after Close, and the same messages and ending whether read
// whole, through NextReader in small pieces, or with nothing buffered.
// chunk picks the transport's read size (0: no limit) and the pieces' size.
func checkConnReads(t *testing.T, data []byte, pre int, cfg connConfig, chunk int) {
	t.Helper()
	// Small transport reads of a long input make an exec slow and add
	// nothing that a short input does not cover: bound their number.
	trChunk := chunk
	if trChunk > 0 {
		trChunk = max(trChunk, len(data)/1024)
	}
	whole, wholeErr, beforeClose, sent := readAllMessages(t, data, pre, cfg, trChunk, 0)
	checkConnOutput(t, cfg.client, wholeErr, beforeClose)
	// After Close, whichever side began the closing handshake, the Conn has
	// sent exactly one close frame, last (RFC 6455 §5.5.1), unless the
	// connection ended without one from the peer: then the Conn closed TCP
	// at once (RFC 6455 §7.1.5) and sent none.
	frames := parseSent(t, sent)
	closes := 0
	for _, f := range frames {
		if f.h.op == opClose {
			closes++
		}
	}
	lost := CloseStatus(wholeErr) == StatusAbnormalClosure
	switch {
	case lost && closes != 0:
		t.Fatalf("the connection ended without a close frame, yet the Conn sent %d", closes)
	case !lost && (closes != 1 || frames[len(frames)-1].h.op != opClose):
		t.Fatalf("after Close, the Conn sent %d close frames, and not last", closes)
	}

	same := func(name string, msgs []fuzzMessage, err error) {
		t.Helper()
		if !reflect.DeepEqual(whole, msgs) {
			t.Fatalf("ReadMessage read %d messages, %s %d:\n%+v\n%+v", len(whole), name, len(msgs), whole, msgs)
		}
		if CloseStatus(wholeErr) != CloseStatus(err) || failCode(wholeErr) != failCode(err) {
			t.Fatalf("reading ended with %v with ReadMessage, %v with %s", wholeErr, err, name)
		}
	}
	pieces, piecesErr, _, _ := readAllMessages(t, data, pre, cfg, trChunk, 1+chunk%509)
	same("NextReader", pieces, piecesErr)
	if min(pre, len(data)) > 0 {
		plain, plainErr, _, _ := readAllMessages(t, data, 0, cfg, trChunk, 0)
		same("nothing buffered", plain, plainErr)
	}
}

// failCode is the status code a failed read sent, or -1.
func failCode(err error) StatusCode {
	if fe, ok := errors.AsType[*ProtocolError](err); ok {
		return fe.Code
	}
	return -1
}

// parseSent parses what a Conn sent.
func parseSent(t *testing.T, out []byte) []codecFrame {
	t.Helper()
	var fr frameReader
	fr.init(bytes.NewReader(out), nil)
	frames, err := readCodecFrames(&fr, func() int { return 512 })
	if err != io.EOF {
		t.Fatalf("the Conn sent bytes that do not parse as frames: %v", err)
	}
	return frames
}

// checkConnOutput checks the frames a Conn sent while reading: pongs and at
// most one close frame, last, masked only by a client, and a close code that
// matches how reading ended.
func checkConnOutput(t *testing.T, client bool, readErr error, out []byte) {
	t.Helper()
	frames := parseSent(t, out)
	closeCode := StatusCode(-1)
	for i, f := range frames {
		switch {
		case f.h.masked != client:
			t.Fatalf("frame %d: masked=%v from a client=%v Conn (RFC 6455 §5.1)", i, f.h.masked, client)
		case !f.h.fin || f.h.rsv != 0 || f.h.length > maxControlPayload:
			t.Fatalf("frame %d: bad control frame %+v", i, f.h)
		case f.h.op == opClose && i != len(frames)-1:
			t.Fatalf("frame %d: a close frame followed by %d more", i, len(frames)-1-i)
		case f.h.op == opClose:
			ce, err := parseClosePayload(f.payload)
			if err != nil {
				t.Fatalf("the Conn sent a bad close frame % x: %v", f.payload, err)
			}
			closeCode = ce.Code
		case f.h.op != opPong:
			t.Fatalf("frame %d: a reading Conn sent opcode %#x", i, byte(f.h.op))
		}
	}
	var ce *CloseError
	switch {
	case failCode(readErr) != -1:
		// RFC 6455 §7.1.7: failing sends a close frame with the reason.
		if closeCode != failCode(readErr) {
			t.Fatalf("reading failed with %v but the Conn sent close code %d", readErr, int(closeCode))
		}
	case errors.As(readErr, &ce) && ce.Code == StatusAbnormalClosure:
		if closeCode != -1 {
			t.Fatalf("the connection was lost (%v) yet the Conn sent close code %d", readErr, int(closeCode))
		}
	case errors.As(readErr, &ce):
		// RFC 6455 §5.5.1: answer with the peer's code, or 1000 for none.
		want := ce.Code
		if want == StatusNoStatusReceived {
			want = StatusNormalClosure
		}
		if closeCode != want {
			t.Fatalf("the peer closed with %v but the Conn answered with %d", ce.Code, int(closeCode))
		}
	default:
		t.Fatalf("reading ended with %v: not a close, a failure or a lost connection", readErr)
	}
}

// FuzzClosePayload checks parseClosePayload against the rules of RFC 6455
// §5.5.1 and §7.4 and that what it accepts, appendClosePayload writes back
// the same.
func FuzzClosePayload(f *testing.F) {
	for _, p := range []string{"", "\x03", "\x03\xe8", "\x03\xe9bye", "\x0f\xa0h\xc3\xa9", "\x03\xed", "\x03\xe8\xff", "\x13\x88"} {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ce, err := parseClosePayload(data)
		want := len(data) == 0 || len(data) >= 2 && wireCodeRef(int(data[0])<<8|int(data[1])) && utf8.Valid(data[2:])
		if (err == nil) != want {
			t.Fatalf("parseClosePayload(% x) = %+v, %v; want accepted=%v", data, ce, err, want)
		}
		if err != nil || len(data) > maxControlPayload {
			return
		}
		b, err := appendClosePayload(nil, ce.Code, ce.Reason)
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("% x parsed to %d %q, which encodes as % x, %v", data, int(ce.Code), ce.Reason, b, err)
		}
	})
}

// wireCodeRef is RFC 6455 §7.4 spelled out: which codes a close frame may
// carry.
func wireCodeRef(code int) bool {
	switch {
	case code == 1004, code == 1005, code == 1006, code == 1015:
		return false
	case code >= 1000 && code <= 1014, code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// FuzzInflate sends arbitrary bytes as the payload of a compressed message,
// cut into frames at the sizes in cuts, to a Conn that negotiated
// permessage-deflate, with a read limit of 64 KiB. flags choose: text (1),
// the client role (2), the same payload again as a second message (4), no
// context takeover (8), NextReader in small reads (16), a ping between the
// first two frames (32). Reading must end with the message (and its
// repeat), then the peer's close, or with 1007 or 1009, as compress/flate
// says of the payload:
//   - a message the Conn reads is what flate inflates from the payload and
//     the 00 00 ff ff its sender removed (RFC 7692 §7.2.2), with the first
//     message as history for the second unless there is no context takeover;
//   - 1009 when that passes the limit, 1007 when it does not inflate, ends
//     inside a block, or is text that is not UTF-8, and a message otherwise.
//
// What follows a final block (BFINAL) is left open: a message or 1007.
func FuzzInflate(f *testing.F) {
	f.Add(rfcHello, []byte{}, uint8(1))
	f.Add([]byte{0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}, []byte{3, 0, 5}, uint8(1|32))
	f.Add(deflateRef(1, jsonLike(3000, 1)), []byte{200, 17, 0, 90}, uint8(1|4|16))
	f.Add(deflateRef(1, jsonLike(3000, 1)), []byte{}, uint8(2|4|8))
	f.Add([]byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}, []byte{}, uint8(1))
	f.Add(deflateRef(9, make([]byte, 100000)), []byte{}, uint8(0))
	f.Add(deflateRef(1, []byte("text, then \xff")), []byte{4}, uint8(1))
	f.Add([]byte{0x00}, []byte{}, uint8(3))
	f.Add([]byte{0xff, 0x00}, []byte{1}, uint8(0))
	f.Fuzz(func(t *testing.T, payload, cuts []byte, flags uint8) {
		const limit = 64 << 10
		text, client, twice := flags&1 != 0, flags&2 != 0, flags&4 != 0
		noContext, streaming, ping := flags&8 != 0, flags&16 != 0, flags&32 != 0
		if max := wireLimit(limit, true); int64(len(payload)) > max {
			payload = payload[:max]
		}
		// The message as frames, as the peer sends them: masked when the
		// Conn is a server.
		op := opBinary
		if text {
			op = opText
		}
		var frames []codecFrame
		frame := func(op opcode, rsv byte, fin bool, p []byte) {
			h := header{fin: fin, rsv: rsv, op: op, masked: !client, length: int64(len(p))}
			if h.masked {
				h.key = goldenMaskKey
			}
			frames = append(frames, codecFrame{h, p})
		}
		var parts [][]byte
		rest := payload
		for _, c := range cuts[:min(len(cuts), 64)] {
			n := min(int(c), len(rest))
			parts, rest = append(parts, rest[:n]), rest[n:]
		}
		parts = append(parts, rest)
		for range 1 + btoi(twice) {
			for i, p := range parts {
				fop, rsv := opContinuation, byte(0)
				if i == 0 {
					fop, rsv = op, rsv1Bit
				}
				frame(fop, rsv, i == len(parts)-1, p)
				if i == 0 && ping && len(parts) > 1 {
					frame(opPing, 0, true, []byte("between"))
				}
			}
		}
		frame(opClose, 0, true, []byte{0x03, 0xe8})
		tr := &memTransport{in: bytes.NewReader(encodeCodecFrames(frames))}
		cfg := &deflateConfig{readNoContext: noContext, readWindowBits: 15, level: 1, threshold: 1}
		c := newConn(tr, nil, connConfig{client: client, readLimit: limit, closeTimeout: 100 * time.Millisecond, deflate: cfg})
		defer c.CloseNow()

		var history []byte
		for i := range 1 + btoi(twice) {
			var got []byte
			typ, err := MessageType(0), error(nil)
			if streaming {
				var r io.Reader
				if typ, r, err = c.NextReader(); err == nil {
					buf := make([]byte, 1+len(cuts)%300)
					for err == nil {
						var n int
						n, err = r.Read(buf)
						got = append(got, buf[:n]...)
					}
					if err == io.EOF {
						err = nil
					}
				}
			} else {
				typ, got, err = c.ReadMessage()
			}

			dict := history
			if noContext {
				dict = nil
			}
			want, unread, ferr := inflateWhole(payload, dict, limit+1)
			codes := []StatusCode{-1} // the message
			switch {
			case len(want) > limit:
				// flate may have reached the limit only by decoding the
				// bytes appended after the payload: the payload alone may end
				// cut short first (1007). Text that cannot become valid
				// within the bytes read may fail first too.
				codes = []StatusCode{StatusMessageTooBig, StatusInvalidPayload}
			case ferr != nil, text && !utf8.Valid(want):
				codes = []StatusCode{StatusInvalidPayload}
			case unread > 0:
				codes = []StatusCode{-1, StatusInvalidPayload}
			}
			code := failCode(err)
			if err != nil && code == -1 {
				t.Fatalf("message %d: reading ended with %v, not a message, 1007 or 1009", i, err)
			}
			if !containsCode(codes, code) {
				t.Fatalf("message %d: read %d bytes, %v; want one of %v (flate: %d bytes, %v, %d unread)", i, len(got), err, codes, len(want), ferr, unread)
			}
			if err != nil {
				checkConnOutput(t, client, err, tr.out.Bytes())
				return
			}
			wantType := BinaryMessage
			if text {
				wantType = TextMessage
			}
			// After a final block with more payload behind it, the Conn goes
			// on inflating a new stream, which flate alone does not: compare
			// up to the final block.
			if typ != wantType || !bytes.Equal(got, want) && !(unread > 0 && bytes.HasPrefix(got, want)) {
				t.Fatalf("message %d: read %v %q, want %v %q", i, typ, got, wantType, want)
			}
			// RFC 7692 §7.2.2 as written: the payload and 00 00 ff ff,
			// which flate reads to the end without finding a final block.
			if ref, err := inflateRef(payload, dict, limit+1); unread == 0 && (err != nil || !bytes.Equal(ref, got)) {
				t.Fatalf("message %d: read %q, but the payload and 00 00 ff ff inflate to %q (%v), which flate does not see end", i, got, ref, err)
			}
			history = append(history, got...)
		}
		_, _, err := c.ReadMessage()
		if CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("after the messages: %v, want the peer's close", err)
		}
		checkConnOutput(t, client, err, tr.out.Bytes())
	})
}

func containsCode(codes []StatusCode, code StatusCode) bool {
	for _, c := range codes {
		if c == code {
			return true
		}
	}
	return false
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
