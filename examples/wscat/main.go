// Command wscat is a command-line WebSocket client: it sends each line of its
// standard input as a text message and prints each message it receives on a
// line of its standard output.
//
//	go run ./examples/wscat ws://127.0.0.1:9001/
//	go run ./examples/wscat -H "Authorization: Bearer t0ken" -subprotocol chat.v2 wss://example.com/ws
//	go run ./examples/wscat -insecure wss://127.0.0.1:8443/   # self-signed test server
//
// Lines go out without their line end ("\n" or "\r\n"); a line that is not
// valid UTF-8 goes out as a binary message, since a text message must be
// UTF-8. A text message is printed as it is, followed by a newline, so one
// that holds newlines spans several lines. A binary message is printed as a
// note and its bytes in hex: "[binary 3 bytes] 0a0b0c". Everything else,
// status and errors, goes to standard error.
//
// At the end of standard input (Ctrl-D on a terminal) wscat sends a close
// frame with status 1000 (normal closure) and goes on printing what the
// server still sends, the answers to the last lines, until the server's
// close frame; on interrupt (Ctrl-C) it closes with 1001 (going away), and
// a second interrupt stops it at once. It exits 0 when the connection ends with
// status 1000 or with no status, 1 when it ends with any other status, when
// the handshake is refused or when the connection fails, 2 for bad usage and
// 130 after an interrupt.
//
// Proxies come from the environment: HTTP_PROXY, HTTPS_PROXY and NO_PROXY,
// as websocket.DialOptions.Proxy does by default. Loopback addresses are
// never proxied.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"unicode/utf8"

	"github.com/ws6455/websocket"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	// After the first interrupt starts the closing handshake, a second one
	// kills the program the default way, in case the server never answers
	// or a write is stuck behind a server that does not read.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program, with its arguments, streams and interrupt as
// parameters so that tests can run it in-process. It returns the exit code.
//
// run does not wait for the goroutine that reads stdin when the connection
// ends first: a read from a terminal cannot be interrupted. That goroutine
// ends at the next line or end of stdin, or when the process exits.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	logger := log.New(stderr, "wscat: ", 0)
	fs := flag.NewFlagSet("wscat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	header := make(http.Header)
	fs.Var(headerFlag(header), "H", `extra request header, as "Name: value" (Authorization, Cookie, Origin...); repeatable`)
	var subprotocols listFlag
	fs.Var(&subprotocols, "subprotocol", "subprotocol to offer, in order of preference; repeatable or comma-separated")
	insecure := fs.Bool("insecure", false, "do not verify the server's TLS certificate (wss://): only for test servers with self-signed certificates, since anyone on the path can then read and change the traffic")
	compress := fs.Bool("compress", false, "offer permessage-deflate (RFC 7692); the server decides")
	timeout := fs.Duration("timeout", websocket.DefaultHandshakeTimeout, "limit for the opening handshake, proxy and TLS included")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: wscat [flags] ws://host[:port]/path (or wss://)\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	url := fs.Arg(0)

	opts := &websocket.DialOptions{
		Header:           header,
		Subprotocols:     subprotocols,
		HandshakeTimeout: *timeout,
	}
	if *insecure {
		opts.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	}
	if *compress {
		opts.Compression = websocket.CompressionContextTakeover
		// Whoever asks for compression wants to see it used, and typed
		// lines are all shorter than the default threshold.
		opts.CompressionThreshold = -1
	}
	c, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		logger.Printf("connecting to %s failed: %v", url, err)
		if ctx.Err() != nil {
			return 130
		}
		// The error says the HTTP status of a refusal (a *HandshakeError);
		// the body of the answer, whose start Dial keeps, often says why.
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			if body, _ := io.ReadAll(io.LimitReader(resp.Body, 512)); len(bytes.TrimSpace(body)) > 0 {
				logger.Printf("the server's answer begins: %q", bytes.TrimSpace(body))
			}
		}
		return 1
	}
	defer c.CloseNow()
	logger.Printf("connected to %s (subprotocol %q, extensions %q)", url, c.Subprotocol(), resp.Header.Get("Sec-WebSocket-Extensions"))

	// The reading goroutine only writes to stdout and the main one only to
	// stderr, so neither stream needs a lock.
	readDone := make(chan error, 1)
	go func() { readDone <- printMessages(c, stdout) }()

	done := make(chan struct{})
	defer close(done)
	lines := make(chan []byte)
	var inputErr error // set before lines is closed
	go func() {
		defer close(lines)
		inputErr = readLines(stdin, lines, done)
	}()

	var (
		readErr, closeErr, writeErr error
		readEnded, inputFailed      bool
		failed                      = 1 // the exit code of a failure
	)
loop:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				lines = nil
				if inputErr != nil {
					inputFailed = true
					logger.Printf("reading standard input failed: %v", inputErr)
				}
				// CloseWrite, not Close: the reader goes on printing what
				// the server still sends, the answers to the last lines,
				// until the server's close frame.
				closeErr = c.CloseWrite(websocket.StatusNormalClosure, "")
				break loop
			}
			typ := websocket.TextMessage
			if !utf8.Valid(line) {
				// A text message must be UTF-8 (RFC 6455 §8.1): the
				// server would fail the connection.
				typ = websocket.BinaryMessage
				logger.Printf("line is not valid UTF-8: sent as a binary message")
			}
			if err := c.WriteMessage(typ, line); err != nil {
				// After a close frame, writes fail with net.ErrClosed and the
				// reader tells how the connection ended. Other failures may
				// have cut a frame in two: no close frame can follow.
				if !errors.Is(err, net.ErrClosed) {
					writeErr = err
					c.CloseNow()
				}
				break loop
			}
		case readErr = <-readDone:
			readEnded = true
			break loop
		case <-ctx.Done():
			failed = 130 // as shells report a program that Ctrl-C stopped
			logger.Printf("interrupted: closing with status 1001 (going away)")
			closeErr = c.Close(websocket.StatusGoingAway, "interrupted")
			break loop
		}
	}
	if !readEnded {
		// Every way out of the loop has sent a close frame, answered one
		// or closed the connection, so the reader is ending.
		readErr = <-readDone
	}

	switch {
	case writeErr != nil:
		logger.Printf("sending a message failed: %v", writeErr)
		return failed
	case closeErr != nil:
		logger.Printf("closing the connection failed: %v", closeErr)
		return failed
	}
	var ce *websocket.CloseError
	if !errors.As(readErr, &ce) || ce.Code == websocket.StatusAbnormalClosure {
		logger.Printf("the connection ended: %v", readErr)
		return failed
	}
	how, reason := "closed, the server answered", ""
	if readEnded {
		how = "the server closed the connection"
	}
	if ce.Reason != "" {
		reason = fmt.Sprintf(", reason %q", ce.Reason)
	}
	logger.Printf("%s with status %v%s", how, ce.Code, reason)
	if failed == 130 || inputFailed || (ce.Code != websocket.StatusNormalClosure && ce.Code != websocket.StatusNoStatusReceived) {
		return failed
	}
	return 0
}

// printMessages prints every message c receives to out until reading fails,
// and returns the error that ended it.
func printMessages(c *websocket.Conn, out io.Writer) error {
	for {
		typ, p, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if typ == websocket.TextMessage {
			_, err = out.Write(append(p, '\n'))
		} else {
			_, err = fmt.Fprintf(out, "[binary %d bytes] %x\n", len(p), p)
		}
		if err != nil {
			return fmt.Errorf("writing a message to standard output failed: %w", err)
		}
	}
}

// readLines sends each line of in, without its line end, to lines until in
// ends or done is closed. It returns nil at the end of in.
func readLines(in io.Reader, lines chan<- []byte, done <-chan struct{}) error {
	sc := bufio.NewScanner(in)
	// A line is a message: allow lines as long as a server reads by default.
	sc.Buffer(nil, websocket.DefaultReadLimit)
	for sc.Scan() {
		select {
		case lines <- bytes.Clone(sc.Bytes()):
		case <-done:
			return nil
		}
	}
	return sc.Err()
}

// headerFlag adds each -H "Name: value" to the header it is.
type headerFlag http.Header

func (h headerFlag) String() string { return "" }

func (h headerFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	// net/http drops headers with invalid names without a word, so check.
	if !ok || !isToken(name) {
		return fmt.Errorf(`%q is not a header: want "Name: value"`, s)
	}
	http.Header(h).Add(name, strings.TrimSpace(value))
	return nil
}

// listFlag collects the values of a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for v := range strings.SplitSeq(s, ",") {
		// A subprotocol is a token (RFC 6455 §4.1, item 10).
		if v = strings.TrimSpace(v); !isToken(v) {
			return fmt.Errorf("%q is not a valid subprotocol name", v)
		}
		*l = append(*l, v)
	}
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2): visible
// ASCII without separators.
func isToken(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return r <= ' ' || r > '~' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
	}) < 0
}
