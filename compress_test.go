package websocket

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

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

var _ = io.EOF
