package websocket

import "unicode/utf8"

// utf8Validator checks that a text message is valid UTF-8 (RFC 6455 §8.1) as
// its bytes arrive, in chunks of any size and split anywhere, carrying at most
// three bytes of an unfinished sequence between chunks. It fails on the first
// byte after which no continuation could make the text valid, so a reader can
// fail the connection at once instead of at the end of the message.
type utf8Validator struct {
	partial [utf8.UTFMax]byte // the unfinished sequence carried between chunks
	n       int               // how many bytes of partial are in use
}

// write validates the next chunk and reports whether the text so far can
// still become valid.
func (v *utf8Validator) write(p []byte) bool {
	// Finish the sequence carried over from the previous chunk.
	if v.n > 0 {
		want := sequenceLength(v.partial[0])
		for v.n < want && len(p) > 0 {
			v.partial[v.n] = p[0]
			v.n++
			p = p[1:]
			if !validPrefix(v.partial[:v.n]) {
				return false
			}
		}
		if v.n < want {
			return true
		}
		v.n = 0
	}

	// Split off a trailing sequence that this chunk does not finish. Only a
	// lead byte within the last three bytes can start one.
	body := p
	for i := len(p) - 1; i >= 0 && i >= len(p)-(utf8.UTFMax-1); i-- {
		if p[i]&0xC0 == 0x80 {
			continue // a continuation byte; keep looking for its lead
		}
		if sequenceLength(p[i]) > len(p)-i {
			body = p[:i]
		}
		break
	}
	// utf8.Valid skips ASCII eight bytes at a time: the common case is cheap.
	if !utf8.Valid(body) {
		return false
	}
	tail := p[len(body):]
	if len(tail) == 0 {
		return true
	}
	v.n = copy(v.partial[:], tail)
	return validPrefix(tail)
}

// complete reports whether the text ended on a sequence boundary: a message
// that ends inside a sequence is invalid even if every byte so far was fine.
func (v *utf8Validator) complete() bool { return v.n == 0 }

func (v *utf8Validator) reset() { v.n = 0 }

// sequenceLength is the length of the UTF-8 sequence that the lead byte b
// starts, or 0 when b cannot start one (continuation bytes, 0xC0, 0xC1 and
// 0xF5 and above, RFC 3629 §4).
func sequenceLength(b byte) int {
	switch {
	case b < 0x80:
		return 1
	case b < 0xC2:
		return 0
	case b < 0xE0:
		return 2
	case b < 0xF0:
		return 3
	case b < 0xF5:
		return 4
	}
	return 0
}

// validPrefix reports whether seq, which starts with a lead byte and is no
// longer than the sequence it starts, can be completed to a valid UTF-8
// sequence. The second byte's range depends on the lead byte; that is where
// overlong forms, UTF-16 surrogates and code points past U+10FFFF are ruled
// out (RFC 3629 §4).
func validPrefix(seq []byte) bool {
	if sequenceLength(seq[0]) < len(seq) {
		return false
	}
	if len(seq) < 2 {
		return sequenceLength(seq[0]) > 0
	}
	lo, hi := byte(0x80), byte(0xBF)
	switch seq[0] {
	case 0xE0:
		lo = 0xA0
	case 0xED:
		hi = 0x9F
	case 0xF0:
		lo = 0x90
	case 0xF4:
		hi = 0x8F
	}
	if seq[1] < lo || seq[1] > hi {
		return false
	}
	for _, b := range seq[2:] {
		if b&0xC0 != 0x80 {
			return false
		}
	}
	return true
}
