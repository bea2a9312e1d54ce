package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ws6455/websocket"
)

// waitLimit bounds every wait of these tests, so that a bug fails a test
// instead of hanging it. Nothing asserts how long anything takes.
const waitLimit = 20 * time.Second

// TestMain fails the run when a goroutine of wscat, the tests or the library
// is still running after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if stacks := goroutinesLeft(); stacks != "" {
			fmt.Fprintf(os.Stderr, "FAIL: goroutines left behind:\n\n%s\n", stacks)
			code = 1
		}
	}
	os.Exit(code)
}

// goroutinesLeft polls, up to waitLimit, until no goroutine but its own runs
// code of this module, and returns the stacks of those that still do.
func goroutinesLeft() string {
	deadline := time.Now().Add(waitLimit)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "ws6455/websocket") && !strings.Contains(g, "goroutinesLeft") {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// server serves handler over HTTP, or HTTPS with a self-signed certificate,
// and returns its ws:// or wss:// URL.
func server(t *testing.T, useTLS bool, handler http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	// The refused certificate would be logged as an error of the server.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
}

// echoServer upgrades requests, accepting subprotocol chat.v2 and
// compression, and echoes every message. When the connection ends it sends
// the error that ended it to ended, whose buffer must hold one error.
func echoServer(ended chan<- error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Upgrade(w, r, &websocket.UpgradeOptions{
			Subprotocols:         []string{"chat.v2"},
			Compression:          websocket.CompressionContextTakeover,
			CompressionThreshold: -1,
		})
		if err != nil {
			ended <- err
			return
		}
		defer c.CloseNow()
		for {
			typ, p, err := c.ReadMessage()
			if err == nil {
				err = c.WriteMessage(typ, p)
			}
			if err != nil {
				ended <- err
				return
			}
		}
	}
}

// result is what a run of wscat did.
type result struct {
	code           int
	stdout, stderr string
}

// runWscat runs wscat with args and stdin to the end.
func runWscat(ctx context.Context, args []string, stdin io.Reader) result {
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, stdin, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// serverEnd waits for the error that ended the server's side and returns its
// close status.
func serverEnd(t *testing.T, ended <-chan error) websocket.StatusCode {
	t.Helper()
	select {
	case err := <-ended:
		return websocket.CloseStatus(err)
	case <-time.After(waitLimit):
		t.Fatal("the server's connection did not end")
		return -1
	}
}

// Lines go out as messages, the echoes come back one per line, and the end
// of input closes with 1000 and exits 0.
func TestEcho(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tls       bool
		args      []string
		stdin     string
		stdout    string
		stderrHas string
	}{
		{name: "lines", stdin: "hello\nworld\n", stdout: "hello\nworld\n"},
		{name: "CRLF, empty and unterminated lines", stdin: "a\r\n\nb", stdout: "a\n\nb\n"},
		{name: "not UTF-8", stdin: "ok\n\xff\xfe\n", stdout: "ok\n[binary 2 bytes] fffe\n", stderrHas: "not valid UTF-8"},
		{name: "compressed", args: []string{"-compress"}, stdin: "hello\nworld\n", stdout: "hello\nworld\n", stderrHas: "permessage-deflate"},
		{name: "wss", tls: true, args: []string{"-insecure"}, stdin: "hello\nworld\n", stdout: "hello\nworld\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ended := make(chan error, 1)
			url := server(t, tc.tls, echoServer(ended))
			res := runWscat(t.Context(), append(tc.args, url), strings.NewReader(tc.stdin))
			if res.code != 0 || res.stdout != tc.stdout || !strings.Contains(res.stderr, tc.stderrHas) {
				t.Errorf("exit code %d, stdout %q; want 0, %q; stderr:\n%s", res.code, res.stdout, tc.stdout, res.stderr)
			}
			if code := serverEnd(t, ended); code != websocket.StatusNormalClosure {
				t.Errorf("the server saw status %d, want 1000", code)
			}
		})
	}
}

// -H headers and -subprotocol offers reach the server.
func TestHeadersAndSubprotocols(t *testing.T) {
	ended := make(chan error, 1)
	echo := echoServer(ended)
	url := server(t, false, func(w http.ResponseWriter, r *http.Request) {
		offered := r.Header.Values("Sec-WebSocket-Protocol")
		if r.Header.Get("Authorization") != "Bearer t0ken" || !slices.Equal(r.Header.Values("X-Trace"), []string{"1", "2"}) ||
			!slices.Equal(offered, []string{"chat.v1, chat.v2, chat.v3"}) {
			ended <- fmt.Errorf("unexpected request header: %v", r.Header)
			http.Error(w, "unexpected request header", http.StatusBadRequest)
			return
		}
		echo(w, r)
	})
	args := []string{
		"-H", "Authorization: Bearer t0ken", "-H", "X-Trace:1", "-H", "X-Trace: 2",
		"-subprotocol", "chat.v1, chat.v2", "-subprotocol", "chat.v3",
		url,
	}
	res := runWscat(t.Context(), args, strings.NewReader("hello\n"))
	if res.code != 0 || res.stdout != "hello\n" || !strings.Contains(res.stderr, `subprotocol "chat.v2"`) {
		t.Errorf("exit code %d, stdout %q; want 0, \"hello\\n\" and subprotocol chat.v2; stderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if code := serverEnd(t, ended); code != websocket.StatusNormalClosure {
		t.Errorf("the server saw status %d, want 1000", code)
	}
}

// When the server closes, wscat prints its status and reason, and exits 0
// only for a normal closure.
func TestServerCloses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		code      websocket.StatusCode // 0: the server drops TCP without a close frame
		reason    string
		exit      int
		stderrHas string
	}{
		{"normal", websocket.StatusNormalClosure, "bye", 0, `status 1000 (normal closure), reason "bye"`},
		{"no status", websocket.StatusNoStatusReceived, "", 0, "status 1005 (no status received)"},
		{"policy violation", websocket.StatusPolicyViolation, "no such room", 1, `status 1008 (policy violation), reason "no such room"`},
		{"connection lost", 0, "", 1, "connection lost without a close frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ended := make(chan error, 1)
			url := server(t, false, func(w http.ResponseWriter, r *http.Request) {
				c, err := websocket.Upgrade(w, r, nil)
				if err != nil {
					ended <- err
					return
				}
				defer c.CloseNow()
				err = c.WriteMessage(websocket.BinaryMessage, []byte{0x00, 0xff})
				if err == nil && tc.code != 0 {
					err = c.Close(tc.code, tc.reason)
				}
				ended <- err
			})
			// Standard input stays open: the server ends the connection.
			stdinR, stdinW := io.Pipe()
			res := runWscat(t.Context(), []string{url}, stdinR)
			stdinW.Close() // ends the goroutine that reads stdin
			if res.code != tc.exit || res.stdout != "[binary 2 bytes] 00ff\n" || !strings.Contains(res.stderr, tc.stderrHas) {
				t.Errorf("exit code %d, stdout %q; want %d, the binary message and %q on stderr; stderr:\n%s",
					res.code, res.stdout, tc.exit, tc.stderrHas, res.stderr)
			}
			if err := <-ended; err != nil {
				t.Errorf("the server's side: %v", err)
			}
		})
	}
}

// A refused handshake shows the HTTP status and the start of the body.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tls       bool
		stderrHas []string
	}{
		{"403", false, []string{"403 Forbidden", `"members only"`}},
		{"untrusted certificate", true, []string{"certificate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := server(t, tc.tls, func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "members only", http.StatusForbidden)
			})
			res := runWscat(t.Context(), []string{url}, strings.NewReader("hello\n"))
			if res.code != 1 || res.stdout != "" {
				t.Errorf("exit code %d, stdout %q; want 1 and nothing", res.code, res.stdout)
			}
			for _, s := range tc.stderrHas {
				if !strings.Contains(res.stderr, s) {
					t.Errorf("stderr does not say %q:\n%s", s, res.stderr)
				}
			}
		})
	}
}

// An interrupt closes with 1001 and exits 130.
func TestInterrupt(t *testing.T) {
	ended := make(chan error, 1)
	url := server(t, false, echoServer(ended))
	ctx, interrupt := context.WithCancel(t.Context())
	defer interrupt()
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	var stderr bytes.Buffer
	exit := make(chan int, 1)
	go func() {
		code := run(ctx, []string{url}, stdinR, stdoutW, &stderr)
		// Whatever happened, unblock the test and the goroutine that
		// reads stdin.
		stdinR.Close()
		stdoutW.Close()
		exit <- code
	}()
	if _, err := io.WriteString(stdinW, "hello\n"); err != nil {
		t.Fatal(err)
	}
	// The echo shows that the connection is up; then interrupt.
	if line, err := bufio.NewReader(stdoutR).ReadString('\n'); line != "hello\n" {
		t.Fatalf("read %q, %v from stdout; want the echo", line, err)
	}
	interrupt()
	if code := <-exit; code != 130 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("exit code %d, want 130; stderr:\n%s", code, stderr.String())
	}
	if code := serverEnd(t, ended); code != websocket.StatusGoingAway {
		t.Errorf("the server saw status %d, want 1001", code)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		exit      int
		stderrHas string
	}{
		{nil, 2, "usage: wscat"},
		{[]string{"ws://a/", "ws://b/"}, 2, "usage: wscat"},
		{[]string{"-h"}, 0, "-subprotocol"},
		{[]string{"-H", "Authorization Bearer t0ken", "ws://a/"}, 2, "is not a header"},
		{[]string{"-H", "Bad Name: x", "ws://a/"}, 2, "is not a header"},
		{[]string{"-subprotocol", "chat.v1,,chat.v2", "ws://a/"}, 2, "not a valid subprotocol"},
		{[]string{"-H", "Sec-WebSocket-Protocol: x", "ws://127.0.0.1:1/"}, 1, "Dial writes it"},
		{[]string{"ftp://127.0.0.1/"}, 1, "scheme"},
	} {
		res := runWscat(t.Context(), tc.args, strings.NewReader(""))
		if res.code != tc.exit || !strings.Contains(res.stderr, tc.stderrHas) {
			t.Errorf("wscat %q: exit code %d, want %d with %q on stderr; stderr:\n%s", tc.args, res.code, tc.exit, tc.stderrHas, res.stderr)
		}
	}
}

// slowWriter is a stdout that yields on every write, as a terminal takes
// its time, so that the reader spends time between two reads.
type slowWriter struct{ bytes.Buffer }

func (w *slowWriter) Write(p []byte) (int, error) {
	runtime.Gosched()
	return w.Buffer.Write(p)
}

// Answers still on their way at the end of input are printed, not dropped
// by the closing handshake.
func TestAllAnswersPrinted(t *testing.T) {
	const answers = 100
	ended := make(chan error, 1)
	url := server(t, false, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Upgrade(w, r, nil)
		if err != nil {
			ended <- err
			return
		}
		defer c.CloseNow()
		for {
			_, p, err := c.ReadMessage()
			for i := 0; err == nil && i < answers; i++ {
				err = c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%s %d", p, i))
			}
			if err != nil {
				ended <- err
				return
			}
		}
	})
	var stdout slowWriter
	var stderr bytes.Buffer
	code := run(t.Context(), []string{url}, strings.NewReader("hello\n"), &stdout, &stderr)
	if n := strings.Count(stdout.String(), "\n"); code != 0 || n != answers {
		t.Errorf("exit code %d, %d lines on stdout; want 0, %d; stderr:\n%s", code, n, answers, stderr.String())
	}
	if code := serverEnd(t, ended); code != websocket.StatusNormalClosure {
		t.Errorf("the server saw status %d, want 1000", code)
	}
}
