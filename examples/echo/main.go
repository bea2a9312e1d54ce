// Command echo is a WebSocket echo server, and with -dial an echo client.
//
// As a server it echoes every message on every path: a text message comes back
// as text, a binary one as binary. It accepts the first subprotocol the client
// offers and allows any origin, which suits a test server and nothing else.
// A plain GET of / (not a WebSocket upgrade) returns a small page that echoes
// what you type, for trying it in a browser; other plain requests get 404:
//
//	go run ./examples/echo -addr 127.0.0.1:9001
//
// As a client it connects to URL and echoes every message back until the peer
// closes. It exits 0 after a clean close (the peer's status 1000, or no status
// at all) and 1 otherwise:
//
//	go run ./examples/echo -dial ws://127.0.0.1:9001/
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/ws6455/websocket"
)

// indexHTML is the page served at / to a browser.
//
//go:embed index.html
var indexHTML []byte

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address of the echo server (port 0 picks a free port)")
	limit := flag.Int64("limit", 64<<20, "largest message accepted, in bytes")
	compress := flag.Bool("compress", false, "accept (server) or offer (client) permessage-deflate with context takeover (RFC 7692)")
	dial := flag.String("dial", "", "act as a client: connect to this ws:// or wss:// URL and echo until the peer closes")
	flag.Parse()

	log.SetFlags(log.Ltime)
	log.SetPrefix("echo: ")
	compression := websocket.CompressionDisabled
	if *compress {
		compression = websocket.CompressionContextTakeover
	}

	// Interrupt ends the program: the client closes with 1001 (going away),
	// the server stops accepting connections.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if *dial != "" {
		if err := runClient(ctx, *dial, *limit, compression); err != nil {
			log.Print(err)
			stop()
			os.Exit(1)
		}
		return
	}
	if err := runServer(ctx, *addr, *limit, compression); err != nil {
		log.Print(err)
		stop()
		os.Exit(1)
	}
}

// runServer serves the echo handler on addr until ctx is done.
func runServer(ctx context.Context, addr string, limit int64, compression websocket.CompressionMode) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s failed: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           &echoHandler{limit: limit, compression: compression},
		ReadHeaderTimeout: 10 * time.Second,
	}
	// Log the address actually bound, so that -addr 127.0.0.1:0 is usable.
	log.Printf("listening on ws://%s/ (page at http://%s/)", ln.Addr(), ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTP failed: %w", err)
	case <-ctx.Done():
	}
	// Shutdown does not track hijacked connections: open WebSocket
	// connections end when the process exits.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down the server failed: %w", err)
	}
	return nil
}

// echoHandler upgrades every WebSocket request and echoes its messages.
type echoHandler struct {
	limit       int64 // read limit per message, in bytes
	compression websocket.CompressionMode
}

func (h *echoHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsUpgradeRequest(r) {
		// Plain HTTP: the page at /, nothing elsewhere.
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(indexHTML)
		return
	}
	c, err := websocket.Upgrade(w, r, &websocket.UpgradeOptions{
		// The server's list is in preference order; making it the client's
		// own list accepts whichever subprotocol the client offers first.
		Subprotocols: offeredSubprotocols(r),
		// A test server: any page may connect to it.
		OriginPatterns: []string{"*"},
		ReadLimit:      h.limit,
		Compression:    h.compression,
		// A test server compresses every message it can, however small.
		CompressionThreshold: -1,
	})
	if err != nil {
		// Upgrade has already answered the request with an HTTP error.
		log.Printf("upgrading the request from %s failed: %v", r.RemoteAddr, err)
		return
	}
	defer c.CloseNow()

	err = echo(c)
	if code := websocket.CloseStatus(err); code != -1 {
		log.Printf("connection from %s closed by the peer: %v", r.RemoteAddr, err)
		return
	}
	log.Printf("connection from %s ended: %v", r.RemoteAddr, err)
}

// offeredSubprotocols returns the subprotocols the client offers, in its
// order. Sec-WebSocket-Protocol may be repeated and each value is a
// comma-separated list (RFC 6455 §11.3.4).
func offeredSubprotocols(r *http.Request) []string {
	var offered []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				offered = append(offered, p)
			}
		}
	}
	return offered
}

// echo sends every message it reads from c back to c with the same type,
// streaming it so that a large message is never held in memory whole. It
// returns the error that ended the connection; after a close from the peer,
// websocket.CloseStatus of that error is the peer's status code.
func echo(c *websocket.Conn) error {
	for {
		typ, r, err := c.NextReader()
		if err != nil {
			return err
		}
		w, err := c.NextWriter(typ)
		if err != nil {
			return fmt.Errorf("starting the echo message failed: %w", err)
		}
		if _, err := io.Copy(w, r); err != nil {
			return fmt.Errorf("echoing the message failed: %w", err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("finishing the echo message failed: %w", err)
		}
	}
}

// runClient connects to url and echoes until the peer closes. It returns nil
// only after a clean close: status 1000 (normal closure) or 1005 (no status).
func runClient(ctx context.Context, url string, limit int64, compression websocket.CompressionMode) error {
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, _, err := websocket.Dial(dialCtx, url, &websocket.DialOptions{
		ReadLimit:            limit,
		Compression:          compression,
		CompressionThreshold: -1,
	})
	cancel()
	if err != nil {
		return fmt.Errorf("connecting to %s failed: %w", url, err)
	}
	defer c.CloseNow()
	log.Printf("connected to %s (subprotocol %q)", url, c.Subprotocol())

	// On interrupt, start the closing handshake; the echo loop below then
	// ends with the peer's answer.
	stopClose := context.AfterFunc(ctx, func() {
		c.Close(websocket.StatusGoingAway, "interrupted")
	})
	defer stopClose()

	err = echo(c)
	if ctx.Err() != nil {
		return fmt.Errorf("echoing stopped by an interrupt: %w", err)
	}
	switch code := websocket.CloseStatus(err); code {
	case websocket.StatusNormalClosure, websocket.StatusNoStatusReceived:
		log.Printf("closed by the peer: %v", err)
		return nil
	case -1:
		return fmt.Errorf("echoing failed before the peer closed: %w", err)
	default:
		return fmt.Errorf("echo ended with an unclean close (status %d): %w", code, err)
	}
}
