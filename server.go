package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// UpgradeOptions configures Upgrade. A nil *UpgradeOptions and zero fields
// mean the documented defaults.
type UpgradeOptions struct {
	// Subprotocols are the subprotocols the server speaks, in its order of
	// preference. The first one the client also offers is chosen. When the
	// client offers none, none is chosen, and the response has no
	// Sec-WebSocket-Protocol header (browsers fail the connection otherwise).
	Subprotocols []string

	// OriginPatterns are the hosts, besides the request's own, whose pages
	// may open a WebSocket to this server, as path.Match patterns matched
	// against the Origin's host (with port, if any), case-insensitively:
	// "example.com", "*.example.com", "localhost:*". "*" allows every origin,
	// "null" (sandboxed frames, file:// pages) included.
	//
	// By default only same-origin requests, and requests with no Origin
	// header (which browsers always send), are accepted, so that a page on
	// another site cannot use a visitor's cookies to talk to this server
	// (cross-site WebSocket hijacking, RFC 6455 §10.2).
	OriginPatterns []string

	// CheckOrigin, if set, decides alone whether a request's origin is
	// accepted; OriginPatterns is then not used.
	CheckOrigin func(r *http.Request) bool

	// ResponseHeader is added to the 101 response (200 over HTTP/2), after
	// any header already set on the http.ResponseWriter (Set-Cookie, for
	// example).
	ResponseHeader http.Header

	// ReadLimit is the largest message the Conn reads; 0 means
	// DefaultReadLimit. See Conn.SetReadLimit.
	ReadLimit int64

	// CloseTimeout bounds each wait of the closing handshake; 0 means
	// DefaultCloseTimeout.
	CloseTimeout time.Duration

	// QueueLimit is how many messages Conn.QueuePreparedMessage holds for
	// the peer, not yet written or being written; 0 means
	// DefaultQueueLimit.
	QueueLimit int

	// PingHandler, if set, is called by the reading goroutine for every ping,
	// instead of the automatic pong; it may call c.Pong. The payload is valid
	// only during the call. An error is returned by the read.
	PingHandler func(c *Conn, payload []byte) error

	// PongHandler, if set, is called by the reading goroutine for every pong,
	// after it wakes a matching Ping. The payload is valid only during the
	// call. An error is returned by the read.
	PongHandler func(c *Conn, payload []byte) error

	// Compression turns on permessage-deflate (RFC 7692); see
	// CompressionMode. The zero value is CompressionDisabled.
	Compression CompressionMode

	// CompressionLevel is the compress/flate level, from flate.HuffmanOnly
	// to flate.BestCompression; 0 means flate.BestSpeed. Levels above
	// BestSpeed cost much more CPU for a few percent of size.
	CompressionLevel int

	// CompressionThreshold is the size from which messages are compressed;
	// 0 means DefaultCompressionThreshold, and a negative value compresses
	// every message.
	CompressionThreshold int
}

// HandshakeError is the error of an opening handshake that failed: Upgrade
// answered the request with Status, or Dial got an answer it cannot accept.
type HandshakeError struct {
	Status  int    // the HTTP status of the answer
	Message string // what was wrong
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("websocket: handshake failed with %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Upgrade accepts the WebSocket opening handshake of r (RFC 6455 §4.2) and
// returns the connection. When r is not an acceptable WebSocket request,
// Upgrade answers it with an HTTP error and a plain-text body that says why,
// and returns a *HandshakeError saying the same: 405 for a method other than
// GET (CONNECT over HTTP/2), 426 for a WebSocket version other than 13, 403
// for a refused origin and 400 for any other malformed request.
//
// Over HTTP/1.1, Upgrade hijacks the connection through
// http.NewResponseController, so a ResponseWriter wrapped by middleware works
// if it has an Unwrap method, and the Conn outlives the handler.
//
// Over HTTP/2, a WebSocket is an extended CONNECT request (RFC 8441), which
// net/http's server accepts, and advertises to browsers, when the GODEBUG
// environment variable holds http2xconnect=1. Upgrade answers it with 200 and
// the Conn reads the request body and writes the response, each write
// flushed. The stream, and so the Conn, lasts only as long as the handler:
// the handler must not return before it is done with the Conn. Once the
// request's context is done, reads and writes fail.
//
// Either way, deadlines that the http.Server set are cleared: they were meant
// for one request, not for a long-lived connection.
func Upgrade(w http.ResponseWriter, r *http.Request, opts *UpgradeOptions) (*Conn, error) {
	var o UpgradeOptions
	if opts != nil {
		o = *opts
	}
	level, threshold, err := compressionOptions(o.Compression, o.CompressionLevel, o.CompressionThreshold)
	if err != nil {
		http.Error(w, "websocket: the server is misconfigured", http.StatusInternalServerError)
		return nil, err
	}
	if herr := checkUpgradeRequest(r, &o); herr != nil {
		if herr.Status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", handshakeMethod(r))
		}
		if herr.Status == http.StatusUpgradeRequired {
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		http.Error(w, herr.Message, herr.Status)
		return nil, herr
	}
	subprotocol := selectSubprotocol(r, o.Subprotocols)
	// A malformed extension header declines every extension: the handshake
	// itself can still succeed.
	offers, _ := parseExtensions(r.Header)
	extensions, deflate := negotiateDeflate(offers, o.Compression, level, threshold)
	cfg := connConfig{
		subprotocol:  subprotocol,
		readLimit:    o.ReadLimit,
		closeTimeout: o.CloseTimeout,
		queueLimit:   o.QueueLimit,
		pingHandler:  o.PingHandler,
		pongHandler:  o.PongHandler,
		deflate:      deflate,
	}
	if overHTTP2(r) {
		return acceptStream(w, r, o.ResponseHeader, extensions, cfg)
	}

	netConn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "websocket: the server cannot take over this connection", http.StatusInternalServerError)
		return nil, fmt.Errorf("websocket: hijacking the connection: %w", err)
	}
	// The client may have sent frames right behind its request; the HTTP
	// server's reader may hold them already.
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())

	var resp bytes.Buffer
	resp.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	resp.WriteString(acceptKey(r.Header.Get("Sec-WebSocket-Key")))
	resp.WriteString("\r\n")
	if subprotocol != "" {
		resp.WriteString("Sec-WebSocket-Protocol: " + subprotocol + "\r\n")
	}
	if extensions != "" {
		resp.WriteString("Sec-WebSocket-Extensions: " + extensions + "\r\n")
	}
	// Header.Write turns line breaks in values into spaces: a value cannot
	// inject a header of its own.
	w.Header().WriteSubset(&resp, upgradeHeaders)
	o.ResponseHeader.WriteSubset(&resp, upgradeHeaders)
	resp.WriteString("\r\n")

	netConn.SetDeadline(time.Time{})
	if _, err := netConn.Write(resp.Bytes()); err != nil {
		netConn.Close()
		return nil, fmt.Errorf("websocket: writing the handshake response: %w", err)
	}
	return newConn(netConn, buffered, cfg), nil
}

// IsUpgradeRequest reports whether r asks to be upgraded to a WebSocket: over
// HTTP/1.1, its Connection header holds "upgrade" and its Upgrade header
// "websocket"; over HTTP/2, it is a CONNECT with the :protocol "websocket". A
// handler can use it to serve a page and a WebSocket on the same path.
func IsUpgradeRequest(r *http.Request) bool {
	if overHTTP2(r) {
		return isExtendedConnect(r)
	}
	return headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket")
}

// overHTTP2 reports whether r came over HTTP/2 or later, where a WebSocket
// handshake is RFC 8441's extended CONNECT instead of RFC 6455's GET.
func overHTTP2(r *http.Request) bool { return r.ProtoMajor >= 2 }

// isExtendedConnect reports whether r is an RFC 8441 §4 request for a
// WebSocket: a CONNECT whose :protocol pseudo-header, which net/http's
// HTTP/2 server puts among the headers, is "websocket".
func isExtendedConnect(r *http.Request) bool {
	return r.Method == http.MethodConnect && r.Header.Get(":protocol") == "websocket"
}

// handshakeMethod is the method of a WebSocket handshake in r's protocol.
func handshakeMethod(r *http.Request) string {
	if overHTTP2(r) {
		return http.MethodConnect
	}
	return http.MethodGet
}

// upgradeHeaders are the headers Upgrade writes itself; copies from the
// ResponseWriter or the options would contradict them.
var upgradeHeaders = map[string]bool{
	"Upgrade":                  true,
	"Connection":               true,
	"Sec-Websocket-Accept":     true,
	"Sec-Websocket-Protocol":   true,
	"Sec-Websocket-Extensions": true,
	"Content-Length":           true,
	"Transfer-Encoding":        true,
}

// checkUpgradeRequest applies RFC 6455 §4.2.1 to r. The messages name the
// header at fault but never echo what the client sent.
func checkUpgradeRequest(r *http.Request, o *UpgradeOptions) *HandshakeError {
	bad := func(status int, msg string) *HandshakeError {
		return &HandshakeError{Status: status, Message: msg}
	}
	if overHTTP2(r) {
		// RFC 8441 §4 and §5: an extended CONNECT, without the Upgrade,
		// Connection and Sec-WebSocket-Key headers of HTTP/1.1.
		switch {
		case r.Method != http.MethodConnect:
			return bad(http.StatusMethodNotAllowed, "over HTTP/2, a WebSocket handshake must be an extended CONNECT request (RFC 8441)")
		case r.Header.Get(":protocol") != "websocket":
			return bad(http.StatusBadRequest, `the :protocol pseudo-header must be "websocket"`)
		}
	} else {
		switch {
		case r.Method != http.MethodGet:
			return bad(http.StatusMethodNotAllowed, "a WebSocket handshake must be a GET request")
		case !r.ProtoAtLeast(1, 1):
			return bad(http.StatusBadRequest, "a WebSocket handshake needs HTTP/1.1 or later")
		case !headerHasToken(r.Header, "Connection", "upgrade"):
			return bad(http.StatusBadRequest, `the Connection header must contain "Upgrade"`)
		case !headerHasToken(r.Header, "Upgrade", "websocket"):
			return bad(http.StatusBadRequest, `the Upgrade header must contain "websocket"`)
		}
	}
	switch versions := r.Header.Values("Sec-WebSocket-Version"); {
	case len(versions) == 0:
		return bad(http.StatusBadRequest, "the Sec-WebSocket-Version header is missing")
	case len(versions) > 1 || trimOWS(versions[0]) != "13":
		return bad(http.StatusUpgradeRequired, "this server speaks WebSocket version 13 only")
	}
	if keys := r.Header.Values("Sec-WebSocket-Key"); !overHTTP2(r) && (len(keys) != 1 || !validKey(keys[0])) {
		return bad(http.StatusBadRequest, "the Sec-WebSocket-Key header must hold the base64 encoding of 16 bytes")
	}
	if err := checkOrigin(r, o); err != nil {
		return bad(http.StatusForbidden, err.Error())
	}
	return nil
}

// checkOrigin decides whether the page that made r may talk to this server.
func checkOrigin(r *http.Request, o *UpgradeOptions) error {
	if o.CheckOrigin != nil {
		if o.CheckOrigin(r) {
			return nil
		}
		return errors.New("the request's origin is not allowed")
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil // not from a browser: origins protect browsers' users
	}
	if slices.Contains(o.OriginPatterns, "*") {
		// Every origin, opaque ones included: "null" from sandboxed
		// frames and file:// pages has no host for a pattern to match.
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return errors.New("the Origin header is not a valid origin")
	}
	if equalFoldASCII(u.Host, r.Host) {
		return nil
	}
	host := strings.ToLower(u.Host)
	for _, pattern := range o.OriginPatterns {
		if ok, _ := path.Match(strings.ToLower(pattern), host); ok {
			return nil
		}
	}
	return errors.New("the request's origin is not allowed: cross-origin requests need the server's permission")
}

// selectSubprotocol returns the first of the server's subprotocols that the
// client offered (RFC 6455 §4.2.2 item 5.4), or "".
func selectSubprotocol(r *http.Request, supported []string) string {
	offered := headerList(r.Header, "Sec-WebSocket-Protocol")
	for _, p := range supported {
		if slices.Contains(offered, p) {
			return p
		}
	}
	return ""
}

// acceptStream answers an RFC 8441 extended CONNECT with 200 and returns the
// Conn that runs on the request's stream.
func acceptStream(w http.ResponseWriter, r *http.Request, extra http.Header, extensions string, cfg connConfig) (*Conn, error) {
	h := w.Header()
	for name := range upgradeHeaders {
		h.Del(name)
	}
	for name, values := range extra {
		if name = http.CanonicalHeaderKey(name); !upgradeHeaders[name] {
			h[name] = append(h[name], values...)
		}
	}
	if cfg.subprotocol != "" {
		h.Set("Sec-WebSocket-Protocol", cfg.subprotocol)
	}
	if extensions != "" {
		h.Set("Sec-WebSocket-Extensions", extensions)
	}
	rc := http.NewResponseController(w)
	// The http.Server's ReadTimeout and WriteTimeout apply to each stream,
	// and were meant for one request.
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil, fmt.Errorf("websocket: sending the handshake response: %w", err)
	}
	s := &streamTransport{
		ctx:    r.Context(),
		body:   r.Body,
		w:      w,
		rc:     rc,
		remote: addrOf(r.RemoteAddr),
	}
	s.read.expire, s.write.expire = rc.SetReadDeadline, rc.SetWriteDeadline
	s.local, _ = r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return newConn(s, nil, cfg), nil
}

// streamTransport is the transport of a WebSocket on an HTTP/2 stream (RFC
// 8441 §5): the request body brings the client's bytes, the response carries
// the server's.
//
// Its deadlines work as a net.Conn's: they fail reads and writes under way
// or attempted after them, and nothing else. http.ResponseController's
// deadlines on HTTP/2 are timers instead, which reset the stream or close the
// request body when they fire, even after the read or write is over: net/http
// applies a deadline, and its removal, later, on its own goroutine. So the
// deadlines stay here, with a timer of their own while a read or write is
// under way, and the ResponseController only hears of one when it passes
// during a read or write, which it then ends at once.
type streamTransport struct {
	ctx    context.Context // the request's: done when the stream or the handler ends
	body   io.ReadCloser
	w      http.ResponseWriter
	rc     *http.ResponseController
	local  net.Addr
	remote net.Addr

	mu     sync.Mutex // guards what follows
	closed bool
	read   streamDeadline
	write  streamDeadline
}

// streamDeadline is a deadline of a streamTransport, and the reads or writes
// under way that it applies to.
type streamDeadline struct {
	at     time.Time
	active int
	timer  *time.Timer           // runs while active, until at
	expire func(time.Time) error // the ResponseController's setter
	passed bool                  // passed during a read or write: the body or stream is ending
}

// begin starts a read or write under d, or says why it may not start.
func (s *streamTransport) begin(d *streamDeadline) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	if d.passed || !d.at.IsZero() && !time.Now().Before(d.at) {
		return os.ErrDeadlineExceeded
	}
	d.active++
	if d.active == 1 {
		s.arm(d)
	}
	return nil
}

// end ends a read or write that begin started, and reports whether the
// deadline passed meanwhile: net/http then ends the body or the stream, even
// if the read or write got through first, so it counts as timed out.
func (s *streamTransport) end(d *streamDeadline) (timedOut bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.active--
	if d.active == 0 && d.timer != nil {
		d.timer.Stop()
	}
	return d.passed
}

// setDeadline sets d to t, at once for the reads or writes under way.
func (s *streamTransport) setDeadline(d *streamDeadline, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	d.at = t
	if d.active > 0 {
		s.arm(d)
	}
	return nil
}

// arm sets d's timer for the reads or writes under way; the caller holds mu.
func (s *streamTransport) arm(d *streamDeadline) {
	switch {
	case d.at.IsZero():
		if d.timer != nil {
			d.timer.Stop()
		}
	case d.timer == nil:
		d.timer = time.AfterFunc(time.Until(d.at), func() { s.expired(d) })
	default:
		d.timer.Reset(time.Until(d.at))
	}
}

// expired ends the reads or writes under d when its deadline has passed:
// a past deadline makes net/http close the request body, or reset the
// stream, at once. The timer may have fired for a deadline since moved, or
// for a read or write since over; then it does nothing. It may also have
// fired early, for a deadline without a monotonic clock reading when the
// wall clock stepped back; then it waits again.
func (s *streamTransport) expired(d *streamDeadline) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case d.active == 0 || d.at.IsZero() || s.ctx.Err() != nil:
	case time.Now().Before(d.at):
		d.timer.Reset(time.Until(d.at))
	default:
		d.passed = true
		d.expire(time.Unix(1, 0))
	}
}

func (s *streamTransport) Read(p []byte) (int, error) {
	if err := s.begin(&s.read); err != nil {
		return 0, err
	}
	n, err := s.body.Read(p)
	if s.end(&s.read) {
		// Bytes read as the deadline passed are dropped: the read timed
		// out, and net/http is closing the body.
		return 0, os.ErrDeadlineExceeded
	}
	return n, err
}

// Write sends p at once: the HTTP/2 server buffers what a handler writes
// until it flushes.
func (s *streamTransport) Write(p []byte) (int, error) {
	if err := s.begin(&s.write); err != nil {
		return 0, err
	}
	n, err := s.w.Write(p)
	if err == nil {
		err = s.rc.Flush()
	}
	if s.end(&s.write) && err == nil {
		err = os.ErrDeadlineExceeded
	}
	return n, err
}

// usable says why the ResponseWriter must no longer be used, if so; the
// caller holds mu. The stream ends when the handler returns, which cancels
// the request's context first; a ResponseWriter used after that panics, or
// worse, since net/http reuses its state for other requests.
func (s *streamTransport) usable() error {
	if s.closed || s.ctx.Err() != nil {
		return net.ErrClosed
	}
	return nil
}

// Close ends reading, and a Write blocked on the peer's flow control window
// (a past deadline resets the stream). The stream itself ends when the
// handler returns: net/http offers no other way to end a response.
func (s *streamTransport) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.write.active > 0 && s.ctx.Err() == nil {
		s.rc.SetWriteDeadline(time.Unix(1, 0))
	}
	s.mu.Unlock()
	return s.body.Close()
}

func (s *streamTransport) SetReadDeadline(t time.Time) error  { return s.setDeadline(&s.read, t) }
func (s *streamTransport) SetWriteDeadline(t time.Time) error { return s.setDeadline(&s.write, t) }

func (s *streamTransport) LocalAddr() net.Addr  { return s.local }
func (s *streamTransport) RemoteAddr() net.Addr { return s.remote }

// addrOf turns http.Request.RemoteAddr back into a net.Addr.
func addrOf(hostport string) net.Addr {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return textAddr(hostport)
}

// textAddr is an address net/http gave only as text.
type textAddr string

func (a textAddr) Network() string { return "tcp" }
func (a textAddr) String() string  { return string(a) }
