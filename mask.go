package websocket

import (
	"encoding/binary"
	"math/bits"
)

// maskBytes XORs b in place with the four-byte masking key (RFC 6455 §5.3),
// starting at key byte pos, and returns the key position for the byte after b.
// Keeping the position lets a payload be masked or unmasked in pieces as it
// arrives.
//
// The key is widened to a 64-bit word and applied eight bytes at a time; the
// main loop works on 64-byte blocks whose length the compiler can see, so it
// drops the bounds checks. Unaligned loads are fine on every platform Go
// supports through encoding/binary, so only the tail needs a byte loop.
func maskBytes(key [4]byte, pos int, b []byte) int {
	next := (pos + len(b)) & 3
	rotated, k := rotateKey(key, pos)

	for len(b) >= 64 {
		block := b[:64:64]
		binary.LittleEndian.PutUint64(block[0:], binary.LittleEndian.Uint64(block[0:])^k)
		binary.LittleEndian.PutUint64(block[8:], binary.LittleEndian.Uint64(block[8:])^k)
		binary.LittleEndian.PutUint64(block[16:], binary.LittleEndian.Uint64(block[16:])^k)
		binary.LittleEndian.PutUint64(block[24:], binary.LittleEndian.Uint64(block[24:])^k)
		binary.LittleEndian.PutUint64(block[32:], binary.LittleEndian.Uint64(block[32:])^k)
		binary.LittleEndian.PutUint64(block[40:], binary.LittleEndian.Uint64(block[40:])^k)
		binary.LittleEndian.PutUint64(block[48:], binary.LittleEndian.Uint64(block[48:])^k)
		binary.LittleEndian.PutUint64(block[56:], binary.LittleEndian.Uint64(block[56:])^k)
		b = b[64:]
	}
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		b = b[8:]
	}
	// Whole words keep the phase, so the tail starts at rotated[0] again.
	for i := range b {
		b[i] ^= rotated[i&3]
	}
	return next
}

// rotateKey rotates key so that its first byte applies at position pos, and
// widens it to a 64-bit word. The rotation is done on the word: storing the
// bytes one by one and loading them back as a word stalled the CPU on every
// frame (store forwarding fails), and BenchmarkMaskBytes/16 took twice as
// long.
func rotateKey(key [4]byte, pos int) ([4]byte, uint64) {
	k32 := bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*(pos&3))
	var rotated [4]byte
	binary.LittleEndian.PutUint32(rotated[:], k32)
	return rotated, uint64(k32) | uint64(k32)<<32
}

// maskCopy copies src into dst masked, starting at key byte pos, and
// returns the number of bytes copied, min(len(dst), len(src)), and the key
// position after them. A client masks the caller's bytes, which it may not
// change, into its write buffer: one pass over them instead of a copy and a
// mask.
func maskCopy(key [4]byte, pos int, dst, src []byte) (int, int) {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	rotated, k := rotateKey(key, pos)
	for len(src) >= 64 && len(dst) >= 64 {
		s, d := src[:64:64], dst[:64:64]
		binary.LittleEndian.PutUint64(d[0:], binary.LittleEndian.Uint64(s[0:])^k)
		binary.LittleEndian.PutUint64(d[8:], binary.LittleEndian.Uint64(s[8:])^k)
		binary.LittleEndian.PutUint64(d[16:], binary.LittleEndian.Uint64(s[16:])^k)
		binary.LittleEndian.PutUint64(d[24:], binary.LittleEndian.Uint64(s[24:])^k)
		binary.LittleEndian.PutUint64(d[32:], binary.LittleEndian.Uint64(s[32:])^k)
		binary.LittleEndian.PutUint64(d[40:], binary.LittleEndian.Uint64(s[40:])^k)
		binary.LittleEndian.PutUint64(d[48:], binary.LittleEndian.Uint64(s[48:])^k)
		binary.LittleEndian.PutUint64(d[56:], binary.LittleEndian.Uint64(s[56:])^k)
		src, dst = src[64:], dst[64:]
	}
	for len(src) >= 8 && len(dst) >= 8 {
		binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(src)^k)
		src, dst = src[8:], dst[8:]
	}
	for i := range min(len(src), len(dst)) {
		dst[i] = src[i] ^ rotated[i&3]
	}
	return n, (pos + n) & 3
}
