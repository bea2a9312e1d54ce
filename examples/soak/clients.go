package main

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/ws6455/websocket"
)

// clientConfig is what the clients need to know, in either process.
type clientConfig struct {
	URL       string // ws://host:port/soak?id=
	Conns     int
	Duration  time.Duration
	Rate      float64
	SrcAddrs  int
	Dialers   int
	DrainWait time.Duration
}

// clientReport is what the clients found, sent back by a child process as
// JSON.
type clientReport struct {
	Held, DialFailures int
	ConnectTime        time.Duration
	UpSent             int64
	Down               direction // echoes, as the clients checked them
	Sent, Echoed       []int64   // by client id
	CleanCloses        int
	Undrained          int
	Errors             int64
	FirstErrors        []string
	Mem                *memReport // when the clients ran in a process of their own
}

// client is one connection's client end.
type client struct {
	id   int
	conn *websocket.Conn
	down *tally
	errs *errorLog

	mu       sync.Mutex
	queue    []pending // sent, not echoed yet, in order
	sent     int64
	echoed   int64
	stopped  bool
	drained  chan struct{} // closed once stopped and nothing is pending
	readDone chan struct{}
}

// pending is a message a client sent and waits to see echoed.
type pending struct {
	seq  uint64
	sum  uint32
	size int
}

// runClients dials cfg.Conns clients, calls connected once they are up,
// runs the traffic, waits for the last echoes and closes every client with
// the closing handshake. Every wait is bounded.
func runClients(cfg clientConfig, connected func(held int)) clientReport {
	var down tally
	var errs errorLog
	rep := clientReport{Sent: make([]int64, cfg.Conns), Echoed: make([]int64, cfg.Conns)}

	start := time.Now()
	clients := dialAll(cfg, &down, &errs)
	rep.ConnectTime = time.Since(start)
	for _, cl := range clients {
		if cl != nil {
			rep.Held++
		}
	}
	rep.DialFailures = cfg.Conns - rep.Held
	connected(rep.Held)

	stop := make(chan struct{})
	var upSent int64
	var writers sync.WaitGroup
	var sentMu sync.Mutex
	for _, cl := range clients {
		if cl == nil {
			continue
		}
		go cl.read()
		writers.Go(func() {
			n := cl.write(stop, cfg.Rate)
			sentMu.Lock()
			upSent += n
			sentMu.Unlock()
		})
	}
	time.Sleep(cfg.Duration)
	close(stop)
	writers.Wait()
	rep.UpSent = upSent

	// The last echoes, bounded.
	for _, cl := range clients {
		if cl != nil {
			cl.stopSending()
		}
	}
	deadline := time.Now().Add(cfg.DrainWait)
	for _, cl := range clients {
		if cl == nil {
			continue
		}
		select {
		case <-cl.drained:
			continue
		default:
		}
		select {
		case <-cl.drained:
		case <-time.After(time.Until(deadline)):
			rep.Undrained++
		}
	}

	// The closing handshake, every client at once. Close is bounded by the
	// close timeout, and so is the read that receives the server's answer.
	var clean sync.WaitGroup
	var cleanMu sync.Mutex
	for _, cl := range clients {
		if cl == nil {
			continue
		}
		clean.Go(func() {
			err := cl.conn.Close(websocket.StatusNormalClosure, "soak done")
			<-cl.readDone
			if err != nil {
				errs.add("client close, connection %d: %v", cl.id, err)
				return
			}
			cleanMu.Lock()
			rep.CleanCloses++
			cleanMu.Unlock()
		})
	}
	clean.Wait()

	for _, cl := range clients {
		if cl != nil {
			rep.Sent[cl.id], rep.Echoed[cl.id] = cl.sent, cl.echoed
		}
	}
	rep.Down = down.snapshot()
	rep.Errors, rep.FirstErrors = errs.snapshot()
	return rep
}

// dialAll connects the clients, cfg.Dialers dials at a time, spread over
// the source addresses 127.0.0.1 to 127.0.0.N. A failed dial is tried
// three times; the slot of a client that never connected stays nil.
func dialAll(cfg clientConfig, down *tally, errs *errorLog) []*client {
	clients := make([]*client, cfg.Conns)
	ids := make(chan int)
	var wg sync.WaitGroup
	noProxy := func(*http.Request) (*url.URL, error) { return nil, nil }
	for range cfg.Dialers {
		wg.Go(func() {
			for id := range ids {
				d := &net.Dialer{
					LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+id%cfg.SrcAddrs))},
					Timeout:   10 * time.Second,
				}
				opts := &websocket.DialOptions{NetDialContext: d.DialContext, Proxy: noProxy}
				var c *websocket.Conn
				var err error
				for range 3 {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					c, _, err = websocket.Dial(ctx, cfg.URL+strconv.Itoa(id), opts)
					cancel()
					if err == nil {
						break
					}
				}
				if err != nil {
					errs.add("dial, connection %d: %v", id, err)
					continue
				}
				clients[id] = &client{id: id, conn: c, down: down, errs: errs,
					drained: make(chan struct{}), readDone: make(chan struct{})}
			}
		})
	}
	for id := range cfg.Conns {
		ids <- id
	}
	close(ids)
	wg.Wait()
	return clients
}

// write sends messages at about rate a second until stop is closed, and
// returns how many it sent.
func (cl *client) write(stop <-chan struct{}, rate float64) int64 {
	r := rand.New(rand.NewPCG(uint64(cl.id), 7))
	interval := time.Duration(float64(time.Second) / rate)
	// Start anywhere in the first interval, so that clients do not send in
	// step; then wait between half an interval and one and a half.
	timer := time.NewTimer(time.Duration(r.Int64N(int64(interval) + 1)))
	defer timer.Stop()
	for seq := uint64(0); ; seq++ {
		select {
		case <-stop:
			return int64(seq)
		case <-timer.C:
		}
		size := messageSize(r)
		buf := messageBuffers.Get().(*[]byte)
		msg := (*buf)[:clientHeader+size]
		off := r.IntN(len(random) - size)
		copy(msg[clientHeader:], random[off:off+size])
		sum := checksum(msg[clientHeader:])
		putClientHeader(msg, seq, sum)

		cl.mu.Lock()
		cl.queue = append(cl.queue, pending{seq: seq, sum: sum, size: size})
		cl.sent++
		cl.mu.Unlock()
		err := cl.conn.WriteMessage(websocket.BinaryMessage, msg)
		messageBuffers.Put(buf)
		if err != nil {
			cl.errs.add("client write, connection %d: %v", cl.id, err)
			return int64(seq + 1)
		}
		timer.Reset(interval/2 + time.Duration(r.Int64N(int64(interval)+1)))
	}
}

// read checks every echo until the closing handshake ends the connection.
func (cl *client) read() {
	defer close(cl.readDone)
	var wantServer uint64
	for {
		_, p, err := cl.conn.ReadMessage()
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				cl.errs.add("client read, connection %d: %v", cl.id, err)
			}
			return
		}
		if len(p) < serverHeader {
			cl.down.corrupt.Add(1)
			continue
		}
		serverSeq := binary.BigEndian.Uint64(p)
		echoOf := binary.BigEndian.Uint64(p[8:])
		sum := binary.BigEndian.Uint32(p[16:])
		payload := p[serverHeader:]
		var seqOK bool
		wantServer, seqOK = cl.down.checkSequence(serverSeq, wantServer)
		intact := checksum(payload) == sum

		cl.mu.Lock()
		cl.echoed++
		switch {
		case len(cl.queue) == 0 || echoOf < cl.queue[0].seq:
			cl.down.duplicated.Add(1)
		case echoOf > cl.queue[0].seq:
			// Echoes of earlier messages are missing: drop them.
			cl.down.outOfOrder.Add(1)
			for len(cl.queue) > 0 && cl.queue[0].seq <= echoOf {
				cl.queue = cl.queue[1:]
			}
		default:
			front := cl.queue[0]
			cl.queue = cl.queue[1:]
			switch {
			case !intact || front.sum != sum || front.size != len(payload):
				cl.down.corrupt.Add(1)
			case seqOK:
				cl.down.verified.Add(1)
				cl.down.bytes.Add(int64(len(p)))
			}
		}
		if cl.stopped && len(cl.queue) == 0 {
			select {
			case <-cl.drained:
			default:
				close(cl.drained)
			}
		}
		cl.mu.Unlock()
	}
}

// stopSending marks the client stopped; drained closes once every message
// it sent came back.
func (cl *client) stopSending() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.stopped = true
	if len(cl.queue) == 0 {
		close(cl.drained)
	}
}
