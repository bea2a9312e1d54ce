package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// MessageType is the type of a data message (RFC 6455 §5.6). The zero value
// is not a valid type.
type MessageType int

const (
	TextMessage   MessageType = 1 // UTF-8 text; the Conn validates it on both sides
	BinaryMessage MessageType = 2
)

func (t MessageType) String() string {
	switch t {
	case TextMessage:
		return "text"
	case BinaryMessage:
		return "binary"
	}
	return fmt.Sprintf("MessageType(%d)", int(t))
}

const (
	// DefaultReadLimit is the largest message a Conn reads unless told
	// otherwise: big enough for any chat or game message, small enough that
	// a peer cannot make a server hold much memory per connection.
	DefaultReadLimit = 16 << 20
	// DefaultCloseTimeout bounds each wait of the closing handshake: for the
	// peer's close frame, and on a client for the server to close TCP.
	DefaultCloseTimeout = 5 * time.Second
)

// transport is the byte stream under a Conn: a hijacked net.Conn over
// HTTP/1.1, or a request body and response writer over HTTP/2. Nothing above
// this seam knows which.
type transport interface {
	io.ReadWriteCloser
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}

// A net.Conn is the transport of HTTP/1.1 connections.
var _ transport = net.Conn(nil)

// connConfig is what Upgrade and Dial hand to newConn, defaults applied.
type connConfig struct {
	client       bool
	subprotocol  string
	readLimit    int64
	closeTimeout time.Duration
	pingHandler  func(c *Conn, payload []byte) error
	pongHandler  func(c *Conn, payload []byte) error
}

func (cfg *connConfig) applyDefaults() {
	if cfg.readLimit <= 0 {
		cfg.readLimit = DefaultReadLimit
	}
	if cfg.closeTimeout <= 0 {
		cfg.closeTimeout = DefaultCloseTimeout
	}
}

// Conn is a WebSocket connection, made by [Upgrade] on a server or by [Dial]
// on a client.
//
// Concurrency: one goroutine at a time may read (ReadMessage, NextReader and
// the reader it returns). Any number of goroutines may write at once
// (WriteMessage, NextWriter, Ping): whole messages are serialized, and
// control frames go out between the frames of a message being streamed.
// Close, CloseNow, Ping, the deadline setters and the address getters are
// safe to call from any goroutine.
//
// Control frames are handled by the reading goroutine: pings are answered,
// pongs wake [Conn.Ping], and a close frame is answered and ends reading. A
// Conn whose peer sends only control frames therefore needs a reader too.
type Conn struct {
	cfg connConfig
	tr  transport

	// Read side: guarded by readLock, held by the one reader or by Close
	// when nobody reads.
	readLock      chan struct{}
	fr            frameReader
	readLimit     atomic.Int64
	frame         header // the data frame being read
	frameLeft     int64  // its payload bytes not yet read
	maskPos       int    // the masking key position of its next byte
	msgOpen       bool   // a data message has started and not ended
	msgText       bool
	msgSize       int64
	utf8          utf8Validator
	readErr       error // once set, every read returns it
	closeReceived bool
	reader        messageReader
	control       [maxControlPayload]byte

	// Write side.
	msgLock   chan struct{} // held for a whole data message
	frameLock chan struct{} // held for one frame; guards the fields below
	fw        frameWriter
	closeSent bool
	writeErr  error // once set, every write returns it
	ctlBuf    [maxHeaderSize + maxControlPayload]byte
	writer    messageWriter

	closeOnce sync.Once
	closed    chan struct{} // closed once the transport is closed

	pingMu sync.Mutex
	pings  []*pingWaiter
}

func newConn(tr transport, buffered []byte, cfg connConfig) *Conn {
	cfg.applyDefaults()
	c := &Conn{
		cfg:       cfg,
		tr:        tr,
		readLock:  make(chan struct{}, 1),
		msgLock:   make(chan struct{}, 1),
		frameLock: make(chan struct{}, 1),
		closed:    make(chan struct{}),
	}
	c.fr.init(tr, buffered)
	c.fw = frameWriter{dst: tr, client: cfg.client}
	c.readLimit.Store(cfg.readLimit)
	c.reader.c = c
	c.writer.c = c
	return c
}

// Subprotocol returns the subprotocol the handshake agreed on, or "".
func (c *Conn) Subprotocol() string { return c.cfg.subprotocol }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.tr.LocalAddr() }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.tr.RemoteAddr() }

// SetReadDeadline sets the deadline for reads, and for the control frames
// that reads handle. A read that times out fails the Conn for reading: the
// next frame may have been cut in two.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.tr.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for writes. A write that times out may
// have left part of a frame on the wire, so it fails the Conn for writing.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.tr.SetWriteDeadline(t) }

// SetReadLimit sets the largest message the Conn will read, in bytes. A
// larger message fails the connection with StatusMessageTooBig (1009) as soon
// as a frame header announces it. A limit of 0 or less restores
// DefaultReadLimit.
func (c *Conn) SetReadLimit(n int64) {
	if n <= 0 {
		n = DefaultReadLimit
	}
	c.readLimit.Store(n)
}

// errConnClosed is what reads and writes return once the Conn was closed on
// this side. It wraps net.ErrClosed.
var errConnClosed = fmt.Errorf("websocket: connection closed: %w", net.ErrClosed)

// errCloseSent is what writes return once a close frame has been sent.
var errCloseSent = errors.New("websocket: close frame already sent; no more messages may be written")

// failError is the error of a read that failed the connection because the
// peer broke the protocol (RFC 6455 §7.1.7); code is the status sent.
type failError struct {
	code StatusCode
	err  error
}

func (e *failError) Error() string {
	return fmt.Sprintf("websocket: %v; closing with status %v", e.err, e.code)
}

func (e *failError) Unwrap() error { return e.err }

// abnormalClosure is the error of a read when the connection ended without a
// close frame. CloseStatus reports it as StatusAbnormalClosure (1006), the
// code RFC 6455 §7.1.5 gives that case.
type abnormalClosure struct{ err error }

func (e *abnormalClosure) Error() string {
	return "websocket: connection lost without a close frame (status 1006): " + e.err.Error()
}

func (e *abnormalClosure) Unwrap() error { return e.err }

func (e *abnormalClosure) As(target any) bool {
	if ce, ok := target.(**CloseError); ok {
		*ce = &CloseError{Code: StatusAbnormalClosure}
		return true
	}
	return false
}

// isClosed reports whether the transport has been closed on this side.
func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// closeTransport closes the TCP connection (or its stand-in) once. Blocked
// reads and writes return.
func (c *Conn) closeTransport() {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.tr.Close()
	})
}

// readFailed records a transport read error as the Conn's read error.
func (c *Conn) readFailed(err error) error {
	switch {
	case c.isClosed():
		err = errConnClosed
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		err = &abnormalClosure{err: err}
	default:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			err = &abnormalClosure{err: err}
		} else {
			err = fmt.Errorf("websocket: read: %w", err)
		}
	}
	if c.readErr == nil {
		c.readErr = err
	}
	return c.readErr
}

func (c *Conn) lockRead()   { c.readLock <- struct{}{} }
func (c *Conn) unlockRead() { <-c.readLock }

// NextReader returns the type of the next data message and a reader of its
// payload. The payload streams: nothing is buffered beyond one frame read.
// Text is checked as it arrives and a read fails with StatusInvalidPayload
// (1007) at the first byte that cannot be valid UTF-8. The reader returns
// io.EOF at the end of the message and is valid until the next call to
// NextReader or ReadMessage, which discard what is left of it.
func (c *Conn) NextReader() (MessageType, io.Reader, error) {
	c.lockRead()
	defer c.unlockRead()
	t, err := c.nextMessage()
	if err != nil {
		return 0, nil, err
	}
	return t, &c.reader, nil
}

// ReadMessage reads the next data message whole. The returned slice is the
// caller's. Like NextReader, it fails as soon as text turns out invalid and
// before a message grows past the read limit.
func (c *Conn) ReadMessage() (MessageType, []byte, error) {
	c.lockRead()
	defer c.unlockRead()
	t, err := c.nextMessage()
	if err != nil {
		return 0, nil, err
	}
	// A single frame announces the message's size, but a length field is
	// only a claim: allocate up front no more than a peer can make us hold
	// for free, and grow as bytes really arrive.
	const trustedSize = 64 << 10
	size := int64(smallReadSize)
	if c.frame.fin {
		size = min(c.frameLeft, trustedSize)
	}
	b := make([]byte, 0, size)
	for {
		if !c.msgOpen || c.frameLeft == 0 && c.frame.fin {
			if err := c.endMessage(); err != nil {
				return 0, nil, err
			}
			return t, b, nil
		}
		if len(b) == cap(b) {
			grow := int64(cap(b))
			if c.frame.fin && c.frameLeft < grow {
				grow = c.frameLeft
			}
			b = append(b, make([]byte, max(grow, 1))...)[:len(b)]
		}
		n, err := c.readPayload(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil && err != io.EOF {
			return 0, nil, err
		}
	}
}

// messageReader is the io.Reader NextReader returns. It lives in the Conn so
// that starting a message allocates nothing.
type messageReader struct{ c *Conn }

func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	c.lockRead()
	defer c.unlockRead()
	return c.readPayload(p)
}

// nextMessage discards what is left of the current message and reads up to
// the first frame of the next one, handling control frames on the way.
func (c *Conn) nextMessage() (MessageType, error) {
	if c.readErr != nil {
		return 0, c.readErr
	}
	if c.msgOpen {
		if err := c.discardMessage(); err != nil {
			return 0, err
		}
	}
	if err := c.advanceFrame(); err != nil {
		return 0, err
	}
	if c.msgText {
		return TextMessage, nil
	}
	return BinaryMessage, nil
}

// discardMessage reads the rest of the current message and drops it. Text is
// still validated: the peer may not send invalid UTF-8 even if nobody reads it.
func (c *Conn) discardMessage() error {
	scratch := largeBuffers.Get().(*[]byte)
	defer largeBuffers.Put(scratch)
	for {
		_, err := c.readPayload(*scratch)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readPayload reads the current message's payload into p, moving on to the
// message's next frame when one ends, and returns io.EOF at its end.
func (c *Conn) readPayload(p []byte) (int, error) {
	if c.readErr != nil {
		return 0, c.readErr
	}
	for c.frameLeft == 0 {
		if !c.msgOpen {
			return 0, io.EOF
		}
		if c.frame.fin {
			if err := c.endMessage(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		if err := c.advanceFrame(); err != nil {
			return 0, err
		}
	}
	if int64(len(p)) > c.frameLeft {
		p = p[:c.frameLeft]
	}
	n, err := c.fr.read(p)
	if n > 0 {
		if c.frame.masked {
			c.maskPos = maskBytes(c.frame.key, c.maskPos, p[:n])
		}
		c.frameLeft -= int64(n)
		// RFC 6455 §8.1: invalid text fails the connection, and the sooner
		// the better: check each piece as it comes off the wire.
		if c.msgText && !c.utf8.write(p[:n]) {
			return 0, c.fail(StatusInvalidPayload, errors.New("text message is not valid UTF-8"))
		}
		if c.frameLeft == 0 && c.frame.fin {
			if err := c.endMessage(); err != nil {
				return 0, err
			}
		}
		return n, nil
	}
	if err != nil {
		return 0, c.readFailed(err)
	}
	return 0, nil
}

// endMessage closes the current message after its last byte.
func (c *Conn) endMessage() error {
	if !c.msgOpen {
		return nil
	}
	c.msgOpen = false
	if c.msgText && !c.utf8.complete() {
		return c.fail(StatusInvalidPayload, errors.New("text message ends inside a UTF-8 sequence"))
	}
	c.fr.release()
	return nil
}

// skipFrame reads the next frame and drops its payload; control frames are
// handled as usual. Close uses it to wait for the peer's close frame.
func (c *Conn) skipFrame() error {
	if err := c.advanceFrame(); err != nil {
		return err
	}
	for c.frameLeft > 0 {
		n := min(c.frameLeft, int64(len(c.control)))
		if _, err := io.ReadFull(readerFunc(c.fr.read), c.control[:n]); err != nil {
			return c.readFailed(err)
		}
		c.frameLeft -= n
	}
	c.msgOpen = !c.frame.fin
	return nil
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// advanceFrame reads frame headers until the next data frame, handling the
// control frames before it, and checks each header against the rules of RFC
// 6455 §5. On return c.frame is the data frame and its payload is next.
func (c *Conn) advanceFrame() error {
	for {
		h, err := c.fr.readHeader()
		if err != nil {
			if errors.Is(err, errLengthTopBit) || errors.Is(err, errLengthForm) {
				return c.fail(StatusProtocolError, err)
			}
			return c.readFailed(err)
		}
		if err := c.checkHeader(h); err != nil {
			return c.fail(StatusProtocolError, err)
		}
		if h.op.isControl() {
			if err := c.handleControl(h); err != nil {
				return err
			}
			continue
		}
		if limit := c.readLimit.Load(); c.msgSizeAfter(h) > limit {
			return c.fail(StatusMessageTooBig, fmt.Errorf("message is over the read limit of %d bytes", limit))
		}
		if h.op != opContinuation {
			c.msgOpen = true
			c.msgText = h.op == opText
			c.msgSize = 0
			c.utf8.reset()
		}
		c.msgSize += h.length
		c.frame = h
		c.frameLeft = h.length
		c.maskPos = 0
		return nil
	}
}

func (c *Conn) msgSizeAfter(h header) int64 {
	if h.op == opContinuation {
		return c.msgSize + h.length
	}
	return h.length
}

// checkHeader applies the rules of RFC 6455 §5 that depend on the
// connection: masking by role, reserved bits, opcodes, control frame limits
// and the order of fragments.
func (c *Conn) checkHeader(h header) error {
	switch {
	case c.cfg.client && h.masked:
		return errors.New("server sent a masked frame (RFC 6455 §5.1)")
	case !c.cfg.client && !h.masked:
		return errors.New("client sent an unmasked frame (RFC 6455 §5.1)")
	case h.rsv != 0:
		return fmt.Errorf("reserved bits %#x set without a negotiated extension (RFC 6455 §5.2)", h.rsv>>4)
	case !h.op.known():
		return fmt.Errorf("unknown opcode %#x (RFC 6455 §5.2)", byte(h.op))
	case h.op.isControl() && !h.fin:
		return errors.New("fragmented control frame (RFC 6455 §5.5)")
	case h.op.isControl() && h.length > maxControlPayload:
		return fmt.Errorf("control frame with a %d-byte payload, over 125 (RFC 6455 §5.5)", h.length)
	case h.op == opContinuation && !c.msgOpen:
		return errors.New("continuation frame with no message to continue (RFC 6455 §5.4)")
	case (h.op == opText || h.op == opBinary) && c.msgOpen:
		return errors.New("new data frame before the previous message's final fragment (RFC 6455 §5.4)")
	}
	return nil
}

// handleControl reads a control frame's payload and acts on it (RFC 6455
// §5.5): a ping is answered, a pong wakes Ping, a close ends reading.
func (c *Conn) handleControl(h header) error {
	payload := c.control[:h.length]
	if _, err := io.ReadFull(readerFunc(c.fr.read), payload); err != nil {
		return c.readFailed(err)
	}
	if h.masked {
		maskBytes(h.key, 0, payload)
	}
	switch h.op {
	case opPing:
		if c.readErr != nil {
			return nil // closing: no more answers
		}
		if c.cfg.pingHandler != nil {
			return c.cfg.pingHandler(c, payload)
		}
		// RFC 6455 §5.5.3: the pong carries the ping's payload. An error
		// here means the write side is broken; reads find out on their own.
		c.Pong(payload)
	case opPong:
		c.wakePing(payload)
		if c.cfg.pongHandler != nil && c.readErr == nil {
			return c.cfg.pongHandler(c, payload)
		}
	case opClose:
		return c.handleClose(payload)
	}
	return nil
}

// handleClose answers the peer's close frame (RFC 6455 §5.5.1) with the same
// code, or 1000 when it had none, unless this side already sent one, and then
// ends the connection.
func (c *Conn) handleClose(payload []byte) error {
	ce, err := parseClosePayload(payload)
	if err != nil {
		c.closeReceived = true
		return c.fail(StatusProtocolError, err)
	}
	c.closeReceived = true
	code := ce.Code
	if code == StatusNoStatusReceived {
		code = StatusNormalClosure
	}
	reply, _ := appendClosePayload(c.ctlReplyBuf(), code, "")
	c.writeClose(reply, nil)
	c.finishClose()
	if c.readErr == nil {
		c.readErr = ce
	}
	return c.readErr
}

// ctlReplyBuf is scratch space for the reply to a close frame, which the read
// side builds; payload bytes of the frame it answers have been parsed already.
func (c *Conn) ctlReplyBuf() []byte { return c.control[:0] }

// lockFrame takes the right to put one frame on the wire. It gives up when
// the Conn closes or, if timeout is not nil, when it fires.
func (c *Conn) lockFrame(timeout <-chan time.Time) error {
	select {
	case c.frameLock <- struct{}{}:
		return nil
	case <-c.closed:
		return errConnClosed
	case <-timeout:
		return errors.New("websocket: timed out waiting for another write to finish")
	}
}

func (c *Conn) unlockFrame() { <-c.frameLock }

// writeFrame writes one frame; the caller holds the frame lock. A write
// error is sticky: part of the frame may be on the wire already.
func (c *Conn) writeFrame(scratch []byte, fin bool, op opcode, p []byte) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	if c.closeSent {
		return errCloseSent
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

func (c *Conn) writeFailed(err error) error {
	if c.isClosed() {
		return errConnClosed
	}
	return fmt.Errorf("websocket: write: %w", err)
}

// writeControl writes a control frame, between the frames of a message being
// streamed if need be.
func (c *Conn) writeControl(op opcode, payload []byte, timeout <-chan time.Time) error {
	if len(payload) > maxControlPayload {
		return fmt.Errorf("websocket: control frame payload is %d bytes, more than 125 (RFC 6455 §5.5)", len(payload))
	}
	if err := c.lockFrame(timeout); err != nil {
		return err
	}
	defer c.unlockFrame()
	return c.writeFrame(c.ctlBuf[:], true, op, payload)
}

// writeClose sends a close frame with payload, once.
func (c *Conn) writeClose(payload []byte, timeout <-chan time.Time) error {
	return c.writeControl(opClose, payload, timeout)
}

// Pong sends a pong with payload, at most 125 bytes. A Conn answers pings by
// itself; Pong is for a ping handler that wants to answer, and for
// unsolicited pongs, which RFC 6455 §5.5.3 allows as a heartbeat.
func (c *Conn) Pong(payload []byte) error {
	return c.writeControl(opPong, payload, nil)
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
	select {
	case c.msgLock <- struct{}{}:
		return nil
	case <-c.closed:
		return errConnClosed
	}
}

func (c *Conn) unlockMessage() { <-c.msgLock }

// WriteMessage writes p as one message of type t, in one frame. The Conn does
// not check that text is valid UTF-8: that is the caller's promise.
func (c *Conn) WriteMessage(t MessageType, p []byte) error {
	op, err := dataOpcode(t)
	if err != nil {
		return err
	}
	if err := c.lockMessage(); err != nil {
		return err
	}
	defer c.unlockMessage()
	if err := c.lockFrame(nil); err != nil {
		return err
	}
	defer c.unlockFrame()
	scratch := c.ctlBuf[:]
	if len(p) > maxControlPayload {
		buf := largeBuffers.Get().(*[]byte)
		defer largeBuffers.Put(buf)
		scratch = *buf
	}
	return c.writeFrame(scratch, true, op, p)
}

// NextWriter starts a message of type t and returns a writer for its payload.
// The writer sends a frame each time its buffer fills and the final frame on
// Close, so a message of any size streams through a fixed buffer. Other
// writers wait until Close; control frames do not. The writer is valid until
// Close; it must not be used after.
func (c *Conn) NextWriter(t MessageType) (io.WriteCloser, error) {
	op, err := dataOpcode(t)
	if err != nil {
		return nil, err
	}
	if err := c.lockMessage(); err != nil {
		return nil, err
	}
	w := &c.writer
	w.op = op
	w.err = nil
	w.open = true
	return w, nil
}

// messageWriter is the io.WriteCloser NextWriter returns. It lives in the Conn
// so that starting a message allocates nothing, and it takes a pooled buffer
// only between its first Write and Close. The buffer keeps maxHeaderSize
// bytes free in front of the payload, so the header is built in place and the
// frame leaves in one write.
type messageWriter struct {
	c    *Conn
	op   opcode // of the next frame: the message type, then continuation
	buf  *[]byte
	n    int // payload bytes in the buffer, after its header room
	open bool
	err  error
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if !w.open {
		return 0, errors.New("websocket: write to a closed message writer")
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.buf == nil {
		w.buf = largeBuffers.Get().(*[]byte)
	}
	written := 0
	for len(p) > 0 {
		room := (*w.buf)[maxHeaderSize+w.n:]
		if len(room) == 0 {
			if err := w.flush(false); err != nil {
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

// flush sends the buffered payload as one frame.
func (w *messageWriter) flush(fin bool) error {
	c := w.c
	if w.buf == nil {
		w.buf = largeBuffers.Get().(*[]byte)
	}
	h := header{fin: fin, op: w.op, masked: c.cfg.client, length: int64(w.n)}
	start := maxHeaderSize - encodedHeaderSize(w.n, h.masked)
	frame := (*w.buf)[start : maxHeaderSize+w.n]
	if h.masked {
		h.key = newMaskKey()
		maskBytes(h.key, 0, frame[maxHeaderSize-start:])
	}
	putHeader((*w.buf)[start:], h)
	if err := c.lockFrame(nil); err != nil {
		w.err = err
		return err
	}
	defer c.unlockFrame()
	switch {
	case c.writeErr != nil:
		w.err = c.writeErr
	case c.closeSent:
		w.err = errCloseSent
	default:
		if _, err := c.tr.Write(frame); err != nil {
			c.writeErr = c.writeFailed(err)
			w.err = c.writeErr
		}
	}
	w.op = opContinuation
	w.n = 0
	return w.err
}

// Close sends the final frame of the message and lets the next writer go.
func (w *messageWriter) Close() error {
	if !w.open {
		return errors.New("websocket: message writer closed twice")
	}
	err := w.err
	if err == nil {
		err = w.flush(true)
	}
	if w.buf != nil {
		largeBuffers.Put(w.buf)
		w.buf = nil
	}
	w.open = false
	w.c.unlockMessage()
	return err
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
func (c *Conn) Ping(ctx context.Context, payload []byte) error {
	if len(payload) > maxControlPayload {
		return fmt.Errorf("websocket: ping payload is %d bytes, more than 125 (RFC 6455 §5.5)", len(payload))
	}
	w := &pingWaiter{payload: string(payload), done: make(chan struct{})}
	c.pingMu.Lock()
	c.pings = append(c.pings, w)
	c.pingMu.Unlock()
	defer c.dropPing(w)

	if err := c.writeControl(opPing, payload, nil); err != nil {
		return err
	}
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("websocket: no pong before the context ended: %w", ctx.Err())
	case <-c.closed:
		return errConnClosed
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
