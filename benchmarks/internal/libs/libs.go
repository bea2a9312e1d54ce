// Package libs holds the code of the benchmark that differs from library to
// library: each library's echo server, broadcast and client, written the way
// that library documents as its fast path. Everything else in the harness is
// shared, so that only the library under test changes between measurements.
package libs

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The names of the libraries, as flags and tables spell them. Raw is the
// raw-TCP baseline (a 4-byte big-endian length and the payload, bufio 4 KiB
// on both sides); WireEcho is the hand-written WebSocket echo server that the
// client benchmark runs every library's client against.
const (
	Ours     = "ours"
	Gorilla  = "gorilla"
	Coder    = "coder"
	Gobwas   = "gobwas"
	GWS      = "gws"
	Raw      = "raw"
	WireEcho = "wire-echo"
	// OursDetached is ours with the echo loop on a goroutine of its own, so
	// that the HTTP handler returns after Upgrade; the memory benchmark
	// shows it next to ours to tell what net/http keeps alive for a handler
	// that never returns.
	OursDetached = "ours-detached"
)

// Peers are the libraries ours is compared with, in table order.
var Peers = []string{Gorilla, Coder, Gobwas, GWS}

// All is every library under test and the raw-TCP baseline, in table order.
var All = append(append([]string{Ours}, Peers...), Raw)

// ReadLimit is the largest message every server and client is configured to
// accept: the largest benchmark message is 1 MiB, and some libraries default
// to less (coder/websocket to 32 KiB).
const ReadLimit = 16 << 20

// A Server is one library's server side. It runs alone in a `wsbench serve`
// process, so that its CPU time and memory can be measured apart from the
// load generator's.
type Server interface {
	// Serve accepts connections on ln until ln is closed. In echo mode it
	// sends every message back; in broadcast mode it keeps each connection
	// for Broadcast and reads and drops what the peer sends.
	Serve(ln net.Listener) error
	// Conns is the number of connections through the handshake and open.
	Conns() int64
	// Broadcast sends msg as a binary message to every connection, in
	// broadcast mode.
	Broadcast(msg []byte)
}

// NewServer returns the server of lib, in broadcast mode or echo mode.
func NewServer(lib string, broadcast bool) (Server, error) {
	switch lib {
	case Ours:
		return newOursServer(broadcast, false), nil
	case OursDetached:
		return newOursServer(broadcast, true), nil
	case Gorilla:
		return newGorillaServer(broadcast), nil
	case Coder:
		return newCoderServer(broadcast), nil
	case Gobwas:
		return newGobwasServer(broadcast), nil
	case GWS:
		return newGWSServer(broadcast), nil
	case Raw:
		return newRawServer(broadcast), nil
	case WireEcho:
		if broadcast {
			return nil, fmt.Errorf("libs: %s has no broadcast mode", lib)
		}
		return newWireEchoServer(), nil
	}
	return nil, fmt.Errorf("libs: unknown library %q", lib)
}

// registry counts a server's connections and, in broadcast mode, keeps them.
type registry[C comparable] struct {
	broadcast bool
	n         atomic.Int64
	mu        sync.Mutex
	conns     map[C]struct{}
	snapshot  []C
}

func (r *registry[C]) Conns() int64 { return r.n.Load() }

func (r *registry[C]) add(c C) {
	r.n.Add(1)
	if !r.broadcast {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		r.conns = make(map[C]struct{})
	}
	r.conns[c] = struct{}{}
}

func (r *registry[C]) remove(c C) {
	r.n.Add(-1)
	if !r.broadcast {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.conns, c)
}

// all returns the connections, in a slice reused from call to call: the
// broadcast loop, not the copy, is what is measured.
func (r *registry[C]) all() []C {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snapshot = r.snapshot[:0]
	for c := range r.conns {
		r.snapshot = append(r.snapshot, c)
	}
	return r.snapshot
}

// serveHTTP serves h on ln with a plain net/http server, which is how the
// libraries built on net/http are meant to run.
func serveHTTP(ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

// readAll reads r to its end into buf, reused from message to message, and
// returns the bytes read. Every echo handler reads a message through it, so
// no handler allocates per message unless its library does.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	if cap(buf) == 0 {
		buf = make([]byte, 0, 512)
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
