package websocket

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

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

// readerFunc makes a function an io.Reader.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
