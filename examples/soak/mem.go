package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// memReport is one process's memory and goroutines over the run: before
// the connections, with them idle, at the peak (sampled every 200 ms) and
// after they closed.
type memReport struct {
	GoBefore, GoIdle, GoPeak, GoAfter int64 // Go heap in use + goroutine stacks
	LiveBefore, LiveAfter             int64 // live heap after a collection
	DeadGoroutines                    int64 // bytes of ended goroutines' descriptors the runtime keeps
	RSSBefore, RSSIdle, RSSPeak       int64 // VmRSS, VmRSS, VmHWM
	GBefore, GIdle, GPeak, GAfter     int
}

// memTracker measures one process.
type memTracker struct {
	rep     memReport
	gSize   int64
	peakGo  atomic.Int64
	peakG   atomic.Int64
	stop    chan struct{}
	stopped sync.WaitGroup
}

// warmGoroutines is how many goroutines deadGoroutineSize runs, whose
// descriptors the baseline holds already.
const warmGoroutines = 2000

// startMemTracker takes the baseline and starts sampling.
func startMemTracker() *memTracker {
	m := &memTracker{stop: make(chan struct{})}
	m.gSize = deadGoroutineSize()
	m.rep.GoBefore, m.rep.LiveBefore = settled()
	m.rep.RSSBefore = procStatus("VmRSS")
	m.rep.GBefore = runtime.NumGoroutine()
	m.stopped.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			m.sample()
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	})
	return m
}

func (m *memTracker) sample() {
	if g := goMemory(); g > m.peakGo.Load() {
		m.peakGo.Store(g)
	}
	if g := int64(runtime.NumGoroutine()); g > m.peakG.Load() {
		m.peakG.Store(g)
	}
}

// idle measures the connections before any traffic.
func (m *memTracker) idle() {
	m.rep.GoIdle, _ = settled()
	m.rep.RSSIdle = procStatus("VmRSS")
	m.rep.GIdle = runtime.NumGoroutine()
	m.sample()
}

// finish stops sampling, waits (bounded) for the goroutines to go back to
// the baseline and measures what is left.
func (m *memTracker) finish() *memReport {
	m.sample()
	close(m.stop)
	m.stopped.Wait()
	m.rep.GoPeak = m.peakGo.Load()
	m.rep.GPeak = int(m.peakG.Load())
	m.rep.RSSPeak = procStatus("VmHWM")
	m.rep.GAfter = runtime.NumGoroutine()
	for deadline := time.Now().Add(10 * time.Second); m.rep.GAfter > m.rep.GBefore && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		m.rep.GAfter = runtime.NumGoroutine()
	}
	m.rep.GoAfter, m.rep.LiveAfter = settled()
	m.rep.DeadGoroutines = max(0, int64(m.rep.GPeak)-warmGoroutines) * m.gSize
	return &m.rep
}

// leaks says what the process left behind, if anything: goroutines, or live
// heap beyond the descriptors of ended goroutines and a little slack for
// what the runtime and net/http keep. A Conn or a buffer per connection
// would show.
func (r *memReport) leaks(conns int) []string {
	var out []string
	if r.GAfter > r.GBefore+2 {
		out = append(out, fmt.Sprintf("%d goroutines left behind", r.GAfter-r.GBefore))
	}
	if left := r.LiveAfter - r.LiveBefore - r.DeadGoroutines; left > 1<<20+int64(conns)*64 {
		out = append(out, fmt.Sprintf("live heap grew by %s after everything closed", mib(left)))
	}
	return out
}

// deadGoroutineSize measures what the runtime keeps of a goroutine that
// ended: its descriptor stays on a free list for reuse, so a process that
// once ran N goroutines at a time keeps N descriptors for good.
func deadGoroutineSize() int64 {
	_, before := settled()
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range warmGoroutines {
		wg.Go(func() { <-release })
	}
	close(release)
	wg.Wait()
	_, after := settled()
	return max(0, (after-before)/warmGoroutines)
}

// settled collects garbage, twice so that sync.Pools' victim caches empty
// too, and returns the Go heap+stacks in use and the live heap.
func settled() (inUse, live int64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse), int64(m.HeapAlloc)
}

// goMemory returns the Go heap in use plus the goroutine stacks.
func goMemory() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// procStatus returns a size field of /proc/self/status in bytes, or 0 where
// there is none.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func kib(n int64) string { return fmt.Sprintf("%.1f KiB", float64(n)/1024) }
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// printMem prints one process's figures, per connection where it says so.
func printMem(name string, r *memReport, conns int) {
	per := func(n int64) string { return kib(n / int64(max(conns, 1))) }
	fmt.Printf("%s:\n", name)
	fmt.Printf("  per connection, idle:  Go heap+stacks %s, RSS %s\n", per(r.GoIdle-r.GoBefore), per(r.RSSIdle-r.RSSBefore))
	fmt.Printf("  per connection, peak:  Go heap+stacks %s, RSS (VmHWM) %s\n", per(r.GoPeak-r.GoBefore), per(r.RSSPeak-r.RSSBefore))
	fmt.Printf("  Go heap+stacks:        before %s, idle %s, peak %s, after %s\n", mib(r.GoBefore), mib(r.GoIdle), mib(r.GoPeak), mib(r.GoAfter))
	fmt.Printf("  live heap:             before %s, after %s (%s of it the descriptors of ended goroutines, kept by the runtime)\n",
		mib(r.LiveBefore), mib(r.LiveAfter), mib(r.DeadGoroutines))
	fmt.Printf("  goroutines:            before %d, idle %d, peak %d, after %d\n", r.GBefore, r.GIdle, r.GPeak, r.GAfter)
}
