//go:build !linux

package ftpcore

import (
	"net"
	"time"
)

// recvIdle is not known here: WriteTo sees progress only between chunks.
func recvIdle(net.Conn) (time.Duration, bool) { return 0, false }
