package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws6455/websocket/benchmarks/internal/libs"
	"github.com/ws6455/websocket/benchmarks/internal/wire"
)

// runMemory is scenario 5, server memory per idle connection.
func runMemory(cfg *config, w io.Writer) error {
	// Ours once more, with the handler returning after Upgrade.
	cols := append([]string{libs.Ours, libs.OursDetached}, cfg.libs[1:]...)
	t := newTable("Server memory per idle connection", fmt.Sprintf("bytes per connection, %d idle connections after the handshake, deltas from the server before they opened", cfg.memConns),
		"ratio > 1: ours uses more", cols, fmtBytes)
	t.names = map[string]string{libs.OursDetached: "ours, handler returns", libs.Raw: "raw TCP"}
	for r := range cfg.rounds {
		logf("memory round %d/%d", r+1, cfg.rounds)
		for _, lib := range rotate(cols, r) {
			rss, goMem, err := measureMemory(cfg, lib)
			if err != nil {
				logf("memory %s: %v", lib, err)
				continue
			}
			t.add("process RSS", lib, r, cfg.rounds, rss)
			t.add("Go HeapInuse+StackInuse", lib, r, cfg.rounds, goMem)
		}
	}
	fmt.Fprintf(w, "## 5. Memory per idle connection\n\n")
	fmt.Fprintf(w, "A fresh echo server process per library and round; one process opens the connections and does the handshakes, then they stay idle. The server reports its RSS and, after two GCs, runtime.MemStats HeapInuse+StackInuse, before and after. The raw-TCP server's idle connection is one goroutine blocked in a 4-byte read on the bare connection. Kernel socket buffers are not in either figure. \"ours, handler returns\" is ours with the read loop started on a goroutine of its own after Upgrade, so that the HTTP handler returns: the difference from ours is what net/http keeps alive for a handler that never returns (its connection state and 4 KiB read buffer), which the ours, gorilla and coder servers here all pay, while gws's idiom (`go socket.ReadLoop()`) does not.\n\n")
	t.write(w)
	return nil
}

func measureMemory(cfg *config, lib string) (rss, goMem float64, err error) {
	srv, err := startChild("server "+lib, serverCPU, "serve", "-lib", lib)
	if err != nil {
		return 0, 0, err
	}
	defer srv.stop()
	before, err := srv.call(30*time.Second, "mem")
	if err != nil {
		return 0, 0, err
	}
	conns, err := openIdle(lib, srv.addr, cfg.memConns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		return 0, 0, err
	}
	if err := waitConns(srv, cfg.memConns); err != nil {
		return 0, 0, err
	}
	time.Sleep(200 * time.Millisecond) // let the servers' goroutines settle into their reads
	after, err := srv.call(30*time.Second, "mem")
	if err != nil {
		return 0, 0, err
	}
	n := float64(cfg.memConns)
	goMem = float64(after[0]+after[1]-before[0]-before[1]) / n
	rss = float64(after[2]-before[2]) / n
	return rss, goMem, nil
}

// openIdle opens n connections to addr, through the WebSocket handshake
// unless lib is the raw baseline, a few at a time.
func openIdle(lib, addr string, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, _, err := dialWS(lib, addr)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	return conns, firstErr
}

// dialWS opens one connection the way the load generator does: the
// hand-written handshake for a WebSocket server, a bare connection for raw.
func dialWS(lib, addr string) (net.Conn, *bufio.Reader, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	if lib == libs.Raw {
		return c, bufio.NewReaderSize(c, wire.BufSize), nil
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br, err := wire.ClientHandshake(c, addr, "/")
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	c.SetDeadline(time.Time{})
	return c, br, nil
}

// waitConns waits until the server has n connections through the handshake.
func waitConns(srv *child, n int) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		v, err := srv.call(10*time.Second, "conns")
		if err != nil {
			return err
		}
		if v[0] >= int64(n) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s has %d of %d connections", srv.name, v[0], n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
