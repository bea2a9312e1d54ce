package websocket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
	"unicode/utf8"
)

// StatusCode is a close status code (RFC 6455 §7.4). The zero value is not a
// valid code.
type StatusCode int

// The status codes defined by RFC 6455 §7.4.1 and the IANA registry. Codes
// 3000-3999 are for libraries and frameworks, 4000-4999 for applications.
const (
	StatusNormalClosure       StatusCode = 1000
	StatusGoingAway           StatusCode = 1001
	StatusProtocolError       StatusCode = 1002
	StatusUnsupportedData     StatusCode = 1003
	StatusNoStatusReceived    StatusCode = 1005 // never sent: the close frame had no code
	StatusAbnormalClosure     StatusCode = 1006 // never sent: the TCP connection ended without a close frame
	StatusInvalidPayload      StatusCode = 1007
	StatusPolicyViolation     StatusCode = 1008
	StatusMessageTooBig       StatusCode = 1009
	StatusMandatoryExtension  StatusCode = 1010
	StatusInternalError       StatusCode = 1011
	StatusServiceRestart      StatusCode = 1012
	StatusTryAgainLater       StatusCode = 1013
	StatusBadGateway          StatusCode = 1014
	statusTLSHandshakeFailure StatusCode = 1015 // never sent
)

var statusNames = map[StatusCode]string{
	StatusNormalClosure:       "normal closure",
	StatusGoingAway:           "going away",
	StatusProtocolError:       "protocol error",
	StatusUnsupportedData:     "unsupported data",
	StatusNoStatusReceived:    "no status received",
	StatusAbnormalClosure:     "abnormal closure",
	StatusInvalidPayload:      "invalid payload data",
	StatusPolicyViolation:     "policy violation",
	StatusMessageTooBig:       "message too big",
	StatusMandatoryExtension:  "mandatory extension",
	StatusInternalError:       "internal error",
	StatusServiceRestart:      "service restart",
	StatusTryAgainLater:       "try again later",
	StatusBadGateway:          "bad gateway",
	statusTLSHandshakeFailure: "TLS handshake failure",
}

// String returns the code and its name, as in "1000 (normal closure)".
func (c StatusCode) String() string {
	if name, ok := statusNames[c]; ok {
		return strconv.Itoa(int(c)) + " (" + name + ")"
	}
	return strconv.Itoa(int(c))
}

// validOnWire reports whether c may appear in a close frame (RFC 6455 §7.4.1,
// §7.4.2): the defined codes except those reserved for local use, and the
// 3000-4999 range. Everything else is a protocol error when received.
func (c StatusCode) validOnWire() bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// maxCloseReason is how long a close reason may be: a control frame carries
// at most 125 bytes (RFC 6455 §5.5), two of which are the code.
const maxCloseReason = maxControlPayload - 2

// CloseError is the close frame the peer sent, returned by reads once the
// closing handshake has begun. Code is StatusNoStatusReceived when the frame
// had no code.
type CloseError struct {
	Code   StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return "websocket: peer closed the connection with status " + e.Code.String()
	}
	return fmt.Sprintf("websocket: peer closed the connection with status %v: %q", e.Code, e.Reason)
}

// CloseStatus returns the code of the *CloseError in err's chain, or -1 when
// there is none.
func CloseStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// parseClosePayload decodes a received close frame's payload (RFC 6455
// §5.5.1): empty, or a two-byte code followed by a UTF-8 reason.
func parseClosePayload(p []byte) (*CloseError, error) {
	switch {
	case len(p) == 0:
		return &CloseError{Code: StatusNoStatusReceived}, nil
	case len(p) == 1:
		return nil, errors.New("close frame payload is one byte, too short for a status code")
	}
	code := StatusCode(binary.BigEndian.Uint16(p))
	if !code.validOnWire() {
		return nil, fmt.Errorf("close frame has status code %d, which may not be sent", int(code))
	}
	if !utf8.Valid(p[2:]) {
		return nil, errors.New("close frame reason is not valid UTF-8")
	}
	return &CloseError{Code: code, Reason: string(p[2:])}, nil
}

// appendClosePayload appends the payload of a close frame with code and
// reason. It checks what the caller chose, so a bad code or an over-long
// reason is the caller's error, not a frame the peer must reject.
func appendClosePayload(b []byte, code StatusCode, reason string) ([]byte, error) {
	if code == StatusNoStatusReceived {
		if reason != "" {
			return b, errors.New("websocket: a close reason needs a status code")
		}
		return b, nil
	}
	if !code.validOnWire() {
		return b, fmt.Errorf("websocket: status code %d may not be sent in a close frame", int(code))
	}
	if len(reason) > maxCloseReason {
		return b, fmt.Errorf("websocket: close reason is %d bytes, more than the %d a close frame holds", len(reason), maxCloseReason)
	}
	if !utf8.ValidString(reason) {
		return b, errors.New("websocket: close reason is not valid UTF-8")
	}
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	return append(b, reason...), nil
}

// CloseNow closes the connection at once, without a closing handshake. It is
// safe from any goroutine and may be called more than once.
func (c *Conn) CloseNow() error {
	c.closeTransport()
	c.awaitQueue(0)
	return nil
}

// Close performs the closing handshake (RFC 6455 §7): it sends a close frame
// with code and reason, waits for the peer's close frame, and closes the
// connection. Each wait is bounded by the close timeout of the options. A
// server closes TCP first; a client waits for the server to (RFC 6455
// §7.1.1). Use StatusNoStatusReceived for a close frame without a code.
//
// Close is safe from any goroutine and may be called more than once. When
// another goroutine is inside a read, that read receives the peer's close
// frame and returns its *CloseError; otherwise Close reads, and drops,
// whatever arrives before the peer's close frame. So messages that arrive
// after Close starts are dropped even with a reading goroutine, if they come
// while it is between two reads. To receive everything the peer still
// sends, use CloseWrite.
func (c *Conn) Close(code StatusCode, reason string) error {
	payload, err := appendClosePayload(nil, code, reason)
	if err != nil {
		return err
	}
	// Every way out of Close below has closed the transport, which ends
	// the queue's writer.
	defer c.awaitQueue(0)
	if err := c.sendClose(payload); err != nil && !errors.Is(err, errCloseSent) {
		if errors.Is(err, net.ErrClosed) {
			return nil // closed already: Close is idempotent
		}
		return err
	}
	// Wait for the peer's close frame. If nobody is reading, read it here.
	deadline := time.Now().Add(c.cfg.closeTimeout)
	timer := time.NewTimer(c.cfg.closeTimeout)
	defer timer.Stop()
	if c.readLock.lock(c.closed, timer.C) {
		err := c.awaitPeerClose(deadline)
		if err != nil {
			// Reading has ended already (every way awaitPeerClose fails
			// ends it); later reads say what happened, not how the wait
			// ended.
			c.readErr = errConnClosed
		}
		c.readLock.unlock()
		return err
	}
	if c.isClosed() {
		return nil
	}
	c.closeTransport()
	if c.closeReceived.Load() {
		// The reader has the peer's answer and, on a client, was waiting
		// for the server to close TCP (finishClose).
		return nil
	}
	return fmt.Errorf("websocket: the peer did not answer the close frame within %v: %w", c.cfg.closeTimeout, os.ErrDeadlineExceeded)
}

// CloseWrite starts the closing handshake and leaves the rest to the reading
// goroutine: it sends a close frame with code and reason and returns. No
// more messages may be written. Reads go on returning the messages the peer
// sent before its own close frame; the read that meets that frame returns
// its *CloseError, and the connection closes as after Close. Use it instead
// of Close to receive everything the peer still sends, a client's answers
// to its last requests for one. Messages queued by QueuePreparedMessage go
// out before the close frame, as with Close.
//
// The peer's close frame is awaited for at most the close timeout; then the
// connection is closed, and a read still waiting fails with an error
// wrapping net.ErrClosed. A read must be running for the handshake to
// finish. CloseWrite after the close frame was sent does nothing; it is
// safe from any goroutine.
func (c *Conn) CloseWrite(code StatusCode, reason string) error {
	payload, err := appendClosePayload(nil, code, reason)
	if err != nil {
		return err
	}
	switch err := c.sendClose(payload); {
	case errors.Is(err, errCloseSent):
		return nil
	case err != nil:
		c.awaitQueue(0)
		return err
	}
	// No goroutine waits: the timer closes a connection that is still open
	// when the handshake should have ended, and does nothing otherwise.
	time.AfterFunc(c.cfg.closeTimeout, c.closeTransport)
	return nil
}

// sendClose lets the messages queued by QueuePreparedMessage go out, then
// sends a close frame with payload, or returns errCloseSent when one was sent
// already. On any other failure it closes the transport. A queue that does
// not empty within the close timeout means a peer that does not read, and so
// would not take a close frame either.
func (c *Conn) sendClose(payload []byte) error {
	if !c.awaitQueue(c.cfg.closeTimeout) {
		c.closeTransport()
		return fmt.Errorf("websocket: queued messages were not all written within %v, so no close frame was sent: %w", c.cfg.closeTimeout, os.ErrDeadlineExceeded)
	}
	err := c.writeClose(payload)
	if err != nil && !errors.Is(err, errCloseSent) {
		c.closeTransport()
	}
	return err
}

// awaitPeerClose reads and drops frames until the peer's close frame, a read
// error or the deadline, then closes the transport. It holds the read lock,
// and says why when no close frame came.
func (c *Conn) awaitPeerClose(deadline time.Time) error {
	defer c.closeTransport()
	if c.closeReceived.Load() || c.isClosed() {
		return nil
	}
	c.tr.SetReadDeadline(deadline)
	for !c.closeReceived.Load() {
		if err := c.skipFrame(); err != nil {
			if c.closeReceived.Load() {
				break
			}
			return fmt.Errorf("websocket: the peer did not answer the close frame: %w", err)
		}
	}
	return nil
}

// finishClose ends the connection once both close frames have crossed: a
// server closes TCP at once; a client waits, bounded, for the server to close
// it, so that the server's side enters TIME_WAIT (RFC 6455 §7.1.1).
func (c *Conn) finishClose() {
	if c.cfg.client && !c.isClosed() {
		c.tr.SetReadDeadline(time.Now().Add(c.cfg.closeTimeout))
		for {
			if _, err := c.tr.Read(c.control[:]); err != nil {
				break
			}
		}
	}
	c.closeTransport()
}

// fail fails the connection (RFC 6455 §7.1.7) because the peer broke a rule:
// it stops reading data, sends a close frame with code, waits a bounded time
// for the peer's close frame and closes. It returns the error every later
// read returns.
func (c *Conn) fail(code StatusCode, cause error) error {
	if c.readErr != nil {
		// Already closing, and the peer broke another rule: stop here.
		c.closeTransport()
		return c.readErr
	}
	err := &ProtocolError{Code: code, Err: cause}
	c.endRead(err)
	reason := cause.Error()
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
	}
	payload, _ := appendClosePayload(nil, code, truncateUTF8(reason))
	c.writeClose(payload)
	c.awaitPeerClose(time.Now().Add(c.cfg.closeTimeout))
	return err
}

// truncateUTF8 drops a sequence cut in two at the end of s.
func truncateUTF8(s string) string {
	var v utf8Validator
	for len(s) > 0 && !(v.write([]byte(s)) && v.complete()) {
		v.reset()
		s = s[:len(s)-1]
	}
	return s
}
