// Command soak is a load and soak test of the websocket package, over
// loopback only. It starts a server (Upgrade) on 127.0.0.1:0 and -conns
// clients (Dial); for -duration every client sends messages of mixed sizes
// (16 B to 64 KiB, mostly small) at -rate, and the server echoes each one
// back. Both directions carry sequence numbers and checksums, and each side
// checks that every message arrived exactly once, in order and intact. Then
// every client closes with the closing handshake, and the program checks
// that goroutines and heap went back to where they were before:
//
//	go run ./examples/soak -conns 10000 -duration 30s
//
// It stops by itself: every phase has a bounded wait, and a watchdog bounds
// the whole. It prints what it verified and how much memory the connections
// took, and exits 1 when a message was lost, duplicated, reordered or
// damaged, when a connection failed or did not close cleanly, or when
// goroutines or heap were left behind.
//
// Clients and server run in one process when it may open two descriptors
// per connection (the program raises RLIMIT_NOFILE as far as it is allowed
// to); otherwise, or with -split yes, the clients run in a child process (this
// program again), and each process reports its own memory. Memory per
// connection is that of both ends in one process, or of one end in each.
// Clients spread over the source addresses 127.0.0.1 to 127.0.0.N
// (-srcaddrs) so that ephemeral ports do not run out.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

func main() {
	var cfg clientConfig
	flag.IntVar(&cfg.Conns, "conns", 1000, "number of client connections")
	flag.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long the clients send")
	flag.Float64Var(&cfg.Rate, "rate", 1, "messages per second each client sends")
	flag.IntVar(&cfg.SrcAddrs, "srcaddrs", 0, "source addresses 127.0.0.1 to 127.0.0.N to spread clients over; 0 means one per 10000 clients")
	flag.IntVar(&cfg.Dialers, "dialers", 64, "dials in flight at once")
	flag.DurationVar(&cfg.DrainWait, "drain", 30*time.Second, "how long to wait for the last echoes once sending stops")
	split := flag.String("split", "auto", "run the clients in a child process: yes, no, or auto (when one process cannot hold both ends)")
	clientsOf := flag.String("clients-of", "", "internal: run only the clients, against this server URL, for a parent soak")
	flag.Parse()
	if cfg.Conns < 1 || cfg.Rate <= 0 || cfg.Duration <= 0 || cfg.Dialers < 1 || cfg.SrcAddrs < 0 || cfg.SrcAddrs > 254 {
		fmt.Fprintln(os.Stderr, "soak: -conns, -rate, -duration and -dialers must be positive, -srcaddrs from 0 to 254")
		os.Exit(2)
	}
	if cfg.SrcAddrs == 0 {
		cfg.SrcAddrs = min(254, (cfg.Conns+9999)/10000)
	}
	// A watchdog: every phase is bounded, and so is the whole.
	limit := cfg.Duration + cfg.DrainWait + 5*time.Minute
	time.AfterFunc(limit, func() {
		fmt.Fprintf(os.Stderr, "soak: still running after %v, giving up\n", limit)
		os.Exit(3)
	})
	if *clientsOf != "" {
		cfg.URL = *clientsOf
		os.Exit(childClients(cfg))
	}

	const spare = 512 // listener, standard files, the runtime's own
	inProcess := *split == "no"
	why := "with -split yes"
	switch *split {
	case "auto":
		inProcess = raiseFileLimit(uint64(2*cfg.Conns+spare)) == nil
		why = "RLIMIT_NOFILE is too low for both ends in one process"
	case "no", "yes":
	default:
		fmt.Fprintln(os.Stderr, "soak: -split is yes, no or auto")
		os.Exit(2)
	}
	need := uint64(cfg.Conns + spare)
	if inProcess {
		need += uint64(cfg.Conns)
	}
	if err := raiseFileLimit(need); err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		os.Exit(2)
	}
	os.Exit(run(cfg, inProcess, why))
}

// run is the parent: the server, and the clients in this process or in a
// child.
func run(cfg clientConfig, inProcess bool, why string) int {
	where := "in this process"
	if !inProcess {
		where = "in a child process (" + why + ")"
	}
	fmt.Printf("soak: %d connections for %v, %.3g messages/s per connection each way, sizes 16 B to 64 KiB (80%% under 256 B), %d source address(es), clients %s\n",
		cfg.Conns, cfg.Duration, cfg.Rate, cfg.SrcAddrs, where)
	mem := startMemTracker()

	// The server, set up as the package docs recommend.
	srv := newServer(cfg.Conns)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		return 2
	}
	httpSrv := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() { httpSrv.Serve(ln); close(served) }()
	cfg.URL = "ws://" + ln.Addr().String() + "/soak?id="

	var rep clientReport
	var failures []string
	if inProcess {
		rep = runClients(cfg, func(held int) {
			fmt.Printf("connected %d\n", held)
			mem.idle()
		})
	} else {
		var err error
		if rep, err = spawnClients(cfg, func(held int) {
			fmt.Printf("connected %d (in the child)\n", held)
			mem.idle()
		}); err != nil {
			failures = append(failures, err.Error())
		}
	}

	// Every server end returns once its connection closed; its counts are
	// final then.
	handlersDone := make(chan struct{})
	go func() { srv.running.Wait(); close(handlersDone) }()
	select {
	case <-handlersDone:
	case <-time.After(30 * time.Second):
		failures = append(failures, "server handlers still running 30s after the clients closed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	httpSrv.Shutdown(ctx)
	cancel()
	<-served

	// Compare what each end counted, connection by connection.
	var lostUp, lostDown int64
	for id := range cfg.Conns {
		if id < len(rep.Sent) {
			lostUp += max(0, rep.Sent[id]-srv.received[id])
			lostDown += max(0, srv.sent[id]-rep.Echoed[id])
		}
	}
	up := srv.up.snapshot()
	up.Sent = rep.UpSent
	down := rep.Down
	down.Sent = srv.downSent.Load()
	serverErrors, serverFirst := srv.errors.snapshot()
	cleanServers := srv.clean.Load()
	srv, httpSrv = nil, nil // what is left after this is a leak
	serverMem := mem.finish()

	fmt.Printf("connections held:      %d of %d (dial failures %d), connected in %v\n", rep.Held, cfg.Conns, rep.DialFailures, rep.ConnectTime.Round(time.Millisecond))
	for _, d := range []struct {
		name string
		d    direction
		lost int64
	}{{"client -> server", up, lostUp}, {"server -> client", down, lostDown}} {
		fmt.Printf("%s:      sent %d, verified %d (%s), lost %d, duplicated %d, out of order %d, corrupt %d\n",
			d.name, d.d.Sent, d.d.Verified, mib(d.d.Bytes), d.lost, d.d.Duplicated, d.d.OutOfOrder, d.d.Corrupt)
	}
	fmt.Printf("closing handshakes:    %d clients closed cleanly, %d server ends saw 1000; %d clients not drained within %v\n",
		rep.CleanCloses, cleanServers, rep.Undrained, cfg.DrainWait)
	if inProcess {
		printMem("memory (client and server ends, one process)", serverMem, rep.Held)
	} else {
		printMem("server process (server ends)", serverMem, rep.Held)
		if rep.Mem != nil {
			printMem("client process (client ends)", rep.Mem, rep.Held)
			both := func(a, b int64) string { return kib((a + b) / int64(max(rep.Held, 1))) }
			fmt.Printf("both ends, per connection: idle Go heap+stacks %s, RSS %s; peak Go heap+stacks %s, RSS %s\n",
				both(serverMem.GoIdle-serverMem.GoBefore, rep.Mem.GoIdle-rep.Mem.GoBefore),
				both(serverMem.RSSIdle-serverMem.RSSBefore, rep.Mem.RSSIdle-rep.Mem.RSSBefore),
				both(serverMem.GoPeak-serverMem.GoBefore, rep.Mem.GoPeak-rep.Mem.GoBefore),
				both(serverMem.RSSPeak-serverMem.RSSBefore, rep.Mem.RSSPeak-rep.Mem.RSSBefore))
		}
	}

	if rep.Held < cfg.Conns {
		failures = append(failures, fmt.Sprintf("%d connections failed", cfg.Conns-rep.Held))
	}
	if lostUp+lostDown > 0 || up.Verified < up.Sent || down.Verified < down.Sent {
		failures = append(failures, fmt.Sprintf("messages lost: %d upstream, %d downstream", lostUp, lostDown))
	}
	if bad := up.bad() + down.bad(); bad > 0 {
		failures = append(failures, fmt.Sprintf("%d messages duplicated, out of order or corrupt", bad))
	}
	if rep.CleanCloses < rep.Held || int(cleanServers) < rep.Held {
		failures = append(failures, "not every connection closed cleanly")
	}
	if serverErrors > 0 {
		failures = append(failures, fmt.Sprintf("%d server errors, first: %s", serverErrors, strings.Join(serverFirst, "; ")))
	}
	if rep.Errors > 0 {
		failures = append(failures, fmt.Sprintf("%d client errors, first: %s", rep.Errors, strings.Join(rep.FirstErrors, "; ")))
	}
	for _, l := range serverMem.leaks(cfg.Conns) {
		failures = append(failures, "server process: "+l)
	}
	if rep.Mem != nil {
		for _, l := range rep.Mem.leaks(cfg.Conns) {
			failures = append(failures, "client process: "+l)
		}
	}
	if len(failures) > 0 {
		fmt.Printf("FAIL: %s\n", strings.Join(failures, "; "))
		return 1
	}
	fmt.Println("PASS")
	return 0
}

// spawnClients runs the clients in a child process, this program with
// -clients-of, and returns its report. The child says when its clients are
// connected and waits for a line on its stdin before it starts the traffic,
// so that the parent measures its idle memory meanwhile.
func spawnClients(cfg clientConfig, connected func(held int)) (clientReport, error) {
	var rep clientReport
	self, err := os.Executable()
	if err != nil {
		return rep, fmt.Errorf("finding this program to run the clients: %w", err)
	}
	cmd := exec.Command(self,
		"-clients-of", cfg.URL,
		"-conns", strconv.Itoa(cfg.Conns),
		"-duration", cfg.Duration.String(),
		"-rate", strconv.FormatFloat(cfg.Rate, 'g', -1, 64),
		"-srcaddrs", strconv.Itoa(cfg.SrcAddrs),
		"-dialers", strconv.Itoa(cfg.Dialers),
		"-drain", cfg.DrainWait.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return rep, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return rep, err
	}
	if err := cmd.Start(); err != nil {
		return rep, fmt.Errorf("starting the client process: %w", err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(nil, 64<<20)
	for lines.Scan() {
		kind, rest, _ := strings.Cut(lines.Text(), " ")
		switch kind {
		case "connected":
			held, _ := strconv.Atoi(rest)
			connected(held)
			io.WriteString(stdin, "start\n")
		case "report":
			if err := json.Unmarshal([]byte(rest), &rep); err != nil {
				return rep, fmt.Errorf("reading the client process's report: %w", err)
			}
			return rep, nil
		}
	}
	return rep, fmt.Errorf("the client process ended without a report: %v", lines.Err())
}

// childClients is the child process: it runs the clients and reports.
func childClients(cfg clientConfig) int {
	if err := raiseFileLimit(uint64(cfg.Conns + 512)); err != nil {
		fmt.Fprintf(os.Stderr, "soak (clients): %v\n", err)
		return 2
	}
	mem := startMemTracker()
	stdin := bufio.NewReader(os.Stdin)
	rep := runClients(cfg, func(held int) {
		mem.idle()
		fmt.Printf("connected %d\n", held)
		stdin.ReadString('\n') // the parent measured; go
	})
	rep.Mem = mem.finish()
	b, err := json.Marshal(rep)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak (clients): %v\n", err)
		return 2
	}
	fmt.Printf("report %s\n", b)
	return 0
}
