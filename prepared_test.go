package websocket

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestPreparedMessage broadcasts one prepared message to connections of
// every kind: server and client, uncompressed, compressed with and without
// context takeover, with a full window and a Huffman-only one. Each peer
// must read the message, and the compressed frames must really be
// compressed.
func TestPreparedMessage(t *testing.T) {
	data := []byte(strings.Repeat("broadcast to everyone ", 200))
	pm, err := NewPreparedMessage(TextMessage, data)
	if err != nil {
		t.Fatal(err)
	}
	small, _ := NewPreparedMessage(BinaryMessage, []byte("tiny"))
	configs := map[string]*deflateConfig{
		"uncompressed":          nil,
		"no context takeover":   {readNoContext: true, writeNoContext: true, readWindowBits: 15, level: 1, threshold: 64},
		"context takeover":      {readWindowBits: 15, level: 1, threshold: 64},
		"huffman only":          {readNoContext: true, writeNoContext: true, readWindowBits: 15, level: 1, threshold: 64, writeHuffmanOnly: true},
		"level 9, no takeover ": {readNoContext: true, writeNoContext: true, readWindowBits: 15, level: 9, threshold: 64},
	}
	for name, d := range configs {
		for _, fromClient := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/client-writes=%v", name, fromClient), func(t *testing.T) {
				client, server := newPair(t, connConfig{deflate: d}, connConfig{deflate: d})
				from, to := server, client
				if fromClient {
					from, to = client, server
				}
				for range 2 { // the second write reuses the encoding
					for _, m := range []*PreparedMessage{pm, small} {
						if err := from.WritePreparedMessage(m); err != nil {
							t.Fatal(err)
						}
						typ, got, err := to.ReadMessage()
						if err != nil || typ != m.typ || !bytes.Equal(got, m.data) {
							t.Fatalf("read %v %d bytes, %v; want %v %d bytes", typ, len(got), err, m.typ, len(m.data))
						}
					}
				}
			})
		}
	}
	// A server's compressed frame is cached per level and much smaller than
	// the payload; the uncompressed one is the payload plus a header.
	if f := pm.deflated[1]; len(f) == 0 || len(f) > len(data)/4 {
		t.Errorf("compressed frame is %d bytes for a %d-byte repetitive payload", len(f), len(data))
	}
	if f := pm.plain; len(f) != len(data)+4 {
		t.Errorf("plain frame is %d bytes, want %d", len(f), len(data)+4)
	}
	if _, err := NewPreparedMessage(MessageType(3), nil); err == nil {
		t.Error("NewPreparedMessage accepted an invalid type")
	}
}
