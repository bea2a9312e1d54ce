package websocket

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// ---- limits ----

// deflateBomb returns a message payload that inflates to n zero bytes (n a
// multiple of 1032, at least 1032000) at deflate's best ratio, 1032 to 1:
// a dynamic Huffman block of length-258 distance-1 matches whose codes are
// one bit each, so that each 0x00 byte in its middle stands for 4 matches.
// compress/flate writes the block for 1032000 zeros; more zero bytes in
// its middle make it longer.
func deflateBomb(n int) []byte {
	base := deflateRef(flate.BestCompression, make([]byte, 1032000))
	mid := len(base) / 2
	if base[mid-50] != 0 || base[mid+50] != 0 || n%1032 != 0 || n < 1032000 {
		panic("compress/flate no longer writes zeros the way deflateBomb expects")
	}
	extra := make([]byte, (n-1032000)/1032)
	return append(append(append([]byte(nil), base[:mid]...), extra...), base[mid:]...)
}

func TestDeflateBombShape(t *testing.T) {
	const n = 1032000 + 1032*5000
	out, err := inflateRef(deflateBomb(n), nil, n+1)
	if err != nil || len(out) != n || bytes.ContainsFunc(out, func(r rune) bool { return r != 0 }) {
		t.Fatalf("the bomb inflates to %d bytes (%v), want %d zeros", len(out), err, n)
	}
}

// readCounter counts the bytes a Conn reads from its transport until it
// first writes, which for a Conn that only reads is its close frame.
type readCounter struct {
	net.Conn
	read        atomic.Int64
	beforeWrite atomic.Int64 // -1 until the first write
}

func (r *readCounter) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.read.Add(int64(n))
	return n, err
}

func (r *readCounter) Write(p []byte) (int, error) {
	r.beforeWrite.CompareAndSwap(-1, r.read.Load())
	return r.Conn.Write(p)
}

// TestDeflateBomb sends messages that inflate a thousandfold: the read fails
// with 1009 once the inflated size passes the limit, having allocated about
// the limit (ReadMessage) or a few buffers (NextReader), however large the
// message claims to be. DEFLATE's best ratio is 1032 to 1, so a 1 GB bomb
// takes 1 MB, which passes the wire limit of a 1 MiB read limit.
func TestDeflateBomb(t *testing.T) {
	const limit = 1 << 20
	for _, bomb := range []struct {
		name string
		n    int
	}{{"20KB-to-20MB", 1032 * 20000}, {"1MB-to-1GB", 1032 * 1040000}} {
		payload := deflateBomb(bomb.n)
		if int64(len(payload)) > wireLimit(limit, true) {
			t.Fatalf("a %d-byte bomb is over the wire limit", len(payload))
		}
		for _, client := range []bool{false, true} {
			frame := rawFrame(0xC2, !client, payload)
			for _, streaming := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/streaming=%v", bomb.name, roleOf(client), streaming), func(t *testing.T) {
					a, raw := tcpPair(t)
					counter := &readCounter{Conn: a}
					counter.beforeWrite.Store(-1)
					c := newConn(counter, nil, connConfig{client: client, readLimit: limit, closeTimeout: time.Second, deflate: testDeflate()})
					defer c.CloseNow()
					go raw.Write(frame)
					go closeOnClose(raw)
					var err error
					alloc, _ := allocatedDuring(func() {
						if streaming {
							var r io.Reader
							if _, r, err = c.NextReader(); err == nil {
								_, err = io.Copy(io.Discard, r)
							}
						} else {
							_, _, err = c.ReadMessage()
						}
					})
					var pe *ProtocolError
					if !errors.As(err, &pe) || pe.Code != StatusMessageTooBig {
						t.Fatalf("read error = %v, want a failure with 1009", err)
					}
					read := counter.beforeWrite.Load()
					t.Logf("%d-byte message: failed after reading %d bytes off the wire, %d allocated", len(payload), read, alloc)
					if alloc > 8<<20 {
						t.Errorf("reading allocated %d bytes, want less than 8 MiB for a %d-byte limit", alloc, limit)
					}
					// About 1 KiB inflates past the limit; the rest is read-ahead.
					if read > 64<<10 {
						t.Errorf("the Conn read %d bytes of the message before failing, want a few KiB", read)
					}
				})
			}
		}
	}
}

// closeOnClose reads frames from a raw end until a close frame, then closes
// the connection: the Conn that sent it need not wait for an answer.
func closeOnClose(raw net.Conn) {
	defer raw.Close()
	var h [2]byte
	for {
		if _, err := io.ReadFull(raw, h[:]); err != nil {
			return
		}
		n := int64(h[1] & 0x7f)
		if n >= 126 {
			return // no frame a reading Conn sends is that long
		}
		if h[1]&0x80 != 0 {
			n += 4
		}
		if _, err := io.CopyN(io.Discard, raw, n); err != nil || opcode(h[0]&0x0f) == opClose {
			return
		}
	}
}

// TestDeflateWireLimit sends a compressed message that never ends, made of
// empty stored blocks that inflate to nothing: the inflated size never grows,
// so only the bytes on the wire can stop it, with 1009, once they pass the
// wire limit.
func TestDeflateWireLimit(t *testing.T) {
	const limit = 1 << 20
	const frameSize = 64 << 10
	blocks := bytes.Repeat([]byte("\x00\x00\x00\xff\xff"), frameSize/5)
	for _, client := range []bool{false, true} {
		t.Run(roleOf(client), func(t *testing.T) {
			a, raw := tcpPair(t)
			counter := &readCounter{Conn: a}
			counter.beforeWrite.Store(-1)
			c := newConn(counter, nil, connConfig{client: client, readLimit: limit, closeTimeout: time.Second, deflate: testDeflate()})
			defer c.CloseNow()
			first, next := rawFrame(0x02|rsv1Bit, !client, blocks), rawFrame(0x00, !client, blocks)
			go closeOnClose(raw)
			go func() {
				if _, err := raw.Write(first); err != nil {
					return
				}
				// Endless, but for a bound in case the Conn never stops.
				for range 4 * limit / frameSize {
					if _, err := raw.Write(next); err != nil {
						return
					}
				}
			}()
			_, _, err := c.ReadMessage()
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code != StatusMessageTooBig {
				t.Fatalf("read error = %v, want a failure with 1009", err)
			}
			read := counter.beforeWrite.Load()
			wire := wireLimit(limit, true)
			t.Logf("failed after reading %d bytes, the wire limit is %d", read, wire)
			if read < wire-frameSize || read > wire+frameSize+largeBufferSize {
				t.Errorf("the Conn read %d bytes before failing, want about the wire limit %d", read, wire)
			}
		})
	}
}

// TestDeflateLimitLoweredMidMessage lowers the read limit while a compressed
// message is being read, below what it has inflated to already or to one
// byte less. The next Read must fail with 1009; it used to panic on a
// negative slice bound, or return 0 and no error forever.
func TestDeflateLimitLoweredMidMessage(t *testing.T) {
	const firstRead = 1000
	for _, newLimit := range []int64{10, firstRead - 1} {
		t.Run(fmt.Sprint(newLimit), func(t *testing.T) {
			c, raw := newDeflatePeer(t, false, testDeflate())
			go closeOnClose(raw)
			raw.Write(rawFrame(0xC1, true, deflateRef(flate.BestSpeed, jsonLike(100000, 1))))
			_, r, err := c.NextReader()
			if err != nil {
				t.Fatal(err)
			}
			if n, err := io.ReadFull(r, make([]byte, firstRead)); err != nil {
				t.Fatalf("first Read = %d, %v", n, err)
			}
			c.SetReadLimit(newLimit)
			n, err := r.Read(make([]byte, firstRead))
			if pe, ok := errors.AsType[*ProtocolError](err); !ok || pe.Code != StatusMessageTooBig {
				t.Errorf("Read after the limit went down = %d, %v; want a failure with 1009", n, err)
			}
		})
	}
}

// TestDeflateFinalBlockFlood sends a message of empty final deflate blocks,
// two bytes each: every one starts a new deflate stream, which copies the
// 32 KiB window kept with context takeover and inflates to nothing, so the
// read limit never stops it. It took seconds of CPU for a 16 MiB message;
// the Conn now fails it with 1007 after about one new stream per 256 bytes.
func TestDeflateFinalBlockFlood(t *testing.T) {
	c, raw := newDeflatePeer(t, false, testDeflate())
	go closeOnClose(raw)
	first := newRefDeflater(flate.BestSpeed).message(jsonLike(32<<10, 1)) // fills the window
	go func() {
		raw.Write(rawFrame(0xC1, true, first))
		raw.Write(rawFrame(0xC2, true, bytes.Repeat([]byte{0x03, 0x00}, 1<<19)))
	}()
	if _, p, err := c.ReadMessage(); err != nil || len(p) != 32<<10 {
		t.Fatalf("first message: %d bytes, %v", len(p), err)
	}
	_, p, err := c.ReadMessage()
	if pe, ok := errors.AsType[*ProtocolError](err); !ok || pe.Code != StatusInvalidPayload || !strings.Contains(err.Error(), "too often") {
		t.Errorf("ReadMessage = %d bytes, %v; want a failure with 1007 for too many deflate streams", len(p), err)
	}
}

// TestDeflateReadLimitMaxInt64 reads a compressed message with the largest
// read limit there is, which the check of the inflated size used to
// overflow into a negative slice bound.
func TestDeflateReadLimitMaxInt64(t *testing.T) {
	c, raw := newDeflatePeer(t, false, testDeflate())
	c.SetReadLimit(math.MaxInt64)
	raw.Write(rawFrame(0xC1, true, rfcHello))
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "Hello" {
		t.Fatalf("ReadMessage = %q, %v; want \"Hello\"", p, err)
	}
}
