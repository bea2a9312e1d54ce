package websocket

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPreparedMessage broadcasts one prepared message to connections of
// every kind: server and client, uncompressed, compressed with and without
// context takeover, with a full window and a Huffman-only one. Each peer
// must read the message, and the compressed frames must really be
// compressed.
func TestPreparedMessage(t *testing.T) {
	data := []byte(strings.Repeat("broadcast to everyone ", 200))
	pm, err := NewPreparedMessage(TextMessage, data)
	if err != nil {
		t.Fatal(err)
	}
	small, _ := NewPreparedMessage(BinaryMessage, []byte("tiny"))
	configs := map[string]*deflateConfig{
		"uncompressed":          nil,
		"no context takeover":   {readNoContext: true, writeNoContext: true, readWindowBits: 15, level: 1, threshold: 64},
		"context takeover":      {readWindowBits: 15, level: 1, threshold: 64},
		"huffman only":          {readNoContext: true, writeNoContext: true, readWindowBits: 15, level: 1, threshold: 64, writeHuffmanOnly: true},
		"level 9, no takeover ": {readNoContext: true, writeNoContext: true, readWindowBits: 15, level: 9, threshold: 64},
	}
	for name, d := range configs {
		for _, fromClient := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/client-writes=%v", name, fromClient), func(t *testing.T) {
				client, server := newPair(t, connConfig{deflate: d}, connConfig{deflate: d})
				from, to := server, client
				if fromClient {
					from, to = client, server
				}
				for range 2 { // the second write reuses the encoding
					for _, m := range []*PreparedMessage{pm, small} {
						if err := from.WritePreparedMessage(m); err != nil {
							t.Fatal(err)
						}
						typ, got, err := to.ReadMessage()
						if err != nil || typ != m.typ || !bytes.Equal(got, m.data) {
							t.Fatalf("read %v %d bytes, %v; want %v %d bytes", typ, len(got), err, m.typ, len(m.data))
						}
					}
				}
			})
		}
	}
	// A server's compressed frame is cached per level and much smaller than
	// the payload; the uncompressed one is the payload plus a header.
	if f := pm.deflated[1]; len(f) == 0 || len(f) > len(data)/4 {
		t.Errorf("compressed frame is %d bytes for a %d-byte repetitive payload", len(f), len(data))
	}
	if f := pm.plain; len(f) != len(data)+4 {
		t.Errorf("plain frame is %d bytes, want %d", len(f), len(data)+4)
	}
	if _, err := NewPreparedMessage(MessageType(3), nil); err == nil {
		t.Error("NewPreparedMessage accepted an invalid type")
	}
}

// queued returns a prepared binary message whose payload says who queued it
// and its number in that sender's sequence.
func queued(t *testing.T, sender, seq int) *PreparedMessage {
	t.Helper()
	pm, err := NewPreparedMessage(BinaryMessage, fmt.Appendf(nil, "%d %d %s", sender, seq, strings.Repeat("x", seq%300)))
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

// TestQueuePreparedMessageOrder queues messages from several goroutines at
// once, in both roles, and checks that the peer reads every one, each
// sender's in the order it queued them. With compression, the messages past
// the threshold are compressed with context takeover, one at a time, while
// the smaller ones go out as frames shared by all connections, several in
// one write: a batch of queued messages mixes both.
func TestQueuePreparedMessageOrder(t *testing.T) {
	const senders, perSender = 4, 300
	for _, tc := range []struct {
		name       string
		fromClient bool
		deflate    *deflateConfig
	}{
		{"server", false, nil},
		{"client", true, nil},
		{"server compressing some", false, &deflateConfig{readWindowBits: 15, level: 1, threshold: 150}},
		{"server compressing each alone", false, &deflateConfig{readWindowBits: 15, level: 1, threshold: 150, writeNoContext: true, readNoContext: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := connConfig{queueLimit: senders * perSender, deflate: tc.deflate}
			client, server := newPair(t, cfg, cfg)
			from, to := server, client
			if tc.fromClient {
				from, to = client, server
			}
			msgs := make([][]*PreparedMessage, senders)
			for s := range msgs {
				for i := range perSender {
					msgs[s] = append(msgs[s], queued(t, s, i))
				}
			}
			errs := make(chan error, senders)
			for s := range senders {
				go func() {
					for _, pm := range msgs[s] {
						if err := from.QueuePreparedMessage(pm); err != nil {
							errs <- err
							return
						}
					}
					errs <- nil
				}()
			}
			next := make([]int, senders)
			for range senders * perSender {
				_, p, err := to.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				var s, seq int
				if _, err := fmt.Sscanf(string(p), "%d %d", &s, &seq); err != nil || s < 0 || s >= senders {
					t.Fatalf("read %q, which no sender queued", p)
				}
				if seq != next[s] || !bytes.Equal(p, msgs[s][seq].data) {
					t.Fatalf("sender %d: read its message %d (%d bytes), want message %d", s, seq, len(p), next[s])
				}
				next[s]++
			}
			for range senders {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestQueuePreparedMessageFull fills the queue of a server whose peer does
// not read, over net.Pipe, where a write waits for the reader: the queue
// accepts its limit, refuses the next with ErrQueueFull, and accepts again
// once the peer has read what was queued.
func TestQueuePreparedMessageFull(t *testing.T) {
	const limit = 3
	a, peer := net.Pipe()
	c := newConn(a, nil, connConfig{queueLimit: limit})
	defer c.CloseNow()
	defer peer.Close()
	for i := range limit {
		if err := c.QueuePreparedMessage(queued(t, 0, i)); err != nil {
			t.Fatalf("message %d of %d: %v", i+1, limit, err)
		}
	}
	if err := c.QueuePreparedMessage(queued(t, 0, limit)); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("queueing past the limit = %v, want ErrQueueFull", err)
	}
	for i := range limit {
		_, p, err := readRawFrame(t, peer)
		if want := queued(t, 0, i).data; err != nil || !bytes.Equal(p, want) {
			t.Fatalf("peer read %q, %v; want %q", p, err, want)
		}
	}
	c.awaitQueue(0)
	if err := c.QueuePreparedMessage(queued(t, 0, limit)); err != nil {
		t.Fatalf("queueing after the peer read everything: %v", err)
	}
	if _, p, err := readRawFrame(t, peer); err != nil || !bytes.Equal(p, queued(t, 0, limit).data) {
		t.Fatalf("peer read %q, %v; want the message queued last", p, err)
	}
}

// TestQueuePreparedMessageClose checks what closing does to queued
// messages: Close sends them before its close frame; CloseNow drops them,
// ends the writer goroutine even while it is stuck writing to a peer that
// does not read, and later calls fail.
func TestQueuePreparedMessageClose(t *testing.T) {
	t.Run("Close", func(t *testing.T) {
		a, peer := net.Pipe()
		c := newConn(a, nil, connConfig{closeTimeout: testWait})
		defer peer.Close()
		const n = 5
		for i := range n {
			if err := c.QueuePreparedMessage(queued(t, 0, i)); err != nil {
				t.Fatal(err)
			}
		}
		closed := make(chan error, 1)
		go func() { closed <- c.Close(StatusNormalClosure, "bye") }()
		for i := range n {
			b0, p, err := readRawFrame(t, peer)
			if want := queued(t, 0, i).data; err != nil || b0 != 0x82 || !bytes.Equal(p, want) {
				t.Fatalf("frame %d: %#x %q, %v; want binary %q before the close frame", i, b0, p, err, want)
			}
		}
		b0, p, err := readRawFrame(t, peer)
		if err != nil || b0 != 0x88 || string(p[2:]) != "bye" {
			t.Fatalf("after the queued messages: %#x %q, %v; want the close frame", b0, p, err)
		}
		peer.Write(rawFrame(0x88, true, p))
		if err := <-closed; err != nil {
			t.Errorf("Close = %v", err)
		}
		checkNoGoroutines(t)
	})
	t.Run("Close, peer that does not read", func(t *testing.T) {
		a, peer := net.Pipe()
		c := newConn(a, nil, connConfig{closeTimeout: 50 * time.Millisecond})
		defer peer.Close()
		for i := range 5 {
			if err := c.QueuePreparedMessage(queued(t, 0, i)); err != nil {
				t.Fatal(err)
			}
		}
		closed := make(chan error, 1)
		go func() { closed <- c.Close(StatusNormalClosure, "") }()
		select {
		case err := <-closed:
			if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "queued messages") {
				t.Errorf("Close = %v, want an error about the queued messages, wrapping os.ErrDeadlineExceeded", err)
			}
		case <-time.After(testWait):
			c.CloseNow()
			t.Fatal("Close did not give up on a queue that does not empty")
		}
		checkNoGoroutines(t)
	})
	t.Run("CloseNow", func(t *testing.T) {
		a, peer := net.Pipe()
		c := newConn(a, nil, connConfig{})
		defer peer.Close()
		for i := range 5 {
			if err := c.QueuePreparedMessage(queued(t, 0, i)); err != nil {
				t.Fatal(err)
			}
		}
		if !goroutineBlocked("(*Conn).writeQueued", "(*pipe).write") {
			t.Fatal("the queue's writer never blocked on the peer that does not read")
		}
		c.CloseNow()
		checkNoGoroutines(t)
		if err := c.QueuePreparedMessage(queued(t, 0, 5)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("queueing after CloseNow = %v, want an error wrapping net.ErrClosed", err)
		}
	})
}

// TestQueuePreparedMessageRaceWithClose queues from several goroutines while
// another closes the connection: every call returns (nil, ErrQueueFull or a
// closed-connection error), the peer reads each sender's messages in order
// up to the close, and no goroutine is left behind.
func TestQueuePreparedMessageRaceWithClose(t *testing.T) {
	for _, closeNow := range []bool{false, true} {
		t.Run(fmt.Sprintf("CloseNow=%v", closeNow), func(t *testing.T) {
			client, server := newPair(t, connConfig{queueLimit: 64}, connConfig{queueLimit: 64})
			const senders, perSender = 4, 500
			msgs := make([][]*PreparedMessage, senders)
			for s := range msgs {
				for i := range perSender {
					msgs[s] = append(msgs[s], queued(t, s, i))
				}
			}
			var wg sync.WaitGroup
			for s := range senders {
				wg.Go(func() {
					for _, pm := range msgs[s] {
						err := server.QueuePreparedMessage(pm)
						if err != nil && !errors.Is(err, ErrQueueFull) && !errors.Is(err, net.ErrClosed) {
							t.Errorf("QueuePreparedMessage = %v", err)
							return
						}
					}
				})
			}
			wg.Go(func() {
				if closeNow {
					server.CloseNow()
				} else {
					server.Close(StatusGoingAway, "")
				}
			})
			next := make([]int, senders)
			for {
				_, p, err := client.ReadMessage()
				if err != nil {
					break
				}
				var s, seq int
				if _, err := fmt.Sscanf(string(p), "%d %d", &s, &seq); err != nil || s < 0 || s >= senders {
					t.Fatalf("read %q, which no sender queued", p)
				}
				if seq < next[s] {
					t.Fatalf("sender %d: message %d after message %d", s, seq, next[s]-1)
				}
				next[s] = seq + 1
			}
			wg.Wait()
			client.CloseNow()
			checkNoGoroutines(t)
		})
	}
}

// TestQueuePreparedMessageBatches checks that messages queued while the
// writer is held up leave together: on a TCP connection, 200 small messages
// in a few write system calls, not 200.
func TestQueuePreparedMessageBatches(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts the process's write system calls in /proc/self/io, which only Linux has")
	}
	client, server := newPair(t, connConfig{}, connConfig{})
	// A streamed message, a frame of it sent and more to come, holds the
	// queue's writer back while messages pile up behind it.
	w, err := server.NextWriter(BinaryMessage)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(make([]byte, largeBufferSize+1))
	const n = 200
	for i := range n {
		if err := server.QueuePreparedMessage(queued(t, 0, i)); err != nil {
			t.Fatal(err)
		}
	}
	before := writeSyscalls(t)
	w.Close()
	for i := range n + 1 {
		if _, _, err := client.ReadMessage(); err != nil {
			t.Fatalf("reading message %d: %v", i, err)
		}
	}
	if writes := writeSyscalls(t) - before; writes > n/10 {
		t.Errorf("the streamed message's end and %d queued messages took %d write system calls, want a few", n, writes)
	}
}

// writeSyscalls returns how many write system calls the process has made.
func writeSyscalls(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if n, ok := strings.CutPrefix(line, "syscw: "); ok {
			count, err := strconv.Atoi(strings.TrimSpace(n))
			if err != nil {
				t.Fatal(err)
			}
			return count
		}
	}
	t.Fatalf("no syscw line in /proc/self/io:\n%s", b)
	return 0
}
