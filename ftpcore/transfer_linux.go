package ftpcore

import (
	"net"
	"os"
	"syscall"
)

// canPeek says waitReadable works here.
const canPeek = true

// waitReadable waits, under tcp's read deadline, until tcp has data to
// read, has reached its end (end), or has failed, and takes nothing from
// it: recv with MSG_PEEK of one byte says which (0 at the end), and the
// poller waits while it says EAGAIN. A pending error (a reset) is returned
// here, since recv reports it once and later reads would see an end of
// data.
func waitReadable(tcp *net.TCPConn) (end bool, err error) {
	rc, err := tcp.SyscallConn()
	if err != nil {
		return false, err
	}
	var b [1]byte
	var n int
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, _, perr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
			if perr != syscall.EINTR {
				return perr != syscall.EAGAIN
			}
		}
	})
	if err != nil {
		return false, err
	}
	if perr != nil {
		return false, os.NewSyscallError("recvfrom", perr)
	}
	return n == 0, nil
}

// peekNow reports whether tcp has something to read (data, its end or an
// error) at this moment, without waiting and without taking it.
func peekNow(tcp *net.TCPConn) (readable bool, err error) {
	rc, err := tcp.SyscallConn()
	if err != nil {
		return false, err
	}
	var b [1]byte
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			_, _, perr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if perr != syscall.EINTR {
				return true
			}
		}
	})
	if err != nil {
		return false, err
	}
	if perr == syscall.EAGAIN {
		return false, nil
	}
	return true, nil
}
