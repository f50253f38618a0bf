package ftpcore

import (
	"net"
	"syscall"
	"time"
	"unsafe"
)

// recvIdle returns how long a TCP connection has been idle on its sender's
// part: how long ago the kernel last received data (TCP_INFO
// tcpi_last_data_recv, in milliseconds), or zero while received data waits
// unread (SIOCINQ) or the sender has closed its side. Zero-window probes
// carry no new data, so a sender stalled by a reader that does not drain
// would count as idle; but when the reader is this process, held back by
// whoever it writes to (a slow HTTP client), the unread data, or the
// sender's end of data, says the sender is not the one at fault.
// tcpCloseWait is the TCP state after the peer's FIN (include/net/tcp_states.h).
const tcpCloseWait = 8

func recvIdle(nc net.Conn) (time.Duration, bool) {
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		return 0, false
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info syscall.TCPInfo
	var unread int32
	var errno, ioErrno syscall.Errno
	err = rc.Control(func(fd uintptr) {
		_, _, ioErrno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&unread)))
		n := uint32(unsafe.Sizeof(info))
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&n)), 0)
	})
	if err != nil || errno != 0 {
		return 0, false
	}
	// Data waits unread, or the server has sent all it will (its FIN is
	// in: CLOSE_WAIT).
	if (ioErrno == 0 && unread > 0) || info.State == tcpCloseWait {
		return 0, true
	}
	return time.Duration(info.Last_data_recv) * time.Millisecond, true
}
