package libs

import (
	"errors"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/lxzan/gws"
)

// gwsServer is github.com/lxzan/gws as its README shows it: an Upgrader under
// net/http, `go socket.ReadLoop()`, and an event handler whose OnMessage
// writes the message back with WriteMessage and releases it with Close.
// Options are the defaults (no compression, no parallel handling, no UTF-8
// check), with the read limit every server gets.
type gwsServer struct {
	registry[*gws.Conn]
	upgrader *gws.Upgrader
}

func newGWSServer(broadcast bool) *gwsServer {
	s := &gwsServer{}
	s.registry.broadcast = broadcast
	s.upgrader = gws.NewUpgrader(&gwsServerHandler{s: s}, &gws.ServerOption{ReadMaxPayloadSize: ReadLimit})
	return s
}

func (s *gwsServer) Serve(ln net.Listener) error {
	return serveHTTP(ln, http.HandlerFunc(s.handle))
}

func (s *gwsServer) handle(w http.ResponseWriter, r *http.Request) {
	socket, err := s.upgrader.Upgrade(w, r)
	if err != nil {
		return
	}
	s.add(socket)
	go socket.ReadLoop()
}

// Broadcast uses gws's Broadcaster, which builds the frame once. Its writes
// are queued on each connection's writer and happen asynchronously.
func (s *gwsServer) Broadcast(msg []byte) {
	b := gws.NewBroadcaster(gws.OpcodeBinary, msg)
	for _, c := range s.all() {
		_ = b.Broadcast(c)
	}
	b.Close()
}

type gwsServerHandler struct {
	gws.BuiltinEventHandler
	s *gwsServer
}

func (h *gwsServerHandler) OnClose(socket *gws.Conn, err error) { h.s.remove(socket) }

func (h *gwsServerHandler) OnMessage(socket *gws.Conn, message *gws.Message) {
	defer message.Close()
	if h.s.broadcast {
		return
	}
	_ = socket.WriteMessage(message.Opcode, message.Bytes())
}

// gwsClient is a gws client: messages arrive in OnMessage on the goroutine
// running ReadLoop, so it is a CallbackClient.
type gwsClient struct {
	gws.BuiltinEventHandler
	socket    *gws.Conn
	payload   []byte
	onMessage func(n int)
}

func dialGWS(addr string, payload []byte) (Client, error) {
	c := &gwsClient{payload: payload}
	socket, _, err := gws.NewClient(c, &gws.ClientOption{Addr: "ws://" + addr + "/", ReadMaxPayloadSize: ReadLimit})
	if err != nil {
		return nil, err
	}
	c.socket = socket
	return c, nil
}

func (c *gwsClient) Start(onMessage func(n int)) {
	c.onMessage = onMessage
	go c.socket.ReadLoop()
}

func (c *gwsClient) OnMessage(socket *gws.Conn, message *gws.Message) {
	n := message.Data.Len()
	message.Close()
	c.onMessage(n)
}

func (c *gwsClient) Send() error { return c.socket.WriteMessage(gws.OpcodeBinary, c.payload) }

func (c *gwsClient) SendAsync() { c.socket.WriteAsync(gws.OpcodeBinary, c.payload, nil) }

func (c *gwsClient) Recv() (int, error) {
	return 0, errors.New("gws client: messages arrive through Start's callback")
}

func (c *gwsClient) Close() error { return c.socket.NetConn().Close() }

// gwsEndpoint counts the messages OnMessage delivers and wakes ReadN when
// the count it waits for is reached.
type gwsEndpoint struct {
	gws.BuiltinEventHandler
	socket *gws.Conn
	count  atomic.Int64
	target atomic.Int64
	done   chan struct{}
	closed chan struct{}
}

func newGWSEndpoint() *gwsEndpoint {
	return &gwsEndpoint{done: make(chan struct{}, 1), closed: make(chan struct{})}
}

func upgradeGWS(w http.ResponseWriter, r *http.Request) (Endpoint, error) {
	e := newGWSEndpoint()
	socket, err := gws.NewUpgrader(e, &gws.ServerOption{ReadMaxPayloadSize: ReadLimit}).Upgrade(w, r)
	if err != nil {
		return nil, err
	}
	e.socket = socket
	go socket.ReadLoop()
	return e, nil
}

func dialGWSEndpoint(addr string) (Endpoint, error) {
	e := newGWSEndpoint()
	socket, _, err := gws.NewClient(e, &gws.ClientOption{Addr: "ws://" + addr + "/", ReadMaxPayloadSize: ReadLimit})
	if err != nil {
		return nil, err
	}
	e.socket = socket
	go socket.ReadLoop()
	return e, nil
}

func (e *gwsEndpoint) OnMessage(socket *gws.Conn, message *gws.Message) {
	message.Close()
	if e.count.Add(1) == e.target.Load() {
		e.done <- struct{}{}
	}
}

func (e *gwsEndpoint) OnClose(socket *gws.Conn, err error) { close(e.closed) }

func (e *gwsEndpoint) Write(p []byte) error { return e.socket.WriteMessage(gws.OpcodeBinary, p) }

func (e *gwsEndpoint) ReadN(n int, start func()) error {
	e.count.Store(0)
	e.target.Store(int64(n))
	start()
	select {
	case <-e.done:
		return nil
	case <-e.closed:
		return errors.New("gws: connection closed")
	}
}

func (e *gwsEndpoint) Close() error { return e.socket.NetConn().Close() }
