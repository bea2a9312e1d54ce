package main

import (
	"encoding/binary"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/ws6455/websocket"
)

// server is the echo server's side of the soak: an http.Handler that
// upgrades /soak?id=N, checks every message of client N and echoes it.
type server struct {
	up       tally // client to server, as received; sent is the clients' to count
	downSent atomic.Int64
	clean    atomic.Int64 // connections that ended with the client's close 1000
	errors   errorLog
	running  sync.WaitGroup

	// received and sent count each connection's messages, by client id.
	// Each is written by that connection's handler only, and read once
	// running says every handler returned.
	received, sent []int64
}

func newServer(conns int) *server {
	return &server{received: make([]int64, conns), sent: make([]int64, conns)}
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.running.Add(1)
	defer s.running.Done()
	id, err := strconv.Atoi(r.URL.Query().Get("id"))
	if err != nil || id < 0 || id >= len(s.received) {
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	c, err := websocket.Upgrade(w, r, nil)
	if err != nil {
		s.errors.add("upgrade: %v", err)
		return
	}
	defer c.CloseNow()
	var want, seq uint64
	var hdr [serverHeader]byte
	for {
		_, p, err := c.ReadMessage()
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				s.clean.Add(1)
			} else {
				s.errors.add("server read, connection %d: %v", id, err)
			}
			return
		}
		s.received[id]++
		if len(p) < clientHeader {
			s.up.corrupt.Add(1)
			continue
		}
		got := binary.BigEndian.Uint64(p)
		payload := p[clientHeader:]
		sum := checksum(payload)
		if sum != binary.BigEndian.Uint32(p[8:]) {
			s.up.corrupt.Add(1)
		} else {
			var ok bool
			if want, ok = s.up.checkSequence(got, want); ok {
				s.up.verified.Add(1)
				s.up.bytes.Add(int64(len(p)))
			}
		}

		// The echo streams out, header then payload, through the
		// writer's pooled buffer.
		putServerHeader(hdr[:], seq, got, sum)
		mw, err := c.NextWriter(websocket.BinaryMessage)
		if err == nil {
			mw.Write(hdr[:])
			mw.Write(payload)
			err = mw.Close()
		}
		if err != nil {
			s.errors.add("server write, connection %d: %v", id, err)
			return
		}
		seq++
		s.sent[id]++
		s.downSent.Add(1)
	}
}
