package ftpcore

import (
	"net"
	"syscall"
)

const urgentSupported = true

// readUrgent reads the urgent byte pending on tcp (recv with MSG_OOB).
func readUrgent(tcp *net.TCPConn) (byte, error) {
	rc, err := tcp.SyscallConn()
	if err != nil {
		return 0, err
	}
	var b [1]byte
	var rerr error
	err = rc.Control(func(fd uintptr) {
		_, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_OOB)
	})
	if err != nil {
		return 0, err
	}
	return b[0], rerr
}
