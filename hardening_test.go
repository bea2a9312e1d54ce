package websocket

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hardening tests (issue 5): hostile peers, faults and load. Every wait is
// bounded (by testWait at most) and nothing asserts how long something took:
// the tests check that blocked calls end, with which error, and how much
// memory the library took meanwhile. examples/soak is the load test that
// goes with them.
//
// Some cases the other test files cover already and are not repeated here:
// Dial against endless answer heads and endless refusal bodies
// (TestDialBoundsResponseHead, TestDialBoundsErrorBody), a slowloris server
// (TestDialTimeouts), Close when the peer never answers and nobody reads
// (TestCloseHandshake) and refusal bodies that never echo the request
// (TestUpgradeRejects).

// faultWait is how long a test waits for a call that should end at once
// (because of a fault, a deadline or a refused frame) before it calls the
// call stuck and frees it with CloseNow.
const faultWait = 2 * time.Second

// allocatedDuring runs f and returns the bytes and the objects that the
// whole process allocated meanwhile.
func allocatedDuring(f func()) (size, objects uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, after.Mallocs - before.Mallocs
}

// heapInUse returns the bytes of live heap spans after a collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// stackBuf holds the goroutine dumps of goroutineBlocked, allocated once so
// that polling allocates nothing while a test measures allocations.
var (
	stackMu  sync.Mutex
	stackBuf = make([]byte, 4<<20)
)

// goroutineBlocked waits, up to testWait, for a goroutine whose stack holds
// every one of parts (function names, or a state such as "[IO wait"), and
// reports whether one showed up. Tests use it to know that a call is really
// blocked before they act on the connection under it.
func goroutineBlocked(parts ...string) bool {
	stackMu.Lock()
	defer stackMu.Unlock()
	want := make([][]byte, len(parts))
	for i, p := range parts {
		want[i] = []byte(p)
	}
	sep := []byte("\n\n")
	deadline := time.Now().Add(testWait)
	for {
		dump := stackBuf[:runtime.Stack(stackBuf, true)]
		for len(dump) > 0 {
			g := dump
			if i := bytes.Index(dump, sep); i >= 0 {
				g, dump = dump[:i], dump[i+len(sep):]
			} else {
				dump = nil
			}
			found := true
			for _, w := range want {
				if !bytes.Contains(g, w) {
					found = false
					break
				}
			}
			if found {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkNoGoroutines fails the test when a goroutine running this package's
// code, other than the tests themselves, is still there after a bounded wait.
// Unlike TestMain's check, it can run inside a subtest.
func checkNoGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "testing.tRunner(") || strings.Contains(g, "testing.(*M).Run") {
				continue // a test, or one waiting for its subtests
			}
			if strings.Contains(g, "ws6455/websocket") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("goroutines left behind:\n\n%s", strings.Join(left, "\n\n"))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawHeader builds a frame header by hand that claims length payload bytes,
// whatever follows it, masked with testKey when masked is set.
func rawHeader(b0 byte, masked bool, length uint64) []byte {
	out := []byte{b0}
	var m byte
	if masked {
		m = maskBit
	}
	switch {
	case length < 126:
		out = append(out, m|byte(length))
	case length < 1<<16:
		out = append(out, m|126, byte(length>>8), byte(length))
	default:
		out = append(out, m|127)
		out = binary.BigEndian.AppendUint64(out, length)
	}
	if masked {
		out = append(out, testKey[:]...)
	}
	return out
}

// maskedAt returns p masked with testKey as the payload bytes from position
// pos of a frame.
func maskedAt(p []byte, pos int) []byte {
	out := make([]byte, len(p))
	for i, b := range p {
		out[i] = b ^ testKey[(pos+i)%4]
	}
	return out
}

// rawFrameInfo is a frame as a raw peer read it off the wire.
type rawFrameInfo struct {
	b0      byte
	masked  bool
	key     [4]byte
	payload []byte // unmasked
}

// parseRawFrame reads one frame by hand, without a testing.TB so that a
// peer goroutine can use it. Frames over 1 MiB are an error.
func parseRawFrame(r io.Reader) (rawFrameInfo, error) {
	var f rawFrameInfo
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return f, err
	}
	f.b0 = h[0]
	f.masked = h[1]&0x80 != 0
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126, 127:
		ext := make([]byte, 2+6*(n-126))
		if _, err := io.ReadFull(r, ext); err != nil {
			return f, err
		}
		n = 0
		for _, b := range ext {
			n = n<<8 | uint64(b)
		}
	}
	if f.masked {
		if _, err := io.ReadFull(r, f.key[:]); err != nil {
			return f, err
		}
	}
	if n > 1<<20 {
		return f, fmt.Errorf("frame of %d bytes is too large for a test", n)
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, err
	}
	if f.masked {
		for i := range f.payload {
			f.payload[i] ^= f.key[i%4]
		}
	}
	return f, nil
}

// peerReadClose reads frames from r, the raw end raw or a reader of it,
// until a close frame, and returns its code (1005 when it has none) and its
// payload. It gives up after wait.
func peerReadClose(raw net.Conn, r io.Reader, wait time.Duration) (StatusCode, []byte, error) {
	raw.SetReadDeadline(time.Now().Add(wait))
	for {
		f, err := parseRawFrame(r)
		if err != nil {
			return 0, nil, err
		}
		if f.b0&0x0f != byte(opClose) {
			continue
		}
		if len(f.payload) < 2 {
			return StatusNoStatusReceived, f.payload, nil
		}
		return StatusCode(binary.BigEndian.Uint16(f.payload)), f.payload, nil
	}
}

// peerAnswerClose is peerReadClose, then an answer on raw with a close frame
// of the same code and, from a server, the end of TCP (RFC 6455 §7.1.1).
func peerAnswerClose(raw net.Conn, r io.Reader, masked bool, wait time.Duration) (StatusCode, error) {
	code, payload, err := peerReadClose(raw, r, wait)
	if err != nil {
		return 0, err
	}
	raw.Write(rawFrame(0x88, masked, payload[:min(len(payload), 2)]))
	if !masked {
		raw.Close()
	}
	return code, nil
}

// roleName names a Conn's role in subtest names.
func roleName(client bool) string {
	if client {
		return "client"
	}
	return "server"
}

// TestHardeningLengthClaims checks that a frame's length field is only a
// claim: a claim over the read limit fails the connection with 1009 as soon
// as the header arrives, before any payload and without allocating for it,
// however the claim is made.
func TestHardeningLengthClaims(t *testing.T) {
	const limit = 64 << 10
	tests := []struct {
		name  string
		wire  func(masked bool) []byte
		after []byte // payload sent after the claim, if the peer keeps going
	}{
		{"petabytes in one frame", func(masked bool) []byte {
			return rawHeader(0x82, masked, 1<<50)
		}, nil},
		{"the largest length in one frame", func(masked bool) []byte {
			return rawHeader(0x82, masked, 1<<63-1)
		}, nil},
		{"petabytes in a continuation", func(masked bool) []byte {
			return append(rawFrame(0x02, masked, []byte("a")), rawHeader(0x80, masked, 1<<50)...)
		}, nil},
		// The message size so far plus the claim overflows an int64: the
		// sum must not wrap around to a small number that passes the limit.
		{"a continuation whose claim overflows the message size", func(masked bool) []byte {
			return append(rawFrame(0x02, masked, []byte("a")), rawHeader(0x80, masked, 1<<63-1)...)
		}, make([]byte, 4*limit)},
		{"the limit exceeded by one over two fragments", func(masked bool) []byte {
			return append(rawFrame(0x02, masked, []byte("a")), rawHeader(0x80, masked, limit)...)
		}, nil},
	}
	for _, tt := range tests {
		for _, client := range []bool{false, true} {
			t.Run(roleName(client)+"/"+tt.name, func(t *testing.T) {
				c, raw := newRawPeer(t, client)
				c.SetReadLimit(limit)
				peerMasks := !client
				raw.Write(tt.wire(peerMasks))
				if tt.after != nil {
					// A peer that goes on sending what it claimed.
					go raw.Write(tt.after)
				}
				type peerResult struct {
					code StatusCode
					err  error
				}
				peer := make(chan peerResult, 1)
				go func() {
					code, err := peerAnswerClose(raw, raw, peerMasks, faultWait)
					peer <- peerResult{code, err}
				}()
				var err error
				var typ MessageType
				var p []byte
				allocated, _ := allocatedDuring(func() {
					done := make(chan struct{})
					go func() {
						typ, p, err = c.ReadMessage()
						close(done)
					}()
					select {
					case <-done:
					case <-time.After(faultWait):
						c.CloseNow()
						<-done
						t.Errorf("ReadMessage still reading %v after a claim over the read limit", faultWait)
					}
				})
				var pe *ProtocolError
				if !errors.As(err, &pe) || pe.Code != StatusMessageTooBig {
					t.Errorf("ReadMessage = %v message of %d bytes, error %v; want a *ProtocolError with status 1009", typ, len(p), err)
				}
				if res := <-peer; res.err != nil || res.code != StatusMessageTooBig {
					t.Errorf("the peer got close code %v (%v), want 1009", res.code, res.err)
				}
				t.Logf("allocated %d bytes", allocated)
				if allocated > 4*limit {
					t.Errorf("the read allocated %d bytes with a read limit of %d, want under %d", allocated, limit, 4*limit)
				}
			})
		}
	}
}

// TestHardeningCompressionBombs checks that permessage-deflate gives a
// peer no way around the read limit: a small message that inflates to
// 16 MiB, and a message of empty deflate blocks that inflates to nothing
// however long it goes on, both fail with 1009, and what the read allocates
// is bounded by the limit, not by what the message claims or inflates to.
func TestHardeningCompressionBombs(t *testing.T) {
	const limit = 1 << 20
	var zeros bytes.Buffer
	fw, _ := flate.NewWriter(&zeros, flate.BestCompression)
	fw.Write(make([]byte, 16<<20))
	fw.Flush()
	bomb := bytes.TrimSuffix(zeros.Bytes(), []byte("\x00\x00\xff\xff")) // RFC 7692 §7.2.1
	emptyBlocks := bytes.Repeat([]byte("\x00\x00\x00\xff\xff"), 1000)   // non-final empty stored blocks

	tests := []struct {
		name  string
		write func(raw net.Conn)
	}{
		{fmt.Sprintf("%d bytes inflating to 16 MiB", len(bomb)), func(raw net.Conn) {
			raw.Write(rawFrame(0xC2, true, bomb))
		}},
		{"endless empty deflate blocks", func(raw net.Conn) {
			raw.Write(rawFrame(0x42, true, emptyBlocks))
			more := rawFrame(0x00, true, emptyBlocks)
			for {
				if _, err := raw.Write(more); err != nil {
					return
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, results := startUpgradeServer(t, &UpgradeOptions{ReadLimit: limit, Compression: CompressionNoContextTakeover})
			request := buildRequest("", "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover")
			resp, _, raw, br := rawHandshake(t, srv, []byte(request))
			if !strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
				t.Fatalf("the server did not accept permessage-deflate: %v", resp.Header)
			}
			res := nextUpgrade(t, results)
			if res.err != nil {
				t.Fatal(res.err)
			}
			c := res.conn
			go tt.write(raw)
			peer := make(chan StatusCode, 1)
			go func() {
				// No answer: another goroutine is writing frames. Closing
				// TCP ends the Conn's wait for one as well.
				code, _, _ := peerReadClose(raw, br, testWait)
				raw.Close()
				peer <- code
			}()
			var err error
			allocated, _ := allocatedDuring(func() {
				done := make(chan struct{})
				go func() {
					_, _, err = c.ReadMessage()
					close(done)
				}()
				select {
				case <-done:
				case <-time.After(testWait):
					c.CloseNow()
					<-done
					t.Error("ReadMessage went on reading a compressed message past the read limit")
				}
			})
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code != StatusMessageTooBig {
				t.Errorf("ReadMessage error %v, want a *ProtocolError with status 1009", err)
			}
			if code := <-peer; code != StatusMessageTooBig {
				t.Errorf("the peer got close code %v, want 1009", code)
			}
			t.Logf("allocated %d bytes", allocated)
			if allocated > 4*limit {
				t.Errorf("the read allocated %d bytes with a read limit of %d", allocated, limit)
			}
		})
	}
}
