package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// faultKind is a way for the peer's end of the connection to fail.
type faultKind struct {
	name  string
	apply func(raw net.Conn)
}

var faults = []faultKind{
	{"vanishes", func(raw net.Conn) { raw.Close() }},
	{"resets", func(raw net.Conn) {
		raw.(*net.TCPConn).SetLinger(0) // close with RST
		raw.Close()
	}},
	{"half-closes", func(raw net.Conn) { raw.(*net.TCPConn).CloseWrite() }},
}

// blockedCall is a call that a fault test starts and waits on.
type blockedCall struct {
	name string
	read bool // a read: it must report 1006
	done chan error
}

func startCall(name string, read bool, f func() error) *blockedCall {
	call := &blockedCall{name: name, read: read, done: make(chan error, 1)}
	go func() { call.done <- f() }()
	return call
}

// checkFaultCalls waits, bounded, for every call to end after a fault, then
// closes c so that none stays behind, and checks their errors.
func checkFaultCalls(t *testing.T, c *Conn, calls []*blockedCall) {
	t.Helper()
	deadline := time.Now().Add(faultWait)
	errs := make([]error, len(calls))
	var stuck []string
	for i, call := range calls {
		select {
		case errs[i] = <-call.done:
			continue
		default:
		}
		select {
		case errs[i] = <-call.done:
		case <-time.After(time.Until(deadline)):
			stuck = append(stuck, call.name)
		}
	}
	if len(stuck) > 0 {
		t.Errorf("still blocked %v after the fault: %s", faultWait, strings.Join(stuck, ", "))
	}
	c.CloseNow() // ends the stuck calls
	for i, call := range calls {
		if slices.Contains(stuck, call.name) {
			select {
			case <-call.done:
			case <-time.After(testWait):
				t.Errorf("%s still blocked after CloseNow", call.name)
			}
			continue
		}
		err := errs[i]
		switch {
		case err == nil:
			t.Errorf("%s succeeded", call.name)
		case !strings.HasPrefix(err.Error(), "websocket: "):
			t.Errorf("%s error %q lacks the package prefix", call.name, err)
		case call.read && CloseStatus(err) != StatusAbnormalClosure:
			t.Errorf("%s error = %v; CloseStatus %v, want 1006", call.name, err, CloseStatus(err))
		default:
			t.Logf("%s: %v", call.name, err)
		}
	}
	checkNoGoroutines(t)
}

// TestHardeningFaults fails the peer's end of the connection, in each way a
// TCP connection can fail, while calls are blocked on the Conn: every one of
// them must return an error that says what happened, reads with status 1006,
// and nothing may stay behind.
func TestHardeningFaults(t *testing.T) {
	for _, fault := range faults {
		// The peer reads nothing: a write of 64 MiB is stuck on the full
		// socket, a Ping waits behind it and a read waits mid-frame.
		t.Run(fault.name+"/peer reads nothing", func(t *testing.T) {
			c, raw := newRawPeer(t, false)
			raw.Write(append(rawHeader(0x82, true, 100), maskedAt([]byte("abc"), 0)...))
			calls := []*blockedCall{
				startCall("ReadMessage", true, func() error { _, _, err := c.ReadMessage(); return err }),
				startCall("WriteMessage", false, func() error { return c.WriteMessage(BinaryMessage, make([]byte, 64<<20)) }),
			}
			if !goroutineBlocked("(*Conn).WriteMessage", "poll.(*FD).Write", "[IO wait") ||
				!goroutineBlocked("(*Conn).ReadMessage", "[IO wait") {
				t.Fatal("the calls never blocked")
			}
			calls = append(calls, startCall("Ping", false, func() error { return c.Ping(context.Background(), []byte("?")) }))
			if !goroutineBlocked("(*Conn).Ping", "[select") {
				t.Fatal("Ping never blocked")
			}
			fault.apply(raw)
			checkFaultCalls(t, c, calls)
		})
		// The peer reads everything but answers nothing: a Ping waits for
		// its pong and a reader from NextReader waits mid-frame.
		t.Run(fault.name+"/peer reads everything", func(t *testing.T) {
			c, raw := newRawPeer(t, true)
			drained := make(chan struct{})
			go func() { io.Copy(io.Discard, raw); close(drained) }()
			defer func() { raw.Close(); <-drained }()
			raw.Write(append(rawHeader(0x82, false, 100), "abc"...))
			_, r, err := c.NextReader()
			if err != nil {
				t.Fatal(err)
			}
			calls := []*blockedCall{
				startCall("NextReader's Read", true, func() error { _, err := io.ReadAll(r); return err }),
				startCall("Ping", false, func() error { return c.Ping(context.Background(), []byte("?")) }),
			}
			if !goroutineBlocked("(*Conn).Ping", "[select") ||
				!goroutineBlocked("io.ReadAll", "[IO wait") {
				t.Fatal("the calls never blocked")
			}
			fault.apply(raw)
			checkFaultCalls(t, c, calls)
		})
	}
}

// TestHardeningWriteDeadline checks that writes to a peer that stopped
// reading block, then fail at their write deadline with
// os.ErrDeadlineExceeded, and that the 64 MiB they try to send are never
// buffered: what the write allocates stays small.
func TestHardeningWriteDeadline(t *testing.T) {
	payload := make([]byte, 64<<20)
	for _, client := range []bool{false, true} {
		for _, streaming := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/streaming=%v", roleName(client), streaming), func(t *testing.T) {
				c, _ := newRawPeer(t, client)
				c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
				var err error
				allocated, _ := allocatedDuring(func() {
					if !streaming {
						err = c.WriteMessage(BinaryMessage, payload)
						return
					}
					var w io.WriteCloser
					if w, err = c.NextWriter(BinaryMessage); err != nil {
						return
					}
					for p := payload; len(p) > 0 && err == nil; p = p[min(len(p), 1<<20):] {
						_, err = w.Write(p[:min(len(p), 1<<20)])
					}
					if cerr := w.Close(); cerr == nil {
						t.Error("closing the message writer after a failed write succeeded")
					}
				})
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("write error = %v, want one wrapping os.ErrDeadlineExceeded", err)
				}
				if !strings.HasPrefix(err.Error(), "websocket: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				if allocated > 1<<20 {
					t.Errorf("writing 64 MiB to a peer that reads nothing allocated %d bytes; want under 1 MiB", allocated)
				}
				if err := c.WriteMessage(TextMessage, []byte("later")); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("a later write = %v, want the deadline error again", err)
				}
			})
		}
	}
}
