//go:build !linux

package ftpcore

import "net"

// sendUrgent is not implemented here: ABOR goes without the Telnet Synch.
func sendUrgent(*net.TCPConn, []byte) error { return errNoUrgent }
