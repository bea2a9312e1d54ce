package websocket

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
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
	// "example.com", "*.example.com", "localhost:*". "*" allows every origin.
	//
	// By default only same-origin requests, and requests with no Origin
	// header (which browsers always send), are accepted, so that a page on
	// another site cannot use a visitor's cookies to talk to this server
	// (cross-site WebSocket hijacking, RFC 6455 §10.2).
	OriginPatterns []string

	// CheckOrigin, if set, decides alone whether a request's origin is
	// accepted; OriginPatterns is then not used.
	CheckOrigin func(r *http.Request) bool

	// ResponseHeader is added to the 101 response, after any header already
	// set on the http.ResponseWriter (Set-Cookie, for example).
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
// GET, 426 for a WebSocket version other than 13, 403 for a refused origin
// and 400 for any other malformed request.
//
// Upgrade hijacks the connection through http.NewResponseController, so a
// ResponseWriter wrapped by middleware works if it has an Unwrap method.
// Deadlines that the http.Server set on the connection are cleared: they were
// meant for one request, not for a long-lived connection.
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
			w.Header().Set("Allow", http.MethodGet)
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
	return newConn(netConn, buffered, connConfig{
		subprotocol:  subprotocol,
		readLimit:    o.ReadLimit,
		closeTimeout: o.CloseTimeout,
		queueLimit:   o.QueueLimit,
		pingHandler:  o.PingHandler,
		pongHandler:  o.PongHandler,
		deflate:      deflate,
	}), nil
}

// IsUpgradeRequest reports whether r asks to be upgraded to a WebSocket: its
// Connection header holds "upgrade" and its Upgrade header "websocket". A
// handler can use it to serve a page and a WebSocket on the same path.
func IsUpgradeRequest(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket")
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
	switch versions := r.Header.Values("Sec-WebSocket-Version"); {
	case len(versions) == 0:
		return bad(http.StatusBadRequest, "the Sec-WebSocket-Version header is missing")
	case len(versions) > 1 || trimOWS(versions[0]) != "13":
		return bad(http.StatusUpgradeRequired, "this server speaks WebSocket version 13 only")
	}
	if keys := r.Header.Values("Sec-WebSocket-Key"); len(keys) != 1 || !validKey(keys[0]) {
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
