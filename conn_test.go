package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// TestMain fails the run when a test leaves a goroutine of this package, or
// a connection end, behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "FAIL: goroutines left behind:\n\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to wait for every goroutine running this
// package's code or blocked on a test connection to end, and describes those
// that did not.
func leakedGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "leakedGoroutines") || strings.Contains(g, "testing.(*M).Run") {
				continue
			}
			if strings.Contains(g, "ws6455/websocket") || strings.Contains(g, "net.(*pipe)") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var _ = bytes.Equal
var _ = errors.Is

func TestRoundTrip(t *testing.T) {
	// Around the length forms, the pooled buffer, the client's 32 KiB
	// masking pieces and the server's split of frames over two buffers.
	sizes := []int{0, 1, 125, 126, 65535, 65536, largeBufferSize - 1, largeBufferSize + maxHeaderSize,
		32<<10 + 1, 2 * largeBufferSize, 2*largeBufferSize + 1, 1 << 20}
	for _, clientSends := range []bool{true, false} {
		for _, streaming := range []bool{false, true} {
			name := fmt.Sprintf("client-sends=%v/streaming=%v", clientSends, streaming)
			t.Run(name, func(t *testing.T) {
				client, server := newPair(t, connConfig{}, connConfig{})
				from, to := server, client
				if clientSends {
					from, to = client, server
				}
				for i, n := range sizes {
					typ := MessageType(1 + i%2)
					// Bytes that differ along the message, so that a
					// piece sent twice, out of order or from the wrong
					// offset shows.
					msg := make([]byte, n)
					for j := range msg {
						msg[j] = 'a' + byte((i+j/7)%26)
					}
					errc := make(chan error, 1)
					go func() {
						if !streaming {
							errc <- from.WriteMessage(typ, msg)
							return
						}
						w, err := from.NextWriter(typ)
						if err != nil {
							errc <- err
							return
						}
						// Uneven pieces, so frame boundaries fall anywhere.
						for p := msg; len(p) > 0; {
							k := min(len(p), 1000+len(p)%777)
							if _, err := w.Write(p[:k]); err != nil {
								errc <- err
								return
							}
							p = p[k:]
						}
						errc <- w.Close()
					}()
					var got []byte
					var gotType MessageType
					var err error
					if streaming {
						var r io.Reader
						if gotType, r, err = to.NextReader(); err == nil {
							got, err = io.ReadAll(r)
						}
					} else {
						gotType, got, err = to.ReadMessage()
					}
					if err != nil {
						t.Fatalf("size %d: read: %v", n, err)
					}
					if err := <-errc; err != nil {
						t.Fatalf("size %d: write: %v", n, err)
					}
					if gotType != typ || !bytes.Equal(got, msg) {
						t.Fatalf("size %d: got %v message of %d bytes, want %v of %d", n, gotType, len(got), typ, n)
					}
				}
			})
		}
	}
}

// TestConcurrentWriters has goroutines write whole and streamed messages at
// once; the reader must get every message intact, each goroutine's in order.
func TestConcurrentWriters(t *testing.T) {
	for _, fromClient := range []bool{true, false} {
		t.Run(fmt.Sprintf("client-writes=%v", fromClient), func(t *testing.T) {
			client, server := newPair(t, connConfig{}, connConfig{})
			w, r := server, client
			if fromClient {
				w, r = client, server
			}
			const writers, perWriter = 6, 30
			errc := make(chan error, writers)
			for g := range writers {
				go func() {
					for i := range perWriter {
						// Sizes from a few bytes to past the write buffer.
						msg := fmt.Appendf(nil, "%d:%d:", g, i)
						msg = append(msg, bytes.Repeat([]byte{'A' + byte(g)}, (g*7919+i*104729)%40000)...)
						var err error
						if (g+i)%2 == 0 {
							err = w.WriteMessage(BinaryMessage, msg)
						} else {
							var mw io.WriteCloser
							if mw, err = w.NextWriter(BinaryMessage); err == nil {
								half := len(msg) / 2
								mw.Write(msg[:half])
								mw.Write(msg[half:])
								err = mw.Close()
							}
						}
						if err != nil {
							errc <- err
							return
						}
					}
					errc <- nil
				}()
			}
			// Pings from another goroutine go out between frames.
			go func() {
				for range 20 {
					w.Pong([]byte("between"))
				}
			}()
			next := make([]int, writers)
			for range writers * perWriter {
				_, p, err := r.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				var g, i int
				if _, err := fmt.Sscanf(string(p), "%d:%d:", &g, &i); err != nil {
					t.Fatalf("message starts %q: %v", p[:min(len(p), 20)], err)
				}
				if i != next[g] {
					t.Fatalf("writer %d: got message %d, want %d", g, i, next[g])
				}
				next[g]++
				body := p[len(fmt.Sprintf("%d:%d:", g, i)):]
				if len(body) != (g*7919+i*104729)%40000 || bytes.Count(body, []byte{'A' + byte(g)}) != len(body) {
					t.Fatalf("writer %d message %d is damaged", g, i)
				}
			}
			for range writers {
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestControlFramesBetweenFragments checks that a control frame goes out
// between the frames of a message being streamed (RFC 6455 §5.4).
func TestControlFramesBetweenFragments(t *testing.T) {
	c, raw := newRawPeer(t, false)
	w, err := c.NextWriter(TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("x"), largeBufferSize)); err != nil {
		t.Fatal(err)
	}
	if err := c.Pong([]byte("in between")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	want := []struct {
		b0      byte
		payload string
	}{
		{0x01, strings.Repeat("x", largeBufferSize-maxHeaderSize)},
		{0x8A, "in between"},
		{0x80, strings.Repeat("x", maxHeaderSize)},
	}
	for i, f := range want {
		b0, p, err := readRawFrame(t, raw)
		if err != nil {
			t.Fatal(err)
		}
		if b0 != f.b0 || string(p) != f.payload {
			t.Fatalf("frame %d: first byte %#x with %d bytes, want %#x with %d", i, b0, len(p), f.b0, len(f.payload))
		}
	}
}

func TestPing(t *testing.T) {
	t.Run("pong arrives", func(t *testing.T) {
		client, server := newPair(t, connConfig{}, connConfig{})
		go server.ReadMessage()
		go client.ReadMessage() // pongs are read by the reader
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, payload := range []string{"", "a", strings.Repeat("p", 125)} {
			if err := client.Ping(ctx, []byte(payload)); err != nil {
				t.Fatalf("Ping(%d bytes): %v", len(payload), err)
			}
		}
		if err := server.Ping(ctx, []byte("from server")); err != nil {
			t.Fatalf("server Ping: %v", err)
		}
	})
	t.Run("no pong", func(t *testing.T) {
		c, _ := newRawPeer(t, true)
		go c.ReadMessage()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := c.Ping(ctx, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Ping = %v, want the context's deadline", err)
		}
	})
	t.Run("payload too long", func(t *testing.T) {
		c, _ := newRawPeer(t, true)
		if err := c.Ping(context.Background(), make([]byte, 126)); err == nil {
			t.Fatal("Ping with 126 bytes succeeded")
		}
	})
	t.Run("handlers", func(t *testing.T) {
		pings := make(chan string, 1)
		pongs := make(chan string, 1)
		a, raw := tcpPair(t)
		c := newConn(a, nil, connConfig{
			pingHandler: func(c *Conn, p []byte) error { pings <- string(p); return nil },
			pongHandler: func(c *Conn, p []byte) error { pongs <- string(p); return nil },
		})
		defer c.CloseNow()
		raw.Write(rawFrame(0x89, true, []byte("ping!")))
		raw.Write(rawFrame(0x8A, true, []byte("pong!")))
		raw.Write(rawFrame(0x81, true, []byte("msg")))
		if _, p, err := c.ReadMessage(); err != nil || string(p) != "msg" {
			t.Fatalf("ReadMessage = %q, %v", p, err)
		}
		if got := <-pings; got != "ping!" {
			t.Errorf("ping handler got %q", got)
		}
		if got := <-pongs; got != "pong!" {
			t.Errorf("pong handler got %q", got)
		}
		// The ping handler replaced the automatic pong: nothing was sent.
		raw.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if n, _ := raw.Read(make([]byte, 1)); n != 0 {
			t.Error("a pong was sent although a ping handler was set")
		}
	})
}

func TestReadDeadline(t *testing.T) {
	c, _ := newRawPeer(t, true)
	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, _, err := c.ReadMessage()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read error = %v, want a deadline error", err)
	}
}

// TestPingDuringLongWrite sends pings while a large frame is being written
// to a peer that has not read it yet, for longer than the close timeout. The
// reader must not wait for the write to end, nor take the wait for a peer
// that does not read: the write's goroutine sends the answer once the frame
// is out, and only for the latest ping (RFC 6455 §5.5.3).
func TestPingDuringLongWrite(t *testing.T) {
	lw := startLongWrite(t, 100*time.Millisecond)
	lw.ping(t, "one")
	lw.ping(t, "two")
	time.Sleep(3 * lw.c.cfg.closeTimeout) // the old reader gave up after one
	lw.readFrame(t)
	if err := <-lw.wrote; err != nil {
		t.Fatalf("WriteMessage = %v", err)
	}
	if err := lw.c.WriteMessage(TextMessage, []byte("end")); err != nil {
		t.Fatal(err)
	}
	if got, want := lw.controlFramesUntil(t, 0x81), []string{"0x8a two"}; !slices.Equal(got, want) {
		t.Errorf("frames before the end message: %q, want %q", got, want)
	}
	select {
	case err := <-lw.read:
		t.Errorf("ReadMessage returned %v; the connection should be up", err)
	default:
	}
}

// TestPingBeforeCloseIsAnswered: a ping left waiting for a long write, then
// the peer's close frame. The pong goes out before the close frame that
// answers the peer's, as RFC 6455 §5.5.2 asks of a ping that came first,
// whichever of the writer and the reader gets to write first.
//
// Which of the two wins is up to the scheduler, so the first subtest tries
// several times and may still miss the reader winning; the second sets up
// that outcome directly.
func TestPingBeforeCloseIsAnswered(t *testing.T) {
	t.Run("during a long write", testPingBeforeCloseDuringLongWrite)
	t.Run("answer left waiting", func(t *testing.T) {
		c, raw := newRawPeer(t, false)
		answer := []byte("before the close")
		c.pendingPong.Store(&answer)
		sent := collectSent(t, raw, true)
		if err := c.Close(StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
		if s := <-sent; !slices.Equal(s.pongs, []string{"before the close"}) || s.code != StatusNormalClosure {
			t.Errorf("sent pongs %q, then a close frame with %v; want the waiting pong, then 1000", s.pongs, s.code)
		}
	})
}

func testPingBeforeCloseDuringLongWrite(t *testing.T) {
	for range 10 {
		lw := startLongWrite(t, time.Minute)
		lw.ping(t, "before the close")
		lw.raw.Write(rawFrame(0x88, true, []byte{0x03, 0xe8}))
		if !goroutineBlocked("(*Conn).handleClose", "(*connLock).lockSlow") {
			t.Fatal("the reader never waited to answer the close frame")
		}
		lw.readFrame(t)
		want := []string{"0x8a before the close", "0x88 \x03\xe8"}
		if got := lw.controlFramesUntil(t, 0x88); !slices.Equal(got, want) {
			t.Fatalf("frames after the data: %q, want %q", got, want)
		}
		lw.c.CloseNow()
	}
}

// longWrite is a Conn writing a 4 MiB frame to a raw peer that has read only
// its first byte, so the write holds the frame lock, and reading meanwhile.
type longWrite struct {
	c           *Conn
	raw         net.Conn
	first       []byte
	wrote, read chan error
}

func startLongWrite(t *testing.T, closeTimeout time.Duration) *longWrite {
	a, raw := tcpPair(t)
	// Small fixed socket buffers: the frame cannot be out before the peer reads.
	a.(*net.TCPConn).SetWriteBuffer(64 << 10)
	raw.(*net.TCPConn).SetReadBuffer(64 << 10)
	lw := &longWrite{
		c:     newConn(a, nil, connConfig{closeTimeout: closeTimeout}),
		raw:   raw,
		first: make([]byte, 1),
		wrote: make(chan error, 1),
		read:  make(chan error, 1),
	}
	t.Cleanup(func() { lw.c.CloseNow() })
	go func() {
		_, _, err := lw.c.ReadMessage()
		lw.read <- err
	}()
	go func() { lw.wrote <- lw.c.WriteMessage(BinaryMessage, make([]byte, 4<<20)) }()
	if _, err := io.ReadFull(raw, lw.first); err != nil || lw.first[0] != 0x82 {
		t.Fatalf("first byte %#x, %v; want a binary frame's", lw.first[0], err)
	}
	return lw
}

// ping sends a ping and waits until the reader has left its answer for the
// writer.
func (lw *longWrite) ping(t *testing.T, payload string) {
	lw.raw.Write(rawFrame(0x89, true, []byte(payload)))
	for p := lw.c.pendingPong.Load(); p == nil || string(*p) != payload; p = lw.c.pendingPong.Load() {
		select {
		case err := <-lw.read:
			t.Fatalf("ReadMessage returned while the write went on: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
}

// readFrame reads the long frame whole.
func (lw *longWrite) readFrame(t *testing.T) {
	rest := io.MultiReader(bytes.NewReader(lw.first), lw.raw)
	if b0, p, err := readRawFrame(t, rest); err != nil || b0 != 0x82 || len(p) != 4<<20 {
		t.Fatalf("frame %#x of %d bytes, %v; want the 4 MiB binary message", b0, len(p), err)
	}
}

// controlFramesUntil reads frames up to the first whose first byte is last,
// and returns the control frames among them.
func (lw *longWrite) controlFramesUntil(t *testing.T, last byte) []string {
	var frames []string
	for {
		b0, p, err := readRawFrame(t, lw.raw)
		if err != nil {
			t.Fatalf("reading frames: %v; control frames so far %q", err, frames)
		}
		if b0&0x08 != 0 {
			frames = append(frames, fmt.Sprintf("%#x %s", b0, p))
		}
		if b0 == last {
			return frames
		}
	}
}

// TestWriteDeadlineSetDuringPong sets a write deadline while the Conn is
// answering a ping by itself. The answer bounds its own write with a deadline
// of its own and then puts the user's back; it must put back the one the
// user set in the meantime, not the one from before, or a later write to a
// peer that stopped reading could block forever.
func TestWriteDeadlineSetDuringPong(t *testing.T) {
	a, raw := tcpPair(t)
	pausing := &pauseAfterPong{Conn: a, written: make(chan struct{}), release: make(chan struct{})}
	c := newConn(pausing, nil, connConfig{closeTimeout: time.Minute})
	t.Cleanup(func() { c.CloseNow() })
	go c.ReadMessage() // answers the ping
	raw.Write(rawFrame(0x89, true, []byte("ping")))
	<-pausing.written
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	close(pausing.release)
	if b0, p, err := readRawFrame(t, raw); err != nil || b0 != 0x8a || string(p) != "ping" {
		t.Fatalf("answer to the ping: %#x %q %v, want a pong", b0, p, err)
	}
	// The pong went out before the pause; the deadline now is the user's.
	if err := c.WriteMessage(BinaryMessage, []byte("late")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after the deadline passed: %v, want a deadline error", err)
	}
}

// pauseAfterPong holds the write of the first pong after the bytes are out,
// until release is closed.
type pauseAfterPong struct {
	net.Conn
	written, release chan struct{}
	paused           bool
}

func (p *pauseAfterPong) Write(b []byte) (int, error) {
	n, err := p.Conn.Write(b)
	if !p.paused && len(b) > 0 && b[0] == 0x8a {
		p.paused = true
		close(p.written)
		<-p.release
	}
	return n, err
}

// TestPingAfterWriteFailedOrDeadlinePassed: a write deadline left behind
// by an earlier write, and passed while the connection was idle, does not
// bound the Conn's own answer to a ping; and a ping that comes once writes
// have failed goes unanswered without ending reading. Before, both closed
// the connection, saying that the peer did not read.
func TestPingAfterWriteFailedOrDeadlinePassed(t *testing.T) {
	t.Run("deadline passed", func(t *testing.T) {
		c, raw := newRawPeer(t, false)
		c.SetWriteDeadline(time.Now().Add(-time.Second))
		go raw.Write(append(rawFrame(0x89, true, []byte("ping")), rawFrame(0x81, true, []byte("next"))...))
		if _, p, err := c.ReadMessage(); err != nil || string(p) != "next" {
			t.Fatalf("ReadMessage = %q, %v; want the message after the ping", p, err)
		}
		if b0, p, err := readRawFrame(t, raw); err != nil || b0 != 0x8a || string(p) != "ping" {
			t.Fatalf("answer %#x %q, %v; want a pong", b0, p, err)
		}
		// The user's own writes still meet the deadline.
		if err := c.WriteMessage(TextMessage, []byte("late")); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("WriteMessage = %v, want the deadline's error", err)
		}
	})
	t.Run("writes failed", func(t *testing.T) {
		c, raw := newRawPeer(t, false)
		c.SetWriteDeadline(time.Now().Add(-time.Second))
		if err := c.WriteMessage(TextMessage, []byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("WriteMessage = %v, want the deadline's error", err)
		}
		c.SetWriteDeadline(time.Time{})
		go raw.Write(append(rawFrame(0x89, true, []byte("ping")), rawFrame(0x81, true, []byte("next"))...))
		if _, p, err := c.ReadMessage(); err != nil || string(p) != "next" {
			t.Fatalf("ReadMessage = %q, %v; want the message after the ping", p, err)
		}
	})
}

func TestNextReaderDiscardsRest(t *testing.T) {
	c, raw := newRawPeer(t, false)
	raw.Write(rawFrame(0x01, true, []byte("first part ")))
	raw.Write(rawFrame(0x80, true, []byte("first end")))
	raw.Write(rawFrame(0x82, true, []byte("second")))
	_, r, err := c.NextReader()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	typ, p, err := c.ReadMessage()
	if err != nil || typ != BinaryMessage || string(p) != "second" {
		t.Fatalf("ReadMessage = %v %q %v, want the second message", typ, p, err)
	}
}

// TestNextReaderEOF checks the reads of a streamed message: each returns
// what one frame brings, the message's last bytes come with io.EOF, and
// reads after the end return 0 and io.EOF.
func TestNextReaderEOF(t *testing.T) {
	c, raw := newRawPeer(t, false)
	raw.Write(rawFrame(0x01, true, []byte("héllo ")))
	raw.Write(rawFrame(0x80, true, []byte("world")))
	raw.Write(rawFrame(0x82, true, []byte("one frame")))
	type read struct {
		data string
		err  error
	}
	for _, want := range [][]read{
		{{"héllo ", nil}, {"world", io.EOF}, {"", io.EOF}},
		{{"one", nil}, {" frame", io.EOF}, {"", io.EOF}},
	} {
		_, r, err := c.NextReader()
		if err != nil {
			t.Fatal(err)
		}
		// The second message is read 3 bytes first, then the rest.
		sizes := []int{64, 64, 64}
		if want[0].data == "one" {
			sizes[0] = 3
		}
		for i, w := range want {
			buf := make([]byte, sizes[i])
			n, err := r.Read(buf)
			if string(buf[:n]) != w.data || err != w.err {
				t.Fatalf("read %d = %q, %v; want %q, %v", i+1, buf[:n], err, w.data, w.err)
			}
		}
	}
}

func TestBufferedBytesBeforeFirstRead(t *testing.T) {
	for _, n := range []int{5, smallReadSize + 1, largeBufferSize + 1} {
		a, _ := tcpPair(t)
		msg := bytes.Repeat([]byte("q"), n)
		c := newConn(a, rawFrame(0x82, true, msg), connConfig{})
		_, p, err := c.ReadMessage()
		if err != nil || !bytes.Equal(p, msg) {
			t.Fatalf("%d buffered bytes: got %d bytes, %v", n, len(p), err)
		}
		c.CloseNow()
	}
}

func TestWriteChecksType(t *testing.T) {
	c, _ := newRawPeer(t, true)
	if err := c.WriteMessage(MessageType(9), nil); err == nil {
		t.Error("WriteMessage with an invalid type succeeded")
	}
	if _, err := c.NextWriter(0); err == nil {
		t.Error("NextWriter with an invalid type succeeded")
	}
}

func TestHeartbeat(t *testing.T) {
	t.Run("live peer", func(t *testing.T) {
		client, server := newPair(t, connConfig{}, connConfig{})
		go server.ReadMessage()
		go client.ReadMessage()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- client.Heartbeat(ctx, 5*time.Millisecond, 5*time.Second) }()
		// Several rounds answered, then the caller stops it.
		time.Sleep(50 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Heartbeat = %v, want nil after ctx ended", err)
		}
		if client.isClosed() {
			t.Fatal("Heartbeat closed a live connection")
		}
	})
	t.Run("silent peer", func(t *testing.T) {
		c, raw := newRawPeer(t, true) // the raw end reads nothing, answers nothing
		readErr := make(chan error, 1)
		go func() {
			_, _, err := c.ReadMessage()
			readErr <- err
		}()
		err := c.Heartbeat(context.Background(), 5*time.Millisecond, 20*time.Millisecond)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no pong") {
			t.Fatalf("Heartbeat = %v, want an error saying no pong came, wrapping context.DeadlineExceeded", err)
		}
		if !errors.Is(<-readErr, net.ErrClosed) {
			t.Fatal("the blocked read did not end when Heartbeat closed the connection")
		}
		// The peer saw pings carrying distinct payloads.
		raw.SetReadDeadline(time.Now().Add(time.Second))
		b0, p, err := readRawFrame(t, raw)
		if err != nil || b0 != 0x89 || len(p) != 8 {
			t.Fatalf("first frame %#x %q %v, want a ping with an 8-byte payload", b0, p, err)
		}
	})
	t.Run("peer that does not read", func(t *testing.T) {
		// Over net.Pipe a write waits for the peer to read, which it never
		// does: the message below holds the write side, and the ping
		// cannot be sent. Heartbeat must still give up, and close.
		a, peer := net.Pipe()
		defer peer.Close()
		c := newConn(a, nil, connConfig{})
		wrote := make(chan error, 1)
		go func() { wrote <- c.WriteMessage(BinaryMessage, make([]byte, 1000)) }()
		if !goroutineBlocked("(*Conn).WriteMessage", "(*pipe).write") {
			t.Fatal("the write never blocked")
		}
		done := make(chan error, 1)
		go func() { done <- c.Heartbeat(context.Background(), 5*time.Millisecond, 50*time.Millisecond) }()
		select {
		case err := <-done:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Heartbeat = %v, want an error wrapping os.ErrDeadlineExceeded", err)
			}
		case <-time.After(testWait):
			c.CloseNow()
			t.Fatal("Heartbeat waited for the stuck write instead of giving up at its timeout")
		}
		if err := <-wrote; !errors.Is(err, net.ErrClosed) {
			t.Errorf("the stuck write ended with %v, want an error wrapping net.ErrClosed once Heartbeat closed", err)
		}
	})
	t.Run("closing handshake under way", func(t *testing.T) {
		// CloseWrite has sent the close frame; the peer still sends a
		// message before its own close frame. Heartbeat must stop
		// without closing, or that message and the peer's close are lost.
		c, raw := newRawPeer(t, false)
		heartbeat := make(chan error, 1)
		go func() {
			for {
				b0, p, err := readRawFrame(t, raw)
				if err != nil {
					return
				}
				switch b0 {
				case 0x89:
					raw.Write(rawFrame(0x8A, true, p))
				case 0x88:
					<-heartbeat // it tried a ping after the close frame
					raw.Write(rawFrame(0x81, true, []byte("last answer")))
					raw.Write(rawFrame(0x88, true, p[:2]))
					return
				}
			}
		}()
		read := make(chan []string, 1)
		readErr := make(chan error, 1)
		go func() {
			var got []string
			for {
				_, p, err := c.ReadMessage()
				if err != nil {
					read <- got
					readErr <- err
					return
				}
				got = append(got, string(p))
			}
		}()
		var hbErr error
		go func() {
			hbErr = c.Heartbeat(context.Background(), time.Millisecond, time.Minute)
			close(heartbeat)
		}()
		if err := c.CloseWrite(StatusNormalClosure, "bye"); err != nil {
			t.Fatal(err)
		}
		if got := <-read; !slices.Equal(got, []string{"last answer"}) {
			t.Errorf("messages after CloseWrite: %q, want the peer's last answer", got)
		}
		if err := <-readErr; CloseStatus(err) != StatusNormalClosure {
			t.Errorf("read error %v, want the peer's close 1000", err)
		}
		<-heartbeat
		if !errors.Is(hbErr, net.ErrClosed) {
			t.Errorf("Heartbeat = %v, want an error wrapping net.ErrClosed", hbErr)
		}
	})
	t.Run("closed connection", func(t *testing.T) {
		c, _ := newRawPeer(t, true)
		c.CloseNow()
		if err := c.Heartbeat(context.Background(), time.Millisecond, time.Second); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Heartbeat on a closed Conn = %v", err)
		}
	})
}

func TestConnLock(t *testing.T) {
	t.Run("excludes", func(t *testing.T) {
		l := newConnLock()
		var wg sync.WaitGroup
		count := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 2000 {
					l.lock(nil, nil)
					count++ // the race detector and the total catch a second holder
					l.unlock()
				}
			}()
		}
		finished := make(chan struct{})
		go func() { wg.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Fatal("waiters still asleep after 10s: an unlock lost a wake-up")
		}
		if count != 8*2000 {
			t.Fatalf("count = %d, want %d: two goroutines held the lock at once", count, 8*2000)
		}
	})
	t.Run("waiter gives up", func(t *testing.T) {
		l := newConnLock()
		l.lock(nil, nil)
		if l.lock(nil, time.After(10*time.Millisecond)) {
			t.Fatal("lock succeeded while held, past its timeout")
		}
		done := make(chan struct{})
		close(done)
		if l.lock(done, nil) {
			t.Fatal("lock succeeded while held, after done was closed")
		}
		// Waiters that gave up leave the lock usable.
		l.unlock()
		if !l.tryLock() {
			t.Fatal("the lock is not free after its holder unlocked it")
		}
		l.unlock()
	})
	t.Run("waiter wakes", func(t *testing.T) {
		l := newConnLock()
		l.lock(nil, nil)
		got := make(chan bool)
		go func() { got <- l.lock(nil, time.After(5*time.Second)) }()
		time.Sleep(5 * time.Millisecond) // let it sleep on the lock
		l.unlock()
		if !<-got {
			t.Fatal("a waiter did not get the lock when it was unlocked")
		}
	})
}

// TestReadMessageAllocations checks that ReadMessage allocates the slice it
// returns and, once its pooled chunks are warm, nothing else, whether the
// message's size is announced, too large to trust, or spread over fragments.
func TestReadMessageAllocations(t *testing.T) {
	if raceDetectorOn() {
		t.Skip("the race detector makes sync.Pool drop items at random; .ci/run runs this test without it")
	}
	// A collection empties the pools, and a test cannot time it.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	// sync.Pool keeps one item per P where no other P can take it, so a
	// goroutine that moves between Ps misses chunks it returned. With
	// one P the test checks what it is about: that every chunk goes back
	// to its pool and is used again.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, tc := range []struct {
		name        string
		size, piece int // piece: the fragments' size, 0 for one frame
	}{
		{"16 KiB", 16 << 10, 0},
		{"200 KiB", 200 << 10, 0},
		{"1 MiB", 1 << 20, 0},
		{"300 KiB in 7 KiB fragments", 300 << 10, 7 << 10},
		{"10 B in 3 B fragments", 10, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, raw := newRawPeer(t, false)
			msg := make([]byte, tc.size)
			for i := range msg {
				msg[i] = byte(i * 7)
			}
			// The client's frames, built before anything is measured.
			var wire []byte
			if tc.piece == 0 {
				wire = rawFrame(0x82, true, msg)
			} else {
				for i := 0; i < len(msg); i += tc.piece {
					b0 := byte(0x00) // continuation
					if i == 0 {
						b0 = 0x02
					}
					if i+tc.piece >= len(msg) {
						b0 |= 0x80
					}
					wire = append(wire, rawFrame(b0, true, msg[i:min(i+tc.piece, len(msg))])...)
				}
			}
			const warm, measured = 3, 3
			go func() {
				for range warm + measured {
					if _, err := raw.Write(wire); err != nil {
						return
					}
				}
			}()
			read := func() {
				_, p, err := server.ReadMessage()
				if err != nil || !bytes.Equal(p, msg) {
					t.Fatalf("ReadMessage returned %d bytes, %v; want the %d bytes sent", len(p), err, len(msg))
				}
			}
			for range warm {
				read()
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range measured {
				read()
			}
			runtime.ReadMemStats(&after)
			if objects := after.Mallocs - before.Mallocs; objects != measured {
				t.Errorf("%d ReadMessage calls allocated %d objects (%d bytes), want one each", measured, objects, after.TotalAlloc-before.TotalAlloc)
			}
		})
	}
}

// TestConnFitsItsSizeClass guards the memory of an idle connection. Each
// connection allocates one Conn, which the allocator rounds up to a size
// class: 1,536 bytes is the class behind the 5.4 KiB per idle connection
// that benchmarks/ measured, and the next one is 1,792.
func TestConnFitsItsSizeClass(t *testing.T) {
	var c Conn
	if size := unsafe.Sizeof(c); size > 1536 {
		t.Errorf("a Conn takes %d bytes, past the 1,536-byte size class: every connection would take 256 bytes more", size)
	}
}

// raceDetectorOn reports whether the test binary was built with -race.
func raceDetectorOn() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
