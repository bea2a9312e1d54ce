package websocket

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// BenchmarkEcho measures a message written by one side and read by the other,
// for each way of writing and reading, over loopback TCP (the kernel buffers
// writes, as in real use), over TLS on loopback TCP (wss://), and over
// net.Pipe (no kernel: each write waits for the reader, so it shows the
// library's own cost per message).
func BenchmarkEcho(b *testing.B) {
	for _, transport := range []string{"tcp", "tls", "pipe"} {
		for _, size := range []int{16, 128, 1 << 10, 16 << 10, 64 << 10, 1 << 20} {
			for _, mode := range []string{"WriteMessage+ReadMessage", "NextWriter+NextReader"} {
				for _, fromClient := range []bool{true, false} {
					dir := "server-to-client"
					if fromClient {
						dir = "client-to-server"
					}
					b.Run(fmt.Sprintf("%s/%s/%s/%d", transport, mode, dir, size), func(b *testing.B) {
						benchmarkEcho(b, transport, size, mode == "NextWriter+NextReader", fromClient)
					})
				}
			}
		}
	}
}

func benchmarkEcho(b *testing.B, transport string, size int, streaming, fromClient bool) {
	var client, server *Conn
	switch transport {
	case "pipe":
		a, c := net.Pipe()
		client = newConn(a, nil, connConfig{client: true})
		server = newConn(c, nil, connConfig{})
		b.Cleanup(func() { client.CloseNow(); server.CloseNow() })
	case "tls":
		a, c := tlsPair(b)
		client = newConn(a, nil, connConfig{client: true})
		server = newConn(c, nil, connConfig{})
		b.Cleanup(func() { client.CloseNow(); server.CloseNow() })
	default:
		client, server = newPair(b, connConfig{}, connConfig{})
	}
	w, r := server, client
	if fromClient {
		w, r = client, server
	}
	msg := bytes.Repeat([]byte("x"), size)
	buf := make([]byte, 32<<10)
	done := make(chan error, 1)
	go func() {
		for range b.N {
			var err error
			if streaming {
				var mw io.WriteCloser
				if mw, err = w.NextWriter(BinaryMessage); err == nil {
					if _, err = mw.Write(msg); err == nil {
						err = mw.Close()
					}
				}
			} else {
				err = w.WriteMessage(BinaryMessage, msg)
			}
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if streaming {
			_, mr, err := r.NextReader()
			if err != nil {
				b.Fatal(err)
			}
			for {
				_, err := mr.Read(buf)
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		} else if _, _, err := r.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkIdleConnection measures the Go heap a connection holds while idle
// after a message each way, per Conn, for each compression mode. The
// connections have no goroutine of their own, so the heap is all they cost
// besides the reading goroutine the user runs and the kernel's socket
// buffers. Run with -benchtime=1x: each iteration makes 200 pairs.
func BenchmarkIdleConnection(b *testing.B) {
	noTakeover := &deflateConfig{readNoContext: true, writeNoContext: true, readWindowBits: 15, level: 1, threshold: 0}
	takeover := &deflateConfig{readWindowBits: 15, level: 1, threshold: 0}
	for _, tc := range []struct {
		name    string
		deflate *deflateConfig
	}{{"uncompressed", nil}, {"no-context-takeover", noTakeover}, {"context-takeover", takeover}} {
		b.Run(tc.name, func(b *testing.B) {
			const pairs = 200
			msg := []byte(strings.Repeat("idle connections cost little ", 40))
			var perConn float64
			for range b.N {
				// Two collections empty sync.Pool (and its victim cache): the
				// pooled buffers and compressors are shared, not per Conn.
				runtime.GC()
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				conns := make([]*Conn, 0, 2*pairs)
				for range pairs {
					client, server := newPair(b, connConfig{deflate: tc.deflate}, connConfig{deflate: tc.deflate})
					for _, pair := range [][2]*Conn{{client, server}, {server, client}} {
						if err := pair[0].WriteMessage(TextMessage, msg); err != nil {
							b.Fatal(err)
						}
						if _, _, err := pair[1].ReadMessage(); err != nil {
							b.Fatal(err)
						}
					}
					conns = append(conns, client, server)
				}
				runtime.GC()
				runtime.GC()
				runtime.ReadMemStats(&after)
				perConn = float64(after.HeapAlloc-before.HeapAlloc) / float64(len(conns))
				runtime.KeepAlive(conns)
				for _, c := range conns {
					c.CloseNow()
				}
			}
			b.ReportMetric(perConn, "heap-bytes/conn")
		})
	}
}

// tlsPair returns the client and server ends of a TLS connection over
// loopback TCP, handshake done, with httptest's certificate.
func tlsPair(t testing.TB) (client, server *tls.Conn) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	cert := srv.TLS.Certificates
	srv.Close()
	a, c := tcpPair(t)
	client = tls.Client(a, &tls.Config{InsecureSkipVerify: true})
	server = tls.Server(c, &tls.Config{Certificates: cert})
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return client, server
}

// BenchmarkWriteMessage is the Conn's own cost of writing a 128-byte
// message, over a transport that only counts bytes: the locks, the header,
// and for a client the mask key and masking.
func BenchmarkWriteMessage(b *testing.B) {
	for _, client := range []bool{false, true} {
		b.Run(roleName(client), func(b *testing.B) {
			c := newConn(&countingSink{}, nil, connConfig{client: client})
			p := make([]byte, 128)
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.WriteMessage(BinaryMessage, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConnLock is an uncontended lock and unlock of a Conn's lock,
// which a message costs a few of, next to a sync.Mutex's.
func BenchmarkConnLock(b *testing.B) {
	b.Run("connLock", func(b *testing.B) {
		l := newConnLock()
		for b.Loop() {
			l.lock(nil, nil)
			l.unlock()
		}
	})
	b.Run("sync.Mutex", func(b *testing.B) {
		var mu sync.Mutex
		for b.Loop() {
			mu.Lock()
			mu.Unlock()
		}
	})
}
