package websocket

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestHardeningStalledFrame checks that a frame announcing 16 MiB, the
// default read limit, that brings 10 bytes and stalls, costs ReadMessage far
// less than what it announced while the read waits, and that CloseNow ends
// the wait.
func TestHardeningStalledFrame(t *testing.T) {
	const claim = DefaultReadLimit
	for _, client := range []bool{false, true} {
		for _, fragmented := range []bool{false, true} {
			name := roleName(client) + "/single frame"
			if fragmented {
				name = roleName(client) + "/second fragment"
			}
			t.Run(name, func(t *testing.T) {
				c, raw := newRawPeer(t, client)
				masked := !client
				var wire []byte
				if fragmented {
					wire = append(rawFrame(0x02, masked, []byte("first")), rawHeader(0x80, masked, claim-5)...)
				} else {
					wire = rawHeader(0x82, masked, claim)
				}
				ten := []byte("ten bytes!")
				if masked {
					ten = maskedAt(ten, 0)
				}
				wire = append(wire, ten...)
				if _, err := raw.Write(wire); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				var whileBlocked uint64
				total, _ := allocatedDuring(func() {
					var before runtime.MemStats
					runtime.ReadMemStats(&before)
					go func() {
						_, _, err := c.ReadMessage()
						done <- err
					}()
					if !goroutineBlocked("(*Conn).ReadMessage", "[IO wait") {
						t.Error("ReadMessage never blocked waiting for the rest of the frame")
					}
					var during runtime.MemStats
					runtime.ReadMemStats(&during)
					whileBlocked = during.TotalAlloc - before.TotalAlloc
					c.CloseNow()
					if err := <-done; !errors.Is(err, net.ErrClosed) {
						t.Errorf("ReadMessage after CloseNow = %v, want an error wrapping net.ErrClosed", err)
					}
				})
				if whileBlocked > 200<<10 || total > 200<<10 {
					t.Errorf("ReadMessage of a frame claiming %d bytes that sent 10 allocated %d bytes while blocked, %d in all; want under 200 KiB", claim, whileBlocked, total)
				}
			})
		}
	}
}

// TestHardeningSlowDrip checks that a read deadline ends a read from a peer
// that sends a frame one byte every 50 ms, for ReadMessage and for a reader
// from NextReader, and that the read stays failed.
func TestHardeningSlowDrip(t *testing.T) {
	for _, streaming := range []bool{false, true} {
		t.Run(fmt.Sprintf("streaming=%v", streaming), func(t *testing.T) {
			c, raw := newRawPeer(t, false)
			payload := maskedAt(bytes.Repeat([]byte("d"), 1000), 0)
			raw.Write(append(rawHeader(0x82, true, 1000), payload[:3]...))
			stop := make(chan struct{})
			dripped := make(chan struct{})
			go func() {
				defer close(dripped)
				for _, b := range payload[3:] {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					if _, err := raw.Write([]byte{b}); err != nil {
						return
					}
				}
			}()
			defer func() { close(stop); <-dripped }()

			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			done := make(chan error, 1)
			go func() {
				_, _, err := readWhole(c, streaming)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(testWait):
				c.CloseNow()
				<-done
				t.Fatal("the read went on past its deadline while the peer dripped bytes")
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read error = %v, want one wrapping os.ErrDeadlineExceeded", err)
			}
			if !strings.HasPrefix(err.Error(), "websocket: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if _, _, again := c.ReadMessage(); again == nil {
				t.Error("a read after the deadline error succeeded")
			}
		})
	}
}

// TestHardeningCloseTimeout checks that Close gives up on a peer that never
// answers its close frame within the close timeout, with an error, in the
// cases TestCloseHandshake does not cover: while another goroutine reads,
// while the peer floods data, and while a write is stuck on a peer that
// reads nothing.
func TestHardeningCloseTimeout(t *testing.T) {
	const closeTimeout = 200 * time.Millisecond
	newConnTimeout := func(t *testing.T) (*Conn, net.Conn) {
		a, raw := tcpPair(t)
		c := newConn(a, nil, connConfig{closeTimeout: closeTimeout})
		t.Cleanup(func() { c.CloseNow() })
		return c, raw
	}
	closeBounded := func(t *testing.T, c *Conn) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- c.Close(StatusNormalClosure, "") }()
		select {
		case err := <-done:
			return err
		case <-time.After(closeTimeout + testWait):
			c.CloseNow()
			<-done
			t.Fatal("Close did not return")
			return nil
		}
	}

	t.Run("a goroutine reading, the peer silent", func(t *testing.T) {
		c, _ := newConnTimeout(t)
		read := make(chan error, 1)
		go func() {
			_, _, err := c.ReadMessage()
			read <- err
		}()
		goroutineBlocked("(*Conn).ReadMessage", "[IO wait")
		err := closeBounded(t, c)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Close = %v, want an error wrapping os.ErrDeadlineExceeded", err)
		}
		if err := <-read; !errors.Is(err, net.ErrClosed) {
			t.Errorf("the read ended with %v, want an error wrapping net.ErrClosed", err)
		}
	})
	t.Run("the peer floods data and pings but never closes", func(t *testing.T) {
		c, raw := newConnTimeout(t)
		chunk := bytes.Repeat(append(rawFrame(0x82, true, make([]byte, 100)), rawFrame(0x89, true, []byte("p"))...), 100)
		flooding := make(chan struct{})
		go func() {
			defer close(flooding)
			go io.Copy(io.Discard, raw)
			for {
				if _, err := raw.Write(chunk); err != nil {
					return
				}
			}
		}()
		if err := closeBounded(t, c); err == nil || !strings.Contains(err.Error(), "did not answer") {
			t.Errorf("Close = %v, want an error saying the peer did not answer", err)
		}
		raw.Close()
		<-flooding
	})
	t.Run("a write stuck on a peer that reads nothing", func(t *testing.T) {
		c, _ := newConnTimeout(t)
		wrote := make(chan error, 1)
		go func() { wrote <- c.WriteMessage(BinaryMessage, make([]byte, 64<<20)) }()
		if !goroutineBlocked("(*Conn).WriteMessage", "poll.(*FD).Write", "[IO wait") {
			t.Fatal("the write never blocked")
		}
		if err := closeBounded(t, c); err == nil {
			t.Error("Close succeeded although its close frame could not be sent")
		}
		if err := <-wrote; !errors.Is(err, net.ErrClosed) {
			t.Errorf("the stuck write ended with %v, want an error wrapping net.ErrClosed", err)
		}
	})
}
