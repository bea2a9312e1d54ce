//go:build unix

package websocket_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ---- the echo example as a subprocess ----

var listenLine = regexp.MustCompile(`listening on (ws://[^/\s]+/)`)

// startEchoExample builds examples/echo, starts it on a free port with the
// extra flags and returns its WebSocket URL.
func startEchoExample(t *testing.T, flags ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "echo")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/echo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/echo failed: %v\n%s", err, out)
	}
	p := startPeer(t, "echo example", append([]string{bin, "-addr", "127.0.0.1:0"}, flags...)...)

	ctx, cancel = context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	line, err := p.waitLine(ctx, p.stderr, listenLine.MatchString)
	if err != nil {
		t.Fatalf("waiting for the echo example to listen failed: %v", err)
	}
	return listenLine.FindStringSubmatch(line)[1]
}

// ---- peer tools ----

// missingPeer skips the test, or fails it when CI is set: there the peers
// are installed by .ci/run, so a missing one is a broken setup.
func missingPeer(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, and .ci/run should have installed it)", msg)
	}
	t.Skipf("%s; skipping", msg)
}

func requireNode(t *testing.T) string {
	node, err := exec.LookPath("node")
	if err != nil {
		missingPeer(t, "node not found: install Node.js")
	}
	if _, err := os.Stat(filepath.Join(interopDir, "node_modules", "ws", "package.json")); err != nil {
		missingPeer(t, "the ws package is not installed: run npm ci --prefix %s", interopDir)
	}
	return node
}

// requirePython returns Debian's python3, which has python3-websockets; a
// python3 earlier on PATH (pyenv, say) may not have it.
func requirePython(t *testing.T) string {
	const python = "/usr/bin/python3"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, python, "-c", "import websockets").CombinedOutput(); err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		missingPeer(t, "%s cannot import websockets (%v: %s): install python3-websockets", python, err, lines[len(lines)-1])
	}
	return python
}

func requireChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	missingPeer(t, "chromium not found: install chromium")
	return ""
}

// ---- subprocesses ----

// peerProcess is a running peer program whose output the test watches.
type peerProcess struct {
	name   string
	stdout *lineLog
	stderr *lineLog
	exited chan struct{} // closed when the process has exited and its output is in
	err    error         // from Wait; read only after exited is closed
}

// startPeer starts argv in testdata/interop. Cleanup kills its process group
// (Chromium starts helpers) and waits for it.
func startPeer(t *testing.T, name string, argv ...string) *peerProcess {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = interopDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	p := &peerProcess{name: name, stdout: newLineLog(), stderr: newLineLog(), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	// The peer scripts exit when their stdin closes, should the test die
	// before it can kill them.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("starting the %s failed: %v", name, err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the %s failed: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		stdin.Close()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("the %s did not exit after SIGKILL", name)
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s", name, p.stdout.tail(8<<10))
			t.Logf("%s stderr:\n%s", name, p.stderr.tail(8<<10))
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit error.
func (p *peerProcess) wait(ctx context.Context) error {
	select {
	case <-p.exited:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("the %s is still running: %w", p.name, ctx.Err())
	}
}

// waitLine returns the first line of l that matches, waiting until ctx ends
// or the process exits.
func (p *peerProcess) waitLine(ctx context.Context, l *lineLog, match func(string) bool) (string, error) {
	exited := false
	for {
		lines, changed := l.snapshot()
		for _, line := range lines {
			if match(line) {
				return line, nil
			}
		}
		if exited {
			return "", fmt.Errorf("the %s exited (%v) without printing the line", p.name, p.err)
		}
		select {
		case <-changed:
		case <-p.exited:
			exited = true // look once more: all output is in
		case <-ctx.Done():
			return "", fmt.Errorf("the %s did not print the line: %w", p.name, ctx.Err())
		}
	}
}

// peerEvent is one JSON line a peer prints, or one check in the browser's report.
type peerEvent struct {
	Event  string `json:"event"`
	Port   int    `json:"port"`
	Path   string `json:"path"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

func parseEvent(line string) (peerEvent, bool) {
	var ev peerEvent
	err := json.Unmarshal([]byte(line), &ev)
	return ev, err == nil
}

// waitEvent returns the first stdout event that matches.
func (p *peerProcess) waitEvent(ctx context.Context, match func(peerEvent) bool) (peerEvent, error) {
	line, err := p.waitLine(ctx, p.stdout, func(line string) bool {
		ev, ok := parseEvent(line)
		return ok && match(ev)
	})
	if err != nil {
		return peerEvent{}, err
	}
	ev, _ := parseEvent(line)
	return ev, nil
}

// events returns the stdout events so far.
func (p *peerProcess) events() []peerEvent {
	lines, _ := p.stdout.snapshot()
	var evs []peerEvent
	for _, line := range lines {
		if ev, ok := parseEvent(line); ok {
			evs = append(evs, ev)
		}
	}
	return evs
}

// checks returns the peer's events that report a check.
func (p *peerProcess) checks() []peerEvent {
	var checks []peerEvent
	for _, ev := range p.events() {
		if ev.Event == "check" {
			checks = append(checks, ev)
		}
	}
	return checks
}

// lineLog is an io.Writer that keeps what is written as lines.
type lineLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	changed chan struct{} // closed and replaced on every write
}

func newLineLog() *lineLog { return &lineLog{changed: make(chan struct{})} }

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// snapshot returns the complete lines so far and a channel closed on the
// next write.
func (l *lineLog) snapshot() ([]string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines[:len(l.lines):len(l.lines)], l.changed
}

// tail returns the last n bytes written, at most.
func (l *lineLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := strings.Join(l.lines, "\n") + "\n" + string(l.partial)
	if len(all) > n {
		all = "..." + all[len(all)-n:]
	}
	return all
}
