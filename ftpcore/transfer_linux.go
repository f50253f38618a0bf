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
	n, perr, err := peek(tcp, true)
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
	_, perr, err := peek(tcp, false)
	if err != nil {
		return false, err
	}
	return perr != syscall.EAGAIN, nil
}

// peek looks at tcp's next byte with recv(MSG_PEEK), taking nothing: n is
// recv's count (0 at the end) and perr its error (EAGAIN: nothing yet).
// With wait the poller waits, under the read deadline, while there is
// nothing; without, it is one look (the socket does not block). err is
// the poller's.
func peek(tcp *net.TCPConn, wait bool) (n int, perr, err error) {
	rc, err := tcp.SyscallConn()
	if err != nil {
		return 0, nil, err
	}
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, _, perr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
			if perr != syscall.EINTR {
				return !wait || perr != syscall.EAGAIN
			}
		}
	})
	return n, perr, err
}
