//go:build unix

package websocket

import (
	"io"
	"net"
	"os"
	"syscall"
)

// rawConnOf returns the syscall.RawConn of a plain TCP or Unix socket, which
// frameReader can wait on without reading; nil for any other transport.
func rawConnOf(src io.Reader) syscall.RawConn {
	var rc syscall.RawConn
	var err error
	switch c := src.(type) {
	case *net.TCPConn:
		rc, err = c.SyscallConn()
	case *net.UnixConn:
		rc, err = c.SyscallConn()
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	return rc
}

// readReadyFD is what RawConn.Read calls for frameReader.readReady, first at
// once and then each time the socket turns readable. It reads into a large
// buffer from the pool, which becomes the reader's buffer, and gives the
// buffer back when nothing came, so that no goroutine waits holding one. It
// reports false to be called again once data arrives, as the net package's
// own reads do on EAGAIN.
func (fr *frameReader) readReadyFD(fd uintptr) bool {
	p := largeBuffers.Get().(*[]byte)
	n, err := syscall.Read(int(fd), *p)
	for err == syscall.EINTR {
		n, err = syscall.Read(int(fd), *p)
	}
	switch {
	case err == syscall.EAGAIN:
		largeBuffers.Put(p)
		return false
	case err != nil:
		largeBuffers.Put(p)
		fr.err = os.NewSyscallError("read", err)
	case n == 0:
		largeBuffers.Put(p)
		fr.err = io.EOF
	default:
		fr.buf, fr.pooled, fr.r, fr.w = *p, p, 0, n
	}
	return true
}
