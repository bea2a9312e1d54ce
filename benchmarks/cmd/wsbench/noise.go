package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Other processes on the machine disturb the measurements: with each process
// pinned to one CPU, a busy neighbour on that CPU makes it wait. So around
// each measured run the harness adds up the CPU time of every other process
// (user and system time, their waited-for children's included, from
// /proc/PID/stat; kernel threads left out, since they do this run's network
// work too). When that foreign time is more than foreignLimit of one CPU for
// the run's length, the run is disturbed, and is measured again, up to
// maxTries times: that helps against short bursts. Under a sustained load,
// when more than a third of the runs so far were disturbed, trying again
// would only make the benchmark longer, so a disturbed run is kept as it is;
// the report says how many were. (The first 20 runs are too few to tell a
// sustained load.)
//
// The kernel samples process CPU time at each tick, 10 ms, so a short run's
// figure is rough; but a process that does not run is never sampled, so on
// a quiet machine the figure is exactly zero.

const (
	foreignLimit = 0.10
	maxTries     = 3
)

// debugNoise logs the foreign share of every run (WSBENCH_DEBUG_NOISE=1).
var debugNoise = os.Getenv("WSBENCH_DEBUG_NOISE") == "1"

// noise counts disturbed runs over the whole benchmark.
var noise struct {
	measurements, runs, disturbed, kept int
	shares                              []float64 // foreign share of every run
	ancestors                           map[int]bool
}

// pfKthread marks kernel threads in the flags of /proc/PID/stat.
const pfKthread = 0x00200000

// procStat holds the fields of /proc/PID/stat used here.
type procStat struct {
	ppid, flags, cpuTicks int64 // cpuTicks: utime+stime+cutime+cstime
}

func readProcStat(pid string) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// The command name, in parentheses, may hold spaces: split after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 15 {
		return procStat{}, false
	}
	n := func(field int) int64 {
		v, _ := strconv.ParseInt(f[field-3], 10, 64)
		return v
	}
	return procStat{ppid: n(4), flags: n(9), cpuTicks: n(14) + n(15) + n(16) + n(17)}, true
}

// foreignCPU is the CPU time used so far by processes other than this one,
// its children and its ancestors (go run, the taskset wrapper), kernel
// threads left out.
func foreignCPU() time.Duration {
	self := os.Getpid()
	if noise.ancestors == nil {
		noise.ancestors = map[int]bool{}
		for p := os.Getppid(); p > 1 && !noise.ancestors[p]; {
			noise.ancestors[p] = true
			st, ok := readProcStat(strconv.Itoa(p))
			if !ok {
				break
			}
			p = int(st.ppid)
		}
	}
	entries, _ := os.ReadDir("/proc")
	var ticks int64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || noise.ancestors[pid] {
			continue
		}
		st, ok := readProcStat(e.Name())
		if !ok || st.flags&pfKthread != 0 || st.ppid == int64(self) {
			continue
		}
		ticks += st.cpuTicks
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ is 100 on Linux
}

// measured runs measure until it is undisturbed or has been tried maxTries
// times. measure calls mark when its measured part starts and when it ends.
func measured(what string, measure func(mark func()) error) error {
	noise.measurements++
	for try := 1; ; try++ {
		type snap struct {
			t       time.Time
			foreign time.Duration
		}
		var snaps []snap
		mark := func() { snaps = append(snaps, snap{time.Now(), foreignCPU()}) }
		if err := measure(mark); err != nil {
			return err
		}
		noise.runs++
		if len(snaps) != 2 || !snaps[1].t.After(snaps[0].t) {
			return nil
		}
		share := float64(snaps[1].foreign-snaps[0].foreign) / float64(snaps[1].t.Sub(snaps[0].t))
		noise.shares = append(noise.shares, share)
		if debugNoise {
			logf("%s: other processes used %.0f%% of a CPU, try %d", what, 100*share, try)
		}
		if share <= foreignLimit {
			return nil
		}
		noise.disturbed++
		if try == maxTries || noise.runs >= 20 && 3*noise.disturbed > noise.runs {
			noise.kept++
			logf("%s: disturbed, other processes used %.0f%% of a CPU; kept", what, 100*share)
			return nil
		}
	}
}

// writeNoise reports how much the run was disturbed.
func writeNoise(w io.Writer) {
	if noise.runs == 0 {
		return
	}
	s := slices.Clone(noise.shares)
	slices.Sort(s)
	fmt.Fprintf(w, "## Run conditions\n\n")
	fmt.Fprintf(w, "Other processes on the machine (their CPU time from /proc, sampled by the kernel every 10 ms) used, during the measured runs of scenarios 1, 2 and 6, %.0f%% of a CPU at the median run and %.0f%% at the 90th percentile. ",
		100*s[len(s)/2], 100*s[len(s)*9/10])
	fmt.Fprintf(w, "%d measurements took %d runs: %d runs were disturbed (other processes over %.0f%% of a CPU) and measured again, up to %d tries unless more than a third of all runs were disturbed; %d disturbed measurements are in the tables.",
		noise.measurements, noise.runs, noise.disturbed, 100*foreignLimit, maxTries, noise.kept)
	if noise.kept*10 > noise.measurements {
		fmt.Fprintf(w, " **That is more than 10%%: this run's figures are noisy; run again on a quiet machine.**")
	}
	fmt.Fprint(w, "\n\n")
}
