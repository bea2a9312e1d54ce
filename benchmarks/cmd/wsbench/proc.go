package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// CPUs the processes are pinned to when pinning is on: servers on one, the
// load generator, the clients and the in-process benchmarks on the other.
const (
	serverCPU = 0
	loadCPU   = 1
)

// pinned says whether this process runs pinned to loadCPU, having been
// started again under taskset by main.
var pinned bool

// child is a `wsbench serve` or `wsbench client` process.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	addr  string // a server's listening address
}

var (
	childrenMu sync.Mutex
	children   = map[*child]bool{}
)

// profileDir, when set, is where every child writes a CPU profile,
// named after the child.
var profileDir string

// startChild starts this program again with args, pinned to cpu when
// pinning is on, and waits for its "ready" line.
func startChild(name string, cpu int, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if profileDir != "" {
		file := strings.NewReplacer(" ", "-", "/", "-").Replace(name) + ".prof"
		args = append(args, "-cpuprofile", filepath.Join(profileDir, file))
	}
	argv := append([]string{exe}, args...)
	if pinned {
		argv = append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	// Killed with its parent, even if the parent dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	childrenMu.Lock()
	children[c] = true
	childrenMu.Unlock()
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	f, err := c.next(30 * time.Second)
	if err != nil || f[0] != "ready" {
		c.stop()
		return nil, fmt.Errorf("%s did not start: %v %q", name, err, f)
	}
	if len(f) > 1 {
		c.addr = f[1]
	}
	return c, nil
}

// next waits for the child's next line, split into fields.
func (c *child) next(timeout time.Duration) ([]string, error) {
	select {
	case line, ok := <-c.lines:
		if !ok {
			return nil, fmt.Errorf("%s exited", c.name)
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			return nil, fmt.Errorf("%s sent an empty line", c.name)
		}
		if f[0] == "err" {
			return nil, fmt.Errorf("%s: %s", c.name, strings.TrimPrefix(line, "err "))
		}
		return f, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("%s did not answer in %v", c.name, timeout)
	}
}

// call sends a command and returns the answer's fields after the first.
func (c *child) call(timeout time.Duration, format string, args ...any) ([]int64, error) {
	if _, err := fmt.Fprintf(c.stdin, format+"\n", args...); err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	f, err := c.next(timeout)
	if err != nil {
		return nil, err
	}
	var v []int64
	for _, s := range f[1:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: bad answer %q", c.name, f)
		}
		v = append(v, n)
	}
	return v, nil
}

// usage is what a child process has used so far: CPU time, and read and
// write system calls (-1 where the OS does not count them).
type usage struct {
	cpu      time.Duration
	syscalls int64
}

func (u usage) sub(v usage) usage {
	d := usage{cpu: u.cpu - v.cpu, syscalls: u.syscalls - v.syscalls}
	if u.syscalls < 0 || v.syscalls < 0 {
		d.syscalls = -1
	}
	return d
}

// usage asks the child what it has used so far.
func (c *child) usage() (usage, error) {
	v, err := c.call(10*time.Second, "cpu")
	if err != nil {
		return usage{}, err
	}
	if len(v) != 2 {
		return usage{}, errors.New(c.name + ": bad cpu answer")
	}
	return usage{cpu: time.Duration(v[0]), syscalls: v[1]}, nil
}

// stop closes the child's stdin, which ends it, and kills it if it has not
// ended within a second.
func (c *child) stop() {
	childrenMu.Lock()
	delete(children, c)
	childrenMu.Unlock()
	c.stdin.Close()
	done := make(chan struct{})
	go func() {
		c.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// stopChildren stops every child still running.
func stopChildren() {
	childrenMu.Lock()
	var all []*child
	for c := range children {
		all = append(all, c)
	}
	childrenMu.Unlock()
	for _, c := range all {
		c.stop()
	}
}
