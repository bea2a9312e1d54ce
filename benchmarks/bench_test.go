// The in-process benchmarks, for `go test -bench . ` in this directory:
//
//	BenchmarkWriteRead/<lib>/<c2s|s2c>/<size>: one message written by one
//	end and read by the other, client and server in this process over
//	loopback, for each library and the raw-TCP baseline;
//	BenchmarkMask/<impl>/<size>: gobwas/ws's ws.Cipher, a byte loop and copy.
//
// The root package's BenchmarkMaskBytes measures this library's masking.
// `go run ./cmd/wsbench` runs all of these interleaved and prints ratios.
package benchmarks

import (
	"fmt"
	"testing"

	"github.com/ws6455/websocket/benchmarks/internal/inproc"
	"github.com/ws6455/websocket/benchmarks/internal/libs"
)

func BenchmarkWriteRead(b *testing.B) {
	for _, lib := range libs.All {
		for _, dir := range []string{inproc.ClientToServer, inproc.ServerToClient} {
			for _, size := range []int{128, 16 << 10} {
				b.Run(fmt.Sprintf("%s/%s/%d", lib, dir, size), func(b *testing.B) {
					inproc.WriteRead(b, lib, size, dir)
				})
			}
		}
	}
}

func BenchmarkMask(b *testing.B) {
	impls := []struct {
		name string
		fn   func(*testing.B, int)
	}{
		{"gobwas", inproc.MaskGobwas},
		{"byteloop", inproc.MaskByteLoop},
		{"copy", inproc.MaskCopy},
	}
	for _, impl := range impls {
		for _, size := range []int{16 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("%s/%d", impl.name, size), func(b *testing.B) {
				impl.fn(b, size)
			})
		}
	}
}
