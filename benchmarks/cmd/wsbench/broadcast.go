package main

import (
	"fmt"
	"io"
	"math"
	"net"
	"sync/atomic"
	"time"

	"github.com/ws6455/websocket/benchmarks/internal/libs"
	"github.com/ws6455/websocket/benchmarks/internal/wire"
)

// bcastTarget is one broadcast server and the connections that receive
// from it, each with a goroutine counting the messages.
type bcastTarget struct {
	lib      string
	srv      *child
	conns    []net.Conn
	size     atomic.Int64 // the size messages should have
	received atomic.Int64
	wrong    atomic.Int64 // messages of another size
	count    map[int]int  // broadcasts per measurement, by size, from calibration
}

// runBroadcast is scenario 6, broadcast to many connections.
func runBroadcast(cfg *config, w io.Writer) error {
	targets := map[string]*bcastTarget{}
	defer func() {
		for _, t := range targets {
			for _, c := range t.conns {
				c.Close()
			}
		}
	}()
	for _, lib := range cfg.libs {
		t, err := newBcastTarget(cfg, lib)
		if t != nil {
			targets[lib] = t
		}
		if err != nil {
			return err
		}
	}
	cols := columns(cfg)
	rate := newTable("Fan-out rate", fmt.Sprintf("messages delivered per second, %d connections", cfg.bcastConns), "ratio > 1: ours is faster", cols, fmtRate)
	cpu := newTable("Server CPU per delivered message", "µs", "ratio > 1: ours uses more CPU", cols, fmtSig)
	for _, t := range []*table{rate, cpu} {
		t.names = map[string]string{
			libs.Ours:    "ours (QueuePreparedMessage)",
			libs.Gorilla: "gorilla (PreparedMessage)",
			libs.Coder:   "coder (loop of Write)",
			libs.Gobwas:  "gobwas (CompileFrame)",
			libs.GWS:     "gws (Broadcaster)",
			libs.Raw:     "raw TCP (pre-built frame)",
		}
	}
	for _, size := range cfg.bcastSizes {
		logf("broadcast %s", fmtSize(size))
		for r := range cfg.rounds {
			for _, lib := range rotate(cfg.libs, r) {
				t := targets[lib]
				var msgs int64
				var el, c time.Duration
				err := measured("broadcast "+lib, func(mark func()) error {
					var err error
					msgs, el, c, err = t.measure(cfg, size, mark)
					return err
				})
				if err != nil {
					logf("broadcast %s, %s: %v", lib, fmtSize(size), err)
					continue
				}
				rate.add(fmtSize(size), lib, r, cfg.rounds, float64(msgs)/el.Seconds())
				cpu.add(fmtSize(size), lib, r, cfg.rounds, float64(c.Nanoseconds())/1e3/float64(msgs))
			}
		}
	}
	fmt.Fprintf(w, "## 6. Broadcast\n\n")
	fmt.Fprintf(w, "One message to each of %d connections, repeated; the time runs from the command to the last message received by the load generator, which reads every connection on its own goroutine. Each library uses its API for the job where it has one. Ours and gws queue the message on each connection and return; a goroutine per connection writes it. The others write synchronously, connection after connection.\n\n", cfg.bcastConns)
	rate.write(w)
	cpu.write(w)
	return nil
}

func newBcastTarget(cfg *config, lib string) (*bcastTarget, error) {
	srv, err := startChild("broadcast server "+lib, serverCPU, "serve", "-lib", lib, "-broadcast")
	if err != nil {
		return nil, err
	}
	t := &bcastTarget{lib: lib, srv: srv, count: map[int]int{}}
	for range cfg.bcastConns {
		c, br, err := dialWS(lib, srv.addr)
		if err != nil {
			return t, err
		}
		t.conns = append(t.conns, c)
		go t.read(wire.NewMessageReader(br, lib != libs.Raw))
	}
	return t, waitConns(srv, cfg.bcastConns)
}

func (t *bcastTarget) read(mr *wire.MessageReader) {
	for {
		n, err := mr.Skip()
		if err != nil {
			return
		}
		if n != t.size.Load() {
			t.wrong.Add(1)
		}
		t.received.Add(1)
	}
}

// broadcast has the server send count broadcasts of size bytes, and waits
// for every message to arrive.
func (t *bcastTarget) broadcast(size, count int) (time.Duration, error) {
	want := t.received.Load() + int64(count*len(t.conns))
	start := time.Now()
	if _, err := t.srv.call(2*time.Minute, "bcast %d %d", size, count); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for t.received.Load() < want {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%d of %d messages arrived", t.received.Load()-want+int64(count*len(t.conns)), count*len(t.conns))
		}
		time.Sleep(100 * time.Microsecond)
	}
	if n := t.wrong.Load(); n > 0 {
		return 0, fmt.Errorf("%d messages had the wrong size", n)
	}
	return time.Since(start), nil
}

// measure measures the broadcast of size bytes; mark is called when the
// measured part starts and ends.
func (t *bcastTarget) measure(cfg *config, size int, mark func()) (msgs int64, el, cpu time.Duration, err error) {
	t.size.Store(int64(size))
	// Warm up, and the first time, calibrate how many broadcasts fill a
	// measured run.
	const warm = 2
	d, err := t.broadcast(size, warm)
	if err != nil {
		return 0, 0, 0, err
	}
	if t.count[size] == 0 {
		per := d / warm
		t.count[size] = int(math.Max(1, math.Min(10000, float64(cfg.dur)/float64(max(per, time.Microsecond)))))
	}
	count := t.count[size]
	u0, err := t.srv.usage()
	if err != nil {
		return 0, 0, 0, err
	}
	mark()
	el, err = t.broadcast(size, count)
	if err != nil {
		return 0, 0, 0, err
	}
	mark()
	u1, err := t.srv.usage()
	if err != nil {
		return 0, 0, 0, err
	}
	return int64(count * len(t.conns)), el, u1.sub(u0).cpu, nil
}
