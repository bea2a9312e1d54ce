package websocket

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
)

// The read path: bytes -> frame reader -> (unmask, UTF-8 check) -> message
// reader -> caller. Control frames are handled here, as they arrive between
// the frames of messages.

func (c *Conn) lockRead()   { c.readLock.lock(nil, nil) }
func (c *Conn) unlockRead() { c.readLock.unlock() }

// NextReader returns the type of the next data message and a reader of its
// payload. The payload streams: nothing is buffered beyond one frame read.
// Text is checked as it arrives and a read fails with StatusInvalidPayload
// (1007) at the first byte that cannot be valid UTF-8. The reader returns
// io.EOF with the message's last bytes (process n before err, as io.Reader
// asks) and is valid until the next call to NextReader or ReadMessage,
// which discard what is left of it.
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
// caller's, and the only allocation. Like NextReader, it fails as soon as
// text turns out invalid and before a message grows past the read limit.
func (c *Conn) ReadMessage() (MessageType, []byte, error) {
	c.lockRead()
	defer c.unlockRead()
	t, err := c.nextMessage()
	if err != nil {
		return 0, nil, err
	}
	var p []byte
	if c.frame.fin && !c.msgCompressed && c.frameLeft <= trustedSize {
		p, err = c.readKnownSize()
	} else {
		p, err = c.readInChunks()
	}
	if err != nil {
		return 0, nil, err
	}
	return t, p, nil
}

// trustedSize is how much ReadMessage allocates on a frame header's word: a
// length field is only a claim, and a peer must not make a server hold
// more than this for the price of a header.
const trustedSize = 64 << 10

// readKnownSize reads a message of one frame of at most trustedSize bytes
// into a slice of its size.
func (c *Conn) readKnownSize() ([]byte, error) {
	p := make([]byte, c.frameLeft)
	n := 0
	for {
		m, err := c.readPayload(p[n:])
		n += m
		if err == io.EOF {
			return p, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// readInChunks reads a message of unknown or untrusted size into pooled
// chunks, each twice the size of the one before, up to 1 MiB, and returns
// them joined in one slice of the message's size. Memory so follows the
// bytes that really arrive, and the result is the one allocation.
func (c *Conn) readInChunks() ([]byte, error) {
	chunks := chunkLists.Get().(*chunkList)
	defer chunks.release()
	class := 0
	for {
		buf := chunkPools[class].Get().(*[]byte)
		n := 0
		var err error
		for n < len(*buf) && err == nil {
			var m int
			m, err = c.readPayload((*buf)[n:])
			n += m
		}
		chunks.add(buf, n)
		if err == io.EOF {
			return chunks.join(), nil
		}
		if err != nil {
			return nil, err
		}
		class = min(class+1, len(chunkPools)-1)
	}
}

// chunkPools hold the chunks of readInChunks: 16 KiB, 32 KiB and so on to
// 1 MiB.
var chunkPools [7]sync.Pool

func init() {
	for i := range chunkPools {
		size := 16 << 10 << i
		chunkPools[i].New = func() any {
			b := make([]byte, size)
			return &b
		}
	}
}

// chunkList is what readInChunks has read: pooled chunks and the part of
// each that holds message bytes.
type chunkList struct {
	pooled []*[]byte
	filled [][]byte
}

var chunkLists = sync.Pool{New: func() any { return new(chunkList) }}

func (l *chunkList) add(buf *[]byte, n int) {
	l.pooled = append(l.pooled, buf)
	l.filled = append(l.filled, (*buf)[:n])
}

// join copies the chunks into one slice, never nil.
func (l *chunkList) join() []byte {
	size := 0
	for _, b := range l.filled {
		size += len(b)
	}
	if size == 0 {
		return []byte{}
	}
	return bytes.Join(l.filled, nil) // one allocation, which bytes.Join does not clear
}

// release gives the chunks back to their pools and the list to its own.
func (l *chunkList) release() {
	for i, buf := range l.pooled {
		chunkPools[min(i, len(chunkPools)-1)].Put(buf)
	}
	clear(l.pooled)
	clear(l.filled)
	l.pooled, l.filled = l.pooled[:0], l.filled[:0]
	chunkLists.Put(l)
}

// messageReader is the io.Reader NextReader returns. It lives in the Conn so
// that starting a message allocates nothing.
type messageReader struct{ c *Conn }

// Read returns the message's last bytes together with io.EOF, as io.Reader
// allows: a caller reading to the end (io.ReadAll, io.Copy, a JSON decoder)
// then needs no further call just to learn that the message is over.
func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	c.lockRead()
	defer c.unlockRead()
	n, err := c.readPayload(p)
	if n > 0 && err == nil && !c.msgOpen {
		err = io.EOF
	}
	return n, err
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
	if c.msgOpen && c.msgCompressed {
		return c.readInflated(p)
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
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.readFrameBytes(p)
	if n > 0 {
		if err := c.checkText(p[:n]); err != nil {
			return 0, err
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

// readFrameBytes reads payload bytes of the current frame into p, no more
// than the frame has left, and unmasks them.
func (c *Conn) readFrameBytes(p []byte) (int, error) {
	if int64(len(p)) > c.frameLeft {
		p = p[:c.frameLeft]
	}
	n, err := c.fr.read(p)
	if n > 0 {
		if c.frame.masked {
			c.maskPos = maskBytes(c.frame.key, c.maskPos, p[:n])
		}
		c.frameLeft -= int64(n)
	}
	return n, err
}

// checkText validates the next piece of a text message. RFC 6455 §8.1:
// invalid text fails the connection, and the sooner the better: each piece
// is checked as it comes off the wire (or out of the decompressor).
func (c *Conn) checkText(p []byte) error {
	if c.msgText && !c.utf8.write(p) {
		return c.fail(StatusInvalidPayload, errors.New("text message is not valid UTF-8"))
	}
	return nil
}

// readInflated reads a compressed message's payload, inflated, into p. The
// read limit applies to the inflated size, checked as it grows, so a small
// message that inflates hugely costs at most the limit and one read of work.
func (c *Conn) readInflated(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.inflater == nil {
		c.inflateSrc = inflateSource{c: c}
		c.inflater = getFlateReader(&c.inflateSrc, c.history.history())
	}
	limit := c.readLimit.Load()
	if c.msgSize > limit {
		// SetReadLimit lowered the limit below what the message inflated
		// to already.
		return 0, c.inflatedPastLimit(limit)
	}
	if rest := limit - c.msgSize; int64(len(p)) > rest {
		p = p[:rest+1] // one byte past the limit is enough to know
	}
	n, err := c.inflater.Read(p)
	if c.readErr != nil {
		return 0, c.readErr // reading frames failed: the source said why
	}
	if n > 0 {
		// The bytes within the limit are checked as text first, so that
		// the failure does not depend on how much a read asked for: a
		// reader taking a byte at a time meets bad text before the limit.
		within := min(int64(n), limit-c.msgSize)
		if err := c.checkText(p[:within]); err != nil {
			return 0, err
		}
		c.msgSize += int64(n)
		if c.msgSize > limit {
			return 0, c.inflatedPastLimit(limit)
		}
		if c.history != nil {
			c.history.write(p[:n])
		}
	}
	src := &c.inflateSrc
	if err == io.EOF {
		// A final block. Payload after it, past any empty frames, is a
		// new deflate stream, as in RFC 7692 §7.2.3.4, where a sender that
		// cannot flush otherwise ends blocks with BFINAL. The new stream
		// starts from the window of earlier messages with context
		// takeover, and from an empty one without: the bytes this message
		// inflated to so far are not kept.
		switch err := src.nextFrame(); {
		case err == nil:
			history := c.history.history()
			// Each new stream copies the window, up to 32 KiB, besides
			// work about that of copying 4 KiB. A peer could end a block
			// every two bytes for that work alone, so a message may cause
			// 1 KiB of it per byte of its payload read so far, and 1 MiB
			// more: about what inflating those bytes costs. A sender that
			// flushes each fragment with a final block (§7.2.3.4) stays
			// within it unless, with a full window, its fragments carry
			// under about 36 bytes each.
			cost := int64(src.restartKiB) + int64(len(history)+4096)>>10
			if cost > c.msgWire-c.frameLeft+1024 || cost > math.MaxInt32 {
				return 0, c.fail(StatusInvalidPayload, errors.New("compressed message starts a new deflate stream too often"))
			}
			src.restartKiB = int32(cost)
			c.inflater.(flate.Resetter).Reset(src, history)
			return n, nil
		case err != io.EOF:
			return 0, err // reading the next frame failed
		}
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF, err == io.ErrUnexpectedEOF && src.exhausted && src.cleanEnd:
		// A final block that ends the payload, or a payload that ends
		// where the sync marker was stripped.
	default:
		// RFC 7692 §8 leaves the code open; 1007 is the one for data that
		// does not decode (RFC 6455 §7.4.1).
		if err == io.ErrUnexpectedEOF {
			err = errors.New("the deflate stream is cut short")
		}
		return 0, c.fail(StatusInvalidPayload, fmt.Errorf("compressed message does not inflate: %w", err))
	}
	flateReaders.Put(c.inflater)
	c.inflater = nil
	if err := c.endMessage(); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (c *Conn) inflatedPastLimit(limit int64) error {
	return c.fail(StatusMessageTooBig, fmt.Errorf("message inflates past the read limit of %d bytes", limit))
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

// skipFrame drops what is left of the current frame, then reads the next
// frame and drops its payload; control frames are handled as usual. Close
// and fail use it to wait for the peer's close frame, also when reading
// stopped part-way through a frame: the rest of its payload is not a header.
func (c *Conn) skipFrame() error {
	if err := c.dropFrameLeft(); err != nil {
		return err
	}
	if err := c.advanceFrame(); err != nil {
		return err
	}
	c.msgOpen = !c.frame.fin
	return c.dropFrameLeft()
}

// dropFrameLeft reads and drops the current frame's unread payload.
func (c *Conn) dropFrameLeft() error {
	for c.frameLeft > 0 {
		n := min(c.frameLeft, int64(len(c.control)))
		if err := c.fr.readFull(c.control[:n]); err != nil {
			return c.readFailed(err)
		}
		c.frameLeft -= n
	}
	return nil
}

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
		if h.op != opContinuation {
			c.msgOpen = true
			c.msgText = h.op == opText
			c.msgCompressed = h.rsv&rsv1Bit != 0
			c.msgWire = 0
			c.msgSize = 0
			c.utf8.reset()
		}
		// Compare before adding: a length near 2^63 would overflow the sum.
		if limit := c.readLimit.Load(); h.length > wireLimit(limit, c.msgCompressed)-c.msgWire {
			return c.fail(StatusMessageTooBig, fmt.Errorf("message is over the read limit of %d bytes", limit))
		}
		c.msgWire += h.length
		c.frame = h
		c.frameLeft = h.length
		c.maskPos = 0
		return nil
	}
}

// wireLimit is how many payload bytes a message may take on the wire. A
// compressed message is held to the read limit when it inflates; on the
// wire it gets the little that deflate adds to data it cannot compress
// (stored blocks cost 5 bytes per 64 KiB), and no more, so that a peer
// cannot stream endless compressed bytes that inflate to nothing.
func wireLimit(limit int64, compressed bool) int64 {
	if !compressed {
		return limit
	}
	slack := limit>>10 + 64
	if limit > math.MaxInt64-slack {
		return math.MaxInt64
	}
	return limit + slack
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
	case h.rsv == rsv1Bit && c.cfg.deflate != nil && h.op.isControl():
		return errors.New("RSV1 set on a control frame (RFC 7692 §6.1)")
	case h.rsv == rsv1Bit && c.cfg.deflate != nil && h.op == opContinuation:
		return errors.New("RSV1 set on a continuation frame (RFC 7692 §6.1)")
	case h.rsv != 0 && (h.rsv != rsv1Bit || c.cfg.deflate == nil):
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
	if err := c.fr.readFull(payload); err != nil {
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
			return c.handlerFailed(c.cfg.pingHandler(c, payload))
		}
		return c.answerPing(payload)
	case opPong:
		c.wakePing(payload)
		if c.cfg.pongHandler != nil && c.readErr == nil {
			return c.handlerFailed(c.cfg.pongHandler(c, payload))
		}
	case opClose:
		return c.handleClose(payload)
	}
	return nil
}

// answerPing sends a pong that carries the ping's payload (RFC 6455 §5.5.3).
// A pong that cannot be written within the close timeout means a peer that
// does not read, and the connection is dropped.
//
// While another write holds the frame lock, the answer is left to that
// writer, which sends it when it lets go (unlockFrame), and reading goes on.
// Waiting for the lock instead would stall the reader behind the write, and
// a large frame to a slow peer that does read may take longer than any
// bound. §5.5.3 allows answering only the latest of several pings, so a
// newer answer replaces one still waiting. A write stuck on a peer that
// does not read so holds the answer too, until the write's deadline,
// CloseNow or Heartbeat ends it.
func (c *Conn) answerPing(payload []byte) error {
	if !c.frameLock.tryLock() {
		answer := bytes.Clone(payload)
		c.pendingPong.Store(&answer)
		c.sendPendingPong() // the holder may have let go already
		return nil
	}
	err := c.writePong(payload)
	c.unlockFrame()
	if isTimeout(err) {
		c.closeTransport()
		return c.endRead(fmt.Errorf("websocket: the peer does not read: a pong could not be sent within %v: %w", c.cfg.closeTimeout, err))
	}
	return nil
}

// handlerFailed makes an error of a ping or pong handler the Conn's read
// error: the handler chose to stop reading.
func (c *Conn) handlerFailed(err error) error {
	if err != nil {
		return c.endRead(fmt.Errorf("websocket: control frame handler: %w", err))
	}
	return c.readErr
}

// handleClose answers the peer's close frame (RFC 6455 §5.5.1) with the same
// code, or 1000 when it had none, unless this side already sent one, and then
// ends the connection.
func (c *Conn) handleClose(payload []byte) error {
	c.closeReceived.Store(true)
	ce, err := parseClosePayload(payload)
	if err != nil {
		return c.fail(StatusProtocolError, err)
	}
	code := ce.Code
	if code == StatusNoStatusReceived {
		code = StatusNormalClosure
	}
	// The frame answered was parsed already: its buffer can hold the reply.
	reply, _ := appendClosePayload(c.control[:0], code, "")
	c.writeClose(reply)
	c.finishClose()
	return c.endRead(ce)
}

// endRead makes err the Conn's read error, unless it has one, and returns
// the read error. Waiters on the read side (Ping) learn that no more frames
// will be read.
func (c *Conn) endRead(err error) error {
	if c.readErr == nil {
		c.readErr = err
		close(c.readDone)
	}
	return c.readErr
}

// readFailed records a transport read error as the Conn's read error. A
// connection that ended without a close frame is closed on this side too
// (RFC 6455 §7.1.5): nothing more can come, and writers blocked on a peer
// that no longer reads must return.
func (c *Conn) readFailed(err error) error {
	switch {
	case c.isClosed():
		err = errConnClosed
	case isTimeout(err):
		err = fmt.Errorf("websocket: read: %w", err)
	default:
		err = &abnormalClosure{err: err}
		c.closeTransport()
	}
	return c.endRead(err)
}
