package websocket

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestCloseHandshake(t *testing.T) {
	t.Run("server closes, client reading", func(t *testing.T) {
		client, server := newPair(t, connConfig{}, connConfig{})
		readErr := make(chan error, 1)
		go func() {
			_, _, err := client.ReadMessage()
			readErr <- err
		}()
		if err := server.Close(StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("Close: %v", err)
		}
		err := <-readErr
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != StatusNormalClosure || ce.Reason != "bye" {
			t.Fatalf("client read error = %v, want the close 1000 \"bye\"", err)
		}
	})
	t.Run("client closes, nobody reading on the client", func(t *testing.T) {
		client, server := newPair(t, connConfig{}, connConfig{})
		readErr := make(chan error, 1)
		go func() {
			_, _, err := server.ReadMessage()
			readErr <- err
		}()
		if err := client.Close(4000, "done"); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-readErr; CloseStatus(err) != 4000 {
			t.Fatalf("server read error = %v, want the close 4000", err)
		}
		// The connection is gone on both sides: writes fail.
		if err := client.WriteMessage(TextMessage, []byte("late")); err == nil {
			t.Error("write after Close succeeded")
		}
		if err := server.WriteMessage(TextMessage, []byte("late")); err == nil {
			t.Error("server write after the closing handshake succeeded")
		}
	})
	t.Run("data in flight before the close is dropped, not a failure", func(t *testing.T) {
		client, server := newPair(t, connConfig{}, connConfig{})
		for range 3 {
			server.WriteMessage(TextMessage, []byte("unread"))
		}
		go func() {
			// The server reads the client's close and answers it.
			server.ReadMessage()
			for {
				if _, _, err := server.ReadMessage(); err != nil {
					return
				}
			}
		}()
		if err := client.Close(StatusNormalClosure, ""); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
	t.Run("message read in part", func(t *testing.T) {
		// Close while the reader is between two Reads of a message: the
		// rest of its frame must be dropped, not parsed as frame headers.
		c, raw := newRawPeer(t, false)
		raw.Write(rawFrame(0x82, true, bytes.Repeat([]byte("x"), 1000)))
		sent := collectSent(t, raw, true)
		_, r, err := c.NextReader()
		if err != nil {
			t.Fatal(err)
		}
		if n, err := r.Read(make([]byte, 3)); n != 3 || err != nil {
			t.Fatalf("Read = %d, %v", n, err)
		}
		if err := c.Close(StatusNormalClosure, ""); err != nil {
			t.Fatalf("Close = %v; the peer answered the close frame", err)
		}
		if s := <-sent; s.code != StatusNormalClosure {
			t.Errorf("close frame sent with %v (raw end: %v), want 1000", s.code, s.err)
		}
	})
	t.Run("client with a reader, server slow to close TCP", func(t *testing.T) {
		// The server answers half-way through the close timeout and leaves
		// TCP open. The client's reader takes the answer and waits for TCP
		// to close; Close's own wait ends first. The peer did answer, so
		// Close must not say it did not.
		c, raw := newRawPeer(t, true)
		c.cfg.closeTimeout = time.Second
		go func() {
			for {
				b0, p, err := readRawFrame(t, raw)
				if err != nil {
					return
				}
				if b0 == 0x88 {
					time.Sleep(c.cfg.closeTimeout / 2)
					raw.Write(rawFrame(0x88, false, p[:2]))
				}
			}
		}()
		readErr := make(chan error, 1)
		go func() {
			_, _, err := c.ReadMessage()
			readErr <- err
		}()
		if !goroutineBlocked("(*Conn).ReadMessage", "[IO wait") {
			t.Fatal("the read never blocked")
		}
		if err := c.Close(StatusNormalClosure, ""); err != nil {
			t.Errorf("Close = %v; the server answered", err)
		}
		if err := <-readErr; CloseStatus(err) != StatusNormalClosure {
			t.Errorf("read error %v, want the server's close 1000", err)
		}
	})
	t.Run("peer never answers", func(t *testing.T) {
		a, raw := tcpPair(t)
		c := newConn(a, nil, connConfig{closeTimeout: 100 * time.Millisecond})
		err := c.Close(StatusNormalClosure, "")
		if err == nil || !strings.Contains(err.Error(), "did not answer") {
			t.Fatalf("Close = %v, want an error saying the peer did not answer", err)
		}
		if code := readCloseCode(t, raw); code != StatusNormalClosure {
			t.Fatalf("close frame code %v", code)
		}
		// Close closed TCP: the raw end sees EOF.
		raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := raw.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("raw read after Close = %v, want EOF", err)
		}
	})
	t.Run("idempotent", func(t *testing.T) {
		client, server := newPair(t, connConfig{}, connConfig{})
		go server.ReadMessage()
		if err := client.Close(StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
		if err := client.Close(StatusNormalClosure, ""); err != nil {
			t.Fatalf("second Close = %v", err)
		}
		if err := client.CloseNow(); err != nil {
			t.Fatalf("CloseNow after Close = %v", err)
		}
	})
	t.Run("invalid code or reason", func(t *testing.T) {
		client, _ := newPair(t, connConfig{}, connConfig{})
		for _, tc := range []struct {
			code   StatusCode
			reason string
		}{{999, ""}, {1005, "x"}, {1006, ""}, {1015, ""}, {5000, ""}, {1000, strings.Repeat("r", 124)}, {1000, "\xff"}} {
			if err := client.Close(tc.code, tc.reason); err == nil {
				t.Errorf("Close(%d, %d-byte reason) succeeded", tc.code, len(tc.reason))
			}
		}
	})
}

func TestCloseNowUnblocks(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		client, _ := newPair(t, connConfig{}, connConfig{})
		errc := make(chan error, 1)
		go func() {
			_, _, err := client.ReadMessage()
			errc <- err
		}()
		time.Sleep(10 * time.Millisecond) // let the read block
		client.CloseNow()
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read error = %v, want one wrapping net.ErrClosed", err)
		}
	})
	t.Run("write to a peer that does not read", func(t *testing.T) {
		client, _ := newPair(t, connConfig{}, connConfig{})
		errc := make(chan error, 2)
		big := make([]byte, 32<<20) // more than the socket buffers hold
		for range 2 {               // one writer blocked on the socket, one on the lock
			go func() { errc <- client.WriteMessage(BinaryMessage, big) }()
		}
		time.Sleep(50 * time.Millisecond)
		client.CloseNow()
		for range 2 {
			if err := <-errc; !errors.Is(err, net.ErrClosed) {
				t.Fatalf("write error = %v, want one wrapping net.ErrClosed", err)
			}
		}
	})
}

func TestAbnormalClosure(t *testing.T) {
	for _, tc := range []struct {
		name string
		sent []byte
	}{
		{"between frames", nil},
		{"inside a header", []byte{0x81}},
		{"inside a payload", []byte{0x81, 0x85, 1, 2, 3, 4, 'h'}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, raw := newRawPeer(t, false)
			raw.Write(tc.sent)
			raw.Close()
			_, _, err := c.ReadMessage()
			if CloseStatus(err) != StatusAbnormalClosure {
				t.Fatalf("read error = %v, want status 1006", err)
			}
		})
	}
}

// TestCloseWrite checks the half close: after CloseWrite the reader still
// gets every message the peer sends before its close frame, then the
// peer's *CloseError; writes fail; and a peer that never answers has the
// connection closed after the close timeout.
func TestCloseWrite(t *testing.T) {
	t.Run("peer answers after more messages", func(t *testing.T) {
		c, raw := newRawPeer(t, false)
		if err := c.CloseWrite(StatusNormalClosure, "done sending"); err != nil {
			t.Fatalf("CloseWrite = %v", err)
		}
		if err := c.CloseWrite(StatusNormalClosure, ""); err != nil {
			t.Errorf("a second CloseWrite = %v, want nil", err)
		}
		b0, p, err := readRawFrame(t, raw)
		if err != nil || b0 != 0x88 || string(p[2:]) != "done sending" {
			t.Fatalf("peer read %#x %q, %v; want the close frame", b0, p, err)
		}
		if err := c.WriteMessage(TextMessage, []byte("late")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("WriteMessage after CloseWrite = %v, want an error wrapping net.ErrClosed", err)
		}
		// The peer still had answers on their way.
		for _, m := range []string{"answer 1", "answer 2", "answer 3"} {
			raw.Write(rawFrame(0x81, true, []byte(m)))
		}
		raw.Write(rawFrame(0x88, true, []byte{0x03, 0xe8, 'o', 'k'}))
		for _, want := range []string{"answer 1", "answer 2", "answer 3"} {
			_, got, err := c.ReadMessage()
			if err != nil || string(got) != want {
				t.Fatalf("ReadMessage = %q, %v; want %q", got, err, want)
			}
		}
		_, _, err = c.ReadMessage()
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != StatusNormalClosure || ce.Reason != "ok" {
			t.Fatalf("ReadMessage after the answers = %v, want the peer's close 1000 \"ok\"", err)
		}
		if !c.isClosed() {
			t.Error("the server kept the connection open after the closing handshake")
		}
	})
	t.Run("peer never answers", func(t *testing.T) {
		a, raw := tcpPair(t)
		c := newConn(a, nil, connConfig{closeTimeout: 50 * time.Millisecond})
		defer c.CloseNow()
		go io.Copy(io.Discard, raw)
		if err := c.CloseWrite(StatusGoingAway, ""); err != nil {
			t.Fatalf("CloseWrite = %v", err)
		}
		read := make(chan error, 1)
		go func() {
			_, _, err := c.ReadMessage()
			read <- err
		}()
		select {
		case err := <-read:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("ReadMessage = %v, want an error wrapping net.ErrClosed", err)
			}
		case <-time.After(testWait):
			t.Fatal("the read still waited for a close frame long after the close timeout")
		}
	})
}
