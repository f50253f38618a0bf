package ftpcore

import (
	"io"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// TestPipelinedRestRefused: REST and RETR go out together, so a server
// that refuses the offset still runs the RETR. If that starts a transfer
// from the beginning, its final reply is still to come and the session is
// given up; if the RETR fails too, the session is in step and kept.
func TestPipelinedRestRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		path       string
		wantUsable bool
	}{
		{"transfer started anyway", "/f", false},
		{"transfer refused too", "/missing", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := ftptest.NewServer(t)
			srv.PutFile("/f", []byte("0123456789"), time.Now())
			srv.Handle("REST", func(c *ftptest.Conn, arg string) { c.Reply(502, "REST not implemented") })
			c := dialTest(t, srv)
			_, err := c.Retr(testCtx(t), tc.path, 5, -1)
			if ReplyCode(err) != 502 {
				t.Fatalf("Retr: %v, want REST's 502", err)
			}
			if c.Usable() != tc.wantUsable {
				t.Fatalf("Usable() = %v, want %v (%v)", c.Usable(), tc.wantUsable, c.Err())
			}
			if tc.wantUsable {
				if err := c.Noop(testCtx(t)); err != nil {
					t.Fatalf("NOOP after: %v", err)
				}
			}
		})
	}
}

// TestPipelinedRestRetr: with and without pipelining, REST+RETR gives the
// same bytes, and the server sees the same commands in the same order.
func TestPipelinedRestRetr(t *testing.T) {
	for _, off := range []bool{false, true} {
		srv := ftptest.NewServer(t)
		srv.PutFile("/f", []byte("0123456789"), time.Now())
		c := dialTest(t, srv, func(c *Config) { c.DisablePipelining = off })
		before := len(srv.Commands())
		tr, err := c.Retr(testCtx(t), "/f", 4, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil || string(b) != "456789" {
			t.Fatalf("pipelining off=%v: read %q, %v", off, b, err)
		}
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		cmds := srv.Commands()[before:]
		if len(cmds) != 3 || cmds[1] != "REST 4" || cmds[2] != "RETR /f" {
			t.Errorf("pipelining off=%v: server saw %q", off, cmds)
		}
	}
}
