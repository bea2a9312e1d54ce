package websocket

import (
	"bytes"
	"compress/flate"
	"sync"
)

// PreparedMessage is a message encoded once for writing to many
// connections: a broadcast then costs each server connection one write of a
// ready frame, instead of one encoding each. Compressed frames are made once
// per compressor setting, for the connections that compress each message on
// its own. It is safe for concurrent use.
//
// Connections that cannot share the encoding write the message as
// WriteMessage would: clients, which mask every frame with a key of its own,
// and connections compressing with context takeover, whose output depends on
// what each sent before.
type PreparedMessage struct {
	typ  MessageType
	op   opcode
	data []byte

	mu       sync.Mutex
	plain    []byte         // the unmasked frame
	deflated map[int][]byte // unmasked compressed frames, by flate level
}

// NewPreparedMessage prepares a message of type t with payload data, which
// it keeps: the caller must not change data afterwards.
func NewPreparedMessage(t MessageType, data []byte) (*PreparedMessage, error) {
	op, err := dataOpcode(t)
	if err != nil {
		return nil, err
	}
	return &PreparedMessage{typ: t, op: op, data: data}, nil
}

// WritePreparedMessage writes pm as WriteMessage would write its type and
// payload.
func (c *Conn) WritePreparedMessage(pm *PreparedMessage) error {
	d := c.cfg.deflate
	compress := d != nil && len(pm.data) >= d.threshold
	if c.cfg.client || compress && !d.writeNoContext {
		return c.WriteMessage(pm.typ, pm.data)
	}
	var frame []byte
	if compress {
		frame = pm.deflatedFrame(d.writeLevel())
	} else {
		frame = pm.plainFrame()
	}
	if err := c.lockMessage(); err != nil {
		return err
	}
	defer c.unlockMessage()
	if err := c.lockFrame(nil); err != nil {
		return err
	}
	defer c.unlockFrame()
	return c.writeEncoded(frame)
}

func (pm *PreparedMessage) plainFrame() []byte {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if pm.plain == nil {
		pm.plain = appendFrame(nil, header{fin: true, op: pm.op, length: int64(len(pm.data))}, pm.data)
	}
	return pm.plain
}

// deflatedFrame compresses the payload as one message with no context
// (RFC 7692 §7.2.1) and frames it with RSV1 set.
func (pm *PreparedMessage) deflatedFrame(level int) []byte {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if frame, ok := pm.deflated[level]; ok {
		return frame
	}
	var buf bytes.Buffer
	fw := getFlateWriter(level, &buf)
	fw.Write(pm.data) // a bytes.Buffer does not fail
	fw.Flush()
	putFlateWriter(level, fw)
	payload := bytes.TrimSuffix(buf.Bytes(), []byte(syncMarker))
	frame := appendFrame(nil, header{fin: true, rsv: rsv1Bit, op: pm.op, length: int64(len(payload))}, payload)
	if pm.deflated == nil {
		pm.deflated = make(map[int][]byte)
	}
	pm.deflated[level] = frame
	return frame
}

// appendFrame appends an unmasked frame to b.
func appendFrame(b []byte, h header, payload []byte) []byte {
	var hdr [maxHeaderSize]byte
	n := putHeader(hdr[:], h)
	b = append(b, hdr[:n]...)
	return append(b, payload...)
}

// writeLevel is the flate level this side compresses with.
func (d *deflateConfig) writeLevel() int {
	if d.writeHuffmanOnly {
		// The peer's window is smaller than flate's: Huffman-only blocks
		// refer to nothing, so they fit any window (RFC 7692 §7.1.2.1).
		return flate.HuffmanOnly
	}
	return d.level
}
