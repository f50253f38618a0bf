//go:build !linux

package ftpcore

import (
	"errors"
	"net"
)

// canPeek says waitReadable is not implemented here: Wait reads the first
// byte instead.
const canPeek = false

func waitReadable(*net.TCPConn) (bool, error) { return false, errors.ErrUnsupported }

func peekNow(*net.TCPConn) (bool, error) { return false, errors.ErrUnsupported }
