package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ws6455/websocket/benchmarks/internal/libs"
	"github.com/ws6455/websocket/benchmarks/internal/load"
	"github.com/ws6455/websocket/benchmarks/internal/wire"
)

// The echo scenarios: what a server costs under the same load generator
// (1), and what a client costs against the same echo server (2).

// pipeWindow is the number of messages a pipelined connection keeps in
// flight.
func pipeWindow(cfg *config, size int) int {
	// A window of messages, but no more than about 1 MiB in flight per
	// connection: beyond that the socket buffers hold it, not the server.
	return min(cfg.window, max(2, (1<<20)/size))
}

func caseLabel(conns, window, size int) string {
	c := fmt.Sprintf("%d conns", conns)
	if conns == 1 {
		c = "1 conn"
	}
	m := "ping-pong"
	if window > 1 {
		m = fmt.Sprintf("pipelined ×%d", window)
	}
	return fmt.Sprintf("%s · %s · %s", c, m, fmtSize(size))
}

// echoCase is one row of the echo tables: connections, messages in flight
// per connection (1 for ping-pong) and message size.
type echoCase struct{ conns, window, size int }

func echoCases(cfg *config, conns []int, sizes []int) []echoCase {
	var cases []echoCase
	for _, pipelined := range []bool{false, true} {
		for _, n := range conns {
			for _, size := range sizes {
				w := 1
				if pipelined {
					w = pipeWindow(cfg, size)
				}
				cases = append(cases, echoCase{n, w, size})
			}
		}
	}
	return cases
}

// echoTables are the tables of a scenario that drives echoes.
type echoTables struct {
	cpu, rate, mbps, p50, p99 *table
	syscalls                  *table
}

func newEchoTables(cfg *config, side string) *echoTables {
	cols := columns(cfg)
	t := &echoTables{
		cpu: newTable(side+" CPU per message",
			"CPU time (user+system) of the "+strings.ToLower(side)+" process per echoed message, µs",
			"ratio > 1: ours uses more CPU", cols, fmtSig),
		rate: newTable("Messages per second",
			"echoed messages per second, all connections together",
			"ratio > 1: ours is faster", cols, fmtRate),
		mbps: newTable("Throughput",
			"MB/s (10^6 B/s) of payload echoed, one direction; ratios as for messages per second", "", cols, fmtSig),
		p50: newTable("Latency p50 (ping-pong)",
			"round-trip time of one message, µs, median over all messages of a run",
			"ratio > 1: ours is slower", cols, fmtSig),
		p99: newTable("Latency p99 (ping-pong)",
			"round-trip time of one message, µs, 99th percentile over all messages of a run",
			"ratio > 1: ours is slower", cols, fmtSig),
	}
	t.mbps.ratios = false
	t.syscalls = newTable(side+" system calls per message",
		"read and write system calls (read, write, writev, including those that found no data) of the "+strings.ToLower(side)+" process per echoed message, from /proc/self/io",
		"ratio > 1: ours makes more", cols, fmtSig)
	for _, x := range t.all() {
		x.names = libNames
	}
	return t
}

func (t *echoTables) all() []*table {
	return []*table{t.cpu, t.syscalls, t.rate, t.mbps, t.p50, t.p99}
}

func (t *echoTables) add(c echoCase, lib string, r, rounds int, res load.Result, u usage) {
	label := caseLabel(c.conns, c.window, c.size)
	msgs := float64(res.Msgs)
	sec := res.Elapsed.Seconds()
	t.cpu.add(label, lib, r, rounds, float64(u.cpu.Microseconds())/msgs)
	if u.syscalls >= 0 {
		t.syscalls.add(label, lib, r, rounds, float64(u.syscalls)/msgs)
	}
	t.rate.add(label, lib, r, rounds, msgs/sec)
	t.mbps.add(label, lib, r, rounds, msgs*float64(c.size)/sec/1e6)
	if c.window == 1 {
		t.p50.add(label, lib, r, rounds, float64(res.P50.Nanoseconds())/1e3)
		t.p99.add(label, lib, r, rounds, float64(res.P99.Nanoseconds())/1e3)
	}
}

func (t *echoTables) write(w io.Writer) {
	for _, x := range t.all() {
		x.write(w)
	}
}

// runEcho is scenario 1, the server echo cost.
func runEcho(cfg *config, w io.Writer) error {
	servers := map[string]*child{}
	for _, lib := range cfg.libs {
		c, err := startChild("server "+lib, serverCPU, "serve", "-lib", lib)
		if err != nil {
			return err
		}
		servers[lib] = c
	}
	t := newEchoTables(cfg, "Server")
	cases := echoCases(cfg, cfg.echoConns, cfg.echoSizes)
	for i, c := range cases {
		logf("echo %d/%d: %s", i+1, len(cases), caseLabel(c.conns, c.window, c.size))
		for r := range cfg.rounds {
			for _, lib := range rotate(cfg.libs, r) {
				var res load.Result
				var u usage
				err := measured("echo "+lib, func(mark func()) error {
					var err error
					res, u, err = measureEcho(cfg, servers[lib], lib, c, mark)
					return err
				})
				if err != nil {
					logf("echo %s, %s: %v", lib, caseLabel(c.conns, c.window, c.size), err)
					continue
				}
				t.add(c, lib, r, cfg.rounds, res, u)
			}
		}
	}
	fmt.Fprintf(w, "## 1. Server echo cost\n\n")
	fmt.Fprintf(w, "One load generator for every server: hand-written raw-TCP code that does the client handshake itself, sends pre-masked frames and parses the answers with a minimal codec, so it costs the same whatever the server. Each library's echo server reads a message and writes it back the way that library documents as fastest (see internal/libs). Ping-pong keeps one message in flight per connection; pipelined keeps a window of them (32, or about 1 MiB for large messages), several frames per write. CPU is the server process's, per message.\n\n")
	t.write(w)
	return nil
}

// measureEcho measures one echo case against srv; mark is called when the
// measured run starts and ends.
func measureEcho(cfg *config, srv *child, lib string, c echoCase, mark func()) (load.Result, usage, error) {
	payload := wire.Payload(c.size)
	var clients []libs.Client
	for range c.conns {
		var cl libs.Client
		var err error
		if lib == libs.Raw {
			cl, err = libs.DialRaw(srv.addr, payload, c.window)
		} else {
			cl, err = libs.DialWire(srv.addr, payload, c.window)
		}
		if err != nil {
			for _, cl := range clients {
				cl.Close()
			}
			return load.Result{}, usage{}, err
		}
		clients = append(clients, cl)
	}
	s := load.NewSession(clients, c.window)
	defer s.Close()
	if _, err := s.Run(cfg.warmup); err != nil {
		return load.Result{}, usage{}, err
	}
	u0, err := srv.usage()
	if err != nil {
		return load.Result{}, usage{}, err
	}
	mark()
	res, err := s.Run(cfg.dur)
	if err != nil {
		return load.Result{}, usage{}, err
	}
	mark()
	u1, err := srv.usage()
	if err != nil {
		return load.Result{}, usage{}, err
	}
	if res.Msgs == 0 {
		return load.Result{}, usage{}, errors.New("no message echoed")
	}
	return res, u1.sub(u0), nil
}

// runClient is scenario 2, the client cost.
func runClient(cfg *config, w io.Writer) error {
	wsEcho, err := startChild("wire-echo server", serverCPU, "serve", "-lib", libs.WireEcho)
	if err != nil {
		return err
	}
	rawEcho, err := startChild("raw server", serverCPU, "serve", "-lib", libs.Raw)
	if err != nil {
		return err
	}
	clients := map[string]*child{}
	for _, lib := range cfg.libs {
		c, err := startChild("client "+lib, loadCPU, "client", "-lib", lib)
		if err != nil {
			return err
		}
		clients[lib] = c
	}
	t := newEchoTables(cfg, "Client")
	cases := echoCases(cfg, []int{1}, cfg.clientSizes)
	timeout := cfg.warmup + cfg.dur + 2*time.Minute
	for i, c := range cases {
		logf("client %d/%d: %s", i+1, len(cases), caseLabel(c.conns, c.window, c.size))
		for r := range cfg.rounds {
			for _, lib := range rotate(cfg.libs, r) {
				echo := wsEcho
				if lib == libs.Raw {
					echo = rawEcho
				}
				var v []int64
				err := measured("client "+lib, func(mark func()) error {
					var err error
					mark()
					v, err = clients[lib].call(timeout, "run %s %d %d %d %d %d", echo.addr, c.size, c.conns, c.window,
						cfg.warmup.Milliseconds(), cfg.dur.Milliseconds())
					mark()
					if err == nil && (len(v) != 6 || v[0] == 0) {
						err = fmt.Errorf("bad answer %v", v)
					}
					return err
				})
				if err != nil {
					logf("client %s, %s: %v", lib, caseLabel(c.conns, c.window, c.size), err)
					continue
				}
				res := load.Result{Msgs: v[0], Elapsed: time.Duration(v[1]), P50: time.Duration(v[3]), P99: time.Duration(v[4])}
				t.add(c, lib, r, cfg.rounds, res, usage{cpu: time.Duration(v[2]), syscalls: v[5]})
			}
		}
	}
	fmt.Fprintf(w, "## 2. Client cost\n\n")
	fmt.Fprintf(w, "The mirror of the above: each library's client, in a process of its own, against one hand-written echo server (handshake by hand, unmasked frames; the raw-TCP client against a raw-TCP echo server). Clients send one message per call, as an application does. CPU is the client process's, per message, and includes the small driving loop, the same for all.\n\n")
	t.write(w)
	return nil
}
