package realftpd

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRestart: a restart ends the sessions open before it, as a crash does,
// and the server answers on the same address afterwards with the same
// files.
func TestRestart(t *testing.T) {
	for _, kind := range Matrix {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := Start(t, kind)
			s.WriteFile(t, "kept.txt", []byte("kept\n"))
			old := dial(t, s)
			old.login()
			addr := s.Addr

			s.Restart(t)
			if s.Addr != addr {
				t.Errorf("Addr after Restart = %q, want %q", s.Addr, addr)
			}
			old.c.SetDeadline(time.Now().Add(5 * time.Second))
			old.send("NOOP")
			if _, err := old.r.ReadString('\n'); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("the session opened before the restart read %v, want it closed", err)
			}

			c := dial(t, s)
			c.login()
			if pwd := c.cmd(257, "PWD"); !strings.HasPrefix(pwd, strconv.Quote(s.LoginPath)) {
				t.Errorf("PWD after the restart = %s, want %q", pwd, s.LoginPath)
			}
			c.cmd(200, "TYPE I") // proftpd refuses SIZE in ASCII mode
			if size := c.cmd(213, "SIZE kept.txt"); size != "5" {
				t.Errorf("SIZE kept.txt after the restart = %q, want 5", size)
			}
		})
	}
}

// TestKillRevive: between Kill and Revive the server is down, its address
// refusing connections; after Revive it answers there with the same files.
func TestKillRevive(t *testing.T) {
	for _, kind := range Matrix {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := Start(t, kind)
			s.WriteFile(t, "kept.txt", []byte("kept\n"))

			s.Kill(t)
			if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
				c.Close()
				t.Fatalf("dialled %s after Kill, want it refused", s.Addr)
			}
			s.Revive(t)
			c := dial(t, s)
			c.login()
			c.cmd(200, "TYPE I")
			if size := c.cmd(213, "SIZE kept.txt"); size != "5" {
				t.Errorf("SIZE kept.txt after Revive = %q, want 5", size)
			}
		})
	}
}
