//go:build !linux

package api

import "net"

// canWatchSends says whether sendProgress can report anything.
const canWatchSends = false

// sendProgress reports that the kernel cannot tell: the client writer falls
// back to a deadline per write.
func sendProgress(*net.TCPConn) (acked uint64, waiting, ok bool) { return 0, false, false }
