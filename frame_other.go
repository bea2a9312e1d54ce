//go:build !unix

package websocket

import (
	"io"
	"syscall"
)

// rawConnOf returns nil: frameReader waits on sockets without reading only
// where syscall.Read takes a file descriptor (frame_unix.go).
func rawConnOf(io.Reader) syscall.RawConn { return nil }

// readReadyFD is never called, since rawConnOf returns nil.
func (fr *frameReader) readReadyFD(uintptr) bool { return true }
