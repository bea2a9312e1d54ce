package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ws6455/websocket/benchmarks/internal/inproc"
	"github.com/ws6455/websocket/benchmarks/internal/libs"
)

// runInproc is scenario 3, write+read in process.
func runInproc(cfg *config, w io.Writer) error {
	testing.Init()
	if err := flag.CommandLine.Set("test.benchtime", cfg.benchtime.String()); err != nil {
		return err
	}
	cols := columns(cfg)
	ns := newTable("Time per message", "ns/op", "ratio > 1: ours is slower", cols, fmtSig)
	bytes := newTable("Memory allocated per message", "B/op", "ratio > 1: ours allocates more", cols, fmtSig)
	allocs := newTable("Allocations per message", "allocs/op", "ratio > 1: ours allocates more often", cols, fmtSig)
	for _, t := range []*table{ns, bytes, allocs} {
		t.names = libNames
	}
	bytes.minRatio, allocs.minRatio = 1, 0.05
	dirs := []string{inproc.ClientToServer, inproc.ServerToClient}
	sizes := []int{128, 16 << 10}
	for r := range cfg.rounds {
		logf("inproc round %d/%d", r+1, cfg.rounds)
		for _, lib := range rotate(cfg.libs, r) {
			for _, dir := range dirs {
				for _, size := range sizes {
					label := fmt.Sprintf("%s · %s", dirLabel(dir), fmtSize(size))
					res := testing.Benchmark(func(b *testing.B) { inproc.WriteRead(b, lib, size, dir) })
					if res.N == 0 {
						logf("inproc %s %s: the benchmark failed", lib, label)
						continue
					}
					ns.add(label, lib, r, cfg.rounds, float64(res.T.Nanoseconds())/float64(res.N))
					bytes.add(label, lib, r, cfg.rounds, float64(res.MemBytes)/float64(res.N))
					allocs.add(label, lib, r, cfg.rounds, float64(res.MemAllocs)/float64(res.N))
				}
			}
		}
	}
	fmt.Fprintf(w, "## 3. Per-message cost in process\n\n")
	fmt.Fprintf(w, "`go test -bench WriteRead` in benchmarks/, run here through testing.Benchmark: a client and a server of the same library in this process, over loopback TCP; one goroutine writes messages, the benchmark's goroutine reads them whole into a reused buffer. Time, bytes and allocations are for both ends together.")
	if pinned {
		fmt.Fprintf(w, " Pinned to one CPU, so time per message is close to the CPU cost of both ends.")
	}
	fmt.Fprint(w, "\n\n")
	for _, t := range []*table{ns, bytes, allocs} {
		t.write(w)
	}
	return nil
}

func dirLabel(dir string) string {
	if dir == inproc.ClientToServer {
		return "client→server"
	}
	return "server→client"
}

// runMask is scenario 4, masking throughput.
func runMask(cfg *config, w io.Writer) error {
	testing.Init()
	if err := flag.CommandLine.Set("test.benchtime", cfg.benchtime.String()); err != nil {
		return err
	}
	rootTest, buildErr := buildRootTest()
	if buildErr != nil {
		logf("mask: cannot build the root package's tests, ours is left out: %v", buildErr)
	}
	impls := map[string]func(*testing.B, int){
		"gobwas":   inproc.MaskGobwas,
		"byteloop": inproc.MaskByteLoop,
		"copy":     inproc.MaskCopy,
	}
	cols := []string{libs.Ours, "gobwas", "byteloop", "copy"}
	t := newTable("Masking throughput", "GB/s (10^9 B/s) through the masking function, in place",
		"ratio > 1: ours is faster", cols, func(v float64) string { return fmtSig(v / 1e3) })
	t.names = map[string]string{libs.Ours: "ours (root BenchmarkMaskBytes)", "gobwas": "gobwas ws.Cipher", "byteloop": "byte loop"}
	sizes := []int{16 << 10, 1 << 20}
	for r := range cfg.rounds {
		for _, impl := range rotate(cols, r) {
			if impl == libs.Ours {
				if rootTest == "" {
					continue
				}
				got, err := runRootMask(rootTest, cfg.benchtime)
				if err != nil {
					logf("mask: %v", err)
					continue
				}
				for _, size := range sizes {
					if v, ok := got[size]; ok {
						t.add(fmtSize(size), impl, r, cfg.rounds, v)
					}
				}
				continue
			}
			for _, size := range sizes {
				res := testing.Benchmark(func(b *testing.B) { impls[impl](b, size) })
				if res.N == 0 {
					continue
				}
				t.add(fmtSize(size), impl, r, cfg.rounds, float64(size)*float64(res.N)/float64(res.T.Nanoseconds())*1e3)
			}
		}
	}
	fmt.Fprintf(w, "## 4. Masking throughput\n\n")
	fmt.Fprintf(w, "Only gobwas/ws exports its masking function (ws.Cipher); gorilla/websocket, coder/websocket and gws keep theirs unexported, so they are not here. Ours is unexported too and nothing is copied out of the library: its column is the root package's own BenchmarkMaskBytes, built with `go test -c` and run in the same rounds.")
	if buildErr != nil {
		fmt.Fprintf(w, " That build failed in this run (%v), so ours is n/a.", oneLine(buildErr))
	}
	fmt.Fprint(w, "\n\n")
	t.write(w)
	return nil
}

func oneLine(err error) string {
	s := strings.TrimSpace(err.Error())
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

// buildRootTest builds the test binary of the root package into the run's
// temporary directory.
func buildRootTest() (string, error) {
	if tempDir == "" {
		d, err := os.MkdirTemp("", "wsbench-")
		if err != nil {
			return "", err
		}
		tempDir = d
	}
	bin := filepath.Join(tempDir, "websocket.test")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "github.com/ws6455/websocket")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %s", err, out)
	}
	return bin, nil
}

var benchLine = regexp.MustCompile(`^BenchmarkMaskBytes/(\d+)(?:-\d+)?\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) MB/s`)

// runRootMask runs the root package's BenchmarkMaskBytes at 16 KiB and
// 1 MiB and returns MB/s by size.
func runRootMask(bin string, benchtime time.Duration) (map[int]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run", "^$", "-test.bench", "^BenchmarkMaskBytes$/^(16384|1048576)$",
		"-test.benchtime", benchtime.String())
	cmd.Dir = tempDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("root BenchmarkMaskBytes: %v: %s", err, out)
	}
	got := map[int]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if m := benchLine.FindStringSubmatch(sc.Text()); m != nil {
			size, _ := strconv.Atoi(m[1])
			v, _ := strconv.ParseFloat(m[2], 64)
			got[size] = v
		}
	}
	if len(got) == 0 {
		return nil, fmt.Errorf("root BenchmarkMaskBytes printed no result: %s", out)
	}
	return got, nil
}
