// Package load drives connections to an echo server: one message in flight
// per connection (ping-pong, with latencies) or a window of them
// (pipelined). The load generator runs it on the hand-written client of
// package wire against each library's server, and the client benchmark runs
// it on each library's client against the hand-written server, so the same
// code sits on the other side of whatever is measured.
package load

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws6455/websocket/benchmarks/internal/libs"
)

// Result is what one run measured.
type Result struct {
	Msgs     int64         // messages echoed, all connections together
	Elapsed  time.Duration // from the first send to the last answer
	P50, P99 time.Duration // round-trip latency, ping-pong runs only
}

// drainTimeout bounds how long a run waits, after its duration, for the
// answers still on their way; a server that stalls fails the run instead of
// hanging the harness.
const drainTimeout = 60 * time.Second

// A Session is a set of connections to drive, kept across runs so that a
// warm-up and the measured run use the same connections.
type Session struct {
	conns  []*conn
	window int
	dead   chan struct{} // closed when any connection fails
	once   sync.Once
	mu     sync.Mutex
	err    error
}

type conn struct {
	c        libs.Client
	tokens   chan struct{} // pipelined: one per message that may be sent
	sent     atomic.Int64
	received atomic.Int64

	// Ping-pong through a callback: the send time of the message in flight
	// and the latencies so far.
	running atomic.Bool
	t0      time.Time
	lat     []time.Duration
	done    chan struct{}
}

// NewSession takes over clients; window is the number of messages each keeps
// in flight, 1 for ping-pong.
func NewSession(clients []libs.Client, window int) *Session {
	s := &Session{window: max(window, 1), dead: make(chan struct{})}
	for _, c := range clients {
		cn := &conn{c: c}
		s.conns = append(s.conns, cn)
		if cb, ok := c.(libs.CallbackClient); ok {
			cb.Start(s.callback(cn))
			continue
		}
		if s.window > 1 {
			cn.tokens = make(chan struct{}, s.window)
			for range s.window {
				cn.tokens <- struct{}{}
			}
			go s.readLoop(cn)
		}
	}
	return s
}

// Close closes every connection.
func (s *Session) Close() {
	for _, cn := range s.conns {
		cn.c.Close()
	}
}

func (s *Session) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.once.Do(func() { close(s.dead) })
}

func (s *Session) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// readLoop reads answers for a pipelined connection, for as long as it
// lives, and hands a token back for each.
func (s *Session) readLoop(cn *conn) {
	for {
		if _, err := cn.c.Recv(); err != nil {
			s.fail(fmt.Errorf("load: read: %w", err))
			return
		}
		cn.received.Add(1)
		cn.tokens <- struct{}{}
	}
}

// callback is what a callback client calls for each answer: it sends the
// next message from there, as code written for such a library does.
func (s *Session) callback(cn *conn) func(int) {
	return func(int) {
		cn.received.Add(1)
		if s.window == 1 {
			cn.lat = append(cn.lat, time.Since(cn.t0))
			if !cn.running.Load() {
				close(cn.done)
				return
			}
			cn.t0 = time.Now()
			cn.sent.Add(1)
			if err := cn.c.Send(); err != nil {
				s.fail(fmt.Errorf("load: write: %w", err))
			}
			return
		}
		if cn.running.Load() {
			cn.sent.Add(1)
			cn.c.(libs.CallbackClient).SendAsync()
		}
	}
}

// Run drives every connection for d, then waits for the answers in flight.
func (s *Session) Run(d time.Duration) (Result, error) {
	if err := s.failed(); err != nil {
		return Result{}, err
	}
	// Whatever happens, the run ends: past its time, the connections are
	// closed, which unblocks every read and write.
	watchdog := time.AfterFunc(d+drainTimeout, func() {
		s.fail(errors.New("load: the run did not finish in time"))
		s.Close()
	})
	defer watchdog.Stop()

	var before int64
	for _, cn := range s.conns {
		before += cn.received.Load()
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for _, cn := range s.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.drive(cn, &stop)
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	for _, cn := range s.conns {
		cn.running.Store(false)
	}
	wg.Wait()
	if err := s.drain(); err != nil {
		return Result{}, err
	}
	res := Result{Elapsed: time.Since(start)}
	var lat []time.Duration
	for _, cn := range s.conns {
		res.Msgs += cn.received.Load()
		lat = append(lat, cn.lat...)
		cn.lat = cn.lat[:0]
	}
	res.Msgs -= before
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50 = lat[len(lat)/2]
		res.P99 = lat[len(lat)*99/100]
	}
	return res, s.failed()
}

// drive sends on one connection until stop is set.
func (s *Session) drive(cn *conn, stop *atomic.Bool) {
	if cb, ok := cn.c.(libs.CallbackClient); ok {
		s.driveCallback(cn, cb)
		return
	}
	if s.window == 1 {
		for !stop.Load() {
			t0 := time.Now()
			if err := cn.c.Send(); err != nil {
				s.fail(fmt.Errorf("load: write: %w", err))
				return
			}
			cn.sent.Add(1)
			if _, err := cn.c.Recv(); err != nil {
				s.fail(fmt.Errorf("load: read: %w", err))
				return
			}
			cn.received.Add(1)
			cn.lat = append(cn.lat, time.Since(t0))
		}
		return
	}
	batch, _ := cn.c.(libs.BatchSender)
	for !stop.Load() {
		select {
		case <-cn.tokens:
		case <-s.dead:
			return
		}
		// Take every token that is free: a batch sender writes them all in
		// one go, as a pipelining client does.
		n := 1
	more:
		for n < s.window {
			select {
			case <-cn.tokens:
				n++
			default:
				break more
			}
		}
		var err error
		if batch != nil {
			err = batch.SendN(n)
		} else {
			for i := 0; i < n && err == nil; i++ {
				err = cn.c.Send()
			}
		}
		if err != nil {
			s.fail(fmt.Errorf("load: write: %w", err))
			return
		}
		cn.sent.Add(int64(n))
	}
}

// driveCallback starts a callback client's run and returns: the callback
// keeps it going until running is cleared.
func (s *Session) driveCallback(cn *conn, cb libs.CallbackClient) {
	cn.running.Store(true)
	if s.window == 1 {
		cn.done = make(chan struct{})
		cn.t0 = time.Now()
		cn.sent.Add(1)
		if err := cb.Send(); err != nil {
			s.fail(fmt.Errorf("load: write: %w", err))
		}
		return
	}
	for range s.window {
		cn.sent.Add(1)
		cb.SendAsync()
	}
}

// drain waits until every message sent has been answered.
func (s *Session) drain() error {
	for _, cn := range s.conns {
		if cn.done != nil {
			select {
			case <-cn.done:
			case <-s.dead:
				return s.failed()
			}
			cn.done = nil
		}
		for cn.received.Load() < cn.sent.Load() {
			select {
			case <-s.dead:
				return s.failed()
			case <-time.After(200 * time.Microsecond):
			}
		}
	}
	return nil
}
