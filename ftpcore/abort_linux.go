package ftpcore

import (
	"net"
	"syscall"
)

// sendUrgent sends b on tcp with MSG_OOB: the kernel marks its last byte as
// urgent (the TCP urgent pointer), which is how BSD ftp sends the IAC of
// the Telnet Synch before ABOR. b is a few bytes on an otherwise idle
// control connection, so it goes out whole.
func sendUrgent(tcp *net.TCPConn, b []byte) error {
	rc, err := tcp.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		serr = syscall.Sendto(int(fd), b, syscall.MSG_OOB, nil)
		return serr != syscall.EAGAIN
	})
	if err != nil {
		return err
	}
	return serr
}
