package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
)

// randomPieceReads is a transport whose reads return a random number of
// bytes, from 1 to what the caller asked for, as a network may.
type randomPieceReads struct {
	net.Conn
	rng *rand.Rand
}

func (r *randomPieceReads) Read(p []byte) (int, error) {
	if len(p) > 1 {
		// Mostly small pieces, sometimes whole buffers.
		n := 1 + r.rng.IntN(min(len(p), 64))
		if r.rng.IntN(32) == 0 {
			n = 1 + r.rng.IntN(len(p))
		}
		p = p[:n]
	}
	return r.Conn.Read(p)
}

// oneByteWrites is a transport that writes every byte on its own.
type oneByteWrites struct{ net.Conn }

func (w oneByteWrites) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := w.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(p), nil
}

// TestHardeningSplitTransports runs round trips of every size class, both
// APIs, pings and the closing handshake over transports that cut every read
// into random pieces or send every byte in its own write.
func TestHardeningSplitTransports(t *testing.T) {
	sizes := []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 124, 125, 126, 127, 128, 511, 512, 513,
		65535, 65536, 65537, largeBufferSize - maxHeaderSize, largeBufferSize, largeBufferSize + 1}
	transports := []struct {
		name  string
		wrap  func(c net.Conn, seed uint64) transport
		sizes []int
	}{
		{"random read pieces", func(c net.Conn, seed uint64) transport {
			return &randomPieceReads{Conn: c, rng: rand.New(rand.NewPCG(seed, 42))}
		}, append(sizes, 1<<20)},
		{"one-byte writes", func(c net.Conn, seed uint64) transport { return oneByteWrites{c} }, sizes},
	}
	for _, tr := range transports {
		for _, clientFirst := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/client-sends-first=%v", tr.name, clientFirst), func(t *testing.T) {
				a, b := tcpPair(t)
				client := newConn(tr.wrap(a, 1), nil, connConfig{client: true, closeTimeout: testWait})
				server := newConn(tr.wrap(b, 2), nil, connConfig{closeTimeout: testWait})
				t.Cleanup(func() { client.CloseNow(); server.CloseNow() })
				first, echo := server, client
				if clientFirst {
					first, echo = client, server
				}
				// The echoing side streams back what it reads, until the
				// closing handshake ends its read.
				echoed := make(chan error, 1)
				go func() {
					for {
						typ, r, err := echo.NextReader()
						if err != nil {
							echoed <- err
							return
						}
						w, err := echo.NextWriter(typ)
						if err != nil {
							echoed <- err
							return
						}
						if _, err := io.Copy(w, r); err != nil {
							echoed <- err
							return
						}
						if err := w.Close(); err != nil {
							echoed <- err
							return
						}
					}
				}()
				rng := rand.New(rand.NewPCG(3, 4))
				for i, n := range tr.sizes {
					typ := BinaryMessage
					msg := make([]byte, n)
					for j := range msg {
						msg[j] = byte(rng.Uint32())
					}
					if i%2 == 0 {
						typ = TextMessage
						msg = textOfSize(n)
					}
					streaming := i%3 == 0
					wrote := make(chan error, 1)
					go func() {
						if !streaming {
							wrote <- first.WriteMessage(typ, msg)
							return
						}
						w, err := first.NextWriter(typ)
						if err != nil {
							wrote <- err
							return
						}
						for p := msg; len(p) > 0; {
							k := min(len(p), 1+rng.IntN(3000))
							if _, err := w.Write(p[:k]); err != nil {
								wrote <- err
								return
							}
							p = p[k:]
						}
						wrote <- w.Close()
					}()
					gotType, got, err := readWhole(first, streaming)
					if err != nil {
						t.Fatalf("size %d: reading the echo: %v", n, err)
					}
					if err := <-wrote; err != nil {
						t.Fatalf("size %d: write: %v", n, err)
					}
					if gotType != typ || !bytes.Equal(got, msg) {
						t.Fatalf("size %d: echo is a %v message of %d bytes, want %v of %d", n, gotType, len(got), typ, len(msg))
					}
				}
				// A ping from the echoing side: the first side reads it
				// while it waits for the closing handshake below.
				closed := make(chan error, 1)
				go func() {
					_, _, err := first.ReadMessage()
					closed <- err
				}()
				ctx, cancel := context.WithTimeout(context.Background(), testWait)
				defer cancel()
				if err := echo.Ping(ctx, []byte("through the pieces")); err != nil {
					t.Errorf("Ping: %v", err)
				}
				if err := echo.Close(StatusNormalClosure, "done"); err != nil {
					t.Errorf("Close: %v", err)
				}
				var ce *CloseError
				if err := <-closed; !errors.As(err, &ce) || ce.Code != StatusNormalClosure || ce.Reason != "done" {
					t.Errorf("the other side's read ended with %v, want the close 1000 \"done\"", err)
				}
				if err := <-echoed; !errors.Is(err, net.ErrClosed) && CloseStatus(err) == -1 {
					t.Errorf("the echo loop ended with %v", err)
				}
			})
		}
	}
}

// textOfSize returns n bytes of UTF-8 text made of runes of every length, so
// that frame and read boundaries cut runes.
func textOfSize(n int) []byte {
	runes := []string{"é", "€", "𝄞", "x"}
	b := make([]byte, 0, n)
	for i := 0; len(b)+len(runes[i%4]) <= n; i++ {
		b = append(b, runes[i%4]...)
	}
	for len(b) < n {
		b = append(b, 'x')
	}
	return b
}
