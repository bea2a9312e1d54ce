package websocket

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// TestHardeningStalledFrame checks that a frame announcing 16 MiB, the
// default read limit, that brings 10 bytes and stalls, costs ReadMessage far
// less than what it announced while the read waits, and that CloseNow ends
// the wait.
func TestHardeningStalledFrame(t *testing.T) {
	const claim = DefaultReadLimit
	for _, client := range []bool{false, true} {
		for _, fragmented := range []bool{false, true} {
			name := roleName(client) + "/single frame"
			if fragmented {
				name = roleName(client) + "/second fragment"
			}
			t.Run(name, func(t *testing.T) {
				c, raw := newRawPeer(t, client)
				masked := !client
				var wire []byte
				if fragmented {
					wire = append(rawFrame(0x02, masked, []byte("first")), rawHeader(0x80, masked, claim-5)...)
				} else {
					wire = rawHeader(0x82, masked, claim)
				}
				ten := []byte("ten bytes!")
				if masked {
					ten = maskedAt(ten, 0)
				}
				wire = append(wire, ten...)
				if _, err := raw.Write(wire); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				var whileBlocked uint64
				total, _ := allocatedDuring(func() {
					var before runtime.MemStats
					runtime.ReadMemStats(&before)
					go func() {
						_, _, err := c.ReadMessage()
						done <- err
					}()
					if !goroutineBlocked("(*Conn).ReadMessage", "[IO wait") {
						t.Error("ReadMessage never blocked waiting for the rest of the frame")
					}
					var during runtime.MemStats
					runtime.ReadMemStats(&during)
					whileBlocked = during.TotalAlloc - before.TotalAlloc
					c.CloseNow()
					if err := <-done; !errors.Is(err, net.ErrClosed) {
						t.Errorf("ReadMessage after CloseNow = %v, want an error wrapping net.ErrClosed", err)
					}
				})
				if whileBlocked > 200<<10 || total > 200<<10 {
					t.Errorf("ReadMessage of a frame claiming %d bytes that sent 10 allocated %d bytes while blocked, %d in all; want under 200 KiB", claim, whileBlocked, total)
				}
			})
		}
	}
}

// TestHardeningSlowDrip checks that a read deadline ends a read from a peer
// that sends a frame one byte every 50 ms, for ReadMessage and for a reader
// from NextReader, and that the read stays failed.
func TestHardeningSlowDrip(t *testing.T) {
	for _, streaming := range []bool{false, true} {
		t.Run(fmt.Sprintf("streaming=%v", streaming), func(t *testing.T) {
			c, raw := newRawPeer(t, false)
			payload := maskedAt(bytes.Repeat([]byte("d"), 1000), 0)
			raw.Write(append(rawHeader(0x82, true, 1000), payload[:3]...))
			stop := make(chan struct{})
			dripped := make(chan struct{})
			go func() {
				defer close(dripped)
				for _, b := range payload[3:] {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					if _, err := raw.Write([]byte{b}); err != nil {
						return
					}
				}
			}()
			defer func() { close(stop); <-dripped }()

			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			done := make(chan error, 1)
			go func() {
				_, _, err := readWhole(c, streaming)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(testWait):
				c.CloseNow()
				<-done
				t.Fatal("the read went on past its deadline while the peer dripped bytes")
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read error = %v, want one wrapping os.ErrDeadlineExceeded", err)
			}
			if !strings.HasPrefix(err.Error(), "websocket: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if _, _, again := c.ReadMessage(); again == nil {
				t.Error("a read after the deadline error succeeded")
			}
		})
	}
}

// TestHardeningCloseTimeout checks that Close gives up on a peer that never
// answers its close frame within the close timeout, with an error, in the
// cases TestCloseHandshake does not cover: while another goroutine reads,
// while the peer floods data, and while a write is stuck on a peer that
// reads nothing.
func TestHardeningCloseTimeout(t *testing.T) {
	const closeTimeout = 200 * time.Millisecond
	newConnTimeout := func(t *testing.T) (*Conn, net.Conn) {
		a, raw := tcpPair(t)
		c := newConn(a, nil, connConfig{closeTimeout: closeTimeout})
		t.Cleanup(func() { c.CloseNow() })
		return c, raw
	}
	closeBounded := func(t *testing.T, c *Conn) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- c.Close(StatusNormalClosure, "") }()
		select {
		case err := <-done:
			return err
		case <-time.After(closeTimeout + testWait):
			c.CloseNow()
			<-done
			t.Fatal("Close did not return")
			return nil
		}
	}

	t.Run("a goroutine reading, the peer silent", func(t *testing.T) {
		c, _ := newConnTimeout(t)
		read := make(chan error, 1)
		go func() {
			_, _, err := c.ReadMessage()
			read <- err
		}()
		goroutineBlocked("(*Conn).ReadMessage", "[IO wait")
		err := closeBounded(t, c)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Close = %v, want an error wrapping os.ErrDeadlineExceeded", err)
		}
		if err := <-read; !errors.Is(err, net.ErrClosed) {
			t.Errorf("the read ended with %v, want an error wrapping net.ErrClosed", err)
		}
	})
	t.Run("the peer floods data and pings but never closes", func(t *testing.T) {
		c, raw := newConnTimeout(t)
		chunk := bytes.Repeat(append(rawFrame(0x82, true, make([]byte, 100)), rawFrame(0x89, true, []byte("p"))...), 100)
		flooding := make(chan struct{})
		go func() {
			defer close(flooding)
			go io.Copy(io.Discard, raw)
			for {
				if _, err := raw.Write(chunk); err != nil {
					return
				}
			}
		}()
		if err := closeBounded(t, c); err == nil || !strings.Contains(err.Error(), "did not answer") {
			t.Errorf("Close = %v, want an error saying the peer did not answer", err)
		}
		raw.Close()
		<-flooding
	})
	t.Run("a write stuck on a peer that reads nothing", func(t *testing.T) {
		c, _ := newConnTimeout(t)
		wrote := make(chan error, 1)
		go func() { wrote <- c.WriteMessage(BinaryMessage, make([]byte, 64<<20)) }()
		if !goroutineBlocked("(*Conn).WriteMessage", "poll.(*FD).Write", "[IO wait") {
			t.Fatal("the write never blocked")
		}
		if err := closeBounded(t, c); err == nil {
			t.Error("Close succeeded although its close frame could not be sent")
		}
		if err := <-wrote; !errors.Is(err, net.ErrClosed) {
			t.Errorf("the stuck write ended with %v, want an error wrapping net.ErrClosed", err)
		}
	})
}

// TestHardeningDialHeaderFlood checks what Dial costs against a server that
// answers with 10 MB of header lines: an error that says the answer is too
// large, wherever in a line the bound falls, and memory of the order of that
// bound, not of what was sent.
func TestHardeningDialHeaderFlood(t *testing.T) {
	// Flood lines are 100 bytes, their colon at byte 16; a padding line
	// moves the 1 MiB bound to a line's end, before its colon, or after.
	var lines bytes.Buffer
	for i := 0; lines.Len() < 10<<20; i++ {
		lines.WriteString("X-Flood-")
		lines.WriteString(strconv.FormatInt(int64(100000000+i), 10)[1:])
		lines.WriteString(": ")
		lines.Write(bytes.Repeat([]byte("f"), 80))
		lines.WriteString("\r\n")
	}
	for _, pad := range []int{33, 23, 0} {
		t.Run(fmt.Sprintf("bound %d bytes into a line", (maxHandshakeResponse-43-pad)%100), func(t *testing.T) {
			var flood bytes.Buffer
			flood.WriteString("HTTP/1.1 101 Switching Protocols\r\n")      // 34 bytes
			fmt.Fprintf(&flood, "X-Pad: %s\r\n", strings.Repeat("p", pad)) // 9 + pad
			flood.Write(lines.Bytes())
			addr := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, _, err := readRequestHead(br); err != nil {
					return
				}
				c.Write(flood.Bytes())
			})
			var err error
			allocated, _ := allocatedDuring(func() {
				var conn *Conn
				conn, _, err = dialTest(t, testCtx(t), "ws://"+addr+"/", nil)
				if conn != nil {
					conn.CloseNow()
				}
			})
			if err == nil || !strings.Contains(err.Error(), "larger than") {
				t.Errorf("Dial error %v, want one saying the answer is too large", err)
			}
			// Reading 1 MiB of header lines into an http.Header costs a few
			// times 1 MiB; reading the 10 MB would cost more than 10 MB.
			if allocated > 8<<20 {
				t.Errorf("Dial allocated %d bytes against 10 MB of headers, want under 8 MiB", allocated)
			}
		})
	}
}

// TestHardeningServerHandshake documents the recommended server setup:
// http.Server.ReadHeaderTimeout closes a client that sends its handshake one
// byte every 100 ms, and MaxHeaderBytes refuses 10 MB of headers, both
// before Upgrade is ever called.
func TestHardeningServerHandshake(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.ReadHeaderTimeout = 300 * time.Millisecond
	var upgrades atomic.Int32
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upgrades.Add(1)
		if c, err := Upgrade(w, r, nil); err == nil {
			c.CloseNow()
		}
	})
	srv.Start()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()

	t.Run("slowloris", func(t *testing.T) {
		c := rawDial(t, addr)
		request := buildRequest("")
		stop := make(chan struct{})
		sent := make(chan int, 1)
		go func() {
			n := 0
			defer func() { sent <- n }()
			for ; n < len(request); n++ {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := io.WriteString(c, request[n:n+1]); err != nil {
					return
				}
			}
		}()
		c.SetReadDeadline(time.Now().Add(testWait))
		answer, err := io.ReadAll(c)
		close(stop)
		n := <-sent
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the server kept the slow client's connection open")
		}
		if n == len(request) {
			t.Errorf("the whole request went out (%d bytes) before the server closed", n)
		}
		if bytes.Contains(answer, []byte(" 101 ")) {
			t.Errorf("the server answered %q", answer)
		}
	})
	t.Run("10 MB of headers", func(t *testing.T) {
		c := rawDial(t, addr)
		go func() {
			io.WriteString(c, strings.TrimSuffix(buildRequest(""), "\r\n"))
			line := []byte("X-Flood: " + strings.Repeat("h", 1000) + "\r\n")
			for range 10 << 10 {
				if _, err := c.Write(line); err != nil {
					return
				}
			}
		}()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", resp.StatusCode)
		}
	})
	if n := upgrades.Load(); n != 0 {
		t.Errorf("the handler ran %d times for requests the server should have refused", n)
	}
}

// TestHardeningTinyFragments checks messages cut into as many frames as a
// peer likes: 200,000 one-byte fragments of UTF-8 text are read whole, with
// memory bounded by the message (not by the frame count); 1,000,000 empty
// continuation frames cost nothing per frame.
func TestHardeningTinyFragments(t *testing.T) {
	t.Run("200000 one-byte fragments", func(t *testing.T) {
		for _, streaming := range []bool{false, true} {
			t.Run(fmt.Sprintf("streaming=%v", streaming), func(t *testing.T) {
				c, raw := newRawPeer(t, false)
				text := []byte(strings.Repeat("€", 200000/3)) // runes cut across frames
				var wire bytes.Buffer
				for i, b := range text {
					b0 := byte(0x00)
					switch i {
					case 0:
						b0 = 0x01
					case len(text) - 1:
						b0 = 0x80
					}
					wire.Write(rawFrame(b0, true, []byte{b}))
				}
				go raw.Write(wire.Bytes())
				var typ MessageType
				var got []byte
				var err error
				allocated, objects := allocatedDuring(func() {
					if streaming {
						var r io.Reader
						if typ, r, err = c.NextReader(); err == nil {
							// Drop the payload in pieces, checking as it goes.
							n, i := 0, 0
							buf := make([]byte, 4096)
							for err == nil {
								var m int
								m, err = r.Read(buf)
								for _, b := range buf[:m] {
									if b != text[i] {
										err = fmt.Errorf("byte %d is %#x, want %#x", i, b, text[i])
									}
									i++
								}
								n += m
							}
							if err == io.EOF {
								err = nil
							}
							got = text[:n]
						}
						return
					}
					typ, got, err = c.ReadMessage()
				})
				if err != nil || typ != TextMessage || !bytes.Equal(got, text) {
					t.Fatalf("read %v message of %d bytes, %v; want the %d bytes of text", typ, len(got), err, len(text))
				}
				t.Logf("read %d one-byte fragments: %d bytes in %d allocations", len(text), allocated, objects)
				if allocated > 2<<20 || objects > 1000 {
					t.Errorf("reading %d one-byte fragments allocated %d bytes in %d objects; want under 2 MiB and 1000 objects", len(text), allocated, objects)
				}
			})
		}
	})
	t.Run("1000000 empty continuation frames", func(t *testing.T) {
		const frames = 1000000
		c, raw := newRawPeer(t, false)
		empty := rawFrame(0x00, true, nil)
		wire := make([]byte, 0, frames*len(empty)+32)
		wire = append(wire, rawFrame(0x02, true, []byte("a"))...)
		for range frames {
			wire = append(wire, empty...)
		}
		wire = append(wire, rawFrame(0x80, true, []byte("b"))...)
		go raw.Write(wire)
		var p []byte
		var err error
		allocated, objects := allocatedDuring(func() { _, p, err = c.ReadMessage() })
		if err != nil || string(p) != "ab" {
			t.Fatalf("ReadMessage = %q, %v; want \"ab\"", p, err)
		}
		t.Logf("read %d empty frames: %d bytes in %d allocations", frames, allocated, objects)
		if objects > 100 || allocated > 256<<10 {
			t.Errorf("reading %d empty frames allocated %d bytes in %d objects; want nothing per frame (under 100 objects, 256 KiB)", frames, allocated, objects)
		}
	})
}

// pingFlood starts a raw client that writes pings as fast as it can to c, a
// server Conn, and never reads. It returns how many bytes went out so far
// and a function that waits for the flood to end once the connection is
// gone.
func pingFlood(raw net.Conn) (*atomic.Int64, func()) {
	chunk := bytes.Repeat(rawFrame(0x89, true, bytes.Repeat([]byte("p"), 125)), 500)
	var sent atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			n, err := raw.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	return &sent, func() { raw.Close(); <-done }
}

// TestHardeningPingFlood checks a peer that floods pings and reads nothing:
// the pongs end up blocked on the full socket, and then the pings on the
// peer's; memory does not grow meanwhile, and CloseNow ends everything.
func TestHardeningPingFlood(t *testing.T) {
	c, raw := newRawPeer(t, false)
	heapBefore := heapInUse()
	var sent *atomic.Int64
	var stopFlood func()
	read := make(chan error, 1)
	floodAlloc, _ := allocatedDuring(func() {
		sent, stopFlood = pingFlood(raw)
		go func() {
			_, _, err := c.ReadMessage()
			read <- err
		}()
		if !goroutineBlocked("(*Conn).ReadMessage", "poll.(*FD).Write", "[IO wait") {
			t.Error("the reader never blocked answering a ping")
		}
		if !goroutineBlocked("pingFlood", "poll.(*FD).Write", "[IO wait") {
			t.Error("the flood never blocked on a full socket")
		}
		time.Sleep(500 * time.Millisecond) // the flood stays blocked
	})
	heapBlocked := heapInUse()
	time.Sleep(time.Second)
	heapLater := heapInUse()
	t.Logf("the peer sent %d bytes of pings before blocking; %d bytes allocated meanwhile; heap in use %d, %d, %d",
		sent.Load(), floodAlloc, heapBefore, heapBlocked, heapLater)
	for _, h := range []uint64{heapBlocked, heapLater} {
		if h > heapBefore+1<<20 {
			t.Errorf("heap in use grew from %d to %d bytes during the flood; want under 1 MiB of growth", heapBefore, h)
		}
	}
	if floodAlloc > 1<<20 {
		t.Errorf("answering %d bytes of pings allocated %d bytes; want under 1 MiB", sent.Load(), floodAlloc)
	}
	// By now the pong has been waiting past the close timeout, so the read
	// may have given up by itself; otherwise CloseNow ends it.
	c.CloseNow()
	if err := <-read; !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the read ended with %v, want an error wrapping net.ErrClosed or os.ErrDeadlineExceeded", err)
	}
	stopFlood()
	checkNoGoroutines(t)
}

// TestHardeningReadDeadlineDuringPingFlood checks that a read deadline also
// bounds the pongs a read sends: a peer that sends pings and reads nothing
// must not hold the reading goroutine past its deadline (Conn.SetReadDeadline
// covers "the control frames that reads handle"). The deadline is set once
// the read is stuck on a pong, so that the test does not depend on how fast
// TestHardeningPongToPeerThatDoesNotRead checks that a peer that floods
// pings and reads nothing cannot hold the reading goroutine: the answer
// gives up after the close timeout (1 s for newRawPeer), and the read ends
// with an error that says the peer does not read.
func TestHardeningPongToPeerThatDoesNotRead(t *testing.T) {
	c, raw := newRawPeer(t, false)
	_, stopFlood := pingFlood(raw)
	defer stopFlood()
	read := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		read <- err
	}()
	if !goroutineBlocked("(*Conn).ReadMessage", "poll.(*FD).Write", "[IO wait") {
		t.Fatal("the reader never blocked answering a ping")
	}
	select {
	case err := <-read:
		if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "does not read") {
			t.Errorf("ReadMessage = %v, want an error saying the peer does not read, wrapping os.ErrDeadlineExceeded", err)
		}
	case <-time.After(faultWait):
		c.CloseNow()
		<-read
		t.Errorf("ReadMessage was still running %v later, blocked writing a pong to a peer that reads nothing", faultWait)
	}
}

// faultKind is a way for the peer's end of the connection to fail.
type faultKind struct {
	name  string
	apply func(raw net.Conn)
}

var faults = []faultKind{
	{"vanishes", func(raw net.Conn) { raw.Close() }},
	{"resets", func(raw net.Conn) {
		raw.(*net.TCPConn).SetLinger(0) // close with RST
		raw.Close()
	}},
	{"half-closes", func(raw net.Conn) { raw.(*net.TCPConn).CloseWrite() }},
}

// blockedCall is a call that a fault test starts and waits on.
type blockedCall struct {
	name string
	read bool // a read: it must report 1006
	done chan error
}

func startCall(name string, read bool, f func() error) *blockedCall {
	call := &blockedCall{name: name, read: read, done: make(chan error, 1)}
	go func() { call.done <- f() }()
	return call
}

// checkFaultCalls waits, bounded, for every call to end after a fault, then
// closes c so that none stays behind, and checks their errors.
func checkFaultCalls(t *testing.T, c *Conn, calls []*blockedCall) {
	t.Helper()
	deadline := time.Now().Add(faultWait)
	errs := make([]error, len(calls))
	var stuck []string
	for i, call := range calls {
		select {
		case errs[i] = <-call.done:
			continue
		default:
		}
		select {
		case errs[i] = <-call.done:
		case <-time.After(time.Until(deadline)):
			stuck = append(stuck, call.name)
		}
	}
	if len(stuck) > 0 {
		t.Errorf("still blocked %v after the fault: %s", faultWait, strings.Join(stuck, ", "))
	}
	c.CloseNow() // ends the stuck calls
	for i, call := range calls {
		if slices.Contains(stuck, call.name) {
			select {
			case <-call.done:
			case <-time.After(testWait):
				t.Errorf("%s still blocked after CloseNow", call.name)
			}
			continue
		}
		err := errs[i]
		switch {
		case err == nil:
			t.Errorf("%s succeeded", call.name)
		case !strings.HasPrefix(err.Error(), "websocket: "):
			t.Errorf("%s error %q lacks the package prefix", call.name, err)
		case call.read && CloseStatus(err) != StatusAbnormalClosure:
			t.Errorf("%s error = %v; CloseStatus %v, want 1006", call.name, err, CloseStatus(err))
		default:
			t.Logf("%s: %v", call.name, err)
		}
	}
	checkNoGoroutines(t)
}

// TestHardeningFaults fails the peer's end of the connection, in each way a
// TCP connection can fail, while calls are blocked on the Conn: every one of
// them must return an error that says what happened, reads with status 1006,
// and nothing may stay behind.
func TestHardeningFaults(t *testing.T) {
	for _, fault := range faults {
		// The peer reads nothing: a write of 64 MiB is stuck on the full
		// socket, a Ping waits behind it and a read waits mid-frame.
		t.Run(fault.name+"/peer reads nothing", func(t *testing.T) {
			c, raw := newRawPeer(t, false)
			raw.Write(append(rawHeader(0x82, true, 100), maskedAt([]byte("abc"), 0)...))
			calls := []*blockedCall{
				startCall("ReadMessage", true, func() error { _, _, err := c.ReadMessage(); return err }),
				startCall("WriteMessage", false, func() error { return c.WriteMessage(BinaryMessage, make([]byte, 64<<20)) }),
			}
			if !goroutineBlocked("(*Conn).WriteMessage", "poll.(*FD).Write", "[IO wait") ||
				!goroutineBlocked("(*Conn).ReadMessage", "[IO wait") {
				t.Fatal("the calls never blocked")
			}
			calls = append(calls, startCall("Ping", false, func() error { return c.Ping(context.Background(), []byte("?")) }))
			if !goroutineBlocked("(*Conn).Ping", "[select") {
				t.Fatal("Ping never blocked")
			}
			fault.apply(raw)
			checkFaultCalls(t, c, calls)
		})
		// The peer reads everything but answers nothing: a Ping waits for
		// its pong and a reader from NextReader waits mid-frame.
		t.Run(fault.name+"/peer reads everything", func(t *testing.T) {
			c, raw := newRawPeer(t, true)
			drained := make(chan struct{})
			go func() { io.Copy(io.Discard, raw); close(drained) }()
			defer func() { raw.Close(); <-drained }()
			raw.Write(append(rawHeader(0x82, false, 100), "abc"...))
			_, r, err := c.NextReader()
			if err != nil {
				t.Fatal(err)
			}
			calls := []*blockedCall{
				startCall("NextReader's Read", true, func() error { _, err := io.ReadAll(r); return err }),
				startCall("Ping", false, func() error { return c.Ping(context.Background(), []byte("?")) }),
			}
			if !goroutineBlocked("(*Conn).Ping", "[select") ||
				!goroutineBlocked("io.ReadAll", "[IO wait") {
				t.Fatal("the calls never blocked")
			}
			fault.apply(raw)
			checkFaultCalls(t, c, calls)
		})
	}
}

// TestHardeningWriteDeadline checks that writes to a peer that stopped
// reading block, then fail at their write deadline with
// os.ErrDeadlineExceeded, and that the 64 MiB they try to send are never
// buffered: what the write allocates stays small.
func TestHardeningWriteDeadline(t *testing.T) {
	payload := make([]byte, 64<<20)
	for _, client := range []bool{false, true} {
		for _, streaming := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/streaming=%v", roleName(client), streaming), func(t *testing.T) {
				c, _ := newRawPeer(t, client)
				c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
				var err error
				allocated, _ := allocatedDuring(func() {
					if !streaming {
						err = c.WriteMessage(BinaryMessage, payload)
						return
					}
					var w io.WriteCloser
					if w, err = c.NextWriter(BinaryMessage); err != nil {
						return
					}
					for p := payload; len(p) > 0 && err == nil; p = p[min(len(p), 1<<20):] {
						_, err = w.Write(p[:min(len(p), 1<<20)])
					}
					if cerr := w.Close(); cerr == nil {
						t.Error("closing the message writer after a failed write succeeded")
					}
				})
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("write error = %v, want one wrapping os.ErrDeadlineExceeded", err)
				}
				if !strings.HasPrefix(err.Error(), "websocket: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				if allocated > 1<<20 {
					t.Errorf("writing 64 MiB to a peer that reads nothing allocated %d bytes; want under 1 MiB", allocated)
				}
				if err := c.WriteMessage(TextMessage, []byte("later")); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("a later write = %v, want the deadline error again", err)
				}
			})
		}
	}
}

// randomPieceReads is a transport whose reads return a random number of
// bytes, from 1 to what the caller asked for, as a network may.
type randomPieceReads struct {
	net.Conn
	rng *rand.Rand
}

func (r *randomPieceReads) Read(p []byte) (int, error) {
	if len(p) > 1 {
		// Mostly small pieces, sometimes whole buffers.
		n := 1 + r.rng.IntN(min(len(p), 64))
		if r.rng.IntN(32) == 0 {
			n = 1 + r.rng.IntN(len(p))
		}
		p = p[:n]
	}
	return r.Conn.Read(p)
}

// oneByteWrites is a transport that writes every byte on its own.
type oneByteWrites struct{ net.Conn }

func (w oneByteWrites) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := w.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(p), nil
}

// TestHardeningSplitTransports runs round trips of every size class, both
// APIs, pings and the closing handshake over transports that cut every read
// into random pieces or send every byte in its own write.
func TestHardeningSplitTransports(t *testing.T) {
	sizes := []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 124, 125, 126, 127, 128, 511, 512, 513,
		65535, 65536, 65537, largeBufferSize - maxHeaderSize, largeBufferSize, largeBufferSize + 1}
	transports := []struct {
		name  string
		wrap  func(c net.Conn, seed uint64) transport
		sizes []int
	}{
		{"random read pieces", func(c net.Conn, seed uint64) transport {
			return &randomPieceReads{Conn: c, rng: rand.New(rand.NewPCG(seed, 42))}
		}, append(sizes, 1<<20)},
		{"one-byte writes", func(c net.Conn, seed uint64) transport { return oneByteWrites{c} }, sizes},
	}
	for _, tr := range transports {
		for _, clientFirst := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/client-sends-first=%v", tr.name, clientFirst), func(t *testing.T) {
				a, b := tcpPair(t)
				client := newConn(tr.wrap(a, 1), nil, connConfig{client: true, closeTimeout: testWait})
				server := newConn(tr.wrap(b, 2), nil, connConfig{closeTimeout: testWait})
				t.Cleanup(func() { client.CloseNow(); server.CloseNow() })
				first, echo := server, client
				if clientFirst {
					first, echo = client, server
				}
				// The echoing side streams back what it reads, until the
				// closing handshake ends its read.
				echoed := make(chan error, 1)
				go func() {
					for {
						typ, r, err := echo.NextReader()
						if err != nil {
							echoed <- err
							return
						}
						w, err := echo.NextWriter(typ)
						if err != nil {
							echoed <- err
							return
						}
						if _, err := io.Copy(w, r); err != nil {
							echoed <- err
							return
						}
						if err := w.Close(); err != nil {
							echoed <- err
							return
						}
					}
				}()
				rng := rand.New(rand.NewPCG(3, 4))
				for i, n := range tr.sizes {
					typ := BinaryMessage
					msg := make([]byte, n)
					for j := range msg {
						msg[j] = byte(rng.Uint32())
					}
					if i%2 == 0 {
						typ = TextMessage
						msg = textOfSize(n)
					}
					streaming := i%3 == 0
					wrote := make(chan error, 1)
					go func() {
						if !streaming {
							wrote <- first.WriteMessage(typ, msg)
							return
						}
						w, err := first.NextWriter(typ)
						if err != nil {
							wrote <- err
							return
						}
						for p := msg; len(p) > 0; {
							k := min(len(p), 1+rng.IntN(3000))
							if _, err := w.Write(p[:k]); err != nil {
								wrote <- err
								return
							}
							p = p[k:]
						}
						wrote <- w.Close()
					}()
					gotType, got, err := readWhole(first, streaming)
					if err != nil {
						t.Fatalf("size %d: reading the echo: %v", n, err)
					}
					if err := <-wrote; err != nil {
						t.Fatalf("size %d: write: %v", n, err)
					}
					if gotType != typ || !bytes.Equal(got, msg) {
						t.Fatalf("size %d: echo is a %v message of %d bytes, want %v of %d", n, gotType, len(got), typ, len(msg))
					}
				}
				// A ping from the echoing side: the first side reads it
				// while it waits for the closing handshake below.
				closed := make(chan error, 1)
				go func() {
					_, _, err := first.ReadMessage()
					closed <- err
				}()
				ctx, cancel := context.WithTimeout(context.Background(), testWait)
				defer cancel()
				if err := echo.Ping(ctx, []byte("through the pieces")); err != nil {
					t.Errorf("Ping: %v", err)
				}
				if err := echo.Close(StatusNormalClosure, "done"); err != nil {
					t.Errorf("Close: %v", err)
				}
				var ce *CloseError
				if err := <-closed; !errors.As(err, &ce) || ce.Code != StatusNormalClosure || ce.Reason != "done" {
					t.Errorf("the other side's read ended with %v, want the close 1000 \"done\"", err)
				}
				if err := <-echoed; !errors.Is(err, net.ErrClosed) && CloseStatus(err) == -1 {
					t.Errorf("the echo loop ended with %v", err)
				}
			})
		}
	}
}

// textOfSize returns n bytes of UTF-8 text made of runes of every length, so
// that frame and read boundaries cut runes.
func textOfSize(n int) []byte {
	runes := []string{"é", "€", "𝄞", "x"}
	b := make([]byte, 0, n)
	for i := 0; len(b)+len(runes[i%4]) <= n; i++ {
		b = append(b, runes[i%4]...)
	}
	for len(b) < n {
		b = append(b, 'x')
	}
	return b
}

// TestHardeningMaskKeys checks the masking keys of 10,000 client frames, of
// whole messages, streamed ones and control frames, for the simple kinds of
// predictability (RFC 6455 §10.3): keys that repeat more than chance allows,
// that follow each other by a constant step, or bits that lean one way.
func TestHardeningMaskKeys(t *testing.T) {
	const n = 10000
	c, raw := newRawPeer(t, true)
	wrote := make(chan error, 1)
	go func() {
		for i := range n {
			payload := binary.BigEndian.AppendUint32(nil, uint32(i))
			var err error
			switch i % 10 {
			case 7:
				var w io.WriteCloser
				if w, err = c.NextWriter(BinaryMessage); err == nil {
					w.Write(payload)
					err = w.Close()
				}
			case 9:
				err = c.Pong(payload)
			default:
				err = c.WriteMessage(BinaryMessage, payload)
			}
			if err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	raw.SetReadDeadline(time.Now().Add(testWait))
	br := bufio.NewReader(raw)
	keys := make([]uint32, n)
	for i := range keys {
		f, err := parseRawFrame(br)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !f.masked {
			t.Fatalf("frame %d is not masked", i)
		}
		if got := binary.BigEndian.Uint32(f.payload); len(f.payload) != 4 || got != uint32(i) {
			t.Fatalf("frame %d unmasks to %x", i, f.payload)
		}
		keys[i] = binary.BigEndian.Uint32(f.key[:])
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}

	// Among 10,000 random 32-bit keys the expected number of repeats is
	// about 0.012; three or more happen with a probability near 3e-7.
	seen := make(map[uint32]bool, n)
	repeats := 0
	for _, k := range keys {
		if seen[k] {
			repeats++
		}
		seen[k] = true
	}
	if repeats > 2 {
		t.Errorf("%d repeated keys among %d", repeats, n)
	}
	// A counter, or a counter XORed with a constant, repeats its step.
	sameStep, sameXOR := 0, 0
	for i := 2; i < n; i++ {
		if keys[i]-keys[i-1] == keys[i-1]-keys[i-2] {
			sameStep++
		}
		if keys[i]^keys[i-1] == keys[i-1]^keys[i-2] {
			sameXOR++
		}
	}
	if sameStep > 2 || sameXOR > 2 {
		t.Errorf("consecutive keys repeat their difference %d times and their XOR %d times", sameStep, sameXOR)
	}
	// Each bit is set in about half the keys: 5000 ± 50 (one standard
	// deviation); 4500 and 5500 are ten deviations away.
	for bit := range 32 {
		set := 0
		for _, k := range keys {
			set += int(k >> bit & 1)
		}
		if set < 4500 || set > 5500 {
			t.Errorf("bit %d is set in %d of %d keys", bit, set, n)
		}
	}
}
