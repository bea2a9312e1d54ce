// Command autobahn drives the Autobahn|Testsuite fuzzing server with this
// library as the client under test.
//
// Start the fuzzing server (wstest -m fuzzingserver) on port 9001, then:
//
//	go run ./examples/autobahn -url ws://127.0.0.1:9001 -agent websocket
//
// The driver asks the server how many cases it has (/getCaseCount), runs each
// one (/runCase), echoing every message back unchanged until the server
// closes, and finally asks the server to write its reports (/updateReports).
// The verdicts are in the server's report directory, not in this program's
// output: many cases end in an error on purpose (they send protocol
// violations), so a case's error here is logged, not treated as a failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/ws6455/websocket"
)

func main() {
	base := flag.String("url", "ws://127.0.0.1:9001", "base URL of the fuzzing server")
	agent := flag.String("agent", "ws6455", "agent name under which the server files the results")
	limit := flag.Int64("limit", 64<<20, "largest message accepted, in bytes (cases 9.x send 16 MiB)")
	caseTimeout := flag.Duration("case-timeout", 2*time.Minute, "longest time one case may take")
	compress := flag.Bool("compress", false, "offer permessage-deflate with context takeover (RFC 7692), for cases 12.x and 13.x")
	flag.Parse()

	log.SetFlags(log.Ltime)
	log.SetPrefix("autobahn: ")
	compression := websocket.CompressionDisabled
	if *compress {
		compression = websocket.CompressionContextTakeover
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	d := &driver{base: strings.TrimSuffix(*base, "/"), agent: *agent, limit: *limit, caseTimeout: *caseTimeout, compression: compression}
	if err := d.run(ctx); err != nil {
		log.Print(err)
		stop()
		os.Exit(1)
	}
}

// driver runs the fuzzing server's cases against this library.
type driver struct {
	base        string // ws://host:port, no trailing slash
	agent       string
	limit       int64
	caseTimeout time.Duration
	compression websocket.CompressionMode
}

// run asks for the case count, runs every case and updates the reports.
func (d *driver) run(ctx context.Context) error {
	n, err := d.caseCount(ctx)
	if err != nil {
		return err
	}
	log.Printf("running %d cases as agent %q", n, d.agent)

	start := time.Now()
	for i := 1; i <= n; i++ {
		if ctx.Err() != nil {
			return fmt.Errorf("running the cases stopped at case %d: %w", i, context.Cause(ctx))
		}
		caseStart := time.Now()
		err := d.runCase(ctx, i)
		log.Printf("case %d/%d: %s (%v)", i, n, describe(err), time.Since(caseStart).Round(time.Millisecond))
	}
	log.Printf("ran %d cases in %v", n, time.Since(start).Round(time.Millisecond))

	if err := d.updateReports(ctx); err != nil {
		return err
	}
	log.Print("reports updated")
	return nil
}

// caseCount returns the number of cases: the server sends it as one text
// message on /getCaseCount and then closes.
func (d *driver) caseCount(ctx context.Context) (int, error) {
	c, err := d.dial(ctx, "/getCaseCount")
	if err != nil {
		return 0, fmt.Errorf("getting the case count failed: %w", err)
	}
	defer c.CloseNow()

	typ, p, err := c.ReadMessage()
	if err != nil {
		return 0, fmt.Errorf("reading the case count failed: %w", err)
	}
	if typ != websocket.TextMessage {
		return 0, fmt.Errorf("reading the case count failed: got message type %d, want text", typ)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(p)))
	if err != nil {
		return 0, fmt.Errorf("parsing the case count %q failed: %w", p, err)
	}
	// The server closes after the count; answer its close.
	waitClose(c)
	return n, nil
}

// runCase runs case i, echoing messages until the server closes. It returns
// the error that ended the connection.
func (d *driver) runCase(ctx context.Context, i int) error {
	ctx, cancel := context.WithTimeoutCause(ctx, d.caseTimeout,
		fmt.Errorf("case %d took longer than %v", i, d.caseTimeout))
	defer cancel()

	c, err := d.dial(ctx, fmt.Sprintf("/runCase?case=%d&agent=%s", i, url.QueryEscape(d.agent)))
	if err != nil {
		return fmt.Errorf("starting case %d failed: %w", i, err)
	}
	defer c.CloseNow()
	// A case that hangs is cut off; its reads then fail.
	stop := context.AfterFunc(ctx, func() { c.CloseNow() })
	defer stop()

	err = echo(c)
	if ctx.Err() != nil {
		return fmt.Errorf("case %d cut off: %w", i, context.Cause(ctx))
	}
	return err
}

// updateReports asks the server to write the reports for this agent.
func (d *driver) updateReports(ctx context.Context) error {
	c, err := d.dial(ctx, "/updateReports?agent="+url.QueryEscape(d.agent))
	if err != nil {
		return fmt.Errorf("updating the reports failed: %w", err)
	}
	defer c.CloseNow()
	waitClose(c)
	return nil
}

// dial connects to the server path; the context bounds the handshake only.
func (d *driver) dial(ctx context.Context, path string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, d.base+path, &websocket.DialOptions{
		ReadLimit:   d.limit,
		Compression: d.compression,
		// Every message, however small, so that the compression cases
		// exercise compression both ways.
		CompressionThreshold: -1,
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// echo sends every message it reads back with the same type, streaming it
// frame by frame, and returns the error that ended the connection.
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

// waitClose reads and discards messages until the connection ends, so that
// the server's close frame is read and answered.
func waitClose(c *websocket.Conn) {
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
	}
}

// describe says how a case's connection ended.
func describe(err error) string {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce) && ce.Reason != "":
		return fmt.Sprintf("server closed with %v: %q", ce.Code, ce.Reason)
	case errors.As(err, &ce):
		return fmt.Sprintf("server closed with %v", ce.Code)
	case err == nil:
		return "ended"
	default:
		return "ended with an error: " + err.Error()
	}
}
