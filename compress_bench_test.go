package websocket

import (
	"compress/flate"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// ---- benchmarks ----

// benchModes are the modes the benchmarks compare; disabled is the baseline.
var benchModes = []CompressionMode{CompressionDisabled, CompressionNoContextTakeover, CompressionContextTakeover}

// BenchmarkCompressedEcho measures JSON-like text written by the client and
// read by the server over loopback TCP, in each mode, every message
// compressed: throughput of the payload, compression and inflation
// included. Sixteen different messages take turns, so context takeover
// helps as much as it would with a stream of similar messages.
func BenchmarkCompressedEcho(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, mode := range benchModes {
			b.Run(fmt.Sprintf("%d/%s", size, strings.ReplaceAll(mode.String(), " ", "-")), func(b *testing.B) {
				client, server := dialCompressed(b, mode, mode, -1)
				var msgs [16][]byte
				for i := range msgs {
					msgs[i] = jsonLike(size, i)
				}
				done := make(chan error, 1)
				go func() {
					for i := range b.N {
						if err := client.WriteMessage(TextMessage, msgs[i%len(msgs)]); err != nil {
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
					if _, _, err := server.ReadMessage(); err != nil {
						b.Fatal(err)
					}
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// countingSink is a transport that only counts what is written to it.
type countingSink struct{ written int64 }

func (s *countingSink) Read([]byte) (int, error)         { return 0, io.EOF }
func (s *countingSink) Write(p []byte) (int, error)      { s.written += int64(len(p)); return len(p), nil }
func (s *countingSink) Close() error                     { return nil }
func (s *countingSink) SetReadDeadline(time.Time) error  { return nil }
func (s *countingSink) SetWriteDeadline(time.Time) error { return nil }
func (s *countingSink) LocalAddr() net.Addr              { return memAddr{} }
func (s *countingSink) RemoteAddr() net.Addr             { return memAddr{} }

// BenchmarkCompressionRatio reports the bytes a server puts on the wire,
// frame headers included, per byte of JSON-like message, by message size and
// mode, with every message compressed: DefaultCompressionThreshold should
// sit where compression starts to pay without context takeover. Each
// message differs from the one before, as a stream of events would.
func BenchmarkCompressionRatio(b *testing.B) {
	for _, size := range []int{64, 128, 256, 512, 1 << 10, 4 << 10} {
		for _, mode := range benchModes {
			b.Run(fmt.Sprintf("%d/%s", size, strings.ReplaceAll(mode.String(), " ", "-")), func(b *testing.B) {
				var msgs [64][]byte
				for i := range msgs {
					msgs[i] = jsonLike(size, i)
				}
				sink := &countingSink{}
				var d *deflateConfig
				if mode != CompressionDisabled {
					d = &deflateConfig{readWindowBits: 15, level: flate.BestSpeed, threshold: 0,
						readNoContext: mode == CompressionNoContextTakeover, writeNoContext: mode == CompressionNoContextTakeover}
				}
				c := newConn(sink, nil, connConfig{deflate: d})
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					if err := c.WriteMessage(TextMessage, msgs[i%len(msgs)]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(sink.written)/float64(b.N*size), "wire/payload")
			})
		}
	}
}
