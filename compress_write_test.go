package websocket

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"
)

// ---- the write path ----

// rawMessage is a message as a raw peer received it: its frames' first
// bytes and the payload they carry together.
type rawMessage struct {
	b0s     []byte
	payload []byte
}

// readRawMessage reads the frames of one data message from a raw end,
// skipping control frames but recording their first bytes too.
func readRawMessage(t *testing.T, r net.Conn) rawMessage {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(testWait))
	var m rawMessage
	for {
		b0, p, err := readRawFrame(t, r)
		if err != nil {
			t.Fatalf("reading a frame: %v", err)
		}
		m.b0s = append(m.b0s, b0)
		if opcode(b0 & 0x0f).isControl() {
			continue
		}
		m.payload = append(m.payload, p...)
		if b0&finBit != 0 {
			return m
		}
	}
}

// randomText is n bytes of lowercase letters that LZ77 finds nothing in:
// only Huffman coding shrinks them, to about 4.7 bits a byte.
func randomText(n int, seed uint64) []byte {
	p := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range p {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = 'a' + byte(x%26)
	}
	return p
}

func TestDeflateWriterFrames(t *testing.T) {
	for _, client := range []bool{false, true} {
		t.Run(roleOf(client), func(t *testing.T) {
			d := testDeflate()
			d.threshold = 100
			c, raw := newDeflatePeer(t, client, d)
			big := jsonLike(3*largeBufferSize, 4)
			// Random letters compress to about 60%: several frames.
			long := randomText(4*largeBufferSize, 1)
			check := func(name string, m rawMessage, wantB0 []byte, want []byte) {
				t.Helper()
				if !bytes.Equal(m.b0s, wantB0) {
					t.Errorf("%s: frames % x, want % x", name, m.b0s, wantB0)
				}
				if m.b0s[0]&rsv1Bit == 0 {
					if !bytes.Equal(m.payload, want) {
						t.Errorf("%s: uncompressed payload differs", name)
					}
					return
				}
				got, err := inflateRef(m.payload, nil, len(want)+1)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: payload inflates to %d bytes (%v), want the %d sent", name, len(got), err, len(want))
				}
			}

			// WriteMessage: compressed from the threshold on.
			go c.WriteMessage(TextMessage, big[:99])
			check("99 bytes", readRawMessage(t, raw), []byte{0x81}, big[:99])
			go c.WriteMessage(BinaryMessage, big[:100])
			check("100 bytes", readRawMessage(t, raw), []byte{0xC2}, big[:100])
			go c.WriteMessage(TextMessage, big)
			check("large, repetitive", readRawMessage(t, raw), []byte{0xC1}, big)

			// NextWriter decides at Close, or when its buffer fills.
			write := func(typ MessageType, pieces ...[]byte) {
				go func() {
					w, err := c.NextWriter(typ)
					if err != nil {
						return
					}
					for _, p := range pieces {
						w.Write(p)
					}
					w.Close()
				}()
			}
			write(TextMessage, big[:50], big[50:99])
			check("streamed, 99 bytes", readRawMessage(t, raw), []byte{0x81}, big[:99])
			write(TextMessage, big[:50], big[50:100])
			check("streamed, 100 bytes", readRawMessage(t, raw), []byte{0xC1}, big[:100])
			write(BinaryMessage, long[:1000], long[1000:])
			m := readRawMessage(t, raw)
			if len(m.b0s) < 3 {
				t.Fatalf("a %d-byte message that compresses to about %d went out in %d frames", len(long), len(long)*6/10, len(m.b0s))
			}
			// RFC 7692 §6.1: RSV1 on the first frame only.
			wantB0 := bytes.Repeat([]byte{0x00}, len(m.b0s))
			wantB0[0], wantB0[len(wantB0)-1] = 0x42, 0x80
			check("streamed, several frames", m, wantB0, long)

			// A pong between the frames of a compressed message has no RSV1.
			w, err := c.NextWriter(TextMessage)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				if _, err := w.Write(long); err != nil {
					done <- err
					return
				}
				if err := c.Pong([]byte("between")); err != nil {
					done <- err
					return
				}
				w.Write(long[:500])
				done <- w.Close()
			}()
			m = readRawMessage(t, raw)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			pong := bytes.IndexByte(m.b0s, 0x8A)
			if pong <= 0 || pong == len(m.b0s)-1 || m.b0s[0] != 0x41 {
				t.Errorf("frames % x: want a pong (8a) between the frames of a compressed text message (41 first)", m.b0s)
			}
			dataB0 := append(bytes.Clone(m.b0s[:pong]), m.b0s[pong+1:]...)
			wantB0 = bytes.Repeat([]byte{0x00}, len(dataB0))
			wantB0[0], wantB0[len(wantB0)-1] = 0x41, 0x80
			check("pong between frames", rawMessage{b0s: dataB0, payload: m.payload}, wantB0, append(bytes.Clone(long), long[:500]...))

			// The close frame has no RSV1 either.
			go c.Close(StatusNormalClosure, "")
			raw.SetReadDeadline(time.Now().Add(testWait))
			if b0, _, err := readRawFrame(t, raw); err != nil || b0 != 0x88 {
				t.Errorf("close frame starts with %#x (%v), want 0x88", b0, err)
			}
			raw.Write(rawFrame(0x88, !client, []byte{0x03, 0xe8}))
			raw.Close()
		})
	}
}

func roleOf(client bool) string {
	if client {
		return "client"
	}
	return "server"
}

// TestDeflateWriterContext checks what the writer's messages may refer to:
// earlier compressed messages with context takeover (RFC 7692 §7.2.1), but
// never an uncompressed message, and nothing without it.
func TestDeflateWriterContext(t *testing.T) {
	msg := jsonLike(4096, 5)
	for _, noContext := range []bool{false, true} {
		t.Run(fmt.Sprintf("no-context=%v", noContext), func(t *testing.T) {
			d := testDeflate()
			d.writeNoContext = noContext
			d.threshold = 64
			c, raw := newDeflatePeer(t, false, d)
			var sizes []int
			var history []byte
			for i, p := range [][]byte{msg, []byte("uncompressed: below the threshold"), msg, msg[:2000]} {
				go c.WriteMessage(TextMessage, p)
				m := readRawMessage(t, raw)
				if len(p) < d.threshold {
					if m.b0s[0] != 0x81 || !bytes.Equal(m.payload, p) {
						t.Fatalf("message %d went out as %#x % x, want it uncompressed", i, m.b0s[0], m.payload)
					}
					continue
				}
				// The reference keeps the history of compressed
				// messages only (RFC 7692 §7.2.2).
				dict := history
				if noContext {
					dict = nil
				}
				got, err := inflateRef(m.payload, dict, len(p)+1)
				if err != nil || !bytes.Equal(got, p) {
					t.Fatalf("message %d inflates to %d bytes (%v), want %d", i, len(got), err, len(p))
				}
				history = append(history, p...)
				sizes = append(sizes, len(m.payload))
			}
			t.Logf("compressed sizes of %d, %d and %d bytes: %v", len(msg), len(msg), 2000, sizes)
			if noContext && sizes[1] != sizes[0] {
				t.Errorf("without context, the same message compressed to %d bytes, then %d", sizes[0], sizes[1])
			}
			if !noContext && sizes[1]*8 > sizes[0] {
				t.Errorf("with context, a repeated message compressed to %d bytes after %d: want much less", sizes[1], sizes[0])
			}
		})
	}
}

// TestDeflateHuffmanOnly checks the writer of a Conn whose peer allows a
// window smaller than flate's: no block may refer back, within a message or
// to an earlier one, so each message inflates without history and compresses
// no better than Huffman coding can.
func TestDeflateHuffmanOnly(t *testing.T) {
	block := randomText(4096, 2)
	msg := bytes.Repeat(block, 8) // LZ77 would make this 4 KiB and change
	d := testDeflate()
	d.writeHuffmanOnly = true
	c, raw := newDeflatePeer(t, false, d)
	for i := range 3 {
		go c.WriteMessage(TextMessage, msg)
		m := readRawMessage(t, raw)
		if m.b0s[0]&^finBit != 0x41 {
			t.Fatalf("message %d: first byte %#x, want a compressed text frame", i, m.b0s[0])
		}
		got, err := inflateRef(m.payload, nil, len(msg)+1)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d does not inflate without history: %d bytes, %v", i, len(got), err)
		}
		if len(m.payload) < len(msg)/2 {
			t.Errorf("message %d: %d bytes compressed to %d: that takes back-references", i, len(msg), len(m.payload))
		}
	}

	// And a Conn that keeps only a 512-byte window reads it.
	client, server := newPair(t, connConfig{deflate: &deflateConfig{readWindowBits: 9, level: 1, threshold: 1}},
		connConfig{deflate: &deflateConfig{readWindowBits: 15, writeHuffmanOnly: true, level: 9, threshold: 1}})
	for i := range 3 {
		go server.WriteMessage(BinaryMessage, msg)
		_, got, err := client.ReadMessage()
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: the client read %d bytes, %v", i, len(got), err)
		}
	}
}
