package main

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// The message formats. Client to server: the client's sequence number, the
// checksum of the payload, the payload. Server to client: the server's own
// sequence number, the client sequence number it echoes, the checksum of the
// payload as the server received it, the payload.
const (
	clientHeader = 8 + 4
	serverHeader = 8 + 8 + 4
	maxPayload   = 64 << 10
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func checksum(p []byte) uint32 { return crc32.Checksum(p, crcTable) }

// random is the source of every payload: a message is a slice of it at a
// random offset, so building one costs a copy and no random numbers.
var random = func() []byte {
	b := make([]byte, 2*maxPayload)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// messageSize picks a payload size: mostly small, some medium, a few large.
func messageSize(r *rand.Rand) int {
	switch x := r.IntN(100); {
	case x < 80:
		return 16 + r.IntN(256-16)
	case x < 98:
		return 256 + r.IntN(4096-256)
	default:
		return 4096 + r.IntN(maxPayload-4096+1)
	}
}

// messageBuffers hold messages being built; a connection holds one only
// while it writes.
var messageBuffers = sync.Pool{New: func() any {
	b := make([]byte, serverHeader+maxPayload)
	return &b
}}

// tally counts what the receiving end of one direction saw.
type tally struct {
	sent, verified, duplicated, outOfOrder, corrupt, bytes atomic.Int64
}

// checkSequence classifies sequence number got against want, the next one
// expected, and returns the next one to expect.
func (t *tally) checkSequence(got, want uint64) (next uint64, ok bool) {
	switch {
	case got == want:
		return want + 1, true
	case got < want:
		t.duplicated.Add(1)
		return want, false
	default:
		t.outOfOrder.Add(1) // the ones in between are missing, or late
		return got + 1, false
	}
}

// direction is a tally's final counts, as the report carries them.
type direction struct {
	Sent, Verified, Duplicated, OutOfOrder, Corrupt, Bytes int64
}

func (t *tally) snapshot() direction {
	return direction{
		Sent: t.sent.Load(), Verified: t.verified.Load(), Duplicated: t.duplicated.Load(),
		OutOfOrder: t.outOfOrder.Load(), Corrupt: t.corrupt.Load(), Bytes: t.bytes.Load(),
	}
}

func (d direction) bad() int64 { return d.Duplicated + d.OutOfOrder + d.Corrupt }

// errorLog keeps the count of unexpected errors and the first few.
type errorLog struct {
	mu    sync.Mutex
	count int64
	first []string
}

func (l *errorLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count++
	if len(l.first) < 5 {
		l.first = append(l.first, fmt.Sprintf(format, args...))
	}
}

func (l *errorLog) snapshot() (int64, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count, append([]string(nil), l.first...)
}

// putClientHeader and the functions after it encode and decode the headers.
func putClientHeader(b []byte, seq uint64, sum uint32) {
	binary.BigEndian.PutUint64(b, seq)
	binary.BigEndian.PutUint32(b[8:], sum)
}

func putServerHeader(b []byte, seq, echoOf uint64, sum uint32) {
	binary.BigEndian.PutUint64(b, seq)
	binary.BigEndian.PutUint64(b[8:], echoOf)
	binary.BigEndian.PutUint32(b[16:], sum)
}
