package ftpcore

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// sockopts reads the keepalive options of the control connection.
func sockopts(t *testing.T, c *Conn) (on, idle, intvl int) {
	t.Helper()
	tcp, ok := c.nc.(*net.TCPConn)
	if !ok {
		t.Fatalf("control connection is a %T", c.nc)
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var errs [3]error
	err = rc.Control(func(fd uintptr) {
		on, errs[0] = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		idle, errs[1] = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		intvl, errs[2] = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)
	})
	for _, e := range append(errs[:], err) {
		if e != nil {
			t.Fatal(e)
		}
	}
	return on, idle, intvl
}

func TestKeepAlive(t *testing.T) {
	tests := []struct {
		name      string
		keepAlive time.Duration
		dialer    *net.Dialer
		wantOn    bool
		wantSecs  int
	}{
		{name: "default", wantOn: true, wantSecs: 30},
		{name: "set", keepAlive: 7 * time.Second, wantOn: true, wantSecs: 7},
		{name: "disabled", keepAlive: -1},
		// The caller's Dialer is used, and keeps its own settings.
		{name: "with a Dialer", keepAlive: 9 * time.Second, dialer: &net.Dialer{KeepAlive: -1}, wantOn: true, wantSecs: 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t)
			c := dialTest(t, s, func(c *Config) {
				c.KeepAlive = tt.keepAlive
				c.Dialer = tt.dialer
			})
			on, idle, intvl := sockopts(t, c)
			if (on != 0) != tt.wantOn {
				t.Fatalf("SO_KEEPALIVE = %d, want on: %v", on, tt.wantOn)
			}
			if tt.wantOn && (idle != tt.wantSecs || intvl != tt.wantSecs) {
				t.Errorf("TCP_KEEPIDLE = %d, TCP_KEEPINTVL = %d, want %d", idle, intvl, tt.wantSecs)
			}
			if tt.dialer != nil && tt.dialer.KeepAlive != -1 {
				t.Errorf("the caller's Dialer was changed: KeepAlive = %v", tt.dialer.KeepAlive)
			}
		})
	}
}
