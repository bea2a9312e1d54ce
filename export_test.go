package websocket

import (
	"io"
	"net"
	"time"
)

// NewClientConn makes a client Conn on rwc, for the tests of package
// websocket_test that open a stream Dial cannot: an RFC 8441 stream through
// net/http's HTTP/2 client. Its deadlines do nothing.
func NewClientConn(rwc io.ReadWriteCloser, subprotocol string) *Conn {
	return newConn(noDeadlines{rwc}, nil, connConfig{client: true, subprotocol: subprotocol})
}

type noDeadlines struct{ io.ReadWriteCloser }

func (noDeadlines) SetReadDeadline(time.Time) error  { return nil }
func (noDeadlines) SetWriteDeadline(time.Time) error { return nil }
func (noDeadlines) LocalAddr() net.Addr              { return nil }
func (noDeadlines) RemoteAddr() net.Addr             { return nil }
