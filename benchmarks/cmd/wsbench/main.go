// Command wsbench measures github.com/ws6455/websocket against its peers,
// gorilla/websocket, coder/websocket, gobwas/ws and lxzan/gws, and against a
// raw-TCP baseline, and prints the results as Markdown tables:
//
//	cd benchmarks && go run ./cmd/wsbench          # full run, ~15 minutes on 2 cores
//	cd benchmarks && go run ./cmd/wsbench -quick   # every scenario, small, ~2 minutes
//
// Every figure in a table is measured in the same run as the figures it is
// compared with. The libraries take turns: within each round every library
// is measured once per case, in an order that rotates from round to round,
// and each cell shows the median of the rounds with their range; a ratio is
// computed round by round, between measurements taken close together, and
// summarized the same way.
//
// Servers run in their own processes (`wsbench serve`), and so do the
// clients of the client benchmark (`wsbench client`), so that CPU time and
// memory are measured per process. With taskset and at least two CPUs, the
// servers run on CPU 0 and everything else on CPU 1.
//
// Scenarios (select with -scenarios):
//
//	echo       server cost: the same hand-written load generator drives each
//	           library's echo server; messages/s, MB/s, server CPU per
//	           message, and round-trip latency in ping-pong
//	client     client cost: each library's client against the same
//	           hand-written echo server; client CPU per message
//	inproc     write+read of one message, client and server in one process
//	mask       masking throughput: gobwas/ws's ws.Cipher, a byte loop and
//	           copy, and this library's BenchmarkMaskBytes
//	memory     server memory per idle connection
//	broadcast  one message to many connections, fan-out messages/s
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ws6455/websocket/benchmarks/internal/libs"
)

func main() {
	var err error
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "serve":
			err = serveMain(os.Args[2:])
		case "client":
			err = clientMain(os.Args[2:])
		default:
			err = runMain(os.Args[1:])
		}
	} else {
		err = runMain(nil)
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2) // flag has printed the usage
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", err)
		os.Exit(1)
	}
}

// pinEnv marks the process that main started again under taskset.
const pinEnv = "WSBENCH_PINNED"

func runMain(args []string) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	switch {
	case os.Getenv(pinEnv) == "1":
		pinned = true
	case !cfg.pin:
		cfg.pinNote = "pinning turned off (-pin=false)"
	default:
		note, ok := canPin()
		if ok {
			return runPinned()
		}
		cfg.pinNote = note
	}

	// Whatever ends this process, its children and files go with it.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		cleanup()
		os.Exit(130)
	}()
	defer cleanup()
	if err := raiseFDLimit(); err != nil {
		return err
	}
	return run(cfg)
}

// canPin says whether the processes can be pinned to two CPUs of their
// own, or why not.
func canPin() (string, bool) {
	if runtime.NumCPU() < 2 {
		return fmt.Sprintf("not pinned: %d CPU available", runtime.NumCPU()), false
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return "not pinned: taskset not found", false
	}
	return "", true
}

// runPinned runs this command again under taskset, on loadCPU, and passes
// its exit status on.
func runPinned() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command("taskset", append([]string{"-c", fmt.Sprint(loadCPU), exe}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), pinEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	// Signals go to the pinned process, which cleans up after itself.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		for s := range sig {
			cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		os.Exit(ee.ExitCode())
	}
	return err
}

// config is what a run does.
type config struct {
	quick       bool
	rounds      int
	dur, warmup time.Duration
	echoSizes   []int
	echoConns   []int
	clientSizes []int
	window      int
	memConns    int
	bcastConns  int
	bcastSizes  []int
	bcastBytes  int // bytes each measurement broadcasts to each connection, roughly
	benchtime   time.Duration
	scenarios   map[string]bool
	libs        []string
	pin         bool
	pinNote     string
}

var allScenarios = []string{"echo", "client", "inproc", "mask", "memory", "broadcast"}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("wsbench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./cmd/wsbench [flags] > results.md\n\n")
		fs.PrintDefaults()
	}
	quick := fs.Bool("quick", false, "every scenario, small and short (about 2 minutes): checks that the harness works; its numbers are rough")
	rounds := fs.Int("rounds", 5, "rounds: every library is measured once per case and round")
	dur := fs.Duration("duration", 300*time.Millisecond, "length of one measured run")
	warmup := fs.Duration("warmup", 100*time.Millisecond, "warm-up before each measured run, on the same connections")
	memConns := fs.Int("mem-conns", 5000, "idle connections in the memory scenario")
	bcastConns := fs.Int("bcast-conns", 1000, "connections in the broadcast scenario")
	benchtime := fs.Duration("benchtime", 200*time.Millisecond, "benchtime of each in-process benchmark")
	scen := fs.String("scenarios", strings.Join(allScenarios, ","), "scenarios to run, comma-separated")
	libList := fs.String("libs", "", "libraries to measure besides ours, comma-separated (default: all peers and raw)")
	pin := fs.Bool("pin", true, "pin servers and load to separate CPUs with taskset, when there are two")
	sizes := fs.String("sizes", "", "message sizes in bytes for the echo and client scenarios, comma-separated (default: 16,128,1024,16384,65536,1048576; the client scenario 128,16384,1048576)")
	profile := fs.String("cpuprofile-dir", "", "write a CPU profile of every server and client process into this directory, to see where a library spends its time")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := &config{
		quick:       *quick,
		rounds:      *rounds,
		dur:         *dur,
		warmup:      *warmup,
		echoSizes:   []int{16, 128, 1 << 10, 16 << 10, 64 << 10, 1 << 20},
		echoConns:   []int{1, 64},
		clientSizes: []int{128, 16 << 10, 1 << 20},
		window:      32,
		memConns:    *memConns,
		bcastConns:  *bcastConns,
		bcastSizes:  []int{128, 16 << 10},
		bcastBytes:  320 << 10,
		benchtime:   *benchtime,
		scenarios:   map[string]bool{},
		pin:         *pin,
	}
	if cfg.quick {
		// Smaller everything, unless set explicitly.
		quickInt := func(name string, p *int, v int) {
			if !set[name] {
				*p = v
			}
		}
		quickDur := func(name string, p *time.Duration, v time.Duration) {
			if !set[name] {
				*p = v
			}
		}
		quickInt("rounds", &cfg.rounds, 2)
		quickDur("duration", &cfg.dur, 80*time.Millisecond)
		quickDur("warmup", &cfg.warmup, 20*time.Millisecond)
		quickInt("mem-conns", &cfg.memConns, 500)
		quickInt("bcast-conns", &cfg.bcastConns, 100)
		quickDur("benchtime", &cfg.benchtime, 20*time.Millisecond)
		cfg.echoSizes = []int{128, 16 << 10, 1 << 20}
		cfg.bcastBytes = 64 << 10
	}
	if *sizes != "" {
		cfg.echoSizes = nil
		for _, f := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > libs.ReadLimit {
				return nil, fmt.Errorf("bad size %q", f)
			}
			cfg.echoSizes = append(cfg.echoSizes, n)
		}
		cfg.clientSizes = cfg.echoSizes
	}
	profileDir = *profile
	if cfg.rounds < 1 || cfg.dur <= 0 || cfg.memConns < 1 || cfg.bcastConns < 1 {
		return nil, fmt.Errorf("rounds, duration, mem-conns and bcast-conns must be positive")
	}
	for _, s := range strings.Split(*scen, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !contains(allScenarios, s) {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(allScenarios, ", "))
		}
		cfg.scenarios[s] = true
	}
	cfg.libs = libs.All
	if *libList != "" {
		cfg.libs = []string{libs.Ours}
		for _, l := range strings.Split(*libList, ",") {
			l = strings.TrimSpace(l)
			if l == libs.Ours || l == "" {
				continue
			}
			if !contains(libs.All, l) {
				return nil, fmt.Errorf("unknown library %q", l)
			}
			cfg.libs = append(cfg.libs, l)
		}
	}
	return cfg, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// tempDir holds the files a run makes (the root package's test binary); it
// is removed at the end.
var tempDir string

func cleanup() {
	stopChildren()
	if tempDir != "" {
		os.RemoveAll(tempDir)
	}
}
