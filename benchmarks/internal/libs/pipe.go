package libs

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// An Endpoint is one end of an established connection, for the in-process
// benchmark, where a library's client and server talk over loopback.
type Endpoint interface {
	// Write sends p as one binary message.
	Write(p []byte) error
	// ReadN calls start, which starts the writer on the other end, and
	// reads n messages, dropping them.
	ReadN(n int, start func()) error
	// Close drops the connection at once.
	Close() error
}

// Pipe connects a client and a server of lib over loopback TCP and returns
// both ends; stop closes them and the server.
func Pipe(lib string) (client, server Endpoint, stop func(), err error) {
	switch lib {
	case Ours:
		return pipeHTTP(upgradeOurs, dialOursEndpoint)
	case Gorilla:
		return pipeHTTP(upgradeGorilla, dialGorillaEndpoint)
	case Coder:
		return pipeHTTP(upgradeCoder, dialCoderEndpoint)
	case GWS:
		return pipeHTTP(upgradeGWS, dialGWSEndpoint)
	case Gobwas:
		return pipeTCP(acceptGobwas, dialGobwasEndpoint)
	case Raw:
		return pipeTCP(acceptRaw, dialRawEndpoint)
	}
	return nil, nil, nil, fmt.Errorf("libs: unknown library %q", lib)
}

// pipeHTTP serves one WebSocket handshake through net/http with upgrade and
// dials it with dial.
func pipeHTTP(upgrade func(http.ResponseWriter, *http.Request) (Endpoint, error), dial func(addr string) (Endpoint, error)) (Endpoint, Endpoint, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	type result struct {
		ep  Endpoint
		err error
	}
	accepted := make(chan result, 1)
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ep, err := upgrade(w, r)
			accepted <- result{ep, err}
		}),
	}
	go srv.Serve(ln)
	return finishPipe(ln.Addr().String(), dial, func() (Endpoint, error) {
		select {
		case r := <-accepted:
			return r.ep, r.err
		case <-time.After(10 * time.Second):
			return nil, errors.New("libs: the server did not accept in time")
		}
	}, func() { srv.Close() })
}

// pipeTCP accepts one connection on a bare listener and runs accept on it.
func pipeTCP(accept func(net.Conn) (Endpoint, error), dial func(addr string) (Endpoint, error)) (Endpoint, Endpoint, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	type result struct {
		ep  Endpoint
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			accepted <- result{nil, err}
			return
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		ep, err := accept(conn)
		conn.SetDeadline(time.Time{})
		accepted <- result{ep, err}
	}()
	return finishPipe(ln.Addr().String(), dial, func() (Endpoint, error) {
		select {
		case r := <-accepted:
			return r.ep, r.err
		case <-time.After(10 * time.Second):
			return nil, errors.New("libs: the server did not accept in time")
		}
	}, func() { ln.Close() })
}

func finishPipe(addr string, dial func(string) (Endpoint, error), accepted func() (Endpoint, error), closeServer func()) (Endpoint, Endpoint, func(), error) {
	client, err := dial(addr)
	if err != nil {
		closeServer()
		return nil, nil, nil, err
	}
	server, err := accepted()
	if err != nil {
		client.Close()
		closeServer()
		return nil, nil, nil, err
	}
	stop := func() {
		client.Close()
		server.Close()
		closeServer()
	}
	return client, server, stop, nil
}

// pullEndpoint adapts a library with a blocking read of the next message.
type pullEndpoint struct {
	write func(p []byte) error
	read  func() error
	close func() error
}

func (e *pullEndpoint) Write(p []byte) error { return e.write(p) }
func (e *pullEndpoint) Close() error         { return e.close() }

func (e *pullEndpoint) ReadN(n int, start func()) error {
	start()
	for range n {
		if err := e.read(); err != nil {
			return err
		}
	}
	return nil
}
