//go:build linux || darwin

package main

import (
	"fmt"
	"syscall"
)

// raiseFileLimit makes sure the process may open need descriptors: it raises
// the soft limit, and the hard one too where the process is allowed to.
func raiseFileLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("reading RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur >= need {
		return nil
	}
	want := syscall.Rlimit{Cur: need, Max: max(lim.Max, need)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
		return nil
	}
	if lim.Max >= need {
		lim.Cur = need
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
			return nil
		}
	}
	return fmt.Errorf("need %d file descriptors, RLIMIT_NOFILE allows %d (hard limit %d) and cannot be raised: use fewer -conns or raise it with ulimit -n", need, lim.Cur, lim.Max)
}
