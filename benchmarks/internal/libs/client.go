package libs

import (
	"fmt"
)

// A Client is one connection of a library's client side, talking to an echo
// server. It sends the payload it was dialed with, every time.
type Client interface {
	// Send writes one message.
	Send() error
	// Recv reads the next message and returns its length. A CallbackClient
	// does not implement it; its messages arrive through the callback.
	Recv() (int, error)
	// Close drops the connection at once, without a closing handshake.
	Close() error
}

// A CallbackClient is a Client of a library that reads on a goroutine of its
// own and delivers each message to a callback, as gws does. The driver sends
// from within the callback, which is how such a library is used, instead of
// handing each message to another goroutine.
type CallbackClient interface {
	Client
	// Start starts reading; onMessage is called with the length of each
	// message, on the library's reading goroutine.
	Start(onMessage func(n int))
	// SendAsync queues one message without waiting for it to be written,
	// so that a callback can send without blocking the reading goroutine.
	SendAsync()
}

// A BatchSender can write several messages in one write, as a pipelining
// load generator does.
type BatchSender interface {
	SendN(n int) error
}

// Dial connects lib's client to the echo server at addr (host:port). Raw
// dials the raw-TCP echo server, every other library the hand-written
// WebSocket one.
func Dial(lib, addr string, payload []byte) (Client, error) {
	switch lib {
	case Ours:
		return dialOurs(addr, payload)
	case Gorilla:
		return dialGorilla(addr, payload)
	case Coder:
		return dialCoder(addr, payload)
	case Gobwas:
		return dialGobwas(addr, payload)
	case GWS:
		return dialGWS(addr, payload)
	case Raw:
		// Hide SendN: like the libraries' clients, the baseline client
		// sends one message per write.
		c, err := DialRaw(addr, payload, 1)
		if err != nil {
			return nil, err
		}
		return struct{ Client }{c}, nil
	}
	return nil, fmt.Errorf("libs: unknown library %q", lib)
}
