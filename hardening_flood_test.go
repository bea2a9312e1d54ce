package websocket

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHardeningDialHeaderFlood checks what Dial costs against a server that
// answers with 10 MB of header lines: an error that says the answer is too
// large, wherever in a line the bound falls, and memory of the order of that
// bound, not of what was sent.
func TestHardeningDialHeaderFlood(t *testing.T) {
	// Flood lines are 100 bytes, their colon at byte 16; a padding line
	// moves the 1 MiB bound to a line's end, before its colon, or after.
	var lines bytes.Buffer
	for i := 0; lines.Len() < 10<<20; i++ {
		lines.WriteString("X-Flood-")
		lines.WriteString(strconv.FormatInt(int64(100000000+i), 10)[1:])
		lines.WriteString(": ")
		lines.Write(bytes.Repeat([]byte("f"), 80))
		lines.WriteString("\r\n")
	}
	for _, pad := range []int{33, 23, 0} {
		t.Run(fmt.Sprintf("bound %d bytes into a line", (maxHandshakeResponse-43-pad)%100), func(t *testing.T) {
			var flood bytes.Buffer
			flood.WriteString("HTTP/1.1 101 Switching Protocols\r\n")      // 34 bytes
			fmt.Fprintf(&flood, "X-Pad: %s\r\n", strings.Repeat("p", pad)) // 9 + pad
			flood.Write(lines.Bytes())
			addr := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, _, err := readRequestHead(br); err != nil {
					return
				}
				c.Write(flood.Bytes())
			})
			var err error
			allocated, _ := allocatedDuring(func() {
				var conn *Conn
				conn, _, err = dialTest(t, testCtx(t), "ws://"+addr+"/", nil)
				if conn != nil {
					conn.CloseNow()
				}
			})
			if err == nil || !strings.Contains(err.Error(), "larger than") {
				t.Errorf("Dial error %v, want one saying the answer is too large", err)
			}
			// Reading 1 MiB of header lines into an http.Header costs a few
			// times 1 MiB; reading the 10 MB would cost more than 10 MB.
			if allocated > 8<<20 {
				t.Errorf("Dial allocated %d bytes against 10 MB of headers, want under 8 MiB", allocated)
			}
		})
	}
}

// TestHardeningServerHandshake documents the recommended server setup:
// http.Server.ReadHeaderTimeout closes a client that sends its handshake one
// byte every 100 ms, and MaxHeaderBytes refuses 10 MB of headers, both
// before Upgrade is ever called.
func TestHardeningServerHandshake(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.ReadHeaderTimeout = 300 * time.Millisecond
	var upgrades atomic.Int32
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upgrades.Add(1)
		if c, err := Upgrade(w, r, nil); err == nil {
			c.CloseNow()
		}
	})
	srv.Start()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()

	t.Run("slowloris", func(t *testing.T) {
		c := rawDial(t, addr)
		request := buildRequest("")
		stop := make(chan struct{})
		sent := make(chan int, 1)
		go func() {
			n := 0
			defer func() { sent <- n }()
			for ; n < len(request); n++ {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := io.WriteString(c, request[n:n+1]); err != nil {
					return
				}
			}
		}()
		c.SetReadDeadline(time.Now().Add(testWait))
		answer, err := io.ReadAll(c)
		close(stop)
		n := <-sent
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the server kept the slow client's connection open")
		}
		if n == len(request) {
			t.Errorf("the whole request went out (%d bytes) before the server closed", n)
		}
		if bytes.Contains(answer, []byte(" 101 ")) {
			t.Errorf("the server answered %q", answer)
		}
	})
	t.Run("10 MB of headers", func(t *testing.T) {
		c := rawDial(t, addr)
		go func() {
			io.WriteString(c, strings.TrimSuffix(buildRequest(""), "\r\n"))
			line := []byte("X-Flood: " + strings.Repeat("h", 1000) + "\r\n")
			for range 10 << 10 {
				if _, err := c.Write(line); err != nil {
					return
				}
			}
		}()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", resp.StatusCode)
		}
	})
	if n := upgrades.Load(); n != 0 {
		t.Errorf("the handler ran %d times for requests the server should have refused", n)
	}
}

// TestHardeningTinyFragments checks messages cut into as many frames as a
// peer likes: 200,000 one-byte fragments of UTF-8 text are read whole, with
// memory bounded by the message (not by the frame count); 1,000,000 empty
// continuation frames cost nothing per frame.
func TestHardeningTinyFragments(t *testing.T) {
	t.Run("200000 one-byte fragments", func(t *testing.T) {
		for _, streaming := range []bool{false, true} {
			t.Run(fmt.Sprintf("streaming=%v", streaming), func(t *testing.T) {
				c, raw := newRawPeer(t, false)
				text := []byte(strings.Repeat("€", 200000/3)) // runes cut across frames
				var wire bytes.Buffer
				for i, b := range text {
					b0 := byte(0x00)
					switch i {
					case 0:
						b0 = 0x01
					case len(text) - 1:
						b0 = 0x80
					}
					wire.Write(rawFrame(b0, true, []byte{b}))
				}
				go raw.Write(wire.Bytes())
				var typ MessageType
				var got []byte
				var err error
				allocated, objects := allocatedDuring(func() {
					if streaming {
						var r io.Reader
						if typ, r, err = c.NextReader(); err == nil {
							// Drop the payload in pieces, checking as it goes.
							n, i := 0, 0
							buf := make([]byte, 4096)
							for err == nil {
								var m int
								m, err = r.Read(buf)
								for _, b := range buf[:m] {
									if b != text[i] {
										err = fmt.Errorf("byte %d is %#x, want %#x", i, b, text[i])
									}
									i++
								}
								n += m
							}
							if err == io.EOF {
								err = nil
							}
							got = text[:n]
						}
						return
					}
					typ, got, err = c.ReadMessage()
				})
				if err != nil || typ != TextMessage || !bytes.Equal(got, text) {
					t.Fatalf("read %v message of %d bytes, %v; want the %d bytes of text", typ, len(got), err, len(text))
				}
				t.Logf("read %d one-byte fragments: %d bytes in %d allocations", len(text), allocated, objects)
				if allocated > 2<<20 || objects > 1000 {
					t.Errorf("reading %d one-byte fragments allocated %d bytes in %d objects; want under 2 MiB and 1000 objects", len(text), allocated, objects)
				}
			})
		}
	})
	t.Run("1000000 empty continuation frames", func(t *testing.T) {
		const frames = 1000000
		c, raw := newRawPeer(t, false)
		empty := rawFrame(0x00, true, nil)
		wire := make([]byte, 0, frames*len(empty)+32)
		wire = append(wire, rawFrame(0x02, true, []byte("a"))...)
		for range frames {
			wire = append(wire, empty...)
		}
		wire = append(wire, rawFrame(0x80, true, []byte("b"))...)
		go raw.Write(wire)
		var p []byte
		var err error
		allocated, objects := allocatedDuring(func() { _, p, err = c.ReadMessage() })
		if err != nil || string(p) != "ab" {
			t.Fatalf("ReadMessage = %q, %v; want \"ab\"", p, err)
		}
		t.Logf("read %d empty frames: %d bytes in %d allocations", frames, allocated, objects)
		if objects > 100 || allocated > 256<<10 {
			t.Errorf("reading %d empty frames allocated %d bytes in %d objects; want nothing per frame (under 100 objects, 256 KiB)", frames, allocated, objects)
		}
	})
}

// pingFlood starts a raw client that writes pings as fast as it can to c, a
// server Conn, and never reads. It returns how many bytes went out so far
// and a function that waits for the flood to end once the connection is
// gone.
func pingFlood(raw net.Conn) (*atomic.Int64, func()) {
	chunk := bytes.Repeat(rawFrame(0x89, true, bytes.Repeat([]byte("p"), 125)), 500)
	var sent atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			n, err := raw.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	return &sent, func() { raw.Close(); <-done }
}

// TestHardeningPingFlood checks a peer that floods pings and reads nothing:
// the pongs end up blocked on the full socket, and then the pings on the
// peer's; memory does not grow meanwhile, and CloseNow ends everything.
func TestHardeningPingFlood(t *testing.T) {
	c, raw := newRawPeer(t, false)
	heapBefore := heapInUse()
	var sent *atomic.Int64
	var stopFlood func()
	read := make(chan error, 1)
	floodAlloc, _ := allocatedDuring(func() {
		sent, stopFlood = pingFlood(raw)
		go func() {
			_, _, err := c.ReadMessage()
			read <- err
		}()
		if !goroutineBlocked("(*Conn).ReadMessage", "poll.(*FD).Write", "[IO wait") {
			t.Error("the reader never blocked answering a ping")
		}
		if !goroutineBlocked("pingFlood", "poll.(*FD).Write", "[IO wait") {
			t.Error("the flood never blocked on a full socket")
		}
		time.Sleep(500 * time.Millisecond) // the flood stays blocked
	})
	heapBlocked := heapInUse()
	time.Sleep(time.Second)
	heapLater := heapInUse()
	t.Logf("the peer sent %d bytes of pings before blocking; %d bytes allocated meanwhile; heap in use %d, %d, %d",
		sent.Load(), floodAlloc, heapBefore, heapBlocked, heapLater)
	for _, h := range []uint64{heapBlocked, heapLater} {
		if h > heapBefore+1<<20 {
			t.Errorf("heap in use grew from %d to %d bytes during the flood; want under 1 MiB of growth", heapBefore, h)
		}
	}
	if floodAlloc > 1<<20 {
		t.Errorf("answering %d bytes of pings allocated %d bytes; want under 1 MiB", sent.Load(), floodAlloc)
	}
	// By now the pong has been waiting past the close timeout, so the read
	// may have given up by itself; otherwise CloseNow ends it.
	c.CloseNow()
	if err := <-read; !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the read ended with %v, want an error wrapping net.ErrClosed or os.ErrDeadlineExceeded", err)
	}
	stopFlood()
	checkNoGoroutines(t)
}

// TestHardeningPongToPeerThatDoesNotRead checks that a peer that floods
// pings and reads nothing cannot hold the reading goroutine: the answer
// gives up after the close timeout (1 s for newRawPeer), and the read ends
// with an error that says the peer does not read.
func TestHardeningPongToPeerThatDoesNotRead(t *testing.T) {
	c, raw := newRawPeer(t, false)
	_, stopFlood := pingFlood(raw)
	defer stopFlood()
	read := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		read <- err
	}()
	if !goroutineBlocked("(*Conn).ReadMessage", "poll.(*FD).Write", "[IO wait") {
		t.Fatal("the reader never blocked answering a ping")
	}
	select {
	case err := <-read:
		if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "does not read") {
			t.Errorf("ReadMessage = %v, want an error saying the peer does not read, wrapping os.ErrDeadlineExceeded", err)
		}
	case <-time.After(faultWait):
		c.CloseNow()
		<-read
		t.Errorf("ReadMessage was still running %v later, blocked writing a pong to a peer that reads nothing", faultWait)
	}
}
