// Package websocket implements the WebSocket protocol, RFC 6455, for servers
// and clients, using the standard library only.
//
// A server accepts connections with [Upgrade], called from an HTTP handler;
// a client opens one with [Dial]. Both return a [Conn], which reads and
// writes messages the same way on either side.
//
// A server that echoes every message:
//
//	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
//		c, err := websocket.Upgrade(w, r, nil)
//		if err != nil {
//			return // Upgrade has answered the request with an HTTP error
//		}
//		defer c.CloseNow()
//		for {
//			typ, p, err := c.ReadMessage()
//			if err != nil {
//				return // the peer closed, or the connection failed
//			}
//			if err := c.WriteMessage(typ, p); err != nil {
//				return
//			}
//		}
//	})
//
// A client that sends a message, reads the answer and closes:
//
//	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//	defer cancel()
//	c, _, err := websocket.Dial(ctx, "ws://localhost:8080/echo", nil)
//	if err != nil {
//		return err
//	}
//	defer c.CloseNow()
//	if err := c.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
//		return err
//	}
//	_, p, err := c.ReadMessage()
//	if err != nil {
//		return err
//	}
//	fmt.Printf("%s\n", p)
//	return c.Close(websocket.StatusNormalClosure, "")
//
// The context given to Dial bounds the opening handshake only, not the
// connection that follows.
//
// # Messages
//
// A message is a [TextMessage] or a [BinaryMessage]. Control frames (ping,
// pong, close) are never returned as messages; see below.
//
// [Conn.ReadMessage] reads a whole message into a new slice that belongs to
// the caller. [Conn.NextReader] returns an [io.Reader] that streams the
// payload of one message as its frames arrive, without holding the message
// whole; it returns [io.EOF] at the end of the message and is valid until the
// next call to NextReader or ReadMessage, which discard whatever is left of it.
//
// [Conn.WriteMessage] sends a whole message, in one frame unless it is
// compressed (then a frame each time 16 KiB of compressed bytes fill the
// write buffer). [Conn.NextWriter]
// returns an [io.WriteCloser] that sends a frame each time its buffer fills
// and the final frame on Close, so a message of any size goes out through a
// fixed-size buffer, as a fragmented message when it is larger than that
// buffer. Until the writer is closed, other messages wait.
//
// Text messages must be valid UTF-8 (RFC 6455 §8.1). The Conn checks every
// text message it receives, discarded ones included, as the bytes arrive and
// across fragment boundaries. It fails the connection with
// [StatusInvalidPayload] (1007) at the first byte that cannot be part of
// valid UTF-8; earlier reads from a NextReader may already have returned the
// bytes before it. The Conn does not check text it writes: that is the
// caller's promise, and peers fail the connection when it is broken.
//
// # Concurrency
//
// One goroutine at a time may read: [Conn.ReadMessage], [Conn.NextReader]
// and the reader it returns.
//
// Any number of goroutines may write at once. [Conn.WriteMessage] and
// [Conn.NextWriter] serialize whole messages: a message being streamed
// through a NextWriter holds off other messages until its writer is closed.
// Control frames do not wait for it: pings, pongs and the close frame go out
// between the frames of a message being streamed.
//
// [Conn.Close], [Conn.CloseNow], [Conn.Ping], [Conn.Pong],
// [Conn.SetReadLimit], the deadline setters and the address getters are safe
// to call from any goroutine, at any time.
//
// The package starts no goroutine of its own for a connection, but for the
// writer of [Conn.QueuePreparedMessage], which runs only while its queue
// holds messages. Control frames
// from the peer are handled inside reads, by the goroutine that reads, so a
// reader must be running for pings to be answered, for [Conn.Ping] to return
// and for a close from the peer to be noticed. A connection that only writes
// still needs a loop that reads and drops messages until a read fails.
//
// # Control frames
//
// Every ping from the peer is answered with a pong that carries its payload
// (RFC 6455 §5.5.3). While another frame is being written, the answer goes
// out right after it, and the reader does not wait; of several pings that
// arrive meanwhile, only the latest is answered, which §5.5.3 allows. A pong
// that cannot be written within the close timeout means a peer that does not
// read, and the connection is closed; one waiting behind another write waits
// as long as that write, which a write deadline or [Conn.Heartbeat] bounds. [UpgradeOptions.PingHandler] (or
// [DialOptions.PingHandler]) replaces that answer: the handler is called
// instead and may call [Conn.Pong] itself. [UpgradeOptions.PongHandler] (or
// [DialOptions.PongHandler]) is called for every pong, after any Ping waiting
// for it has been woken. Handlers run on the reading goroutine, their payload
// is valid only during the call, and an error they return ends reading: the
// read in progress and every later one return it.
//
// [Conn.Ping] sends a ping and waits for the pong that echoes its payload,
// until its context ends or the connection closes, which makes it a liveness
// check with a timeout. [Conn.Pong] sends a pong nobody asked for, which RFC
// 6455 allows as a one-way heartbeat. Control payloads are at most 125 bytes.
//
// # Closing
//
// [Conn.Close] performs the closing handshake of RFC 6455 §7: it sends a
// close frame with a [StatusCode] and a reason, waits for the peer's close
// frame, and closes the TCP connection: a server at once, a client after
// waiting for the server to close it first (RFC 6455 §7.1.1). Each wait is
// bounded by [UpgradeOptions.CloseTimeout] or [DialOptions.CloseTimeout],
// [DefaultCloseTimeout] by default; when the peer does not answer in time,
// Close closes the connection anyway and returns an error that says so. If
// another goroutine is inside a read, that read receives the peer's close
// frame; otherwise Close reads, and drops, whatever arrives before it. A
// code that may not be sent, or a reason that is not UTF-8 or is longer than
// 123 bytes, makes Close return an error before it sends anything.
//
// [Conn.CloseWrite] is the half close: it sends the close frame and
// returns, and the reading goroutine goes on receiving what the peer still
// sends until the peer's close frame, which ends the handshake. A client
// that wants the answers to its last requests closes this way.
//
// [Conn.CloseNow] closes the connection at once, without a handshake. All
// three may be called more than once; a deferred CloseNow after Close is
// harmless.
//
// What a read returns once the connection ends:
//   - When the peer sent a close frame: a [*CloseError] with its code and
//     reason ([StatusNoStatusReceived], 1005, when the frame had no code). The
//     Conn has already answered it with the same code (1000 when there was
//     none), unless it had sent a close frame of its own first.
//   - When the connection was lost without a close frame: an error for which
//     [CloseStatus] reports [StatusAbnormalClosure] (1006), as RFC 6455
//     §7.1.5 says, and which [errors.As] turns into a *CloseError with that
//     code.
//   - When the peer broke the protocol: a [*ProtocolError] that says what was
//     wrong and which status the Conn closed with ([StatusProtocolError],
//     [StatusInvalidPayload] or [StatusMessageTooBig]). It is not a close by
//     the peer, so CloseStatus reports -1.
//   - When CloseNow closed the connection on this side: an error that wraps
//     [net.ErrClosed].
//
// [CloseStatus] returns the code of the *CloseError in an error's chain, or
// -1. A failed read is final: every later read returns the same error.
//
// # Compression
//
// Set [UpgradeOptions.Compression] or [DialOptions.Compression] to use
// permessage-deflate (RFC 7692). The server accepts the first offer it can
// honour, every legal offer can be, and answers only with what that offer
// allows; the client offers, and checks the answer. Browsers offer it on
// every connection.
//
//   - [CompressionNoContextTakeover] compresses each message on its own. The
//     flate compressor and decompressor come from pools for the time of one
//     message, so an idle connection costs what an uncompressed one does.
//   - [CompressionContextTakeover] lets messages refer to earlier ones,
//     which compresses streams of similar messages best, at the price of a
//     flate.Writer and up to 64 KiB of history kept per connection.
//
// Messages under [UpgradeOptions.CompressionThreshold]
// ([DefaultCompressionThreshold] by default) go out uncompressed, as RFC
// 7692 allows per message. The read limit applies to the inflated size,
// checked while inflating, so a small message that inflates hugely fails
// with [StatusMessageTooBig] after at most the limit of work. A compressed
// message that does not inflate fails the connection with
// [StatusInvalidPayload] (1007), the code RFC 6455 §7.4.1 gives data that a
// message's type does not allow. When the peer limits this side's window
// below flate's 32 KiB, the Conn sends Huffman-only blocks, which refer back
// to nothing and so fit any window.
//
// # Broadcast and keepalive
//
// [NewPreparedMessage] encodes a message once; [Conn.WritePreparedMessage]
// then writes the same frame to every server connection, compressed once
// per compressor setting. [Conn.QueuePreparedMessage] queues it instead and
// returns at once: a goroutine of the Conn, running only while its queue is
// not empty, writes the queued messages in order. A broadcast loop that
// queues is not held up by a client that stopped reading; that client's
// queue fills, QueuePreparedMessage returns [ErrQueueFull], and the caller
// drops the message or the client:
//
//	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, msg)
//	if err != nil {
//		return err
//	}
//	for _, c := range clients {
//		if err := c.QueuePreparedMessage(pm); errors.Is(err, websocket.ErrQueueFull) {
//			go c.Close(websocket.StatusPolicyViolation, "reading too slowly")
//		}
//	}
//
// [Conn.Heartbeat] pings at an interval and closes the connection when a
// pong does not come back in time: the usual way to notice a peer that
// vanished behind a NAT or load balancer without closing TCP. Run it in a
// goroutine of its own next to the reader.
//
// # Limits
//
// A Conn reads messages of at most [DefaultReadLimit] bytes (16 MiB) unless
// [UpgradeOptions.ReadLimit], [DialOptions.ReadLimit] or [Conn.SetReadLimit]
// says otherwise; zero or less means the default, and there is no unlimited
// setting. A message over the limit fails the connection with
// [StatusMessageTooBig] (1009) as soon as a frame header announces it, before
// its payload is read. [Conn.ReadMessage] does not trust a frame's declared
// length for more than 64 KiB of allocation up front; a larger message, or
// one in fragments, is read into pooled chunks that grow as bytes arrive and
// then copied into one slice of its size, the only allocation while the
// pools hold the chunks (a garbage collection empties them).
//
// [Conn.SetReadDeadline] and [Conn.SetWriteDeadline] bound reads and writes.
// A read that times out fails the Conn for reading, and a write that times
// out fails it for writing, since a frame may have been cut in two.
//
// On the client, [Dial] reads at most 1 MiB of the server's handshake response
// (and of a proxy's answer to CONNECT). After a refusal it keeps the first
// 4 KiB of the body in the returned [http.Response]. The whole handshake,
// proxy and TLS included, ends when its context does, or after
// [DialOptions.HandshakeTimeout] ([DefaultHandshakeTimeout], 30 seconds, by
// default) when the context has no deadline.
//
// On the server, the request that [Upgrade] answers has been read by
// [net/http], whose limits apply: set [http.Server.ReadHeaderTimeout] so that
// slow clients cannot hold connections open during the handshake.
// [http.Server.MaxHeaderBytes] bounds the size of the request headers.
// Upgrade clears the deadlines the http.Server set on the connection, which
// were meant for one request; use the Conn's deadlines or [Conn.Ping] to
// drop idle or dead peers.
//
// # Origin
//
// A browser lets any page open a WebSocket to any server, and sends that
// server's cookies with the handshake. Only the Origin header says which
// site the page came from. A server that authenticates with cookies and
// accepts any origin lets other sites act as its logged-in visitors: this is
// cross-site WebSocket hijacking (RFC 6455 §10.2).
//
// So by default Upgrade accepts a request only when the host (with port) of
// its Origin header is the request's own Host, compared case-insensitively,
// or when it has no Origin header at all: browsers always send one, so such
// a request does not come from a web page. Other requests are refused with
// 403 Forbidden.
// [UpgradeOptions.OriginPatterns] allows more hosts, as [path.Match] patterns
// such as "*.example.com" or "localhost:*" ("*" allows every origin), and
// [UpgradeOptions.CheckOrigin] replaces the check entirely.
//
// # Authentication
//
// Authenticate the request in the HTTP handler before calling [Upgrade]:
// check a session cookie, an Authorization header or a token, and answer
// with an HTTP error when the check fails, so that no WebSocket exists for an
// unknown client. Browsers cannot set headers on a WebSocket request, so
// browser clients authenticate with cookies (which the origin check
// protects) or with a short-lived token in the URL. Another way is to
// authenticate with the first message: read it with a deadline and a small
// read limit, and close with [StatusPolicyViolation] when it does not hold
// valid credentials.
//
// The Origin header protects the users of browsers from other sites' pages;
// it says nothing about who the client is. Any program other than a browser
// can send any Origin, or none: never treat it as authentication.
//
// A client sends credentials in [DialOptions.Header] (Authorization, Cookie)
// or through [DialOptions.Jar]. Dial refuses URLs with user information.
//
// # Proxies and TLS
//
// wss:// URLs (and their alias https://) use TLS with
// [DialOptions.TLSConfig], whose ServerName defaults to the URL's host. The
// handshake is HTTP/1.1, so Dial offers only "http/1.1" through ALPN.
// [Upgrade] works under any [http.Server], with or without TLS, on HTTP/1.1
// and on HTTP/2. Over HTTP/2 a WebSocket is one stream of the connection,
// opened by an extended CONNECT request (RFC 8441). net/http's server
// accepts those, and tells browsers so, only when the GODEBUG environment
// variable holds http2xconnect=1; browsers then open their WebSockets on the
// HTTP/2 connection they already have to the server. The Conn over HTTP/2
// lasts as long as the handler, which must not return before it is done
// with it. [Dial] speaks HTTP/1.1 only: net/http's client cannot send an
// extended CONNECT.
//
// [DialOptions.Proxy] chooses a proxy for each dial; nil means
// [http.ProxyFromEnvironment], which reads HTTP_PROXY, HTTPS_PROXY and
// NO_PROXY, and never proxies requests to localhost or to loopback
// addresses. Dial tunnels through http:// and https:// proxies with CONNECT,
// sending Proxy-Authorization when the proxy URL holds a user and password;
// other proxy schemes are refused. A Proxy function that returns nil dials
// directly, and [DialOptions.NetDialContext] replaces the TCP dialer.
//
// # Memory
//
// A Conn reads through a 512-byte buffer that is part of it. When a read fills
// that buffer, which means more data is waiting, the Conn switches to a 16 KiB
// buffer from a pool that all connections share, and gives it back once it has
// drained it and the message has ended. On a plain TCP or Unix socket (not
// TLS) on Unix systems it does better: it waits for data without a buffer,
// through the socket's [syscall.RawConn], and reads what came into a pooled
// 16 KiB buffer, so that a message whose frame fits in it takes one read.
// Writers take a pooled buffer only for the time of a write:
// [Conn.WriteMessage] on a server sends the caller's slice as it is, behind a
// header (over TLS, which has no vectored write, the header and the first
// 16 KiB are copied into a pooled buffer to make one record), and on a client
// masks it into a 32 KiB pooled buffer, a piece at a time; a [Conn.NextWriter]
// writer holds a 16 KiB one from its first Write to its Close. So a connection
// between messages holds a small struct and, normally, no large buffer (the
// exception: when the last read exactly filled the small buffer, the next one
// takes the large buffer, and an idle connection keeps it until data comes);
// with no goroutine of its own (the writer of [Conn.QueuePreparedMessage] runs
// only while its queue holds messages), its cost while idle is that and the
// goroutine that reads it. [Conn.NextReader] streams without allocating;
// [Conn.ReadMessage] allocates the slice it returns.
//
// On a server, most of an idle connection's cost is net/http's, not the
// Conn's: a handler that keeps reading keeps its goroutine's grown stack and
// the request's state alive. Hand the Conn to a goroutine of its own and
// return from the handler, which Upgrade allows over HTTP/1.1 since the
// connection is hijacked (not over HTTP/2), and that state is freed: the
// benchmarks module measures 17.7 KiB of heap and stacks per idle
// connection the first way, 5.2 KiB the second
// (benchmarks/results/2026-11-22-5-memory.md).
package websocket
