package libs

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/ws6455/websocket"
)

// oursServer is github.com/ws6455/websocket. Its documented zero-allocation
// read is NextReader (ReadMessage allocates the slice it returns), and
// WriteMessage sends a message in one frame, so the echo reads each message
// into a reused buffer and writes it back with WriteMessage.
type oursServer struct {
	registry[*websocket.Conn]
	detached bool // serve each connection on a new goroutine, not the handler's
}

func newOursServer(broadcast, detached bool) *oursServer {
	s := &oursServer{detached: detached}
	s.registry.broadcast = broadcast
	return s
}

func (s *oursServer) Serve(ln net.Listener) error {
	return serveHTTP(ln, http.HandlerFunc(s.handle))
}

func (s *oursServer) handle(w http.ResponseWriter, r *http.Request) {
	// A queue long enough for every broadcast of a measured run: the
	// harness measures throughput, not what to do with a slow reader.
	c, err := websocket.Upgrade(w, r, &websocket.UpgradeOptions{QueueLimit: 1 << 14})
	if err != nil {
		return
	}
	if s.detached {
		go s.serve(c)
		return
	}
	s.serve(c)
}

func (s *oursServer) serve(c *websocket.Conn) {
	defer c.CloseNow()
	s.add(c)
	defer s.remove(c)
	if s.broadcast {
		for {
			if _, _, err := c.NextReader(); err != nil {
				return
			}
		}
	}
	var buf []byte
	for {
		typ, rd, err := c.NextReader()
		if err != nil {
			return
		}
		if buf, err = readAll(rd, buf); err != nil {
			return
		}
		if err := c.WriteMessage(typ, buf); err != nil {
			return
		}
	}
}

func (s *oursServer) Broadcast(msg []byte) {
	broadcastOurs(s.all(), msg)
}

// broadcastOurs queues msg for every connection through a PreparedMessage:
// the message is framed once, every connection gets the same bytes, and each
// connection's queue is written by its own goroutine.
func broadcastOurs(conns []*websocket.Conn, msg []byte) {
	pm, err := websocket.NewPreparedMessage(websocket.BinaryMessage, msg)
	if err != nil {
		panic(err) // BinaryMessage is always a valid type
	}
	for _, c := range conns {
		_ = c.QueuePreparedMessage(pm)
	}
}

type oursClient struct {
	c       *websocket.Conn
	payload []byte
	buf     []byte
}

func dialOurs(addr string, payload []byte) (Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", &websocket.DialOptions{ReadLimit: ReadLimit})
	if err != nil {
		return nil, err
	}
	return &oursClient{c: c, payload: payload}, nil
}

func (c *oursClient) Send() error {
	return c.c.WriteMessage(websocket.BinaryMessage, c.payload)
}

func (c *oursClient) Recv() (int, error) {
	_, r, err := c.c.NextReader()
	if err != nil {
		return 0, err
	}
	c.buf, err = readAll(r, c.buf)
	return len(c.buf), err
}

func (c *oursClient) Close() error { return c.c.CloseNow() }

func upgradeOurs(w http.ResponseWriter, r *http.Request) (Endpoint, error) {
	c, err := websocket.Upgrade(w, r, nil)
	if err != nil {
		return nil, err
	}
	return oursEndpoint(c), nil
}

func dialOursEndpoint(addr string) (Endpoint, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", &websocket.DialOptions{ReadLimit: ReadLimit})
	if err != nil {
		return nil, err
	}
	return oursEndpoint(c), nil
}

func oursEndpoint(c *websocket.Conn) Endpoint {
	var buf []byte
	return &pullEndpoint{
		write: func(p []byte) error { return c.WriteMessage(websocket.BinaryMessage, p) },
		read: func() error {
			_, r, err := c.NextReader()
			if err != nil {
				return err
			}
			buf, err = readAll(r, buf)
			return err
		},
		close: c.CloseNow,
	}
}
