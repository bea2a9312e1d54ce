package wire

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

// The codec reads back what it writes, for every length form, masked or not.
func TestFrameRoundTrip(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for _, n := range []int{0, 1, 125, 126, 0xFFFF, 0x10000, 1 << 20} {
		for _, masked := range []bool{false, true} {
			payload := Payload(n)
			frame := AppendFrame(nil, OpBinary, payload, masked, key)
			br := bufio.NewReader(bytes.NewReader(frame))
			h, err := ReadHeader(br)
			if err != nil {
				t.Fatalf("%d bytes, masked %v: %v", n, masked, err)
			}
			if !h.Fin || h.Op != OpBinary || h.Masked != masked || h.Length != int64(n) {
				t.Fatalf("%d bytes, masked %v: header %+v", n, masked, h)
			}
			got := make([]byte, n)
			if _, err := io.ReadFull(br, got); err != nil {
				t.Fatal(err)
			}
			if masked {
				Mask(h.Key, got)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("%d bytes, masked %v: payload differs", n, masked)
			}
		}
	}
}

// MessageReader reads both framings back.
func TestMessageReader(t *testing.T) {
	payload := Payload(70000)
	ws := AppendFrame(nil, OpBinary, payload, false, [4]byte{})
	raw := AppendRaw(nil, payload)
	for name, tc := range map[string]struct {
		data []byte
		ws   bool
	}{"websocket": {ws, true}, "raw": {raw, false}} {
		r := NewMessageReader(bufio.NewReader(bytes.NewReader(append(append([]byte{}, tc.data...), tc.data...))), tc.ws)
		buf := make([]byte, len(payload))
		n, err := r.Read(buf)
		if err != nil || CheckEcho(buf[:n], payload) != nil {
			t.Fatalf("%s: Read: %d, %v", name, n, err)
		}
		if n, err := r.Skip(); err != nil || n != int64(len(payload)) {
			t.Fatalf("%s: Skip: %d, %v", name, n, err)
		}
	}
}
