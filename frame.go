package websocket

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	mathrand "math/rand/v2"
	"net"
	"sync"
)

// opcode is a frame's opcode (RFC 6455 §5.2).
type opcode byte

const (
	opContinuation opcode = 0x0
	opText         opcode = 0x1
	opBinary       opcode = 0x2
	opClose        opcode = 0x8
	opPing         opcode = 0x9
	opPong         opcode = 0xA
)

// isControl reports whether op is a control opcode: the high bit of the
// opcode marks them (RFC 6455 §5.5).
func (op opcode) isControl() bool { return op&0x8 != 0 }

func (op opcode) known() bool {
	switch op {
	case opContinuation, opText, opBinary, opClose, opPing, opPong:
		return true
	}
	return false
}

// The bits of a frame's first byte (RFC 6455 §5.2).
const (
	finBit  = 0x80
	rsv1Bit = 0x40
	rsv2Bit = 0x20
	rsv3Bit = 0x10
	maskBit = 0x80
)

const (
	// maxControlPayload is the largest payload a control frame may carry
	// (RFC 6455 §5.5).
	maxControlPayload = 125
	// maxHeaderSize is the size of the longest frame header: two bytes, an
	// eight-byte extended length and a four-byte masking key.
	maxHeaderSize = 2 + 8 + 4
)

// header is a decoded frame header (RFC 6455 §5.2).
type header struct {
	fin    bool
	rsv    byte // the RSV1-3 bits, in place: rsv1Bit|rsv2Bit|rsv3Bit
	op     opcode
	masked bool
	key    [4]byte
	length int64
}

var (
	errLengthTopBit = errors.New("frame length has its most significant bit set (RFC 6455 §5.2)")
	errLengthForm   = errors.New("frame length is not in its shortest form (RFC 6455 §5.2)")
)

// headerSize returns how long the header that starts with the two bytes b0 and
// b1 is, so a reader knows how much to wait for before parsing it.
func headerSize(b0, b1 byte) int {
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&maskBit != 0 {
		n += 4
	}
	return n
}

// parseHeader decodes the frame header at the start of b, which must hold at
// least headerSize(b[0], b[1]) bytes. It checks only what the bytes alone
// decide, the length rules; what is allowed depends on the connection and is
// checked there.
func parseHeader(b []byte) (header, int, error) {
	h := header{
		fin:    b[0]&finBit != 0,
		rsv:    b[0] & (rsv1Bit | rsv2Bit | rsv3Bit),
		op:     opcode(b[0] & 0x0F),
		masked: b[1]&maskBit != 0,
	}
	n := 2
	switch length := b[1] & 0x7F; length {
	case 126:
		h.length = int64(binary.BigEndian.Uint16(b[2:]))
		n += 2
		if h.length < 126 {
			return h, n, errLengthForm
		}
	case 127:
		u := binary.BigEndian.Uint64(b[2:])
		n += 8
		if u>>63 != 0 {
			return h, n, errLengthTopBit
		}
		h.length = int64(u)
		if h.length <= 0xFFFF {
			return h, n, errLengthForm
		}
	default:
		h.length = int64(length)
	}
	if h.masked {
		copy(h.key[:], b[n:n+4])
		n += 4
	}
	return h, n, nil
}

// putHeader encodes h at the start of b, which must hold maxHeaderSize bytes,
// using the shortest length form (RFC 6455 §5.2), and returns its size.
func putHeader(b []byte, h header) int {
	_ = b[maxHeaderSize-1]
	b[0] = byte(h.op) | h.rsv
	if h.fin {
		b[0] |= finBit
	}
	var n int
	switch {
	case h.length < 126:
		b[1] = byte(h.length)
		n = 2
	case h.length <= 0xFFFF:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(h.length))
		n = 4
	default:
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(h.length))
		n = 10
	}
	if h.masked {
		b[1] |= maskBit
		copy(b[n:], h.key[:])
		n += 4
	}
	return n
}

// encodedHeaderSize is the size putHeader gives a header with this length
// and masking.
func encodedHeaderSize(length int, masked bool) int {
	n := 2
	switch {
	case length < 126:
	case length <= 0xFFFF:
		n += 2
	default:
		n += 8
	}
	if masked {
		n += 4
	}
	return n
}

// newMaskKey returns a fresh masking key. RFC 6455 §10.3 asks for keys that
// a script in the browser cannot predict, so they come from ChaCha8
// generators, which math/rand/v2 documents as cryptographically strong,
// each seeded from crypto/rand. A key so costs about 15 ns, where a 4-byte
// crypto/rand read costs 30-40 (BenchmarkNewMaskKey), on every frame a
// client sends.
func newMaskKey() [4]byte {
	g := maskKeyGenerators.Get().(*mathrand.ChaCha8)
	var k [4]byte
	binary.LittleEndian.PutUint32(k[:], uint32(g.Uint64()))
	maskKeyGenerators.Put(g)
	return k
}

// maskKeyGenerators are the generators of newMaskKey: one per goroutine
// drawing a key at the same time, none shared.
var maskKeyGenerators = sync.Pool{New: func() any {
	var seed [32]byte
	rand.Read(seed[:]) // never fails (crypto/rand documents it)
	return mathrand.NewChaCha8(seed)
}}

const (
	// smallReadSize is the buffer every Conn carries inline. A connection
	// waiting for its next frame reads into it, so an idle connection holds
	// no large buffer; it holds a whole small message in one read.
	smallReadSize = 512
	// largeBufferSize is the size of the pooled buffers that readers take
	// while data streams in and that writers take while they write.
	largeBufferSize = 16 << 10
)

// largeBuffers holds the pooled read and write buffers. A connection takes one
// only while bytes flow and gives it back when it goes idle.
var largeBuffers = sync.Pool{New: func() any {
	b := make([]byte, largeBufferSize)
	return &b
}}

// maskBuffers hold the masked copies a client writes of payloads in one
// frame, a piece at a time. On loopback, 32 KiB pieces cost less CPU per
// 64 KiB or 1 MiB message than 16 or 64 KiB ones (client scenario in
// benchmarks/): fewer system calls than 16 KiB, and unlike 64 KiB the piece
// stays in cache between masking it and the kernel copying it out.
var maskBuffers = sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}

// frameReader is the buffered reader frames are parsed from. It reads into
// the inline small buffer while traffic is light and switches to a pooled
// large one when a read fills the small one, which means more data is
// waiting; it gives the large one back when a read finds the socket drained.
//
// On a plain TCP or Unix socket it does better: it waits for data without a
// buffer, through the socket's syscall.RawConn, and reads into a pooled
// large buffer only once data is there (readReady). A Conn waiting for its
// next message then still holds no large buffer, and a message whose frame
// fits in the large buffer arrives in one read instead of two.
type frameReader struct {
	src      io.Reader
	buf      []byte // small[:] or *pooled
	pooled   *[]byte
	r, w     int  // buf[r:w] is buffered and unread
	lastFull bool // the last read filled buf: more is probably waiting
	err      error
	small    [smallReadSize]byte

	// readReady, when src is a socket, waits for it to be readable and
	// reads it into a pooled large buffer. It is one field, not the RawConn
	// and a method value, to keep the Conn within its allocation size class.
	readReady func() error
}

func (fr *frameReader) init(src io.Reader, buffered []byte) {
	fr.src = src
	if rc := rawConnOf(src); rc != nil {
		read := fr.readReadyFD // made once: a method value allocates
		fr.readReady = func() error { return rc.Read(read) }
	}
	fr.buf = fr.small[:]
	// Bytes the peer sent right behind its handshake and that the HTTP layer
	// had already read are the start of the first frame.
	switch {
	case len(buffered) <= smallReadSize:
	case len(buffered) <= largeBufferSize:
		fr.takeLargeBuffer()
	default:
		fr.buf = make([]byte, len(buffered))
	}
	fr.w = copy(fr.buf, buffered)
}

func (fr *frameReader) buffered() int { return fr.w - fr.r }

func (fr *frameReader) takeLargeBuffer() {
	p := largeBuffers.Get().(*[]byte)
	n := copy(*p, fr.buf[fr.r:fr.w])
	fr.buf, fr.pooled, fr.r, fr.w = *p, p, 0, n
}

// release goes back to the small buffer, and gives the large one back to the
// pool, when nothing in it is unread.
func (fr *frameReader) release() {
	if fr.r != fr.w || &fr.buf[0] == &fr.small[0] {
		return
	}
	if fr.pooled != nil {
		largeBuffers.Put(fr.pooled)
	}
	fr.buf, fr.pooled, fr.r, fr.w = fr.small[:], nil, 0, 0
}

// fill reads until at least n bytes are buffered; n is at most maxHeaderSize
// or the small buffer's size.
func (fr *frameReader) fill(n int) error {
	if fr.r == fr.w {
		fr.r, fr.w = 0, 0
		if !fr.lastFull {
			fr.release()
		}
	}
	if fr.lastFull && &fr.buf[0] == &fr.small[0] {
		fr.takeLargeBuffer()
	}
	if len(fr.buf)-fr.r < n {
		fr.w = copy(fr.buf, fr.buf[fr.r:fr.w])
		fr.r = 0
	}
	for fr.w-fr.r < n {
		if fr.err != nil {
			return fr.err
		}
		fr.readMore()
	}
	return nil
}

// readMore reads what the transport has into buf[w:], and sets err if the
// read failed. An empty small buffer on a socket is read by readReady, which
// swaps in a large buffer once data is there.
func (fr *frameReader) readMore() {
	if fr.readReady != nil && fr.r == fr.w && &fr.buf[0] == &fr.small[0] {
		if err := fr.readReady(); err != nil {
			fr.err = err // closed, or past the read deadline
		}
	} else {
		m, err := fr.src.Read(fr.buf[fr.w:])
		fr.w += m
		fr.err = err
	}
	fr.lastFull = fr.w == len(fr.buf)
}

// readHeader reads and parses the next frame header.
func (fr *frameReader) readHeader() (header, error) {
	if err := fr.fill(2); err != nil {
		return header{}, err
	}
	if err := fr.fill(headerSize(fr.buf[fr.r], fr.buf[fr.r+1])); err != nil {
		return header{}, err
	}
	h, n, err := parseHeader(fr.buf[fr.r:fr.w])
	fr.r += n
	return h, err
}

// read reads payload bytes into p, which the caller limits to what is left of
// the current frame. Like bufio.Reader, it reads straight into a p at least as
// large as the buffer, so large payloads are copied once, by the kernel.
func (fr *frameReader) read(p []byte) (int, error) {
	if fr.r == fr.w {
		if len(p) >= len(fr.buf) {
			if fr.err != nil {
				return 0, fr.err
			}
			n, err := fr.src.Read(p)
			fr.err = err
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if err := fr.fill(1); err != nil {
			return 0, err
		}
	}
	n := copy(p, fr.buf[fr.r:fr.w])
	fr.r += n
	return n, nil
}

// readFull reads exactly len(p) payload bytes.
func (fr *frameReader) readFull(p []byte) error {
	for len(p) > 0 {
		n, err := fr.read(p)
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// frameWriter writes frames to the transport. Its callers serialize it.
type frameWriter struct {
	dst      io.Writer
	client   bool // a client masks every frame (RFC 6455 §5.3)
	vectored bool // dst writes a net.Buffers in one system call
	vec      net.Buffers
	vecArr   [2][]byte
}

func newFrameWriter(dst io.Writer, client bool) frameWriter {
	return frameWriter{dst: dst, client: client, vectored: writesVectored(dst)}
}

// writesVectored reports whether w writes a net.Buffers with one writev.
// Other writers get each buffer as a Write of its own: a *tls.Conn would
// make a header and its payload two TLS records, sent in two system calls.
func writesVectored(w io.Writer) bool {
	switch w.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// writeFrame writes a whole frame: the header in scratch, then the payload.
// A client masks a copy of the payload in scratch, which must hold at least
// maxHeaderSize+1 bytes; a server sends p as it is, with the header in one
// vectored write when p does not fit scratch.
func (fw *frameWriter) writeFrame(scratch []byte, fin bool, op opcode, rsv byte, p []byte) error {
	h := header{fin: fin, rsv: rsv, op: op, masked: fw.client, length: int64(len(p))}
	if fw.client {
		h.key = newMaskKey()
	}
	n := putHeader(scratch, h)
	if !fw.client {
		if n+len(p) <= len(scratch) {
			n += copy(scratch[n:], p)
			_, err := fw.dst.Write(scratch[:n])
			return err
		}
		// A large payload leaves in two system calls, its first 16 KiB
		// with the header and the rest on its own, as it would through a
		// bufio.Writer. On loopback, one call for a whole 64 KiB frame
		// cost the server up to twice the CPU per message (pipelined 64
		// KiB echo in benchmarks/), however the bytes were gathered.
		// Without writev, the header and the first piece are copied into
		// one buffer, so that a small frame is still one write.
		first := p
		if len(p) > 2*largeBufferSize || !fw.vectored {
			first = p[:min(len(p), largeBufferSize-n)]
		}
		if err := fw.writev(scratch[:n], first); err != nil || len(first) == len(p) {
			return err
		}
		_, err := fw.dst.Write(p[len(first):])
		return err
	}
	pos := 0
	for {
		var m int
		m, pos = maskCopy(h.key, pos, scratch[n:], p)
		if _, err := fw.dst.Write(scratch[:n+m]); err != nil {
			return err
		}
		p = p[m:]
		if len(p) == 0 {
			return nil
		}
		n = 0
	}
}

// writeFrames writes whole frames, encoded already, in one vectored write
// where the transport can, else one write each.
func (fw *frameWriter) writeFrames(frames [][]byte) error {
	if !fw.vectored {
		for _, frame := range frames {
			if _, err := fw.dst.Write(frame); err != nil {
				return err
			}
		}
		return nil
	}
	fw.vec = frames
	_, err := fw.vec.WriteTo(fw.dst) // consumes fw.vec
	fw.vec = nil
	return err
}

// writev writes a and b in one write: vectored where the transport can,
// else copied into a pooled buffer, which they must fit.
func (fw *frameWriter) writev(a, b []byte) error {
	if !fw.vectored {
		buf := largeBuffers.Get().(*[]byte)
		defer largeBuffers.Put(buf)
		n := copy(*buf, a)
		n += copy((*buf)[n:], b)
		_, err := fw.dst.Write((*buf)[:n])
		return err
	}
	fw.vecArr = [2][]byte{a, b}
	fw.vec = fw.vecArr[:]
	_, err := fw.vec.WriteTo(fw.dst)
	fw.vecArr = [2][]byte{}
	return err
}
