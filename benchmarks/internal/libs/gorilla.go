package libs

import (
	"net"
	"net/http"

	"github.com/gorilla/websocket"
)

// gorillaServer is github.com/gorilla/websocket with a zero Upgrader, whose
// connections reuse the 4 KiB buffers of the HTTP server. The echo reads with
// NextReader into a reused buffer (ReadMessage allocates) and writes with
// WriteMessage, which on a server is documented in the code as the "fast
// path with no allocations and single frame".
type gorillaServer struct {
	registry[*websocket.Conn]
	upgrader websocket.Upgrader
}

func newGorillaServer(broadcast bool) *gorillaServer {
	s := &gorillaServer{}
	s.registry.broadcast = broadcast
	return s
}

func (s *gorillaServer) Serve(ln net.Listener) error {
	return serveHTTP(ln, http.HandlerFunc(s.handle))
}

func (s *gorillaServer) handle(w http.ResponseWriter, r *http.Request) {
	c, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
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

// Broadcast uses a PreparedMessage, gorilla's API for sending one message to
// many connections: the frame is built once.
func (s *gorillaServer) Broadcast(msg []byte) {
	pm, err := websocket.NewPreparedMessage(websocket.BinaryMessage, msg)
	if err != nil {
		return
	}
	for _, c := range s.all() {
		_ = c.WritePreparedMessage(pm)
	}
}

type gorillaClient struct {
	c       *websocket.Conn
	payload []byte
	buf     []byte
}

func dialGorilla(addr string, payload []byte) (Client, error) {
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		return nil, err
	}
	return &gorillaClient{c: c, payload: payload}, nil
}

func (c *gorillaClient) Send() error {
	return c.c.WriteMessage(websocket.BinaryMessage, c.payload)
}

func (c *gorillaClient) Recv() (int, error) {
	_, r, err := c.c.NextReader()
	if err != nil {
		return 0, err
	}
	c.buf, err = readAll(r, c.buf)
	return len(c.buf), err
}

func (c *gorillaClient) Close() error { return c.c.Close() }

func upgradeGorilla(w http.ResponseWriter, r *http.Request) (Endpoint, error) {
	var u websocket.Upgrader
	c, err := u.Upgrade(w, r, nil)
	if err != nil {
		return nil, err
	}
	return gorillaEndpoint(c), nil
}

func dialGorillaEndpoint(addr string) (Endpoint, error) {
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/", nil)
	if err != nil {
		return nil, err
	}
	return gorillaEndpoint(c), nil
}

func gorillaEndpoint(c *websocket.Conn) Endpoint {
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
		close: c.Close,
	}
}
