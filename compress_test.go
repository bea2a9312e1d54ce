package websocket

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Tests of permessage-deflate (RFC 7692): negotiation in both roles, the
// compressed read and write paths frame by frame against compress/flate as
// the reference, the limits a compressed message is held to, and what an
// idle connection keeps.

// dialCompressed connects a client with clientMode to a server with
// serverMode over httptest, and returns both ends.
func dialCompressed(t testing.TB, clientMode, serverMode CompressionMode, threshold int) (client, server *Conn) {
	t.Helper()
	serverc := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, &UpgradeOptions{Compression: serverMode, CompressionThreshold: threshold})
		if err != nil {
			t.Error(err)
		}
		serverc <- c
	}))
	t.Cleanup(srv.Close)
	client, _, err := Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), &DialOptions{Compression: clientMode, CompressionThreshold: threshold})
	if err != nil {
		t.Fatal(err)
	}
	server = <-serverc
	t.Cleanup(func() { client.CloseNow(); server.CloseNow() })
	return client, server
}

func TestCompressionRoundTrip(t *testing.T) {
	modes := []CompressionMode{CompressionNoContextTakeover, CompressionContextTakeover}
	text := []byte(strings.Repeat(`{"user":"ada","msg":"hello, world","n":12345} `, 3000))
	for _, cm := range modes {
		for _, sm := range modes {
			t.Run(fmt.Sprintf("client=%v/server=%v", cm, sm), func(t *testing.T) {
				client, server := dialCompressed(t, cm, sm, -1)
				for _, pair := range [][2]*Conn{{client, server}, {server, client}} {
					from, to := pair[0], pair[1]
					for _, n := range []int{0, 1, 100, 5000, 70000, len(text)} {
						for _, streaming := range []bool{false, true} {
							msg := text[:n]
							errc := make(chan error, 1)
							go func() {
								if !streaming {
									errc <- from.WriteMessage(TextMessage, msg)
									return
								}
								w, _ := from.NextWriter(TextMessage)
								for p := msg; len(p) > 0; p = p[min(len(p), 7777):] {
									w.Write(p[:min(len(p), 7777)])
								}
								errc <- w.Close()
							}()
							typ, got, err := readWhole(to, streaming)
							if werr := <-errc; werr != nil {
								t.Fatalf("write %d: %v", n, werr)
							}
							if err != nil || typ != TextMessage || !bytes.Equal(got, msg) {
								t.Fatalf("%d bytes, streaming=%v: got %d bytes, %v", n, streaming, len(got), err)
							}
						}
					}
				}
			})
		}
	}
}

// ---- memory ----

// TestDeflateReadAllocs reads compressed messages through NextReader into a
// fixed buffer: the allocations per message must not grow with its size.
// Borrowing a decompressor from the pool and resetting it costs a few;
// nothing should cost one per compressed byte.
func TestDeflateReadAllocs(t *testing.T) {
	const messages = 20
	msg := jsonLike(64<<10, 8)
	payload := deflateRef(flate.BestSpeed, msg)
	var in []byte
	for range messages {
		in = append(in, rawFrame(0xC1, true, payload)...)
	}
	for _, noContext := range []bool{true, false} {
		t.Run(fmt.Sprintf("no-context=%v", noContext), func(t *testing.T) {
			d := testDeflate()
			d.readNoContext = noContext
			tr := &memTransport{in: bytes.NewReader(in)}
			c := newConn(tr, nil, connConfig{deflate: d})
			defer c.CloseNow()
			buf := make([]byte, 32<<10)
			read := func() {
				_, r, err := c.NextReader()
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for err == nil {
					var k int
					k, err = r.Read(buf)
					n += k
				}
				if err != io.EOF || n != len(msg) {
					t.Fatalf("read %d bytes, %v; want %d", n, err, len(msg))
				}
			}
			read() // the first message may fill pools
			_, objects := allocatedDuring(func() {
				for range messages - 1 {
					read()
				}
			})
			perMessage := objects / (messages - 1)
			t.Logf("%d allocations per message of %d bytes, %d compressed", perMessage, len(msg), len(payload))
			if perMessage > 50 {
				t.Errorf("%d allocations per message of %d compressed bytes, want a few", perMessage, len(payload))
			}
		})
	}
}

// TestDeflateIdleState checks what a compressed connection holds between
// messages: with no context takeover, no compressor, decompressor or
// history (they go back to their pools); with it, the compressor and the
// history, which the next message needs.
func TestDeflateIdleState(t *testing.T) {
	for _, mode := range []CompressionMode{CompressionNoContextTakeover, CompressionContextTakeover} {
		t.Run(mode.String(), func(t *testing.T) {
			client, server := dialCompressed(t, mode, mode, -1)
			msg := jsonLike(50000, 6)
			for _, pair := range [][2]*Conn{{client, server}, {server, client}} {
				from, to := pair[0], pair[1]
				for _, streaming := range []bool{false, true} {
					errc := make(chan error, 1)
					go func() { errc <- from.WriteMessage(TextMessage, msg) }()
					_, got, err := readWhole(to, streaming)
					if err := <-errc; err != nil {
						t.Fatal(err)
					}
					if err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("read %d bytes, %v", len(got), err)
					}
					// A message read partly, then dropped by the next read.
					go func() { errc <- from.WriteMessage(TextMessage, msg) }()
					_, r, err := to.NextReader()
					if err != nil {
						t.Fatal(err)
					}
					if _, err := r.Read(make([]byte, 100)); err != nil {
						t.Fatal(err)
					}
					go func() { errc <- from.WriteMessage(BinaryMessage, []byte("next")) }()
					if _, got, err := to.ReadMessage(); err != nil || string(got) != "next" {
						t.Fatalf("after a partly read message: %q, %v", got, err)
					}
					for range 2 {
						if err := <-errc; err != nil {
							t.Fatal(err)
						}
					}
				}
				if to.inflater != nil {
					t.Error("an idle Conn holds a decompressor")
				}
				if keep := mode == CompressionContextTakeover; (from.writer.deflater != nil) != keep {
					t.Errorf("an idle Conn holds a compressor: %v, want %v", from.writer.deflater != nil, keep)
				}
				if keep := mode == CompressionContextTakeover; (to.history != nil) != keep {
					t.Errorf("an idle Conn holds a read history: %v, want %v", to.history != nil, keep)
				}
				if from.writer.buf != nil {
					t.Error("an idle Conn holds a write buffer")
				}
			}
		})
	}
}
