package websocket

import (
	"bufio"
	"encoding/binary"
	"io"
	"testing"
	"time"
)

// TestHardeningMaskKeys checks the masking keys of 10,000 client frames, of
// whole messages, streamed ones and control frames, for the simple kinds of
// predictability (RFC 6455 §10.3): keys that repeat more than chance allows,
// that follow each other by a constant step, or bits that lean one way.
func TestHardeningMaskKeys(t *testing.T) {
	const n = 10000
	c, raw := newRawPeer(t, true)
	wrote := make(chan error, 1)
	go func() {
		for i := range n {
			payload := binary.BigEndian.AppendUint32(nil, uint32(i))
			var err error
			switch i % 10 {
			case 7:
				var w io.WriteCloser
				if w, err = c.NextWriter(BinaryMessage); err == nil {
					w.Write(payload)
					err = w.Close()
				}
			case 9:
				err = c.Pong(payload)
			default:
				err = c.WriteMessage(BinaryMessage, payload)
			}
			if err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	raw.SetReadDeadline(time.Now().Add(testWait))
	br := bufio.NewReader(raw)
	keys := make([]uint32, n)
	for i := range keys {
		f, err := parseRawFrame(br)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !f.masked {
			t.Fatalf("frame %d is not masked", i)
		}
		if got := binary.BigEndian.Uint32(f.payload); len(f.payload) != 4 || got != uint32(i) {
			t.Fatalf("frame %d unmasks to %x", i, f.payload)
		}
		keys[i] = binary.BigEndian.Uint32(f.key[:])
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}

	// Among 10,000 random 32-bit keys the expected number of repeats is
	// about 0.012; three or more happen with a probability near 3e-7.
	seen := make(map[uint32]bool, n)
	repeats := 0
	for _, k := range keys {
		if seen[k] {
			repeats++
		}
		seen[k] = true
	}
	if repeats > 2 {
		t.Errorf("%d repeated keys among %d", repeats, n)
	}
	// A counter, or a counter XORed with a constant, repeats its step.
	sameStep, sameXOR := 0, 0
	for i := 2; i < n; i++ {
		if keys[i]-keys[i-1] == keys[i-1]-keys[i-2] {
			sameStep++
		}
		if keys[i]^keys[i-1] == keys[i-1]^keys[i-2] {
			sameXOR++
		}
	}
	if sameStep > 2 || sameXOR > 2 {
		t.Errorf("consecutive keys repeat their difference %d times and their XOR %d times", sameStep, sameXOR)
	}
	// Each bit is set in about half the keys: 5000 ± 50 (one standard
	// deviation); 4500 and 5500 are ten deviations away.
	for bit := range 32 {
		set := 0
		for _, k := range keys {
			set += int(k >> bit & 1)
		}
		if set < 4500 || set > 5500 {
			t.Errorf("bit %d is set in %d of %d keys", bit, set, n)
		}
	}
}
