package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultHandshakeTimeout bounds Dial's handshake, proxy and TLS steps
// included, when its context has no deadline.
const DefaultHandshakeTimeout = 30 * time.Second

// maxHandshakeResponse bounds what Dial reads of the server's answer, as
// net/http's DefaultMaxHeaderBytes bounds a request: a hostile server cannot
// make the client hold more.
const maxHandshakeResponse = 1 << 20

// maxErrorBody is how much of the body of a refusal Dial keeps in the
// returned response, for the caller to show.
const maxErrorBody = 4 << 10

// DialOptions configures Dial. A nil *DialOptions and zero fields mean the
// documented defaults.
type DialOptions struct {
	// Header is sent with the handshake request: Authorization, Cookie,
	// Origin, User-Agent... Host, if set, replaces the URL's host in the Host
	// header. The WebSocket headers themselves are Dial's to write.
	Header http.Header

	// Jar, if set, adds its cookies for the URL to the request and stores
	// the cookies of the response.
	Jar http.CookieJar

	// Subprotocols are offered in this order. The server picks one or none.
	Subprotocols []string

	// TLSConfig is used for wss:// URLs (and for an https:// proxy). Its
	// ServerName defaults to the URL's host.
	TLSConfig *tls.Config

	// NetDialContext dials TCP connections, to the server or to the proxy;
	// nil means a net.Dialer.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// Proxy returns the proxy for a request, or nil for none; nil means
	// http.ProxyFromEnvironment (HTTP_PROXY, HTTPS_PROXY and NO_PROXY; note
	// that it never proxies localhost). Dial tunnels through http:// and
	// https:// proxies with CONNECT, sending Proxy-Authorization when the
	// proxy URL has a user.
	Proxy func(*http.Request) (*url.URL, error)

	// HandshakeTimeout bounds the whole handshake when ctx has no deadline;
	// 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// ReadLimit, CloseTimeout, QueueLimit, PingHandler and PongHandler are
	// as in UpgradeOptions.
	ReadLimit    int64
	CloseTimeout time.Duration
	QueueLimit   int
	PingHandler  func(c *Conn, payload []byte) error
	PongHandler  func(c *Conn, payload []byte) error

	// Compression, CompressionLevel and CompressionThreshold are as in
	// UpgradeOptions. With compression on, Dial offers permessage-deflate,
	// and the server decides.
	Compression          CompressionMode
	CompressionLevel     int
	CompressionThreshold int
}

// Dial opens a WebSocket connection to urlStr (RFC 6455 §4.1): a ws:// or
// wss:// URL, or its http:// or https:// alias, with no fragment. ctx bounds
// the whole handshake (proxy and TLS included) and not the connection after.
//
// When the server's answer arrived, Dial returns it, also on error; after a
// refusal its body holds the first few KiB the server sent, for the caller to
// show. The error is then a *HandshakeError. The body is in memory, and
// there is none after a 101: it need not be closed.
func Dial(ctx context.Context, urlStr string, opts *DialOptions) (*Conn, *http.Response, error) {
	var o DialOptions
	if opts != nil {
		o = *opts
	}
	u, err := parseWebSocketURL(urlStr)
	if err != nil {
		return nil, nil, err
	}
	level, threshold, err := compressionOptions(o.Compression, o.CompressionLevel, o.CompressionThreshold)
	if err != nil {
		return nil, nil, err
	}
	o.CompressionLevel, o.CompressionThreshold = level, threshold
	if _, ok := ctx.Deadline(); !ok {
		timeout := o.HandshakeTimeout
		if timeout <= 0 {
			timeout = DefaultHandshakeTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, key, err := newHandshakeRequest(u, &o)
	if err != nil {
		return nil, nil, err
	}

	netConn, err := dialServer(ctx, req, &o)
	if err != nil {
		return nil, nil, contextError(ctx, err)
	}
	// The end of ctx stops every read and write of the handshake. Only
	// ctx's own end does: a connection deadline at the same instant could
	// fire first and hide why the handshake stopped.
	stop := context.AfterFunc(ctx, func() { netConn.SetDeadline(time.Unix(1, 0)) })
	conn, resp, err := handshake(netConn, req, key, &o)
	if !stop() && err == nil {
		err = errors.New("websocket: handshake interrupted")
	}
	if err != nil {
		netConn.Close()
		return nil, resp, contextError(ctx, err)
	}
	return conn, resp, nil
}

// contextError says that err is ctx's doing when ctx has ended: a read cut
// short by it may have failed in a way that hides the reason.
func contextError(ctx context.Context, err error) error {
	if ctx.Err() == nil || errors.Is(err, ctx.Err()) {
		return err
	}
	return fmt.Errorf("websocket: handshake stopped: %w: %w", ctx.Err(), err)
}

// parseWebSocketURL checks urlStr and returns it with the http or https
// scheme that the handshake request uses (RFC 6455 §3).
func parseWebSocketURL(urlStr string) (*url.URL, error) {
	u, err := url.Parse(urlStr)
	if err != nil {
		return nil, fmt.Errorf("websocket: invalid URL: %w", err)
	}
	switch u.Scheme {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("websocket: URL scheme %q is not ws, wss, http or https", u.Scheme)
	}
	if u.Fragment != "" || strings.Contains(urlStr, "#") {
		return nil, errors.New("websocket: a WebSocket URL may not have a fragment (RFC 6455 §3)")
	}
	if u.Hostname() == "" {
		return nil, errors.New("websocket: URL has no host")
	}
	if u.User != nil {
		return nil, errors.New("websocket: URL has user info; send credentials in DialOptions.Header")
	}
	return u, nil
}

// ownHeaders are the request headers Dial writes itself.
var ownHeaders = []string{"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions"}

// newHandshakeRequest builds the request of RFC 6455 §4.1 and the key it
// carries.
func newHandshakeRequest(u *url.URL, o *DialOptions) (*http.Request, string, error) {
	// net/http leaves out of the request, without a word, a header whose
	// name is not a token: say so instead.
	for name, values := range o.Header {
		if !isToken(name) {
			return nil, "", fmt.Errorf("websocket: DialOptions.Header has %q, which is not a header name (RFC 9110 §5.1)", name)
		}
		if slices.Contains(ownHeaders, http.CanonicalHeaderKey(name)) {
			return nil, "", fmt.Errorf("websocket: DialOptions.Header may not set %s: Dial writes it", name)
		}
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n\x00") {
				return nil, "", fmt.Errorf("websocket: DialOptions.Header %s has a value with a line break or NUL", name)
			}
		}
	}
	// RFC 6455 §4.1: each offered subprotocol is a token, and unique.
	for i, p := range o.Subprotocols {
		if !isToken(p) {
			return nil, "", fmt.Errorf("websocket: subprotocol %q is not a token (RFC 6455 §4.1)", p)
		}
		if slices.Contains(o.Subprotocols[:i], p) {
			return nil, "", fmt.Errorf("websocket: subprotocol %q is offered twice (RFC 6455 §4.1)", p)
		}
	}
	var nonce [16]byte
	rand.Read(nonce[:]) // RFC 6455 §4.1 item 7: a random 16-byte value
	key := base64.StdEncoding.EncodeToString(nonce[:])

	req := &http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     o.Header.Clone(),
		Host:       u.Host,
	}
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
		req.Header.Del("Host")
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if len(o.Subprotocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(o.Subprotocols, ", "))
	}
	if o.Compression != CompressionDisabled {
		req.Header.Set("Sec-WebSocket-Extensions", deflateOffer(o.Compression))
	}
	if o.Jar != nil {
		for _, cookie := range o.Jar.Cookies(u) {
			req.AddCookie(cookie)
		}
	}
	return req, key, nil
}

// dialServer opens the byte stream to the server: TCP, through the proxy if
// there is one, then TLS for https.
func dialServer(ctx context.Context, req *http.Request, o *DialOptions) (net.Conn, error) {
	dial := o.NetDialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	proxy := o.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	proxyURL, err := proxy(req)
	if err != nil {
		return nil, fmt.Errorf("websocket: choosing a proxy: %w", err)
	}
	addr := hostPort(req.URL)

	var conn net.Conn
	if proxyURL == nil {
		if conn, err = dial(ctx, "tcp", addr); err != nil {
			return nil, fmt.Errorf("websocket: dialing %s: %w", addr, err)
		}
	} else if conn, err = dialProxy(ctx, dial, proxyURL, addr, o); err != nil {
		return nil, err
	}
	if req.URL.Scheme == "https" {
		tlsConn, err := tlsClient(ctx, conn, req.URL.Hostname(), o.TLSConfig)
		if err != nil {
			return nil, err
		}
		conn = tlsConn
	}
	return conn, nil
}

// hostPort is u's host with the scheme's default port when it has none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func tlsClient(ctx context.Context, conn net.Conn, serverName string, base *tls.Config) (net.Conn, error) {
	cfg := base.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = serverName
	}
	// The handshake that follows is HTTP/1.1: a server that picked h2
	// through ALPN would not understand it.
	cfg.NextProtos = []string{"http/1.1"}
	tlsConn := tls.Client(conn, cfg)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("websocket: TLS handshake with %s: %w", serverName, err)
	}
	return tlsConn, nil
}

// dialProxy connects to proxyURL and asks it with CONNECT for a tunnel to
// addr (RFC 9110 §9.3.6).
func dialProxy(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), proxyURL *url.URL, addr string, o *DialOptions) (net.Conn, error) {
	if proxyURL.Scheme != "http" && proxyURL.Scheme != "https" {
		return nil, fmt.Errorf("websocket: proxy scheme %q is not supported: use an http or https proxy", proxyURL.Scheme)
	}
	proxyAddr := hostPort(proxyURL)
	conn, err := dial(ctx, "tcp", proxyAddr)
	if err != nil {
		return nil, fmt.Errorf("websocket: dialing proxy %s: %w", proxyAddr, err)
	}
	if proxyURL.Scheme == "https" {
		if conn, err = tlsClient(ctx, conn, proxyURL.Hostname(), o.TLSConfig); err != nil {
			return nil, err
		}
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	connectReq := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: addr},
		Host:   addr,
		Header: make(http.Header),
	}
	if u := proxyURL.User; u != nil {
		password, _ := u.Password()
		auth := base64.StdEncoding.EncodeToString([]byte(u.Username() + ":" + password))
		connectReq.Header.Set("Proxy-Authorization", "Basic "+auth)
	}
	if err := connectReq.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("websocket: writing CONNECT to proxy %s: %w", proxyAddr, err)
	}
	lr := &limitedReader{r: conn, left: maxHandshakeResponse}
	br := bufio.NewReader(lr)
	resp, err := http.ReadResponse(br, connectReq)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("websocket: reading the answer of proxy %s: %w", proxyAddr, lr.cause(err))
	}
	if resp.StatusCode/100 != 2 {
		conn.Close()
		return nil, fmt.Errorf("websocket: proxy %s refused the tunnel: %s", proxyAddr, resp.Status)
	}
	// The proxy speaks only after the server: nothing may follow its answer.
	if br.Buffered() > 0 {
		conn.Close()
		return nil, fmt.Errorf("websocket: proxy %s sent data after its answer to CONNECT", proxyAddr)
	}
	return conn, nil
}

// handshake sends the opening handshake on conn and checks the answer.
func handshake(conn net.Conn, req *http.Request, key string, o *DialOptions) (*Conn, *http.Response, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", req.URL.RequestURI(), req.Host)
	req.Header.Write(&b)
	b.WriteString("\r\n")
	if _, err := conn.Write(b.Bytes()); err != nil {
		return nil, nil, fmt.Errorf("websocket: writing the handshake request: %w", err)
	}

	lr := &limitedReader{r: conn, left: maxHandshakeResponse}
	br := bufio.NewReader(lr)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, fmt.Errorf("websocket: reading the handshake response: %w", lr.cause(err))
	}
	if o.Jar != nil {
		if cookies := resp.Cookies(); len(cookies) > 0 {
			o.Jar.SetCookies(req.URL, cookies)
		}
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// Keep the start of the body for the caller. Not Body.Close: it
		// would read the rest, which a server may make endless.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil, resp, &HandshakeError{Status: resp.StatusCode, Message: "the server did not switch protocols"}
	}
	subprotocol, err := checkHandshakeResponse(resp, key, o.Subprotocols)
	if err != nil {
		return nil, resp, err
	}
	deflate, err := checkExtensions(resp, o)
	if err != nil {
		return nil, resp, err
	}
	// Frames the server sent right behind its answer.
	buffered, _ := br.Peek(br.Buffered())
	return newConn(conn, buffered, connConfig{
		client:       true,
		subprotocol:  subprotocol,
		readLimit:    o.ReadLimit,
		closeTimeout: o.CloseTimeout,
		queueLimit:   o.QueueLimit,
		pingHandler:  o.PingHandler,
		pongHandler:  o.PongHandler,
		deflate:      deflate,
	}), resp, nil
}

// checkHandshakeResponse applies RFC 6455 §4.1's checks of the server's 101
// answer and returns the subprotocol it chose.
func checkHandshakeResponse(resp *http.Response, key string, offered []string) (string, error) {
	bad := func(msg string) (string, error) {
		return "", &HandshakeError{Status: resp.StatusCode, Message: msg}
	}
	switch {
	case !headerHasToken(resp.Header, "Upgrade", "websocket"):
		return bad(`the response's Upgrade header does not contain "websocket"`)
	case !headerHasToken(resp.Header, "Connection", "upgrade"):
		return bad(`the response's Connection header does not contain "Upgrade"`)
	case len(resp.Header.Values("Sec-WebSocket-Accept")) != 1:
		return bad("the response must have exactly one Sec-WebSocket-Accept header")
	case resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key):
		return bad("the response's Sec-WebSocket-Accept does not match the key sent")
	}
	chosen := headerList(resp.Header, "Sec-WebSocket-Protocol")
	switch {
	case len(chosen) == 0:
		return "", nil
	case len(chosen) > 1:
		return bad("the server chose more than one subprotocol")
	case !slices.Contains(offered, chosen[0]):
		return bad(fmt.Sprintf("the server chose subprotocol %q, which the client did not offer", chosen[0]))
	}
	return chosen[0], nil
}

// checkExtensions checks the extensions the server chose (RFC 6455 §4.1):
// only permessage-deflate, and only if offered, with a legal answer.
func checkExtensions(resp *http.Response, o *DialOptions) (*deflateConfig, error) {
	exts, err := parseExtensions(resp.Header)
	if err == nil {
		var cfg *deflateConfig
		cfg, err = acceptDeflateAnswer(exts, o.Compression, o.CompressionLevel, o.CompressionThreshold)
		if err == nil {
			return cfg, nil
		}
	}
	return nil, &HandshakeError{Status: resp.StatusCode, Message: err.Error()}
}

// limitedReader is io.LimitedReader with an error instead of a silent EOF
// at the limit.
type limitedReader struct {
	r    io.Reader
	left int
}

var errHandshakeTooLarge = fmt.Errorf("websocket: handshake response is larger than %d bytes", maxHandshakeResponse)

// cause returns the error that explains err, a failure to parse what was
// read: hitting the limit, if it was hit. The parser may have dropped that
// error and choked on the line the limit cut short.
func (l *limitedReader) cause(err error) error {
	if l.left <= 0 {
		return errHandshakeTooLarge
	}
	return err
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errHandshakeTooLarge
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= n
	return n, err
}
