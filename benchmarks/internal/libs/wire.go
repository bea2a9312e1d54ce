package libs

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"time"

	"github.com/ws6455/websocket/benchmarks/internal/wire"
)

// This file holds the library-free code: the raw-TCP baseline server, the
// hand-written WebSocket echo server that clients are measured against, and
// the load generator's clients, which speak WebSocket or the raw protocol
// through package wire and cost the same whatever server they drive.

// rawServer is the raw-TCP baseline: a 4-byte big-endian length and the
// payload, through a 4 KiB bufio.Reader and bufio.Writer. An idle connection
// is one goroutine blocked reading the first length prefix from the bare
// connection; the buffers come with the first message.
type rawServer struct {
	registry[net.Conn]
}

func newRawServer(broadcast bool) *rawServer {
	s := &rawServer{}
	s.registry.broadcast = broadcast
	return s
}

func (s *rawServer) Serve(ln net.Listener) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go s.handle(conn)
	}
}

func (s *rawServer) handle(conn net.Conn) {
	defer conn.Close()
	s.add(conn)
	defer s.remove(conn)
	var prefix [4]byte
	if _, err := io.ReadFull(conn, prefix[:]); err != nil {
		return
	}
	br := bufio.NewReaderSize(conn, wire.BufSize)
	bw := bufio.NewWriterSize(conn, wire.BufSize)
	var buf []byte
	for {
		n := binary.BigEndian.Uint32(prefix[:])
		if n > ReadLimit {
			return
		}
		if uint32(cap(buf)) < n {
			buf = make([]byte, n)
		}
		p := buf[:n]
		if _, err := io.ReadFull(br, p); err != nil {
			return
		}
		if !s.broadcast {
			bw.Write(prefix[:])
			bw.Write(p)
			if err := bw.Flush(); err != nil {
				return
			}
		}
		if _, err := io.ReadFull(br, prefix[:]); err != nil {
			return
		}
	}
}

// Broadcast writes one pre-built message to every connection.
func (s *rawServer) Broadcast(msg []byte) {
	frame := wire.AppendRaw(nil, msg)
	for _, c := range s.all() {
		_, _ = c.Write(frame)
	}
}

// wireEchoServer is the hand-written WebSocket echo server: it unmasks each
// frame and sends it back unmasked, frame by frame, through a 4 KiB
// bufio.Reader and bufio.Writer.
type wireEchoServer struct {
	registry[net.Conn]
}

func newWireEchoServer() *wireEchoServer { return &wireEchoServer{} }

func (s *wireEchoServer) Broadcast([]byte) {}

func (s *wireEchoServer) Serve(ln net.Listener) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go s.handle(conn)
	}
}

func (s *wireEchoServer) handle(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReaderSize(conn, wire.BufSize)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wire.ServerHandshake(conn, br); err != nil {
		return
	}
	conn.SetDeadline(time.Time{})
	s.add(conn)
	defer s.remove(conn)
	bw := bufio.NewWriterSize(conn, wire.BufSize)
	var hdr, buf []byte
	for {
		h, err := wire.ReadHeader(br)
		if err != nil || h.Length > ReadLimit {
			return
		}
		if int64(cap(buf)) < h.Length {
			buf = make([]byte, h.Length)
		}
		p := buf[:h.Length]
		if _, err := io.ReadFull(br, p); err != nil {
			return
		}
		if h.Masked {
			wire.Mask(h.Key, p)
		}
		op := h.Op
		switch op {
		case wire.OpClose:
			// Echo the close frame, which completes the closing handshake.
			bw.Write(wire.AppendFrame(hdr[:0], wire.OpClose, p, false, [4]byte{}))
			bw.Flush()
			return
		case wire.OpPing:
			op = wire.OpPong
		case wire.OpPong:
			continue
		}
		hdr = wire.AppendHeader(hdr[:0], h.Fin, op, len(p), false, [4]byte{})
		bw.Write(hdr)
		bw.Write(p)
		if err := bw.Flush(); err != nil {
			return
		}
	}
}

// genClient is the load generator's connection: it sends pre-built frames
// (masked, for WebSocket) and reads messages back with package wire. It
// checks the first message it gets back against what it sent.
type genClient struct {
	conn    net.Conn
	bw      *bufio.Writer
	mr      *wire.MessageReader
	frame   int    // length of one encoded message
	frames  []byte // window copies of it, back to back, for SendN
	payload []byte
	checked bool
}

// DialWire connects the load generator's WebSocket client to the server at
// addr, to send payload; window is the most messages SendN will send at once.
func DialWire(addr string, payload []byte, window int) (Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br, err := wire.ClientHandshake(conn, addr, "/")
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	// One fixed key: a load generator talking to its own servers needs no
	// unpredictable keys, and masking ahead of time costs it nothing later.
	frame := wire.AppendFrame(nil, wire.OpBinary, payload, true, [4]byte{0x12, 0x34, 0x56, 0x78})
	return newGenClient(conn, br, frame, payload, window, true), nil
}

// DialRaw connects a raw-TCP client to the raw server at addr.
func DialRaw(addr string, payload []byte, window int) (Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(conn, wire.BufSize)
	return newGenClient(conn, br, wire.AppendRaw(nil, payload), payload, window, false), nil
}

func newGenClient(conn net.Conn, br *bufio.Reader, frame, payload []byte, window int, ws bool) *genClient {
	frames := make([]byte, 0, len(frame)*max(window, 1))
	for range max(window, 1) {
		frames = append(frames, frame...)
	}
	return &genClient{
		conn:    conn,
		bw:      bufio.NewWriterSize(conn, wire.BufSize),
		mr:      wire.NewMessageReader(br, ws),
		frame:   len(frame),
		frames:  frames,
		payload: payload,
	}
}

func (c *genClient) Send() error { return c.SendN(1) }

// SendN writes n messages in one write, n at most the window.
func (c *genClient) SendN(n int) error {
	if _, err := c.bw.Write(c.frames[:n*c.frame]); err != nil {
		return err
	}
	return c.bw.Flush()
}

func (c *genClient) Recv() (int, error) {
	if c.checked {
		n, err := c.mr.Skip()
		return int(n), err
	}
	buf := make([]byte, len(c.payload))
	n, err := c.mr.Read(buf)
	if err != nil {
		return 0, err
	}
	c.checked = true
	return int(n), wire.CheckEcho(buf[:n], c.payload)
}

func (c *genClient) Close() error { return c.conn.Close() }

func acceptRaw(conn net.Conn) (Endpoint, error) { return rawEndpoint(conn), nil }

func dialRawEndpoint(addr string) (Endpoint, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return rawEndpoint(conn), nil
}

// rawEndpoint is the raw-TCP baseline: a length prefix and the payload
// through 4 KiB buffers on both sides.
func rawEndpoint(conn net.Conn) Endpoint {
	br := bufio.NewReaderSize(conn, wire.BufSize)
	bw := bufio.NewWriterSize(conn, wire.BufSize)
	var wprefix, rprefix [4]byte
	var buf []byte
	return &pullEndpoint{
		write: func(p []byte) error {
			binary.BigEndian.PutUint32(wprefix[:], uint32(len(p)))
			bw.Write(wprefix[:])
			bw.Write(p)
			return bw.Flush()
		},
		read: func() error {
			if _, err := io.ReadFull(br, rprefix[:]); err != nil {
				return err
			}
			n := binary.BigEndian.Uint32(rprefix[:])
			if uint32(cap(buf)) < n {
				buf = make([]byte, n)
			}
			_, err := io.ReadFull(br, buf[:n])
			return err
		},
		close: conn.Close,
	}
}
