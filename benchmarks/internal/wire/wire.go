// Package wire is the hand-written WebSocket codec of the benchmark harness:
// just enough of RFC 6455 to drive a server (the client handshake, pre-masked
// frames, reading frames back) and to serve a client (the server handshake,
// unmasking, unmasked frames), plus the raw-TCP baseline protocol, a 4-byte
// big-endian length and the payload.
//
// Every library under test meets the same code here, so whatever this code
// costs is the same for all of them. It is written for the benchmark's
// well-behaved peers, not for the open internet: it checks what tells a
// broken setup apart from a working one, and no more.
package wire

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
)

// BufSize is the size of every bufio.Reader and bufio.Writer in this package:
// the same 4 KiB on both sides of the raw-TCP baseline and in the WebSocket
// load generator.
const BufSize = 4 << 10

// Opcodes (RFC 6455 §5.2).
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey is the Sec-WebSocket-Accept value for key (RFC 6455 §4.2.2).
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// clientKey is the Sec-WebSocket-Key the load generator sends. RFC 6455 asks
// for a random one; a benchmark talking to its own servers does not need it.
const clientKey = "dGhlIHNhbXBsZSBub25jZQ=="

// ClientHandshake performs the opening handshake on conn as a client, for the
// resource path, and returns the reader to read frames from: it may already
// hold the first bytes the server sent after its 101 response.
func ClientHandshake(conn net.Conn, host, path string) (*bufio.Reader, error) {
	req := "GET " + path + " HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + clientKey + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(conn, BufSize)
	tp := textproto.NewReader(br)
	status, err := tp.ReadLine()
	if err != nil {
		return nil, fmt.Errorf("wire: reading the handshake response: %w", err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 101") {
		return nil, fmt.Errorf("wire: handshake refused: %q", status)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("wire: reading the handshake response: %w", err)
	}
	if got, want := h.Get("Sec-WebSocket-Accept"), AcceptKey(clientKey); got != want {
		return nil, fmt.Errorf("wire: Sec-WebSocket-Accept is %q, want %q", got, want)
	}
	return br, nil
}

// ServerHandshake reads a client's opening handshake from br and answers it on
// conn with 101 Switching Protocols.
func ServerHandshake(conn net.Conn, br *bufio.Reader) error {
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "GET ") {
		return fmt.Errorf("wire: not a GET request: %q", line)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return err
	}
	key := h.Get("Sec-WebSocket-Key")
	if key == "" || !strings.EqualFold(h.Get("Upgrade"), "websocket") {
		return errors.New("wire: not a WebSocket handshake")
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + AcceptKey(key) + "\r\n\r\n"
	_, err = io.WriteString(conn, resp)
	return err
}

// AppendHeader appends a frame header to dst: FIN set when fin, opcode op,
// a payload of length bytes, and the masking key when masked.
func AppendHeader(dst []byte, fin bool, op byte, length int, masked bool, key [4]byte) []byte {
	b0, b1 := op, byte(0)
	if fin {
		b0 |= 0x80
	}
	if masked {
		b1 = 0x80
	}
	switch {
	case length < 126:
		dst = append(dst, b0, b1|byte(length))
	case length <= 0xFFFF:
		dst = append(dst, b0, b1|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(length))
	default:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(length))
	}
	if masked {
		dst = append(dst, key[:]...)
	}
	return dst
}

// AppendFrame appends one final frame of opcode op carrying payload to dst.
// With masked set, the payload is masked with key, as a client must.
func AppendFrame(dst []byte, op byte, payload []byte, masked bool, key [4]byte) []byte {
	dst = AppendHeader(dst, true, op, len(payload), masked, key)
	start := len(dst)
	dst = append(dst, payload...)
	if masked {
		Mask(key, dst[start:])
	}
	return dst
}

// Mask XORs b with key, key[0] on b[0] (RFC 6455 §5.3). It goes a 64-bit word
// at a time, the usual technique, so that the hand-written server's unmasking
// is not what limits a client under test.
func Mask(key [4]byte, b []byte) {
	k32 := binary.LittleEndian.Uint32(key[:])
	k := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k)
	}
	for ; i < len(b); i++ {
		b[i] ^= key[i&3]
	}
}

// Header is a decoded frame header.
type Header struct {
	Fin    bool
	Op     byte
	Masked bool
	Key    [4]byte
	Length int64
}

// ReadHeader reads one frame header from br.
func ReadHeader(br *bufio.Reader) (Header, error) {
	var h Header
	b, err := br.Peek(2)
	if err != nil {
		return h, err
	}
	h.Fin = b[0]&0x80 != 0
	h.Op = b[0] & 0x0F
	h.Masked = b[1]&0x80 != 0
	n := 2
	switch b[1] & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h.Masked {
		n += 4
	}
	if b, err = br.Peek(n); err != nil {
		return h, err
	}
	switch l := b[1] & 0x7F; l {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		h.Length = int64(binary.BigEndian.Uint64(b[2:]))
	default:
		h.Length = int64(l)
	}
	if h.Length < 0 {
		return h, errors.New("wire: frame length has its top bit set")
	}
	if h.Masked {
		copy(h.Key[:], b[n-4:n])
	}
	_, err = br.Discard(n)
	return h, err
}

// MessageReader reads whole messages, of any number of frames, from a server
// (WebSocket) or from a raw-TCP peer.
type MessageReader struct {
	br      *bufio.Reader
	ws      bool
	scratch []byte // where dropped payloads go; grows to at most maxScratch
}

// maxScratch bounds the scratch buffer: large payloads are dropped in reads
// of 64 KiB, and connections that only see small ones keep a small buffer.
const maxScratch = 64 << 10

// NewMessageReader returns a reader of br; ws chooses WebSocket framing over
// the raw length prefix.
func NewMessageReader(br *bufio.Reader, ws bool) *MessageReader {
	return &MessageReader{br: br, ws: ws}
}

// Skip reads the next message and drops its payload, and returns its length.
// Control frames from the server end the stream with an error: none of the
// servers under test sends one unasked.
func (r *MessageReader) Skip() (int64, error) {
	return r.read(nil)
}

// Read reads the next message into buf, which must be large enough, and
// returns its length.
func (r *MessageReader) Read(buf []byte) (int64, error) {
	return r.read(buf)
}

func (r *MessageReader) read(buf []byte) (int64, error) {
	if !r.ws {
		var p [4]byte
		if _, err := io.ReadFull(r.br, p[:]); err != nil {
			return 0, err
		}
		n := int64(binary.BigEndian.Uint32(p[:]))
		return n, r.payload(buf, n)
	}
	var total int64
	for {
		h, err := ReadHeader(r.br)
		if err != nil {
			return 0, err
		}
		if h.Op >= OpClose {
			return 0, fmt.Errorf("wire: unexpected control frame, opcode %#x", h.Op)
		}
		if h.Masked {
			return 0, errors.New("wire: the server masked a frame")
		}
		var dst []byte
		if buf != nil {
			if total+h.Length > int64(len(buf)) {
				return 0, errors.New("wire: message larger than the buffer")
			}
			dst = buf[total:]
		}
		if err := r.payload(dst, h.Length); err != nil {
			return 0, err
		}
		total += h.Length
		if h.Fin {
			return total, nil
		}
	}
}

// payload reads n bytes into dst, or drops them when dst is nil.
func (r *MessageReader) payload(dst []byte, n int64) error {
	if dst != nil {
		_, err := io.ReadFull(r.br, dst[:n])
		return err
	}
	if want := int(min(n, maxScratch)); len(r.scratch) < want {
		r.scratch = make([]byte, want)
	}
	for n > 0 {
		m := min(n, int64(len(r.scratch)))
		if _, err := io.ReadFull(r.br, r.scratch[:m]); err != nil {
			return err
		}
		n -= m
	}
	return nil
}

// AppendRaw appends one raw-TCP message, length prefix and payload, to dst.
func AppendRaw(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// Payload returns n bytes of a repeating, recognizable pattern.
func Payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return p
}

// CheckEcho reports an error when got is not want.
func CheckEcho(got, want []byte) error {
	if !bytes.Equal(got, want) {
		return fmt.Errorf("wire: echo differs from what was sent (%d bytes back, %d sent)", len(got), len(want))
	}
	return nil
}
