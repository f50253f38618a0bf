//go:build !linux

package ftpcore

import (
	"errors"
	"net"
)

const urgentSupported = false

func readUrgent(*net.TCPConn) (byte, error) { return 0, errors.New("not supported") }
