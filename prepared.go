package websocket

import (
	"bytes"
	"compress/flate"
	"errors"
	"sync"
	"time"
)

// PreparedMessage is a message encoded once for writing to many
// connections: a broadcast then costs each server connection one write of a
// ready frame, instead of one encoding each. Compressed frames are made once
// per compressor setting, for the connections that compress each message on
// its own. It is safe for concurrent use.
//
// Connections that cannot share the encoding write the message as
// WriteMessage would: clients, which mask every frame with a key of its own,
// and connections compressing with context takeover, whose output depends on
// what each sent before.
type PreparedMessage struct {
	typ  MessageType
	op   opcode
	data []byte

	plainOnce sync.Once
	plain     []byte // the unmasked frame

	mu       sync.Mutex
	deflated map[int][]byte // unmasked compressed frames, by flate level
}

// NewPreparedMessage prepares a message of type t with payload data, which
// it keeps: the caller must not change data afterwards.
func NewPreparedMessage(t MessageType, data []byte) (*PreparedMessage, error) {
	op, err := dataOpcode(t)
	if err != nil {
		return nil, err
	}
	return &PreparedMessage{typ: t, op: op, data: data}, nil
}

// WritePreparedMessage writes pm as WriteMessage would write its type and
// payload.
func (c *Conn) WritePreparedMessage(pm *PreparedMessage) error {
	frame := c.sharedFrame(pm)
	if frame == nil {
		return c.WriteMessage(pm.typ, pm.data)
	}
	withMessageLock, err := c.lockWholeMessage()
	if err != nil {
		return err
	}
	defer c.unlockWholeMessage(withMessageLock)
	return c.writeEncoded(frame)
}

// sharedFrame returns pm's frame as this Conn sends it, encoded once for all
// connections alike, or nil when this Conn must encode pm itself.
func (c *Conn) sharedFrame(pm *PreparedMessage) []byte {
	d := c.cfg.deflate
	compress := d != nil && len(pm.data) >= d.threshold
	switch {
	case c.cfg.client || compress && !d.writeNoContext:
		return nil
	case compress:
		return pm.deflatedFrame(d.writeLevel())
	}
	return pm.plainFrame()
}

// DefaultQueueLimit is how many messages [Conn.QueuePreparedMessage] holds
// for one connection, not yet written or being written, unless the options
// say otherwise.
const DefaultQueueLimit = 256

// ErrQueueFull is returned by [Conn.QueuePreparedMessage] when the
// connection holds its queue limit of messages not yet written: the peer
// reads more slowly than messages are queued for it.
var ErrQueueFull = errors.New("websocket: send queue full: the peer reads more slowly than messages are queued for it")

// QueuePreparedMessage queues pm to be written as WritePreparedMessage
// writes it, and returns without waiting. A goroutine of the Conn writes the
// queued messages in order while there are any, and ends when the queue is
// empty. So a broadcast loop is not held up by a peer that reads slowly, and
// the messages that piled up for one peer while it was being written to
// leave together, in one system call where the frames can be shared (see
// PreparedMessage) and the transport is a plain TCP or Unix socket. That
// costs the server much less CPU per message than writing each to every
// peer in turn: broadcasting to 1,000 connections on loopback, 0.17× raw
// TCP's loop over a pre-built frame at 128 B, 0.47× at 16 KiB
// (benchmarks/results/2026-11-22-4.md).
//
// When the connection already holds the queue limit (DefaultQueueLimit, or
// QueueLimit of the options) of messages not yet written, counting the one
// being written, pm is not queued and the error is [ErrQueueFull]: the
// caller decides whether to drop the message or the peer (Close with
// [StatusPolicyViolation], say, from a goroutine of its own, since Close
// waits for the peer). An error from writing a queued message is returned by
// the calls after it, and the messages queued behind it are dropped.
// Messages written with the other methods may go out between queued ones,
// never inside one.
//
// Close lets the queued messages go out before it sends its close frame; if
// they are not all written within the close timeout, the peer is not
// reading, and Close closes the connection without a close frame. CloseNow
// drops them.
func (c *Conn) QueuePreparedMessage(pm *PreparedMessage) error {
	q := &c.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.err != nil:
		return q.err
	case c.isClosed():
		return errConnClosed
	case q.unwritten >= c.cfg.queueLimit:
		return ErrQueueFull
	}
	q.pending = append(q.pending, pm)
	q.unwritten++
	if q.idle == nil {
		q.idle = make(chan struct{})
		go c.writeQueued()
	}
	return nil
}

// sendQueue holds the messages QueuePreparedMessage accepted. Its writer
// goroutine takes the pending messages a batch at a time, so that queueing
// does not wait for writes.
type sendQueue struct {
	mu        sync.Mutex
	pending   []*PreparedMessage
	spare     []*PreparedMessage // the writer's last batch, emptied, for reuse
	unwritten int                // accepted and not yet written: pending or in the writer's batch
	err       error              // the first write error
	idle      chan struct{}      // closed when the running writer ends; nil while none runs
}

// queueWriteBytes bounds the frames gathered into one vectored write. In the
// broadcast scenario of benchmarks/ at 16 KiB, 64 KiB cost the server the
// least CPU per delivered message: about 4.2 µs, against 5.9 with 16 KiB
// and 5.2 with 256 KiB (three interleaved runs each); at 128 B the three
// were level.
const queueWriteBytes = 64 << 10

// writeQueued is the queue's writer goroutine.
func (c *Conn) writeQueued() {
	q := &c.queue
	q.mu.Lock()
	for len(q.pending) > 0 && q.err == nil {
		batch := q.pending
		q.pending, q.spare = q.spare[:0], nil
		q.mu.Unlock()
		err := c.writeBatch(batch)
		clear(batch)
		q.mu.Lock()
		q.unwritten -= len(batch)
		q.spare = batch[:0]
		if err != nil {
			q.err = err
		}
	}
	// After a write error the rest is dropped. An idle connection keeps only
	// small slices: a queue that once filled does not stay allocated.
	q.unwritten -= len(q.pending)
	clear(q.pending)
	const keep = 16
	if cap(q.pending) > keep {
		q.pending = nil
	}
	if cap(q.spare) > keep {
		q.spare = nil
	}
	q.pending = q.pending[:0]
	close(q.idle)
	q.idle = nil
	q.mu.Unlock()
}

// writeBatch writes a batch of queued messages in order. The frames encoded
// once for every connection (see sharedFrame) go out together, up to
// queueWriteBytes at a time, in one vectored write: a connection that fell a
// few messages behind, as during a burst of broadcasts, catches up in one
// system call instead of one per message.
func (c *Conn) writeBatch(batch []*PreparedMessage) error {
	list := frameLists.Get().(*[][]byte)
	frames, size := (*list)[:0], 0
	defer func() {
		clear(frames[:cap(frames)]) // the pool must not keep frames alive
		*list = frames[:0]
		frameLists.Put(list)
	}()
	for _, pm := range batch {
		frame := c.sharedFrame(pm)
		if frame == nil || size > 0 && size+len(frame) > queueWriteBytes {
			if err := c.writeFrames(frames); err != nil {
				return err
			}
			frames, size = frames[:0], 0
		}
		if frame == nil {
			if err := c.WriteMessage(pm.typ, pm.data); err != nil {
				return err
			}
			continue
		}
		frames = append(frames, frame)
		size += len(frame)
	}
	return c.writeFrames(frames)
}

// frameLists hold writeBatch's lists of frames. A list is taken for one batch
// instead of living in the Conn, whose size sets the memory of every idle
// connection (TestConnFitsItsSizeClass).
var frameLists = sync.Pool{New: func() any { return new([][]byte) }}

// writeFrames writes whole frames encoded already, in one vectored write
// where the transport can (see frameWriter.writeFrames).
func (c *Conn) writeFrames(frames [][]byte) error {
	if len(frames) == 0 {
		return nil
	}
	withMessageLock, err := c.lockWholeMessage()
	if err != nil {
		return err
	}
	defer c.unlockWholeMessage(withMessageLock)
	if len(frames) == 1 {
		return c.writeEncoded(frames[0])
	}
	if err := c.writable(); err != nil {
		return err
	}
	if err := c.fw.writeFrames(frames); err != nil {
		c.writeErr = c.writeFailed(err)
		return c.writeErr
	}
	return nil
}

// awaitQueue waits until the queue's writer ends, for at most bound if bound
// is above zero, and reports whether it did. Once the transport is closed the
// writer's writes fail at once, so the wait is then short without a bound.
func (c *Conn) awaitQueue(bound time.Duration) bool {
	c.queue.mu.Lock()
	idle := c.queue.idle
	c.queue.mu.Unlock()
	if idle == nil {
		return true
	}
	if bound <= 0 {
		<-idle
		return true
	}
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}

// plainFrame returns the unmasked frame, built by the first caller. Every
// connection of a broadcast asks for it, from as many goroutines with the
// send queue: once built, it is a read without a lock.
func (pm *PreparedMessage) plainFrame() []byte {
	pm.plainOnce.Do(func() {
		pm.plain = appendFrame(nil, header{fin: true, op: pm.op, length: int64(len(pm.data))}, pm.data)
	})
	return pm.plain
}

// deflatedFrame compresses the payload as one message with no context
// (RFC 7692 §7.2.1) and frames it with RSV1 set.
func (pm *PreparedMessage) deflatedFrame(level int) []byte {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if frame, ok := pm.deflated[level]; ok {
		return frame
	}
	var buf bytes.Buffer
	fw := getFlateWriter(level, &buf)
	fw.Write(pm.data) // a bytes.Buffer does not fail
	fw.Flush()
	putFlateWriter(level, fw)
	payload := bytes.TrimSuffix(buf.Bytes(), []byte(syncMarker))
	frame := appendFrame(nil, header{fin: true, rsv: rsv1Bit, op: pm.op, length: int64(len(payload))}, payload)
	if pm.deflated == nil {
		pm.deflated = make(map[int][]byte)
	}
	pm.deflated[level] = frame
	return frame
}

// appendFrame appends an unmasked frame to b.
func appendFrame(b []byte, h header, payload []byte) []byte {
	var hdr [maxHeaderSize]byte
	n := putHeader(hdr[:], h)
	b = append(b, hdr[:n]...)
	return append(b, payload...)
}

// writeLevel is the flate level this side compresses with.
func (d *deflateConfig) writeLevel() int {
	if d.writeHuffmanOnly {
		// The peer's window is smaller than flate's: Huffman-only blocks
		// refer to nothing, so they fit any window (RFC 7692 §7.1.2.1).
		return flate.HuffmanOnly
	}
	return d.level
}
