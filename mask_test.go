package websocket

import (
	"bytes"
	cryptorand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// maskReference is the definition of masking in RFC 6455 §5.3, one byte at a
// time: the fast path must agree with it everywhere.
func maskReference(key [4]byte, pos int, b []byte) int {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return (pos + len(b)) & 3
}

// TestMaskBytesExhaustive compares maskBytes with the byte loop for every
// length up to past the 64-byte block and 8-byte word boundaries, every
// alignment of the slice and every key position, and checks that no byte
// outside the slice is touched.
func TestMaskBytesExhaustive(t *testing.T) {
	const maxLen, maxAlign, guard = 300, 16, 16
	key := [4]byte{0x01, 0x23, 0x45, 0x67} // distinct bytes: a rotation error shows
	rng := rand.New(rand.NewPCG(1, 2))
	orig := make([]byte, maxAlign+maxLen+guard)
	for i := range orig {
		orig[i] = byte(rng.Uint32())
	}
	got := make([]byte, len(orig))
	want := make([]byte, len(orig))
	for n := 0; n <= maxLen; n++ {
		for align := 0; align < maxAlign; align++ {
			for pos := 0; pos < 4; pos++ {
				copy(got, orig)
				copy(want, orig)
				gotNext := maskBytes(key, pos, got[align:align+n])
				wantNext := maskReference(key, pos, want[align:align+n])
				if gotNext != wantNext {
					t.Fatalf("len %d, align %d, pos %d: next position %d, want %d", n, align, pos, gotNext, wantNext)
				}
				if !bytes.Equal(got, want) {
					i := diffIndex(got, want)
					t.Fatalf("len %d, align %d, pos %d: buffer differs at byte %d (slice is [%d:%d]): got %#02x, want %#02x",
						n, align, pos, i, align, align+n, got[i], want[i])
				}
			}
		}
	}
}

// TestMaskBytesInPieces checks that masking a payload in pieces, each starting
// at the key position the previous one returned, equals masking it whole:
// that is how a frame's payload is unmasked as it arrives.
func TestMaskBytesInPieces(t *testing.T) {
	key := [4]byte{0xde, 0xad, 0xbe, 0xef}
	rng := rand.New(rand.NewPCG(3, 4))
	payload := make([]byte, 300)
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	for start := 0; start < 4; start++ {
		whole := bytes.Clone(payload)
		wholeNext := maskBytes(key, start, whole)
		for split := 0; split <= len(payload); split++ {
			pieces := bytes.Clone(payload)
			next := maskBytes(key, start, pieces[:split])
			next = maskBytes(key, next, pieces[split:])
			if next != wholeNext {
				t.Fatalf("start %d, split at %d: next position %d, want %d", start, split, next, wholeNext)
			}
			if !bytes.Equal(pieces, whole) {
				t.Fatalf("start %d, split at %d: differs from masking whole at byte %d", start, split, diffIndex(pieces, whole))
			}
		}
	}
	// Masking twice with the same key and position restores the payload.
	again := bytes.Clone(payload)
	maskBytes(key, 1, again)
	maskBytes(key, 1, again)
	if !bytes.Equal(again, payload) {
		t.Fatal("masking twice did not restore the payload")
	}
}

func diffIndex(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func BenchmarkMaskBytes(b *testing.B) {
	key := [4]byte{1, 2, 3, 4}
	for _, size := range []int{16, 128, 1 << 10, 16 << 10, 1 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				maskBytes(key, 0, buf)
			}
		})
	}
}

// BenchmarkMaskBaseline puts the fast path in context at 16 KiB: the byte
// loop it replaces, a plain loop over 8-byte words (what unrolling over
// 64-byte blocks improves on), and a plain copy, which is about as fast as
// touching each byte once can be.
func BenchmarkMaskBaseline(b *testing.B) {
	const size = 16 << 10
	key := [4]byte{1, 2, 3, 4}
	b.Run("byteloop", func(b *testing.B) {
		buf := make([]byte, size)
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			maskReference(key, 0, buf)
		}
	})
	b.Run("word8", func(b *testing.B) {
		buf := make([]byte, size)
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			maskWords(key, buf)
		}
	})
	b.Run("copy", func(b *testing.B) {
		src := make([]byte, size)
		dst := make([]byte, size)
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			copy(dst, src)
		}
	})
}

func TestMaskCopy(t *testing.T) {
	key := [4]byte{0x9a, 0x01, 0xfe, 0x37}
	src := make([]byte, 300)
	for i := range src {
		src[i] = byte(i * 7)
	}
	// Every length and start position, into a destination of every size
	// around it: the result is maskReference applied to a copy.
	for n := 0; n <= len(src); n += 1 + n/16 {
		for pos := range 4 {
			for _, room := range []int{n, n + 5, max(n-3, 0)} {
				want := append([]byte(nil), src[:min(n, room)]...)
				wantPos := maskReference(key, pos, want)
				dst := make([]byte, room)
				orig := append([]byte(nil), src[:n]...)
				copied, gotPos := maskCopy(key, pos, dst, src[:n])
				if copied != len(want) || gotPos != wantPos || !bytes.Equal(dst[:copied], want) {
					t.Fatalf("n=%d pos=%d room=%d: copied %d, pos %d; want %d, pos %d; bytes equal: %v",
						n, pos, room, copied, gotPos, len(want), wantPos, bytes.Equal(dst[:copied], want))
				}
				if !bytes.Equal(src[:n], orig) {
					t.Fatal("maskCopy changed its source")
				}
			}
		}
	}
}

func BenchmarkMaskCopy(b *testing.B) {
	key := [4]byte{1, 2, 3, 4}
	for _, size := range []int{128, 16 << 10, 1 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			src, dst := make([]byte, size), make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				maskCopy(key, 0, dst, src)
			}
		})
	}
}

// maskWords is the plain 8-byte loop, for BenchmarkMaskBaseline: one word at
// a time with the bounds checks the compiler cannot drop. len(b) is a
// multiple of 8 there.
func maskWords(key [4]byte, b []byte) {
	k32 := binary.LittleEndian.Uint32(key[:])
	k := uint64(k32) | uint64(k32)<<32
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k)
	}
}

// BenchmarkNewMaskKey is the cost of the masking key of each client frame,
// next to reading the four bytes from crypto/rand.
func BenchmarkNewMaskKey(b *testing.B) {
	b.Run("newMaskKey", func(b *testing.B) {
		for b.Loop() {
			newMaskKey()
		}
	})
	b.Run("crypto-rand", func(b *testing.B) {
		var k [4]byte
		for b.Loop() {
			cryptorand.Read(k[:])
		}
	})
}
