package websocket

import (
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
	TextMessage   MessageType = 1 // UTF-8 text; the Conn checks the text it reads, the writer vouches for what it writes
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
	queueLimit   int
	pingHandler  func(c *Conn, payload []byte) error
	pongHandler  func(c *Conn, payload []byte) error
	deflate      *deflateConfig // nil unless permessage-deflate was negotiated
}

func (cfg *connConfig) applyDefaults() {
	if cfg.readLimit <= 0 {
		cfg.readLimit = DefaultReadLimit
	}
	if cfg.closeTimeout <= 0 {
		cfg.closeTimeout = DefaultCloseTimeout
	}
	if cfg.queueLimit <= 0 {
		cfg.queueLimit = DefaultQueueLimit
	}
}

// Conn is a WebSocket connection, made by [Upgrade] on a server or by [Dial]
// on a client.
//
// Concurrency: one goroutine at a time may read (ReadMessage, NextReader and
// the reader it returns). Any number of goroutines may write at once
// (WriteMessage, NextWriter, QueuePreparedMessage, Ping): whole messages are
// serialized, and control frames go out between the frames of a message
// being streamed.
// Close, CloseWrite, CloseNow, Ping, the deadline setters and the address
// getters are safe to call from any goroutine.
//
// Control frames are handled by the reading goroutine: pings are answered,
// pongs wake [Conn.Ping], and a close frame is answered and ends reading. A
// Conn whose peer sends only control frames therefore needs a reader too.
type Conn struct {
	cfg connConfig
	tr  transport

	// Read side: guarded by readLock, held by the one reader or by Close
	// when nobody reads.
	readLock      connLock
	fr            frameReader
	readLimit     atomic.Int64
	frame         header // the data frame being read
	frameLeft     int64  // its payload bytes not yet read
	maskPos       int    // the masking key position of its next byte
	msgOpen       bool   // a data message has started and not ended
	msgText       bool
	msgCompressed bool
	closeReceived atomic.Bool // the peer's close frame; read by Close without the read lock
	msgWire       int64       // payload bytes of the message's frames so far
	msgSize       int64       // bytes of the message delivered so far
	inflater      io.ReadCloser
	inflateSrc    inflateSource
	history       *slidingWindow // with read context takeover
	utf8          utf8Validator
	readErr       error         // once set, every read returns it
	readDone      chan struct{} // closed when readErr is set
	reader        messageReader
	control       [maxControlPayload]byte

	// Write side.
	msgLock   connLock // held by NextWriter's message, and by any message while one streams
	frameLock connLock // held for one frame; guards the fields below
	fw        frameWriter
	streaming bool // a NextWriter message has sent frames, not yet its last
	closeSent bool
	writeErr  error // once set, every write returns it

	pendingPong atomic.Pointer[[]byte] // a ping's answer left to the frame lock's holder

	userWriteDeadline atomic.Int64 // UnixNano of SetWriteDeadline's time, 0 for none
	ctlBuf            [maxHeaderSize + maxControlPayload]byte
	writer            messageWriter
	queue             sendQueue

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
		readLock:  newConnLock(),
		msgLock:   newConnLock(),
		frameLock: newConnLock(),
		closed:    make(chan struct{}),
		readDone:  make(chan struct{}),
	}
	c.fr.init(tr, buffered)
	c.fw = newFrameWriter(tr, cfg.client)
	c.readLimit.Store(cfg.readLimit)
	c.reader.c = c
	c.writer.c = c
	c.writer.sink.w = &c.writer
	if d := cfg.deflate; d != nil && !d.readNoContext {
		c.history = &slidingWindow{size: 1 << d.readWindowBits}
	}
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
func (c *Conn) SetWriteDeadline(t time.Time) error {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	c.userWriteDeadline.Store(ns)
	return c.tr.SetWriteDeadline(t)
}

// writeDeadline is the write deadline the user set, zero for none. The
// Conn's own control frames tighten it for the time of their write.
func (c *Conn) writeDeadline() time.Time { return deadlineAt(c.userWriteDeadline.Load()) }

func deadlineAt(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// restoreWriteDeadline puts the user's write deadline back on the transport
// after a control frame's tighter one. It reads the deadline again after
// setting it: a SetWriteDeadline from another goroutine in between would
// otherwise be undone, and a write to a peer that stopped reading could
// then block past the user's deadline, or forever.
func (c *Conn) restoreWriteDeadline() {
	for {
		ns := c.userWriteDeadline.Load()
		c.tr.SetWriteDeadline(deadlineAt(ns))
		if c.userWriteDeadline.Load() == ns {
			return
		}
	}
}

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

// errCloseSent is what writes return once a close frame has been sent: the
// connection is closed for writing, so it too wraps net.ErrClosed.
var errCloseSent = fmt.Errorf("websocket: close frame already sent, no more messages may be written: %w", net.ErrClosed)

// ProtocolError is the error of a read that found the peer breaking the
// protocol: a malformed or forbidden frame (StatusProtocolError), invalid
// UTF-8 text (StatusInvalidPayload) or a message over the read limit
// (StatusMessageTooBig). The Conn failed the connection (RFC 6455 §7.1.7):
// it sent a close frame with Code and closed. Every later read returns the
// same error.
type ProtocolError struct {
	Code StatusCode // the status of the close frame sent to the peer
	Err  error      // what the peer did wrong
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("websocket: %v; closing with status %v", e.Err, e.Code)
}

func (e *ProtocolError) Unwrap() error { return e.Err }

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

// connLock is the mutex of a Conn's read and write paths. It is a
// sync.Mutex that a waiter can give up on: a writer waits for another
// writer only until the Conn closes or its own timeout fires, and Close
// waits for the reader only as long as the closing handshake may take.
// Channels alone can do that, but a select on every message costs more than
// the rest of a small message's framing; here the uncontended lock and
// unlock are one atomic operation each, and only a waiter touches the
// channel.
type connLock struct {
	state atomic.Int32  // lockFree, lockHeld or lockContended
	wake  chan struct{} // one token when the lock was freed with waiters
}

const (
	lockFree int32 = iota
	lockHeld
	lockContended // held, and someone may be waiting for it
)

func newConnLock() connLock { return connLock{wake: make(chan struct{}, 1)} }

func (l *connLock) tryLock() bool { return l.state.CompareAndSwap(lockFree, lockHeld) }

// lock takes the lock, or returns false when done is closed or timeout
// fires first. Either may be nil, which never happens.
func (l *connLock) lock(done <-chan struct{}, timeout <-chan time.Time) bool {
	if l.tryLock() {
		return true
	}
	return l.lockSlow(done, timeout)
}

// lockSlow is lock's wait. It stays out of line: inlined, its select grew
// NextReader's frame enough that the stack of a goroutine waiting for the
// next message doubled, to 4 KiB (memory scenario of benchmarks/).
//
//go:noinline
func (l *connLock) lockSlow(done <-chan struct{}, timeout <-chan time.Time) bool {
	for {
		// Marking it contended before sleeping makes the holder's unlock
		// send a token, so no wake-up is lost.
		if l.state.Swap(lockContended) == lockFree {
			return true
		}
		select {
		case <-l.wake:
		case <-done:
			return false
		case <-timeout:
			return false
		}
	}
}

func (l *connLock) unlock() {
	if l.state.Swap(lockFree) == lockContended {
		// A token already waiting wakes a waiter just as well.
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
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

// isTimeout reports whether err is a transport's timeout.
func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}
