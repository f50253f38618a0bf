package ftpcore

import (
	"net"
	"syscall"
	"time"
	"unsafe"
)

// recvIdle returns how long ago the kernel last received data on a TCP
// connection (TCP_INFO tcpi_last_data_recv, in milliseconds). Zero-window
// probes carry no new data, so a sender stalled by a reader that does not
// drain counts as idle.
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
	var errno syscall.Errno
	err = rc.Control(func(fd uintptr) {
		n := uint32(unsafe.Sizeof(info))
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&n)), 0)
	})
	if err != nil || errno != 0 {
		return 0, false
	}
	return time.Duration(info.Last_data_recv) * time.Millisecond, true
}
