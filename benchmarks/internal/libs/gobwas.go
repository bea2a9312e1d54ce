package libs

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/gobwas/ws"
)

// gobwasServer is github.com/gobwas/ws used the way its README shows for
// speed: ws.Upgrade straight on the net.Conn (no net/http), then the
// low-level API, ws.ReadHeader, ws.Cipher and ws.WriteHeader, here with the
// *Buffer variants that take a caller's scratch so that they do not allocate,
// over a 4 KiB bufio.Reader and bufio.Writer. It echoes frame by frame.
type gobwasServer struct {
	registry[net.Conn]
}

func newGobwasServer(broadcast bool) *gobwasServer {
	s := &gobwasServer{}
	s.registry.broadcast = broadcast
	return s
}

func (s *gobwasServer) Serve(ln net.Listener) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go s.handle(conn)
	}
}

func (s *gobwasServer) handle(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := ws.Upgrade(conn); err != nil {
		return
	}
	conn.SetDeadline(time.Time{})
	s.add(conn)
	defer s.remove(conn)

	br := bufio.NewReaderSize(conn, 4<<10)
	bw := bufio.NewWriterSize(conn, 4<<10)
	hdr := make([]byte, ws.MaxHeaderSize)
	var buf []byte
	for {
		h, err := ws.ReadHeaderBuffer(br, hdr)
		if err != nil {
			return
		}
		if h.Length > ReadLimit {
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
			ws.Cipher(p, h.Mask, 0)
			h.Masked = false
		}
		switch {
		case h.OpCode == ws.OpClose:
			// Answer the close and end, as RFC 6455 §5.5.1 asks.
			bw.Write(ws.CompiledCloseNormalClosure)
			bw.Flush()
			return
		case h.OpCode == ws.OpPing:
			h.OpCode = ws.OpPong
		case h.OpCode == ws.OpPong:
			continue
		case s.broadcast:
			continue
		}
		if err := ws.WriteHeaderBuffer(bw, h, hdr); err != nil {
			return
		}
		if _, err := bw.Write(p); err != nil {
			return
		}
		if err := bw.Flush(); err != nil {
			return
		}
	}
}

// Broadcast compiles the frame once with ws.CompileFrame, which gobwas/ws
// documents for frames sent often, and writes the same bytes to every
// connection.
func (s *gobwasServer) Broadcast(msg []byte) {
	frame, err := ws.CompileFrame(ws.NewBinaryFrame(msg))
	if err != nil {
		return
	}
	for _, c := range s.all() {
		_, _ = c.Write(frame)
	}
}

type gobwasClient struct {
	conn    net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	hdr     []byte
	payload []byte
	masked  []byte
	buf     []byte
}

func dialGobwas(addr string, payload []byte) (Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, "ws://"+addr+"/")
	if err != nil {
		return nil, err
	}
	if br == nil { // nothing read past the handshake: start a fresh reader
		br = bufio.NewReaderSize(conn, 4<<10)
	}
	return &gobwasClient{
		conn:    conn,
		br:      br,
		bw:      bufio.NewWriterSize(conn, 4<<10),
		hdr:     make([]byte, ws.MaxHeaderSize),
		payload: payload,
		masked:  make([]byte, len(payload)),
	}, nil
}

// Send masks a copy of the payload with a fresh key (RFC 6455 §5.3): the
// payload itself must stay as it is for the next message.
func (c *gobwasClient) Send() error {
	h := ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true, Mask: ws.NewMask(), Length: int64(len(c.payload))}
	copy(c.masked, c.payload)
	ws.Cipher(c.masked, h.Mask, 0)
	if err := ws.WriteHeaderBuffer(c.bw, h, c.hdr); err != nil {
		return err
	}
	if _, err := c.bw.Write(c.masked); err != nil {
		return err
	}
	return c.bw.Flush()
}

func (c *gobwasClient) Recv() (int, error) {
	n := 0
	for {
		h, err := ws.ReadHeaderBuffer(c.br, c.hdr)
		if err != nil {
			return 0, err
		}
		if h.OpCode.IsControl() {
			return 0, errors.New("gobwas client: unexpected control frame")
		}
		need := n + int(h.Length)
		if cap(c.buf) < need {
			grown := make([]byte, need)
			copy(grown, c.buf[:n])
			c.buf = grown
		}
		c.buf = c.buf[:need]
		if _, err := io.ReadFull(c.br, c.buf[n:]); err != nil {
			return 0, err
		}
		n += int(h.Length)
		if h.Fin {
			return n, nil
		}
	}
}

func (c *gobwasClient) Close() error { return c.conn.Close() }

func acceptGobwas(conn net.Conn) (Endpoint, error) {
	if _, err := ws.Upgrade(conn); err != nil {
		conn.Close()
		return nil, err
	}
	return gobwasEndpoint(conn, bufio.NewReaderSize(conn, 4<<10), false), nil
}

func dialGobwasEndpoint(addr string) (Endpoint, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, "ws://"+addr+"/")
	if err != nil {
		return nil, err
	}
	if br == nil {
		br = bufio.NewReaderSize(conn, 4<<10)
	}
	return gobwasEndpoint(conn, br, true), nil
}

// gobwasEndpoint writes and reads with the low-level API, as the echo server
// and the client above do; a client masks a copy of what it sends.
func gobwasEndpoint(conn net.Conn, br *bufio.Reader, client bool) Endpoint {
	bw := bufio.NewWriterSize(conn, 4<<10)
	hdr := make([]byte, ws.MaxHeaderSize)
	var masked, buf []byte
	return &pullEndpoint{
		write: func(p []byte) error {
			h := ws.Header{Fin: true, OpCode: ws.OpBinary, Length: int64(len(p))}
			if client {
				h.Masked, h.Mask = true, ws.NewMask()
				if cap(masked) < len(p) {
					masked = make([]byte, len(p))
				}
				masked = masked[:len(p)]
				copy(masked, p)
				ws.Cipher(masked, h.Mask, 0)
				p = masked
			}
			if err := ws.WriteHeaderBuffer(bw, h, hdr); err != nil {
				return err
			}
			if _, err := bw.Write(p); err != nil {
				return err
			}
			return bw.Flush()
		},
		read: func() error {
			for {
				h, err := ws.ReadHeaderBuffer(br, hdr)
				if err != nil {
					return err
				}
				if int64(cap(buf)) < h.Length {
					buf = make([]byte, h.Length)
				}
				p := buf[:h.Length]
				if _, err := io.ReadFull(br, p); err != nil {
					return err
				}
				if h.Masked {
					ws.Cipher(p, h.Mask, 0)
				}
				if h.Fin {
					return nil
				}
			}
		},
		close: conn.Close,
	}
}
