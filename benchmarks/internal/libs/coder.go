package libs

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// coderServer is github.com/coder/websocket with default AcceptOptions
// (compression off). The echo reads with Reader into a reused buffer (Read
// allocates) and writes with Write, under one long-lived context: a context
// per message, as its examples use for timeouts, only adds cost.
type coderServer struct {
	registry[*websocket.Conn]
}

func newCoderServer(broadcast bool) *coderServer {
	s := &coderServer{}
	s.registry.broadcast = broadcast
	return s
}

func (s *coderServer) Serve(ln net.Listener) error {
	return serveHTTP(ln, http.HandlerFunc(s.handle))
}

func (s *coderServer) handle(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(ReadLimit)
	s.add(c)
	defer s.remove(c)
	ctx := context.Background()
	if s.broadcast {
		for {
			if _, _, err := c.Reader(ctx); err != nil {
				return
			}
		}
	}
	var buf []byte
	for {
		typ, rd, err := c.Reader(ctx)
		if err != nil {
			return
		}
		if buf, err = readAll(rd, buf); err != nil {
			return
		}
		if err := c.Write(ctx, typ, buf); err != nil {
			return
		}
	}
}

// Broadcast is a loop of Write: coder/websocket has no prepared message.
func (s *coderServer) Broadcast(msg []byte) {
	ctx := context.Background()
	for _, c := range s.all() {
		_ = c.Write(ctx, websocket.MessageBinary, msg)
	}
}

type coderClient struct {
	c       *websocket.Conn
	payload []byte
	buf     []byte
}

func dialCoder(addr string, payload []byte) (Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(ReadLimit)
	return &coderClient{c: c, payload: payload}, nil
}

func (c *coderClient) Send() error {
	return c.c.Write(context.Background(), websocket.MessageBinary, c.payload)
}

func (c *coderClient) Recv() (int, error) {
	_, r, err := c.c.Reader(context.Background())
	if err != nil {
		return 0, err
	}
	c.buf, err = readAll(r, c.buf)
	return len(c.buf), err
}

func (c *coderClient) Close() error { return c.c.CloseNow() }

func upgradeCoder(w http.ResponseWriter, r *http.Request) (Endpoint, error) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(ReadLimit)
	return coderEndpoint(c), nil
}

func dialCoderEndpoint(addr string) (Endpoint, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(ReadLimit)
	return coderEndpoint(c), nil
}

func coderEndpoint(c *websocket.Conn) Endpoint {
	var buf []byte
	ctx := context.Background()
	return &pullEndpoint{
		write: func(p []byte) error { return c.Write(ctx, websocket.MessageBinary, p) },
		read: func() error {
			_, r, err := c.Reader(ctx)
			if err != nil {
				return err
			}
			buf, err = readAll(r, buf)
			return err
		},
		close: c.CloseNow,
	}
}
