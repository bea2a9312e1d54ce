package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ws6455/websocket/benchmarks/internal/libs"
	"github.com/ws6455/websocket/benchmarks/internal/load"
	"github.com/ws6455/websocket/benchmarks/internal/wire"
)

// The child processes. The parent starts them with a library name, and
// talks to them over stdin and stdout, one line per command and one per
// answer; a child exits when its stdin closes, so none outlives the parent.

// serveMain is `wsbench serve -lib L [-broadcast]`: one library's server on
// a loopback port. It prints "ready ADDR", then answers:
//
//	cpu               -> "cpu NS SYSCALLS": user+system CPU time of the
//	                     process, and its read and write system calls (-1
//	                     where /proc/self/io does not count them)
//	conns             -> "conns N": connections through the handshake
//	mem               -> "mem HEAPINUSE STACKINUSE RSS CONNS", after a GC
//	bcast SIZE COUNT  -> "ok": COUNT broadcasts of SIZE bytes, done
func serveMain(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	lib := fs.String("lib", "", "library to serve")
	broadcast := fs.Bool("broadcast", false, "broadcast mode instead of echo")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the process to this file")
	fs.Parse(args)
	if err := raiseFDLimit(); err != nil {
		return err
	}
	stopProfile, err := startProfile(*profile)
	if err != nil {
		return err
	}
	defer stopProfile()
	srv, err := libs.NewServer(*lib, *broadcast)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	fmt.Printf("ready %s\n", ln.Addr())

	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "cpu":
			u := selfUsage()
			fmt.Printf("cpu %d %d\n", u.cpu, u.syscalls)
		case "conns":
			fmt.Printf("conns %d\n", srv.Conns())
		case "mem":
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("mem %d %d %d %d\n", ms.HeapInuse, ms.StackInuse, rss(), srv.Conns())
		case "bcast":
			size, _ := strconv.Atoi(f[1])
			count, _ := strconv.Atoi(f[2])
			msg := wire.Payload(size)
			for range count {
				srv.Broadcast(msg)
			}
			fmt.Println("ok")
		default:
			fmt.Printf("err unknown command %q\n", f[0])
		}
	}
	return nil
}

// clientMain is `wsbench client -lib L`: one library's client. It prints
// "ready", then answers
//
//	run ADDR SIZE CONNS WINDOW WARMUP DURATION
//	  -> "res MSGS ELAPSED CPU P50 P99 SYSCALLS" (durations in ns)
//
// after a warm-up and a measured run against the echo server at ADDR. CPU
// and SYSCALLS (read and write system calls, -1 if unknown) are the
// process's over the measured run.
func clientMain(args []string) error {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	lib := fs.String("lib", "", "library whose client to run")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the process to this file")
	fs.Parse(args)
	if err := raiseFDLimit(); err != nil {
		return err
	}
	stopProfile, err := startProfile(*profile)
	if err != nil {
		return err
	}
	defer stopProfile()
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 7 || f[0] != "run" {
			fmt.Printf("err bad command %q\n", sc.Text())
			continue
		}
		res, u, err := clientRun(*lib, f[1:])
		if err != nil {
			fmt.Printf("err %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		fmt.Printf("res %d %d %d %d %d %d\n", res.Msgs, res.Elapsed, u.cpu, res.P50, res.P99, u.syscalls)
	}
	return nil
}

func clientRun(lib string, f []string) (load.Result, usage, error) {
	addr := f[0]
	var n [5]int
	for i := range n {
		v, err := strconv.Atoi(f[i+1])
		if err != nil {
			return load.Result{}, usage{}, err
		}
		n[i] = v
	}
	size, conns, window := n[0], n[1], n[2]
	warmup, dur := time.Duration(n[3])*time.Millisecond, time.Duration(n[4])*time.Millisecond
	payload := wire.Payload(size)
	var clients []libs.Client
	for range conns {
		c, err := libs.Dial(lib, addr, payload)
		if err != nil {
			for _, c := range clients {
				c.Close()
			}
			return load.Result{}, usage{}, err
		}
		clients = append(clients, c)
	}
	s := load.NewSession(clients, window)
	defer s.Close()
	if _, err := s.Run(warmup); err != nil {
		return load.Result{}, usage{}, err
	}
	u0 := selfUsage()
	res, err := s.Run(dur)
	return res, selfUsage().sub(u0), err
}

// startProfile starts a CPU profile into file, if file is not empty, and
// returns the function that ends it.
func startProfile(file string) (func(), error) {
	if file == "" {
		return func() {}, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// selfUsage is what this process has used so far.
func selfUsage() usage {
	return usage{cpu: time.Duration(cpuTime()), syscalls: ioSyscalls()}
}

// cpuTime is the user+system CPU time of this process so far, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// ioSyscalls is the number of read and write system calls (read, readv,
// write, writev, ... on any file, sockets included) this process has made,
// from Linux's /proc/self/io; -1 if unknown.
func ioSyscalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	var n int64
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if ok && (name == "syscr" || name == "syscw") {
			v, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return -1
			}
			n += v
			found++
		}
	}
	if found != 2 {
		return -1
	}
	return n
}

// rss is the resident set size of this process, in bytes.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// raiseFDLimit lifts the soft limit on open files to the hard one: the
// memory benchmark holds thousands of connections. (Go does this at start-up
// too since 1.19; doing it here says so, and reports when it cannot.)
func raiseFDLimit() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return nil
}
