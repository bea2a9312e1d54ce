package websocket

import (
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// The write path: caller -> message writer -> (mask) -> frame writer ->
// bytes. Whole messages take the message lock; each frame takes the frame
// lock, so control frames can go out between the frames of a message.

// lockFrame takes the right to put one frame on the wire. It gives up when
// the Conn closes or, if timeout is not nil, when it fires.
func (c *Conn) lockFrame(timeout <-chan time.Time) error {
	if c.frameLock.lock(c.closed, timeout) {
		return nil
	}
	if c.isClosed() {
		return errConnClosed
	}
	return fmt.Errorf("websocket: timed out waiting for another write to finish: %w", os.ErrDeadlineExceeded)
}

// unlockFrame lets go of the frame lock, and then sends the answer to a ping
// that arrived while it was held (see answerPing). Every holder checks after
// letting go, so an answer left while the lock was held cannot be stranded.
func (c *Conn) unlockFrame() {
	c.frameLock.unlock()
	if c.pendingPong.Load() != nil {
		c.sendPendingPong()
	}
}

// sendPendingPong sends the pong answerPing left, if the frame lock is free.
// A pong that cannot be written within the close timeout means a peer that
// does not read: the connection is closed, as when the reader answers.
func (c *Conn) sendPendingPong() {
	for c.pendingPong.Load() != nil && c.frameLock.tryLock() {
		if p := c.pendingPong.Swap(nil); p != nil {
			if err := c.writePong(*p); isTimeout(err) {
				c.closeTransport()
			}
		}
		c.frameLock.unlock()
	}
}

// writePong writes the answer to a ping, within the close timeout; the
// caller holds the frame lock. After the close frame, or once writes have
// failed, there is no answer to send, and nothing to report: the write that
// failed reported it.
func (c *Conn) writePong(payload []byte) error {
	if c.writable() != nil {
		return nil
	}
	return c.writeControlLocked(opPong, payload, time.Now().Add(c.cfg.closeTimeout))
}

// writeFrame writes one frame; the caller holds the frame lock. A write
// error is sticky: part of the frame may be on the wire already.
func (c *Conn) writeFrame(scratch []byte, fin bool, op opcode, p []byte) error {
	if err := c.writable(); err != nil {
		return err
	}
	if op == opClose {
		c.closeSent = true
	}
	if err := c.fw.writeFrame(scratch, fin, op, 0, p); err != nil {
		c.writeErr = c.writeFailed(err)
		return c.writeErr
	}
	return nil
}

// writeEncoded writes frames encoded already; the caller holds the frame
// lock.
func (c *Conn) writeEncoded(frames []byte) error {
	if err := c.writable(); err != nil {
		return err
	}
	if _, err := c.tr.Write(frames); err != nil {
		c.writeErr = c.writeFailed(err)
		return c.writeErr
	}
	return nil
}

// writable says why no data may be written, if so; the caller holds the
// frame lock.
func (c *Conn) writable() error {
	if c.writeErr != nil {
		return c.writeErr
	}
	if c.closeSent {
		return errCloseSent
	}
	return nil
}

func (c *Conn) writeFailed(err error) error {
	if c.isClosed() {
		return errConnClosed
	}
	return fmt.Errorf("websocket: write: %w", err)
}

// writeControl writes a control frame, between the frames of a message being
// streamed if need be. A bound above zero limits both the wait for other
// writes and the write itself: the Conn's own control frames (answers to
// pings and close frames) must not hang on a peer that stopped reading.
func (c *Conn) writeControl(op opcode, payload []byte, bound time.Duration) error {
	if len(payload) > maxControlPayload {
		return fmt.Errorf("websocket: control frame payload is %d bytes, more than 125 (RFC 6455 §5.5)", len(payload))
	}
	var deadline time.Time // one bound for the wait and the write
	if bound > 0 {
		deadline = time.Now().Add(bound)
	}
	if !c.frameLock.tryLock() {
		var timeout <-chan time.Time
		if bound > 0 {
			t := time.NewTimer(bound)
			defer t.Stop()
			timeout = t.C
		}
		if err := c.lockFrame(timeout); err != nil {
			return err
		}
	}
	defer c.unlockFrame()
	return c.writeControlLocked(op, payload, deadline)
}

// writeControlLocked is writeControl once the frame lock is held. A
// deadline, unless zero, bounds the write; so does the user's write
// deadline when it comes first, unless it has passed already: one left
// behind by an earlier write says nothing about this frame.
//
// A close frame first sends the answer to a ping still waiting for one: a
// ping that came before the close must be answered (RFC 6455 §5.5.2).
func (c *Conn) writeControlLocked(op opcode, payload []byte, deadline time.Time) error {
	if op == opClose {
		if p := c.pendingPong.Swap(nil); p != nil {
			c.writePong(*p) // a failure fails the close frame's write too
		}
	}
	if !deadline.IsZero() {
		if user := c.writeDeadline(); !user.IsZero() && user.Before(deadline) && time.Now().Before(user) {
			deadline = user
		}
		c.tr.SetWriteDeadline(deadline)
		defer c.restoreWriteDeadline()
	}
	return c.writeFrame(c.ctlBuf[:], true, op, payload)
}

// writeClose sends a close frame with payload, once, within the close
// timeout.
func (c *Conn) writeClose(payload []byte) error {
	return c.writeControl(opClose, payload, c.cfg.closeTimeout)
}

// Pong sends a pong with payload, at most 125 bytes. A Conn answers pings by
// itself; Pong is for a ping handler that wants to answer, and for
// unsolicited pongs, which RFC 6455 §5.5.3 allows as a heartbeat.
func (c *Conn) Pong(payload []byte) error {
	return c.writeControl(opPong, payload, 0)
}

func dataOpcode(t MessageType) (opcode, error) {
	switch t {
	case TextMessage:
		return opText, nil
	case BinaryMessage:
		return opBinary, nil
	}
	return 0, fmt.Errorf("websocket: %v is not a data message type", t)
}

func (c *Conn) lockMessage() error {
	if !c.msgLock.lock(c.closed, nil) {
		return errConnClosed
	}
	return nil
}

func (c *Conn) unlockMessage() { c.msgLock.unlock() }

// WriteMessage writes p as one message of type t. Uncompressed, it is one
// frame; compressed, as many as the compressed bytes fill write buffers. The
// Conn does not check that text is valid UTF-8: that is the caller's promise.
func (c *Conn) WriteMessage(t MessageType, p []byte) error {
	op, err := dataOpcode(t)
	if err != nil {
		return err
	}
	if d := c.cfg.deflate; d != nil && len(p) >= d.threshold {
		if err := c.lockMessage(); err != nil {
			return err
		}
		return c.writer.writeCompressed(op, p) // its Close unlocks the message
	}
	return c.writeWholeFrame(op, p)
}

// lockWholeMessage takes what writing a message in one frame needs: the
// frame lock, and the message lock only while a message that NextWriter
// streams has frames on the wire but not its last, since a frame of another
// message may not go out before that one ends (RFC 6455 §5.4). One lock
// instead of two takes a quarter off a server's WriteMessage of 128 bytes
// (BenchmarkWriteMessage). It reports whether it took the message lock too,
// for unlockWholeMessage.
func (c *Conn) lockWholeMessage() (bool, error) {
	if err := c.lockFrame(nil); err != nil {
		return false, err
	}
	if !c.streaming {
		return false, nil
	}
	c.unlockFrame()
	if err := c.lockMessage(); err != nil {
		return false, err
	}
	if err := c.lockFrame(nil); err != nil {
		c.unlockMessage()
		return false, err
	}
	return true, nil
}

func (c *Conn) unlockWholeMessage(withMessageLock bool) {
	c.unlockFrame()
	if withMessageLock {
		c.unlockMessage()
	}
}

// writeWholeFrame writes p as a single final frame. A server sends p from
// where it is, behind a header in the Conn's scratch; a client masks a copy,
// in a pooled buffer when p is more than a control frame's payload, 32 KiB
// at a time.
func (c *Conn) writeWholeFrame(op opcode, p []byte) error {
	withMessageLock, err := c.lockWholeMessage()
	if err != nil {
		return err
	}
	defer c.unlockWholeMessage(withMessageLock)
	scratch := c.ctlBuf[:]
	if c.cfg.client && len(p) > maxControlPayload {
		buf := maskBuffers.Get().(*[]byte)
		defer maskBuffers.Put(buf)
		scratch = *buf
	}
	return c.writeFrame(scratch, true, op, p)
}

// NextWriter starts a message of type t and returns a writer for its payload.
// The writer sends a frame each time its buffer fills and the final frame on
// Close, so a message of any size streams through a fixed buffer. Other
// NextWriter messages wait until Close. A whole message from WriteMessage or
// WritePreparedMessage may go out before this one's first frame, never
// between its frames; control frames may. The writer is valid until Close;
// it must not be used after.
//
// With compression on, a message is compressed once it reaches the
// compression threshold; one that ends below it goes out as it is.
func (c *Conn) NextWriter(t MessageType) (io.WriteCloser, error) {
	op, err := dataOpcode(t)
	if err != nil {
		return nil, err
	}
	if err := c.lockMessage(); err != nil {
		return nil, err
	}
	return c.writer.start(op), nil
}

// messageWriter is the io.WriteCloser NextWriter returns. It lives in the Conn
// so that starting a message allocates nothing, and it takes a pooled buffer
// only between its first Write and Close. The buffer keeps maxHeaderSize
// bytes free in front of the payload, so the header is built in place and the
// frame leaves in one write.
//
// Compressed, the user's bytes go into a flate.Writer, whose output comes
// back through sink into the buffer. Until it knows whether to compress, the
// writer keeps the user's bytes in the buffer as they are.
type messageWriter struct {
	c    *Conn
	op   opcode // of the next frame: the message type, then continuation
	rsv  byte   // RSV1 on the first frame of a compressed message
	buf  *[]byte
	n    int // payload bytes in the buffer, after its header room
	open bool
	err  error

	decided     bool // whether to compress this message is settled
	compressing bool
	deflater    *flate.Writer // borrowed per message, or kept for context takeover
	sink        deflateSink
}

// writeCompressed sends p as one compressed message and closes the writer.
func (w *messageWriter) writeCompressed(op opcode, p []byte) error {
	w.start(op)
	if err := w.beginCompression(); err != nil {
		w.Close()
		return err
	}
	if _, err := w.Write(p); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func (w *messageWriter) start(op opcode) *messageWriter {
	w.op, w.rsv, w.err, w.open = op, 0, nil, true
	w.decided = w.c.cfg.deflate == nil
	w.compressing = false
	return w
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if !w.open {
		return 0, errors.New("websocket: write to a closed message writer")
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.compressing {
		n, err := w.deflater.Write(p)
		if err != nil && w.err == nil {
			w.err = err
		}
		return n, w.err
	}
	if w.buf == nil {
		w.buf = largeBuffers.Get().(*[]byte)
	}
	if !w.decided && maxHeaderSize+w.n+len(p) > len(*w.buf) {
		// More than a buffer is past any sensible threshold.
		if err := w.beginCompression(); err != nil {
			return 0, err
		}
		return w.Write(p)
	}
	return w.buffer(p, 0)
}

// buffer copies p into the buffer, sending a frame each time it fills: all
// of it but its last keep bytes, which stay for the next frame.
func (w *messageWriter) buffer(p []byte, keep int) (int, error) {
	written := 0
	for len(p) > 0 {
		room := (*w.buf)[maxHeaderSize+w.n:]
		if len(room) == 0 {
			if err := w.flushFrame(false, keep); err != nil {
				return written, err
			}
			continue
		}
		m := copy(room, p)
		w.n += m
		written += m
		p = p[m:]
	}
	return written, nil
}

// beginCompression switches the message to compression. The bytes buffered
// so far go through the compressor, into a fresh buffer.
func (w *messageWriter) beginCompression() error {
	d := w.c.cfg.deflate
	w.decided, w.compressing, w.rsv = true, true, rsv1Bit
	raw, rawN := w.buf, w.n
	w.buf, w.n = largeBuffers.Get().(*[]byte), 0
	if w.deflater == nil {
		w.deflater = getFlateWriter(d.writeLevel(), &w.sink)
	}
	if raw == nil {
		return nil
	}
	defer largeBuffers.Put(raw)
	if _, err := w.deflater.Write((*raw)[maxHeaderSize : maxHeaderSize+rawN]); err != nil && w.err == nil {
		w.err = err
	}
	return w.err
}

// flushFrame sends the buffered payload but its last keep bytes as one
// frame, and moves those to the front of the buffer.
func (w *messageWriter) flushFrame(fin bool, keep int) error {
	c := w.c
	if w.buf == nil {
		w.buf = largeBuffers.Get().(*[]byte)
	}
	send := w.n - keep
	h := header{fin: fin, op: w.op, masked: c.cfg.client, length: int64(send)}
	if w.op != opContinuation {
		h.rsv = w.rsv
	}
	start := maxHeaderSize - encodedHeaderSize(send, h.masked)
	frame := (*w.buf)[start : maxHeaderSize+send]
	if h.masked {
		h.key = newMaskKey()
		maskBytes(h.key, 0, frame[maxHeaderSize-start:])
	}
	putHeader((*w.buf)[start:], h)
	if err := c.lockFrame(nil); err != nil {
		w.err = err
		return err
	}
	c.streaming = !fin
	w.err = c.writeEncoded(frame)
	c.unlockFrame()
	w.op = opContinuation
	w.n = copy((*w.buf)[maxHeaderSize:], (*w.buf)[maxHeaderSize+send:maxHeaderSize+send+keep])
	return w.err
}

// Close sends the final frame of the message and lets the next writer go.
func (w *messageWriter) Close() error {
	if !w.open {
		return errors.New("websocket: message writer closed twice")
	}
	if w.err == nil && !w.decided && w.n >= w.c.cfg.deflate.threshold {
		w.beginCompression()
	}
	if w.err == nil {
		if w.compressing {
			w.finishCompression()
		} else {
			w.flushFrame(true, 0)
		}
	}
	err := w.err
	w.releaseDeflater()
	if w.buf != nil {
		largeBuffers.Put(w.buf)
		w.buf = nil
	}
	w.open = false
	w.c.unlockMessage()
	return err
}

// finishCompression flushes the compressor and sends the final frame without
// the sync flush's 0x00 0x00 0xff 0xff, which the sink held back (RFC 7692
// §7.2.1).
func (w *messageWriter) finishCompression() {
	if err := w.deflater.Flush(); err != nil {
		if w.err == nil {
			w.err = err
		}
		return
	}
	tail := (*w.buf)[maxHeaderSize+w.n-4 : maxHeaderSize+w.n]
	if string(tail) != syncMarker {
		w.err = errors.New("websocket: compressor did not end with a sync flush")
		return
	}
	w.n -= 4
	w.flushFrame(true, 0)
}

// releaseDeflater gives a compressor borrowed for one message back to its
// pool. With context takeover the Conn keeps it, and its history, for the
// next message; after an error it is dropped, as its state is unknown.
func (w *messageWriter) releaseDeflater() {
	if w.deflater == nil {
		return
	}
	d := w.c.cfg.deflate
	switch {
	case w.err != nil:
		w.deflater = nil
	case d.writeNoContext:
		putFlateWriter(d.writeLevel(), w.deflater)
		w.deflater = nil
	}
}

// pingWaiter is a Ping waiting for its pong.
type pingWaiter struct {
	payload string
	done    chan struct{}
}

// Ping sends a ping with payload (at most 125 bytes) and waits for the pong
// that echoes it (RFC 6455 §5.5.2), until ctx ends or the Conn closes. Pongs
// are read by the reading goroutine: Ping returns only while some goroutine
// reads. Concurrent pings with the same payload are answered in order.
//
// The deadline of ctx, if any, also bounds sending the ping: the wait for
// another write to finish, and the write itself. A peer that stopped reading
// blocks writes once the socket's buffer is full; Ping then fails at the
// deadline instead of waiting with them, and a ping cut off part-way through
// fails the Conn for writing.
func (c *Conn) Ping(ctx context.Context, payload []byte) error {
	if len(payload) > maxControlPayload {
		return fmt.Errorf("websocket: ping payload is %d bytes, more than 125 (RFC 6455 §5.5)", len(payload))
	}
	var bound time.Duration
	if deadline, ok := ctx.Deadline(); ok {
		if bound = time.Until(deadline); bound <= 0 {
			return fmt.Errorf("websocket: no ping sent, the context has ended: %w", context.DeadlineExceeded)
		}
	}
	w := &pingWaiter{payload: string(payload), done: make(chan struct{})}
	c.pingMu.Lock()
	c.pings = append(c.pings, w)
	c.pingMu.Unlock()
	defer c.dropPing(w)

	if err := c.writeControl(opPing, payload, bound); err != nil {
		return err
	}
	var err error
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		err = fmt.Errorf("websocket: no pong before the context ended: %w", ctx.Err())
	case <-c.closed:
		err = errConnClosed
	case <-c.readDone:
		err = errors.New("websocket: no pong: reading has ended, so none can come")
	}
	// The pong may have come just before the end.
	select {
	case <-w.done:
		return nil
	default:
		return err
	}
}

// Heartbeat keeps watch on a connection that may die silently, as they do
// behind NATs and load balancers: every interval it pings the peer and waits
// up to timeout for the pong. When the ping cannot be sent or the pong does
// not come in time, Heartbeat closes the connection at once (a peer that
// does not answer cannot take part in a closing handshake) and returns an
// error that says so, wrapping context.DeadlineExceeded when no pong came
// and os.ErrDeadlineExceeded when the ping could not be sent (the peer does
// not read); blocked reads and writes then return. It returns nil when ctx
// ends, and an error wrapping net.ErrClosed when the Conn is closed by other
// means or its close frame was sent: it leaves a closing handshake under way
// to finish.
//
// Run it in a goroutine of its own next to the reading goroutine, which is
// the one that receives the pongs. The pings double as traffic that keeps
// idle-timeout middleboxes from dropping the connection.
func (c *Conn) Heartbeat(ctx context.Context, interval, timeout time.Duration) error {
	if interval <= 0 || timeout <= 0 {
		return errors.New("websocket: Heartbeat needs a positive interval and timeout")
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var seq [8]byte
	for n := uint64(1); ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-c.closed:
			return errConnClosed
		case <-ticker.C:
		}
		// A payload of its own, so that only the answer to this ping counts.
		binary.BigEndian.PutUint64(seq[:], n)
		pingCtx, cancel := context.WithTimeout(ctx, timeout)
		err := c.Ping(pingCtx, seq[:])
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil
		case c.isClosed(), errors.Is(err, errCloseSent):
			// Closed, or a closing handshake is under way, which ends
			// the connection by itself: closing now would cut it short.
			return err
		default:
			c.CloseNow()
			return fmt.Errorf("websocket: heartbeat failed within %v, connection closed: %w", timeout, err)
		}
	}
}

func (c *Conn) dropPing(w *pingWaiter) {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	for i, p := range c.pings {
		if p == w {
			c.pings = append(c.pings[:i], c.pings[i+1:]...)
			return
		}
	}
}

// wakePing wakes the oldest Ping waiting for a pong with this payload.
func (c *Conn) wakePing(payload []byte) {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	for i, p := range c.pings {
		if p.payload == string(payload) {
			close(p.done)
			c.pings = append(c.pings[:i], c.pings[i+1:]...)
			return
		}
	}
}
