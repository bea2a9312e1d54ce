package websocket

import (
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

// utf8Cases are the rules of RFC 3629 §4 that a text message must follow.
// fail is the index of the first byte after which no continuation could make
// the text valid, or -1 when there is none (valid, or cut short at the end).
var utf8Cases = []struct {
	name  string
	in    string
	valid bool
	fail  int
}{
	{"empty", "", true, -1},
	{"ascii", "hello, world", true, -1},
	{"nul", "a\x00b", true, -1},
	{"two-byte", "h\u00e9llo", true, -1},
	{"three-byte", "\u20ac", true, -1},
	{"four-byte", "\U0001d11e", true, -1},
	{"mixed", "ascii \u00e9 \u20ac \U0001d11e and more ascii to pass eight bytes", true, -1},
	{"U+0080", "\xc2\x80", true, -1},
	{"U+07FF", "\xdf\xbf", true, -1},
	{"U+0800", "\xe0\xa0\x80", true, -1},
	{"U+D7FF", "\xed\x9f\xbf", true, -1},
	{"U+E000", "\xee\x80\x80", true, -1},
	{"U+FFFF", "\xef\xbf\xbf", true, -1},
	{"U+10000", "\xf0\x90\x80\x80", true, -1},
	{"U+10FFFF", "\xf4\x8f\xbf\xbf", true, -1},

	{"overlong 2-byte C0", "\xc0\x80", false, 0},
	{"overlong 2-byte C1", "\xc1\xbf", false, 0},
	{"overlong 3-byte", "\xe0\x80\x80", false, 1},
	{"overlong 3-byte max", "\xe0\x9f\xbf", false, 1},
	{"overlong 4-byte", "\xf0\x80\x80\x80", false, 1},
	{"overlong 4-byte max", "\xf0\x8f\xbf\xbf", false, 1},
	{"surrogate D800", "\xed\xa0\x80", false, 1},
	{"surrogate DFFF", "\xed\xbf\xbf", false, 1},
	{"surrogate after text", "abc\xed\xa0\x80", false, 4},
	{"above U+10FFFF F4 90", "\xf4\x90\x80\x80", false, 1},
	{"lead F5", "\xf5\x80\x80\x80", false, 0},
	{"lead F7", "\xf7\xbf\xbf\xbf", false, 0},
	{"5-byte lead", "\xf8\x88\x80\x80\x80", false, 0},
	{"6-byte lead", "\xfc\x84\x80\x80\x80\x80", false, 0},
	{"FE", "\xfe", false, 0},
	{"FF", "a\xff", false, 1},
	{"stray continuation", "\x80", false, 0},
	{"stray continuation after ascii", "abc\xbf", false, 3},
	{"extra continuation", "\xc3\xa9\xa9", false, 2},
	{"2-byte then ascii", "\xc3A", false, 1},
	{"3-byte then ascii", "\xe2\x82A", false, 2},
	{"4-byte then ascii", "\xf0\x9d\x84A", false, 3},
	{"lead then lead", "\xc3\xc3\xa9", false, 1},
	{"4-byte then bad last byte", "\xf4\x8f\xbf\xc0", false, 3},
	{"invalid deep in long text", strings.Repeat("ab\u00e9", 10) + "\xff" + "tail", false, 40},
	{"truncated 2-byte", "\xc3", false, -1},
	{"truncated 3-byte", "\xe2\x82", false, -1},
	{"truncated 4-byte", "\xf0\x9d\x84", false, -1},
	{"truncated after text", "abc\u00e9\xe2\x82", false, -1},
}

// utf8Completions are enough endings to complete any prefix that can still
// become valid: one to three continuation bytes, the first in each of the
// ranges a lead byte may demand (RFC 3629 §4: 80-BF, A0-BF, 80-9F, 90-BF,
// 80-8F).
var utf8Completions = func() []string {
	var c []string
	for _, first := range []string{"\x80", "\x90", "\xa0"} {
		for n := range 3 {
			c = append(c, first+strings.Repeat("\x80", n))
		}
	}
	return c
}()

// canBecomeValid reports whether some continuation makes p valid UTF-8,
// using only utf8.Valid.
func canBecomeValid(p string) bool {
	if utf8.ValidString(p) {
		return true
	}
	for _, c := range utf8Completions {
		if utf8.ValidString(p + c) {
			return true
		}
	}
	return false
}

// firstImpossible is the reference for failing fast: the index of the last
// byte of the shortest prefix of s that no continuation makes valid, or -1.
// Every prefix of a prefix that can become valid can too, so a binary search
// finds it, which keeps fuzzing long inputs quick.
func firstImpossible(s string) int {
	n := sort.Search(len(s), func(i int) bool { return !canBecomeValid(s[:i+1]) })
	if n == len(s) {
		return -1
	}
	return n
}

// validateChunks feeds s to a fresh validator in chunks cut at the given
// increasing offsets. It returns the index of the chunk whose write failed
// (-1 if none) and the validator's verdict on the whole text.
func validateChunks(s string, cuts []int) (failedChunk int, valid bool) {
	var v utf8Validator
	start := 0
	for i, end := range append(cuts, len(s)) {
		if !v.write([]byte(s[start:end])) {
			return i, false
		}
		start = end
	}
	return -1, v.complete()
}

// chunkHolding is the index of the chunk, as cut by cuts, that holds byte i.
func chunkHolding(cuts []int, i int) int {
	for n, c := range cuts {
		if i < c {
			return n
		}
	}
	return len(cuts)
}

func TestUTF8ValidatorTable(t *testing.T) {
	for _, tc := range utf8Cases {
		t.Run(tc.name, func(t *testing.T) {
			// The table and the reference agree, or one of them is wrong.
			if utf8.ValidString(tc.in) != tc.valid {
				t.Fatalf("table says valid=%v, utf8.ValidString says %v", tc.valid, !tc.valid)
			}
			if ref := firstImpossible(tc.in); ref != tc.fail {
				t.Fatalf("table says the first impossible byte is %d, the reference says %d", tc.fail, ref)
			}
			check := func(cuts []int) {
				t.Helper()
				failed, valid := validateChunks(tc.in, cuts)
				if valid != tc.valid {
					t.Fatalf("cut at %v: valid=%v, want %v", cuts, valid, tc.valid)
				}
				if tc.fail >= 0 && failed != chunkHolding(cuts, tc.fail) {
					t.Fatalf("cut at %v: chunk %d failed, want chunk %d, which holds byte %d",
						cuts, failed, chunkHolding(cuts, tc.fail), tc.fail)
				}
				if tc.fail < 0 && failed >= 0 {
					t.Fatalf("cut at %v: chunk %d failed, but the text can still become valid", cuts, failed)
				}
			}
			check(nil)
			for i := 0; i <= len(tc.in); i++ {
				check([]int{i})
				for j := i; j <= len(tc.in); j++ {
					check([]int{i, j})
				}
			}
			bytewise := make([]int, len(tc.in))
			for i := range bytewise {
				bytewise[i] = i
			}
			check(bytewise)
		})
	}
}

// TestUTF8ValidatorReset checks that a validator can be reused after a
// message that ended inside a sequence.
func TestUTF8ValidatorReset(t *testing.T) {
	var v utf8Validator
	if !v.write([]byte("\xe2\x82")) || v.complete() {
		t.Fatal("a cut sequence should be accepted so far but not complete")
	}
	v.reset()
	if !v.write([]byte("ok")) || !v.complete() {
		t.Fatal("after reset, the carried bytes of the previous message still count")
	}
}

// TestUTF8ValidatorEveryBytePair runs every pair of bytes, alone and
// followed by a third byte from each class that matters, through the
// validator, whole and byte by byte, against utf8.Valid and the fail-fast
// reference: the second byte is where the lead byte's rules bite.
func TestUTF8ValidatorEveryBytePair(t *testing.T) {
	thirds := []byte{0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xf4, 0xf5, 0xff}
	for b0 := range 256 {
		for b1 := range 256 {
			for _, b2 := range thirds {
				s := string([]byte{byte(b0), byte(b1), b2})
				for _, in := range []string{s[:2], s} {
					fail := firstImpossible(in)
					cuts := []int{1, 2}[:len(in)-1]
					for _, c := range [][]int{nil, cuts} {
						failed, valid := validateChunks(in, c)
						if valid != utf8.ValidString(in) {
							t.Fatalf("% x cut at %v: valid=%v, utf8.Valid says %v", in, c, valid, !valid)
						}
						want := -1
						if fail >= 0 {
							want = chunkHolding(c, fail)
						}
						if failed != want {
							t.Fatalf("% x cut at %v: chunk %d failed, want %d", in, c, failed, want)
						}
					}
				}
			}
		}
	}
}

func benchmarkUTF8(b *testing.B, unit string) {
	text := []byte(strings.Repeat(unit, (16<<10)/len(unit)+1)[:16<<10])
	// Cut back to a rune boundary so the text is valid.
	for !utf8.Valid(text) {
		text = text[:len(text)-1]
	}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	var v utf8Validator
	for b.Loop() {
		v.reset()
		if !v.write(text) || !v.complete() {
			b.Fatal("valid text rejected")
		}
	}
}

func BenchmarkUTF8ValidatorASCII(b *testing.B) {
	benchmarkUTF8(b, "The quick brown fox jumps over the lazy dog. ")
}

func BenchmarkUTF8ValidatorMixed(b *testing.B) {
	benchmarkUTF8(b, "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e \U0001d11e ")
}
