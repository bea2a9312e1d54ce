//go:build unix

package websocket

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestFrameReaderSocket checks frameReader on a TCP socket, which it reads
// through readReady: a frame of a few KiB arrives in one read, into a pooled
// buffer, and a reader that waits, or waited in vain, holds no pooled
// buffer.
func TestFrameReaderSocket(t *testing.T) {
	a, b := tcpPair(t)
	var fr frameReader
	fr.init(a, nil)
	if fr.readReady == nil {
		t.Fatal("a *net.TCPConn is not read through readReady")
	}

	// Nothing comes: the read fails at its deadline, and no buffer was
	// kept from the reads that found the socket empty.
	a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := fr.readHeader(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("reading an empty socket past its deadline returned %v, want os.ErrDeadlineExceeded", err)
	}
	if fr.pooled != nil || &fr.buf[0] != &fr.small[0] {
		t.Error("a reader that found no data holds a pooled buffer")
	}

	fr = frameReader{}
	fr.init(a, nil)
	a.SetReadDeadline(time.Time{})
	frame := codecFrame{header{fin: true, op: opBinary, length: 3000}, bytes.Repeat([]byte("0123456789"), 300)}
	wire := encodeCodecFrames([]codecFrame{frame})
	for round := range 2 {
		// The reader waits before the frame is written.
		go func() {
			time.Sleep(10 * time.Millisecond)
			b.Write(wire)
		}()
		h, err := fr.readHeader()
		if err != nil {
			t.Fatal(err)
		}
		if fr.pooled == nil || fr.buffered() != int(h.length) {
			t.Fatalf("round %d: after the header, %d payload bytes are buffered (pooled buffer: %v); want the whole frame's %d from one read into the pooled buffer",
				round, fr.buffered(), fr.pooled != nil, h.length)
		}
		p := make([]byte, h.length)
		if err := fr.readFull(p); err != nil || !bytes.Equal(p, frame.payload) {
			t.Fatalf("round %d: the payload came back wrong, %v", round, err)
		}
		fr.release() // as the Conn does when a message ends
		if fr.pooled != nil || &fr.buf[0] != &fr.small[0] {
			t.Fatalf("round %d: after the frame, the reader holds a pooled buffer", round)
		}
	}

	// The peer closes: EOF, then a reset: an error that says so.
	b.Close()
	if _, err := fr.readHeader(); err != io.EOF {
		t.Errorf("reading after the peer closed returned %v, want io.EOF", err)
	}
	c, d := tcpPair(t)
	fr = frameReader{}
	fr.init(c, nil)
	d.(interface{ SetLinger(int) error }).SetLinger(0) // close with RST
	d.Write([]byte{0x82})                              // half a header, then the reset
	d.Close()
	time.Sleep(10 * time.Millisecond)
	if _, err := fr.readHeader(); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("reading a reset connection returned %v, want ECONNRESET", err)
	}
}
