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
	return connSockopts(t, c.nc)
}

// connSockopts reads the keepalive options of a TCP connection.
func connSockopts(t *testing.T, nc net.Conn) (on, idle, intvl int) {
	t.Helper()
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		t.Fatalf("connection is a %T", nc)
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

// TestDataConnNoKeepAlive: a passive data connection, which lives for one
// transfer, is dialled without TCP keepalive.
func TestDataConnNoKeepAlive(t *testing.T) {
	s := ftptest.NewServer(t)
	s.PutFile("/f", testData(1<<20), time.Now())
	c := dialTest(t, s)
	tr, err := c.Retr(testCtx(t), "/f", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if on, _, _ := connSockopts(t, tr.DataConn()); on != 0 {
		t.Errorf("data connection: SO_KEEPALIVE = %d, want 0", on)
	}
	if on, _, _ := sockopts(t, c); on == 0 {
		t.Error("control connection: SO_KEEPALIVE = 0, want on")
	}
}
