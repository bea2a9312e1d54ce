package websocket

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
)

// ---- references ----

// syncTail is the empty stored block that ends a sync flush; RFC 7692
// §7.2.1 has the sender strip it and the receiver put it back.
const syncTail = "\x00\x00\xff\xff"

// deflateRef compresses one message as RFC 7692 §7.2.1 says, with
// compress/flate and no context: a sync flush, its last four bytes removed.
func deflateRef(level int, p []byte) []byte {
	return newRefDeflater(level).message(p)
}

// deflateRefDict compresses one message that may refer to dict, the
// history a peer with context takeover has.
func deflateRefDict(level int, dict, p []byte) []byte {
	d := &refDeflater{}
	d.fw, _ = flate.NewWriterDict(&d.buf, level, dict)
	return d.message(p)
}

// refDeflater is a peer's compressor with context takeover: one
// flate.Writer for every message, flushed after each and never reset, so
// that a message may refer to the ones before it.
type refDeflater struct {
	buf bytes.Buffer
	fw  *flate.Writer
}

func newRefDeflater(level int) *refDeflater {
	d := &refDeflater{}
	d.fw, _ = flate.NewWriter(&d.buf, level)
	return d
}

func (d *refDeflater) message(p []byte) []byte {
	d.fw.Write(p)
	d.fw.Flush()
	out := bytes.Clone(d.buf.Bytes())
	d.buf.Reset()
	if !bytes.HasSuffix(out, []byte(syncTail)) {
		panic("a sync flush did not end with 00 00 ff ff")
	}
	return out[:len(out)-len(syncTail)]
}

// inflateRef inflates a message's payload as RFC 7692 §7.2.2 says, with
// compress/flate: the payload and 00 00 ff ff, after dict (the history kept
// from earlier messages, or nil). It reads at most limit bytes.
func inflateRef(payload, dict []byte, limit int) ([]byte, error) {
	src := bytes.NewReader(append(bytes.Clone(payload), syncTail...))
	out, err := io.ReadAll(io.LimitReader(flate.NewReaderDict(src, dict), int64(limit)))
	if err == io.ErrUnexpectedEOF && src.Len() == 0 {
		err = nil // the stream goes on in the next message, as it should
	}
	return out, err
}

// jsonLike returns n bytes of JSON-like text that varies with seed: the
// repetitive, not identical, kind of message compression is for.
func jsonLike(n, seed int) []byte {
	words := []string{"ada", "grace", "linus", "ken", "rob", "barbara", "edsger", "donald"}
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		k := seed*7919 + i*104729
		fmt.Fprintf(&b, `{"id":%d,"user":%q,"action":"update","path":"/items/%d","ok":%v,"score":%d.%02d},`,
			k%100000, words[k%len(words)], k%977, k%3 == 0, k%1000, k%97)
	}
	return b.Bytes()[:n]
}

// inflateWhole inflates a message's payload to its end: the payload, the
// 00 00 ff ff its sender removed, and a final empty stored block, after
// dict. It reads at most limit bytes, and says how much of the input flate
// left unread: a final block before the end of the payload leaves some.
func inflateWhole(payload, dict []byte, limit int) (out []byte, unread int, err error) {
	// RFC 7692 §7.2.2 appends the stripped 00 00 ff ff, the LEN and NLEN of
	// the empty stored block a well-formed payload ends with. So a payload
	// is well formed when those four bytes can be replaced by the LEN and
	// NLEN of a stored block with data, and that data comes out. A payload
	// whose own block runs into the marker (a stored block longer than the
	// payload, a Huffman block cut short) reads the four bytes otherwise.
	inflate := func(suffix string) ([]byte, int, error) {
		src := bytes.NewReader(append(bytes.Clone(payload), suffix+"\x01\x00\x00\xff\xff"...))
		out, err := io.ReadAll(io.LimitReader(flate.NewReaderDict(src, dict), int64(limit)))
		return out, src.Len(), err
	}
	out, unread, err = inflate(syncTail)
	other, otherUnread, otherErr := inflate("\x05\x00\xfa\xffhello")
	if err != nil || unread > 0 {
		return out, unread, err // cut short, or a final block before the end
	}
	if otherErr != nil || otherUnread > 0 || !bytes.Equal(other, append(bytes.Clone(out), "hello"...)) {
		return out, 0, errors.New("the payload's last block runs into the stripped sync marker")
	}
	return out, 0, nil
}
