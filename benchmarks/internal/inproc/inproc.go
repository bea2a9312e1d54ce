// Package inproc holds the in-process benchmarks: the cost of writing and
// reading one message with each library, client and server in one process
// over loopback TCP, and the masking loops. They are ordinary benchmark
// functions: bench_test.go runs them under `go test -bench`, and wsbench runs
// them with testing.Benchmark, interleaved with each other round by round.
package inproc

import (
	"testing"

	"github.com/gobwas/ws"

	"github.com/ws6455/websocket/benchmarks/internal/libs"
	"github.com/ws6455/websocket/benchmarks/internal/wire"
)

// Directions of the write+read benchmark.
const (
	ClientToServer = "c2s" // the client writes (and masks), the server reads (and unmasks)
	ServerToClient = "s2c" // the server writes, the client reads
)

// WriteRead measures one message of size bytes written by one end of a
// connection of lib and read whole by the other: b.N messages stream from a
// writing goroutine to the benchmark's goroutine. Allocations are those of
// both ends.
func WriteRead(b *testing.B, lib string, size int, dir string) {
	client, server, stop, err := libs.Pipe(lib)
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	w, r := client, server
	if dir == ServerToClient {
		w, r = server, client
	}
	msg := wire.Payload(size)
	// One message first, so that buffers made on first use are not counted.
	warm := make(chan error, 1)
	if err := r.ReadN(1, func() { go func() { warm <- w.Write(msg) }() }); err != nil {
		b.Fatal(err)
	}
	if err := <-warm; err != nil {
		b.Fatal(err)
	}

	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	werr := make(chan error, 1)
	err = r.ReadN(b.N, func() {
		go func() {
			for range b.N {
				if err := w.Write(msg); err != nil {
					werr <- err
					return
				}
			}
			werr <- nil
		}()
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if err := <-werr; err != nil {
		b.Fatal(err)
	}
}

// The masking benchmarks. Ours is not here: its masking function is
// unexported and nothing is copied out of the library, so wsbench runs the
// root package's own BenchmarkMaskBytes next to these.
var maskKey = [4]byte{0x12, 0x34, 0x56, 0x78}

// MaskGobwas measures gobwas/ws's exported ws.Cipher. gorilla, coder and gws
// keep their masking functions unexported.
func MaskGobwas(b *testing.B, size int) {
	buf := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		ws.Cipher(buf, maskKey, 0)
	}
}

// MaskByteLoop is the plain loop, one byte at a time, that fast masking
// replaces.
func MaskByteLoop(b *testing.B, size int) {
	buf := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		for i := range buf {
			buf[i] ^= maskKey[i&3]
		}
	}
}

// MaskCopy is copy, about as fast as touching every byte once can be.
func MaskCopy(b *testing.B, size int) {
	src := make([]byte, size)
	dst := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		copy(dst, src)
	}
}
