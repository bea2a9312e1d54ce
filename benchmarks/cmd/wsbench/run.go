package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ws6455/websocket/benchmarks/internal/libs"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "wsbench: "+format+"\n", args...)
}

// rotate returns the order of round r: the list turned by r places, so
// that no library is always first or last.
func rotate(list []string, r int) []string {
	r %= len(list)
	return append(append([]string{}, list[r:]...), list[:r]...)
}

func run(cfg *config) error {
	start := time.Now()
	w := os.Stdout
	writeHeader(w, cfg)
	scenarios := map[string]func(*config, io.Writer) error{
		"echo":      runEcho,
		"client":    runClient,
		"inproc":    runInproc,
		"mask":      runMask,
		"memory":    runMemory,
		"broadcast": runBroadcast,
	}
	for _, name := range allScenarios {
		if !cfg.scenarios[name] {
			continue
		}
		t0 := time.Now()
		logf("scenario %s", name)
		if err := scenarios[name](cfg, w); err != nil {
			logf("scenario %s failed: %v", name, err)
			fmt.Fprintf(w, "_The %s scenario failed: %v._\n\n", name, err)
		}
		stopChildren()
		logf("scenario %s took %v", name, time.Since(t0).Round(time.Second))
	}
	writeNoise(w)
	fmt.Fprintf(w, "_Total time: %v._\n", time.Since(start).Round(time.Second))
	return nil
}

// headers of the library columns.
var libNames = map[string]string{libs.Raw: "raw TCP"}

func writeHeader(w io.Writer, cfg *config) {
	fmt.Fprintf(w, "# WebSocket benchmarks: github.com/ws6455/websocket and its peers\n\n")
	mode := "full run"
	if cfg.quick {
		mode = "quick run (-quick): a check that the harness works, too short for conclusions"
	}
	fmt.Fprintf(w, "%s, %s. Command: `%s`.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), mode,
		strings.TrimSpace("cd benchmarks && go run ./cmd/wsbench "+strings.Join(os.Args[1:], " ")))

	fmt.Fprintf(w, "- Machine: %s, %d CPUs, Linux %s, %s %s/%s.\n", cpuModel(), numCPU(), kernel(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "- Libraries: %s.\n", versions())
	if pinned {
		fmt.Fprintf(w, "- Pinning: yes, with taskset: every server process on CPU %d; the load generator, the client processes and the in-process benchmarks on CPU %d. Each process so has GOMAXPROCS=1.\n", serverCPU, loadCPU)
	} else {
		fmt.Fprintf(w, "- Pinning: no (%s); processes share all CPUs.\n", cfg.pinNote)
	}
	fmt.Fprintf(w, "- Rounds: %d. Each measured run lasts %v after a %v warm-up on the same connections; in-process benchmarks run for %v each.\n",
		cfg.rounds, cfg.dur, cfg.warmup, cfg.benchtime)
	fmt.Fprintf(w, "- Each cell: median of the rounds (min–max). Each ratio ours/peer is computed per round, then summarized the same way.\n")
	fmt.Fprintf(w, "- Messages are binary (no UTF-8 check anywhere); compression is off everywhere. \"raw TCP\" is a 4-byte big-endian length and the payload, no masking, bufio 4 KiB on both sides: the floor for any message protocol here.\n\n")
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func numCPU() int {
	// runtime.NumCPU counts the CPUs this process may use, 1 when pinned.
	b, _ := os.ReadFile("/proc/cpuinfo")
	if n := strings.Count(string(b), "\nprocessor"); n > 0 {
		return n + 1
	}
	return runtime.NumCPU()
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

// versions lists the modules under test, as built into this binary, and
// the state of the working tree ours is built from.
func versions() string {
	var out []string
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/gorilla/websocket", "github.com/coder/websocket", "github.com/gobwas/ws", "github.com/lxzan/gws":
				out = append(out, d.Path+" "+d.Version)
			}
		}
	}
	ours := "ours = github.com/ws6455/websocket from ../"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if rev, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		ours += " at commit " + strings.TrimSpace(string(rev))
		if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no", "--", "..", ":(exclude)../benchmarks").Output(); err == nil && len(st) > 0 {
			var files []string
			for _, line := range strings.Split(strings.TrimSpace(string(st)), "\n") {
				if f := strings.Fields(line); len(f) > 0 {
					files = append(files, f[len(f)-1])
				}
			}
			ours += " plus uncommitted changes to " + strings.Join(files, ", ")
		}
	}
	return ours + "; " + strings.Join(out, ", ")
}

// columns returns the columns of a table for the libraries being measured.
func columns(cfg *config) []string { return cfg.libs }
