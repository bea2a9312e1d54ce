package websocket

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"testing/iotest"
)

var goldenMaskKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// goldenHeaders are frame headers written out by hand from the layout of
// RFC 6455 §5.2, so that putHeader and parseHeader are checked against the
// RFC rather than against each other.
var goldenHeaders = []struct {
	name  string
	h     header
	bytes string
}{
	{"empty text", header{fin: true, op: opText}, "\x81\x00"},
	{"125 binary", header{fin: true, op: opBinary, length: 125}, "\x82\x7d"},
	{"126 uses 16 bits", header{fin: true, op: opBinary, length: 126}, "\x82\x7e\x00\x7e"},
	{"65535 uses 16 bits", header{fin: true, op: opBinary, length: 65535}, "\x82\x7e\xff\xff"},
	{"65536 uses 64 bits", header{fin: true, op: opBinary, length: 65536}, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"},
	{"2^63-1", header{fin: true, op: opBinary, length: math.MaxInt64}, "\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"},
	{"masked empty", header{fin: true, op: opText, masked: true, key: goldenMaskKey}, "\x81\x80\x37\xfa\x21\x3d"},
	{"masked 125", header{fin: true, op: opText, masked: true, key: goldenMaskKey, length: 125}, "\x81\xfd\x37\xfa\x21\x3d"},
	{"masked 126", header{fin: true, op: opText, masked: true, key: goldenMaskKey, length: 126}, "\x81\xfe\x00\x7e\x37\xfa\x21\x3d"},
	{"masked 65535", header{fin: true, op: opText, masked: true, key: goldenMaskKey, length: 65535}, "\x81\xfe\xff\xff\x37\xfa\x21\x3d"},
	{"masked 65536", header{fin: true, op: opBinary, masked: true, key: goldenMaskKey, length: 65536}, "\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00\x37\xfa\x21\x3d"},
	{"masked 2^63-1", header{fin: true, op: opBinary, masked: true, key: goldenMaskKey, length: math.MaxInt64}, "\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff\x37\xfa\x21\x3d"},
	{"first fragment", header{op: opText, length: 5}, "\x01\x05"},
	{"continuation", header{op: opContinuation, length: 5}, "\x00\x05"},
	{"final continuation", header{fin: true, op: opContinuation, length: 5}, "\x80\x05"},
	{"rsv1", header{fin: true, rsv: rsv1Bit, op: opText, length: 1}, "\xc1\x01"},
	{"rsv2", header{fin: true, rsv: rsv2Bit, op: opText, length: 1}, "\xa1\x01"},
	{"rsv3", header{fin: true, rsv: rsv3Bit, op: opText, length: 1}, "\x91\x01"},
	{"all rsv no fin", header{rsv: rsv1Bit | rsv2Bit | rsv3Bit, op: opBinary}, "\x72\x00"},
	{"close", header{fin: true, op: opClose, length: 2}, "\x88\x02"},
	{"ping", header{fin: true, op: opPing, masked: true, key: goldenMaskKey, length: 4}, "\x89\x84\x37\xfa\x21\x3d"},
	{"pong", header{fin: true, op: opPong}, "\x8a\x00"},
	{"reserved opcode 3", header{fin: true, op: 0x3}, "\x83\x00"},
	{"reserved opcode F", header{fin: true, op: 0xf}, "\x8f\x00"},
}

func TestHeaderGolden(t *testing.T) {
	for _, tc := range goldenHeaders {
		t.Run(tc.name, func(t *testing.T) {
			var buf [maxHeaderSize]byte
			n := putHeader(buf[:], tc.h)
			if got := string(buf[:n]); got != tc.bytes {
				t.Errorf("putHeader = % x, want % x", got, tc.bytes)
			}
			if size := encodedHeaderSize(int(tc.h.length), tc.h.masked); size != len(tc.bytes) {
				t.Errorf("encodedHeaderSize = %d, want %d", size, len(tc.bytes))
			}
			if size := headerSize(tc.bytes[0], tc.bytes[1]); size != len(tc.bytes) {
				t.Errorf("headerSize = %d, want %d", size, len(tc.bytes))
			}
			// Payload bytes behind the header must not be taken for it.
			h, n, err := parseHeader([]byte(tc.bytes + "payload"))
			if err != nil {
				t.Fatalf("parseHeader: %v", err)
			}
			if h != tc.h || n != len(tc.bytes) {
				t.Errorf("parseHeader = %+v, %d; want %+v, %d", h, n, tc.h, len(tc.bytes))
			}
		})
	}
}

// TestParseHeaderRejects checks the length rules that the bytes alone
// decide (RFC 6455 §5.2): the shortest form is required and a 64-bit length
// has its top bit clear.
func TestParseHeaderRejects(t *testing.T) {
	tests := []struct {
		name  string
		bytes string
		want  error
	}{
		{"16-bit 0", "\x82\x7e\x00\x00", errLengthForm},
		{"16-bit 125", "\x82\x7e\x00\x7d", errLengthForm},
		{"masked 16-bit 125", "\x82\xfe\x00\x7d\x37\xfa\x21\x3d", errLengthForm},
		{"64-bit 0", "\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x00", errLengthForm},
		{"64-bit 125", "\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x7d", errLengthForm},
		{"64-bit 126", "\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x7e", errLengthForm},
		{"64-bit 65535", "\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff", errLengthForm},
		{"64-bit top bit", "\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", errLengthTopBit},
		{"64-bit all ones", "\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff", errLengthTopBit},
		{"masked 64-bit top bit", "\x82\xff\x80\x00\x00\x00\x00\x01\x00\x00\x37\xfa\x21\x3d", errLengthTopBit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseHeader([]byte(tc.bytes))
			if !errors.Is(err, tc.want) {
				t.Fatalf("parseHeader(% x) error = %v, want %v", tc.bytes, err, tc.want)
			}
		})
	}
}

// TestHeaderSizeEverySecondByte checks headerSize against parseHeader for
// every value of the second byte, the one that decides the header's size.
func TestHeaderSizeEverySecondByte(t *testing.T) {
	for b1 := range 256 {
		buf := make([]byte, maxHeaderSize)
		buf[0], buf[1] = 0x82, byte(b1)
		switch b1 & 0x7f {
		case 126:
			buf[2], buf[3] = 0x01, 0x00 // 256: a minimal 16-bit length
		case 127:
			buf[7] = 0x01 // 2^16: a minimal 64-bit length
		}
		_, n, err := parseHeader(buf)
		if err != nil {
			t.Fatalf("second byte %#02x: %v", b1, err)
		}
		if size := headerSize(buf[0], buf[1]); size != n {
			t.Fatalf("second byte %#02x: headerSize = %d, parseHeader read %d", b1, size, n)
		}
	}
}

// TestHeaderRoundTrip encodes and decodes random headers, with lengths
// crowded around the form boundaries, and checks that nothing is lost and
// that encodedHeaderSize predicts the size.
func TestHeaderRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	boundaries := []int64{0, 1, 124, 125, 126, 127, 0xfffe, 0xffff, 0x10000, 0x10001, math.MaxInt32, math.MaxInt64 - 1, math.MaxInt64}
	for i := range 20000 {
		h := header{
			fin: rng.IntN(2) == 0,
			rsv: byte(rng.IntN(8)) << 4,
			op:  opcode(rng.IntN(16)),
		}
		switch i % 3 {
		case 0:
			h.length = boundaries[rng.IntN(len(boundaries))]
		case 1:
			h.length = rng.Int64N(0x20000)
		default:
			h.length = rng.Int64()
		}
		if rng.IntN(2) == 0 {
			h.masked = true
			h.key = [4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}
		}
		var buf [maxHeaderSize]byte
		n := putHeader(buf[:], h)
		got, m, err := parseHeader(buf[:])
		if err != nil || got != h || m != n {
			t.Fatalf("%+v: encoded as % x, decoded as %+v, %d, %v", h, buf[:n], got, m, err)
		}
		if size := encodedHeaderSize(int(h.length), h.masked); size != n {
			t.Fatalf("%+v: encodedHeaderSize = %d, putHeader wrote %d", h, size, n)
		}
	}
}

// codecFrame is a frame for the frameReader and frameWriter tests.
type codecFrame struct {
	h       header
	payload []byte // unmasked
}

// encodeCodecFrames lays frames out as on the wire, payloads masked when the
// header says so.
func encodeCodecFrames(frames []codecFrame) []byte {
	var out []byte
	for _, f := range frames {
		var hdr [maxHeaderSize]byte
		out = append(out, hdr[:putHeader(hdr[:], f.h)]...)
		start := len(out)
		out = append(out, f.payload...)
		if f.h.masked {
			maskReference(f.h.key, 0, out[start:])
		}
	}
	return out
}

// randomCodecFrames returns n frames whose payload sizes cross the small read
// buffer and the pooled buffer sizes now and then.
func randomCodecFrames(rng *rand.Rand, n int) []codecFrame {
	sizes := []int{0, 1, 125, 126, 511, 512, 513, 4000, largeBufferSize - 1, largeBufferSize + 7, 65536}
	frames := make([]codecFrame, n)
	for i := range frames {
		size := rng.IntN(300)
		if rng.IntN(4) == 0 {
			size = sizes[rng.IntN(len(sizes))]
		}
		p := make([]byte, size)
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		h := header{fin: rng.IntN(2) == 0, op: opcode(rng.IntN(3)), length: int64(size)}
		if rng.IntN(2) == 0 {
			h.masked = true
			h.key = [4]byte{byte(i), byte(i >> 8), 0x5a, 0xa5}
		}
		frames[i] = codecFrame{h, p}
	}
	return frames
}

// readCodecFrames reads frames from fr until readHeader fails, reading payloads
// into buffers of the sizes readSize returns, and returns the frames and the
// error that ended them.
func readCodecFrames(fr *frameReader, readSize func() int) ([]codecFrame, error) {
	var frames []codecFrame
	var scratch []byte
	for {
		h, err := fr.readHeader()
		if err != nil {
			return frames, err
		}
		p := make([]byte, 0, h.length)
		pos := 0
		for int64(len(p)) < h.length {
			size := readSize()
			if len(scratch) < size {
				scratch = make([]byte, size)
			}
			buf := scratch[:min(int64(size), h.length-int64(len(p)))]
			n, err := fr.read(buf)
			if n > 0 && h.masked {
				pos = maskReference(h.key, pos, buf[:n])
			}
			p = append(p, buf[:n]...)
			if err != nil {
				return frames, fmt.Errorf("payload of frame %d: %w", len(frames), err)
			}
		}
		frames = append(frames, codecFrame{h, p})
	}
}

func compareCodecFrames(t *testing.T, got, want []codecFrame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].h != want[i].h {
			t.Fatalf("frame %d: header %+v, want %+v", i, got[i].h, want[i].h)
		}
		if !bytes.Equal(got[i].payload, want[i].payload) {
			t.Fatalf("frame %d: payload differs at byte %d of %d", i, diffIndex(got[i].payload, want[i].payload), len(want[i].payload))
		}
	}
}

// jitterReader returns pieces of random size, up to most bytes, as a socket
// does.
type jitterReader struct {
	r    io.Reader
	rng  *rand.Rand
	most int
}

func (r *jitterReader) Read(p []byte) (int, error) {
	n := 1 + r.rng.IntN(r.most)
	return r.r.Read(p[:min(n, len(p))])
}

func TestFrameReaderPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	frames := randomCodecFrames(rng, 300)
	wire := encodeCodecFrames(frames)
	sources := []struct {
		name string
		src  io.Reader
	}{
		{"one byte per read", iotest.OneByteReader(bytes.NewReader(wire))},
		{"random pieces", &jitterReader{r: bytes.NewReader(wire), rng: rand.New(rand.NewPCG(9, 10)), most: 3 * largeBufferSize}},
		{"small random pieces", &jitterReader{r: bytes.NewReader(wire), rng: rand.New(rand.NewPCG(11, 12)), most: 20}},
		{"whole reads", bytes.NewReader(wire)},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(wire))},
	}
	for _, s := range sources {
		t.Run(s.name, func(t *testing.T) {
			var fr frameReader
			fr.init(s.src, nil)
			readRNG := rand.New(rand.NewPCG(13, 14))
			got, err := readCodecFrames(&fr, func() int { return 1 + readRNG.IntN(2*largeBufferSize) })
			if err != io.EOF {
				t.Fatalf("reading ended with %v, want io.EOF", err)
			}
			compareCodecFrames(t, got, frames)
		})
	}
}

// burstReader hands out its bursts one after the other, each in reads as
// large as the caller's buffer: like a socket that received each burst
// before the reader came back to it.
type burstReader struct{ bursts [][]byte }

func (r *burstReader) Read(p []byte) (int, error) {
	for len(r.bursts) > 0 && len(r.bursts[0]) == 0 {
		r.bursts = r.bursts[1:]
	}
	if len(r.bursts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.bursts[0])
	r.bursts[0] = r.bursts[0][n:]
	return n, nil
}

// TestFrameReaderBufferSwitch checks the buffer policy: the small inline
// buffer while traffic is light, the pooled one once a read fills the small
// one, and back to the small one, the pooled one returned, when the source
// is drained.
func TestFrameReaderBufferSwitch(t *testing.T) {
	small := func(n int) []codecFrame {
		frames := make([]codecFrame, n)
		for i := range frames {
			frames[i] = codecFrame{header{fin: true, op: opBinary, length: 20}, bytes.Repeat([]byte{byte(i)}, 20)}
		}
		return frames
	}
	// One frame, a burst of 150 frames of 22 bytes (3300 bytes, more than
	// the small buffer, less than the pooled one), then one frame again.
	before, busy, after := small(1), small(150), small(1)
	src := &burstReader{bursts: [][]byte{encodeCodecFrames(before), encodeCodecFrames(busy), encodeCodecFrames(after)}}
	var fr frameReader
	fr.init(src, nil)

	var pooledAt []bool
	var got []codecFrame
	for {
		h, err := fr.readHeader()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pooledAt = append(pooledAt, fr.pooled != nil)
		p := make([]byte, h.length)
		if _, err := io.ReadFull(readerFunc(fr.read), p); err != nil {
			t.Fatal(err)
		}
		got = append(got, codecFrame{h, p})
	}
	compareCodecFrames(t, got, slices.Concat(before, busy, after))

	if pooledAt[0] {
		t.Error("a lone frame was read into the pooled buffer, want the small one")
	}
	// The burst's first read fills the small buffer: at the latest, the
	// frames past its first 512 bytes come through the pooled buffer.
	for i := 1 + smallReadSize/22 + 1; i <= len(busy); i++ {
		if !pooledAt[i] {
			t.Fatalf("frame %d of the burst, past its first %d bytes, was not read through the pooled buffer", i-1, smallReadSize)
		}
	}
	if pooledAt[len(pooledAt)-1] {
		t.Error("the frame after the drained burst was read into the pooled buffer, want the small one")
	}
	if fr.pooled != nil || &fr.buf[0] != &fr.small[0] {
		t.Error("at EOF the reader still holds the pooled buffer")
	}
}

// TestFrameReaderInit checks that bytes read past the handshake are the
// start of the stream, whatever their size, and which buffer holds them.
func TestFrameReaderInit(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	frames := randomCodecFrames(rng, 120)
	wire := encodeCodecFrames(frames)
	if len(wire) <= 20000 {
		t.Fatalf("the stream is only %d bytes; the test needs more", len(wire))
	}
	for _, size := range []int{0, 10, 600, 20000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			wire := bytes.Clone(wire)
			var fr frameReader
			fr.init(iotest.HalfReader(bytes.NewReader(wire[size:])), wire[:size])
			if fr.buffered() != size {
				t.Fatalf("buffered() = %d, want %d", fr.buffered(), size)
			}
			switch {
			case size <= smallReadSize:
				if &fr.buf[0] != &fr.small[0] {
					t.Error("a few buffered bytes should fit the small buffer")
				}
			case size <= largeBufferSize:
				if fr.pooled == nil {
					t.Error("buffered bytes beyond the small buffer should go to a pooled one")
				}
			default:
				if fr.pooled != nil || len(fr.buf) < size {
					t.Errorf("buffered bytes beyond a pooled buffer should get a buffer of their own; pooled=%v, len %d", fr.pooled != nil, len(fr.buf))
				}
			}
			// The caller's slice is the HTTP reader's buffer: it must be copied.
			clear(wire[:size])

			readRNG := rand.New(rand.NewPCG(17, 18))
			got, err := readCodecFrames(&fr, func() int { return 1 + readRNG.IntN(1000) })
			if err != io.EOF {
				t.Fatalf("reading ended with %v, want io.EOF", err)
			}
			compareCodecFrames(t, got, frames)
		})
	}
}

// TestFrameReaderStickyError checks that an error from the source is
// returned by every later call, even when the source would recover.
func TestFrameReaderStickyError(t *testing.T) {
	boom := errors.New("boom")
	wire := encodeCodecFrames([]codecFrame{{header{fin: true, op: opText, length: 3}, []byte("abc")}})
	src := io.MultiReader(bytes.NewReader(wire[:3]), iotest.ErrReader(boom), bytes.NewReader(wire[3:]))
	var fr frameReader
	fr.init(src, nil)
	h, err := fr.readHeader()
	if err != nil || h.length != 3 {
		t.Fatalf("readHeader = %+v, %v", h, err)
	}
	p := make([]byte, 3)
	n, err := fr.read(p)
	if n != 1 || err != nil {
		t.Fatalf("first read = %d, %v; want the one buffered byte", n, err)
	}
	for range 2 {
		if _, err := fr.read(p[1:]); err != boom {
			t.Fatalf("read after the source failed = %v, want %v", err, boom)
		}
	}
	if _, err := fr.readHeader(); err != boom {
		t.Fatalf("readHeader after the source failed = %v, want %v", err, boom)
	}
}

// writeRecorder keeps each Write separately.
type writeRecorder struct{ writes [][]byte }

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func (w *writeRecorder) bytes() []byte { return bytes.Join(w.writes, nil) }

func TestFrameWriter(t *testing.T) {
	const scratchSize = 64
	sizes := []int{0, 1, 125, scratchSize - 2 - 1, scratchSize - 2, scratchSize - 2 + 1, 126, 1000, largeBufferSize - 4, largeBufferSize - 3, 65535, 65536, 100000}
	for _, client := range []bool{false, true} {
		t.Run(fmt.Sprintf("client=%v", client), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(19, 20))
			w := &writeRecorder{}
			fw := frameWriter{dst: w, client: client}
			scratch := make([]byte, scratchSize)
			var want []codecFrame
			for i, size := range sizes {
				p := make([]byte, size)
				for j := range p {
					p[j] = byte(rng.Uint32())
				}
				orig := bytes.Clone(p)
				op, rsv, fin := opBinary, byte(0), i%2 == 0
				if i%3 == 0 {
					op, rsv = opText, rsv1Bit
				}
				before := len(w.writes)
				if err := fw.writeFrame(scratch, fin, op, rsv, p); err != nil {
					t.Fatal(err)
				}
				// The recorder has no writev: a server frame that fits a
				// pooled buffer must still be one write (one TLS record).
				if writes := len(w.writes) - before; !client && encodedHeaderSize(size, false)+size <= largeBufferSize && writes != 1 {
					t.Fatalf("frame %d, %d bytes: %d writes, want 1", i, size, writes)
				}
				if !bytes.Equal(p, orig) {
					t.Fatalf("frame %d: writeFrame changed the caller's payload", i)
				}
				want = append(want, codecFrame{header{fin: fin, rsv: rsv, op: op, length: int64(size), masked: client}, orig})
			}
			if client {
				for i, wr := range w.writes {
					if len(wr) > scratchSize {
						t.Fatalf("write %d is %d bytes: a client frame should go out through the %d-byte scratch", i, len(wr), scratchSize)
					}
				}
			}
			var fr frameReader
			fr.init(bytes.NewReader(w.bytes()), nil)
			got, err := readCodecFrames(&fr, func() int { return 4096 })
			if err != io.EOF {
				t.Fatalf("reading back ended with %v", err)
			}
			// The keys are random: take them from what was read, after
			// checking they are fresh for every frame (RFC 6455 §5.3).
			seen := map[[4]byte]int{}
			for i := range got {
				if i < len(want) && client {
					if j, ok := seen[got[i].h.key]; ok {
						t.Fatalf("frames %d and %d have the same masking key % x", j, i, got[i].h.key)
					}
					seen[got[i].h.key] = i
					want[i].h.key = got[i].h.key
				}
			}
			compareCodecFrames(t, got, want)
		})
	}
}

// TestWritesVectored checks which transports get writev: plain TCP does;
// TLS does not, nor a pipe.
func TestWritesVectored(t *testing.T) {
	a, _ := tcpPair(t)
	p, q := net.Pipe()
	defer p.Close()
	defer q.Close()
	for _, tc := range []struct {
		name string
		w    io.Writer
		want bool
	}{
		{"TCP", a, true},
		{"TLS over TCP", tls.Client(a, &tls.Config{}), false},
		{"net.Pipe", p, false},
	} {
		if got := writesVectored(tc.w); got != tc.want {
			t.Errorf("%s: writesVectored = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFrameWriterError(t *testing.T) {
	boom := errors.New("boom")
	for _, client := range []bool{false, true} {
		for _, size := range []int{10, 1000} {
			fw := frameWriter{dst: failWriter{boom}, client: client}
			if err := fw.writeFrame(make([]byte, 64), true, opBinary, 0, make([]byte, size)); !errors.Is(err, boom) {
				t.Errorf("client=%v, %d bytes: writeFrame = %v, want %v", client, size, err, boom)
			}
		}
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

// loopReader serves the same bytes over and over, as a peer sending the same
// frame forever would.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(p[n:], l.data[l.off:])
		n += m
		l.off = (l.off + m) % len(l.data)
	}
	return n, nil
}

// BenchmarkFrameReader measures the frame reader alone: header parse, payload
// read and unmasking, of a stream of frames as a server sees them (masked)
// and as a client does, read into the caller's buffer.
func BenchmarkFrameReader(b *testing.B) {
	for _, masked := range []bool{true, false} {
		for _, size := range []int{16, 128, 1 << 10, 16 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("masked=%v/%d", masked, size), func(b *testing.B) {
				payload := bytes.Repeat([]byte("x"), size)
				h := header{fin: true, op: opBinary, masked: masked, key: testKey, length: int64(size)}
				var fr frameReader
				fr.init(&loopReader{data: appendFrame(nil, h, payload)}, nil)
				dst := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					h, err := fr.readHeader()
					if err != nil {
						b.Fatal(err)
					}
					if err := fr.readFull(dst[:h.length]); err != nil {
						b.Fatal(err)
					}
					if h.masked {
						maskBytes(h.key, 0, dst[:h.length])
					}
				}
			})
		}
	}
}

// BenchmarkFrameWriter measures the frame writer alone, writing to
// io.Discard: the header, and for a client the masked copy of the payload.
func BenchmarkFrameWriter(b *testing.B) {
	for _, client := range []bool{true, false} {
		for _, size := range []int{16, 128, 1 << 10, 16 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("client=%v/%d", client, size), func(b *testing.B) {
				fw := frameWriter{dst: io.Discard, client: client}
				scratch := make([]byte, 32<<10)
				payload := bytes.Repeat([]byte("x"), size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := fw.writeFrame(scratch, true, opBinary, 0, payload); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
