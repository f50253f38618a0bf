package api

import (
	"net"

	"golang.org/x/sys/unix"
)

// canWatchSends says whether sendProgress can report anything.
const canWatchSends = true

// peerGone reports whether the connection is no longer established: its
// peer reset or closed it. A splice from an FTP data connection to a client
// fails the same way whichever end broke; this tells the client's. A
// descriptor that cannot be asked is taken as gone.
func peerGone(conn *net.TCPConn) bool {
	info, ok := tcpInfo(conn)
	return !ok || info.State != unix.BPF_TCP_ESTABLISHED
}

// tcpInfo reads the connection's TCP_INFO.
func tcpInfo(conn *net.TCPConn) (*unix.TCPInfo, bool) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, false
	}
	var info *unix.TCPInfo
	var serr error
	if err := rc.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || serr != nil {
		return nil, false
	}
	return info, true
}

// sendProgress reads TCP_INFO: the bytes the peer has acknowledged
// (tcpi_bytes_acked, which zero-window probes do not move) and whether
// bytes are waiting for it, sent but unacknowledged or not yet sent
// (tcpi_unacked, tcpi_notsent_bytes).
func sendProgress(conn *net.TCPConn) (acked uint64, waiting, ok bool) {
	info, ok := tcpInfo(conn)
	if !ok {
		return 0, false, false
	}
	return info.Bytes_acked, info.Unacked > 0 || info.Notsent_bytes > 0, true
}
