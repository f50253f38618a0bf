//go:build !linux

package api

import "net"

// canWatchSends says whether sendProgress can report anything.
const canWatchSends = false

// peerGone reports that the kernel cannot tell.
func peerGone(*net.TCPConn) bool { return false }

// sendProgress reports that the kernel cannot tell: the client writer falls
// back to a deadline per write.
func sendProgress(*net.TCPConn) (acked uint64, waiting, ok bool) { return 0, false, false }
