package ftpcore

import (
	"errors"
	"io"
	"slices"
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

// TestStatSizeWinsOverMLST: proftpd answers MLST of a symbolic link with
// type=file and the link's own size; the size that counts is what SIZE
// (and so RETR) says.
func TestStatSizeWinsOverMLST(t *testing.T) {
	srv := ftptest.NewServer(t)
	srv.PutFile("/link.bin", make([]byte, 5000), time.Now())
	srv.Handle("MLST", func(c *ftptest.Conn, arg string) {
		c.ReplyLines(250, "Start of list for "+arg, " modify=20261124061610;perm=adfrw;size=10;type=file;UNIX.mode=0777; "+arg, "End of list")
	})
	c := dialTest(t, srv)
	e, err := c.Stat(testCtx(t), "/link.bin")
	if err != nil || e.Type != EntryFile || e.Size != 5000 {
		t.Fatalf("Stat = %+v, %v; want a file of 5000 bytes", e, err)
	}
	c2 := dialTest(t, srv, func(c *Config) { c.DisablePipelining = true })
	if e, err := c2.Stat(testCtx(t), "/link.bin"); err != nil || e.Size != 5000 {
		t.Fatalf("unpipelined Stat = %+v, %v; want SIZE's 5000", e, err)
	}
}

// earlyClose reads n bytes of /f from offset 0 on c and closes the
// transfer early, which leaves the NOOP proof owed.
func earlyClose(t *testing.T, c *Conn, n int64) {
	t.Helper()
	tr, err := c.Retr(testCtx(t), "/f", 0, n)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(tr); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestOwedNoop: after an early close the NOOP proof goes out in the same
// write as the next command, and its 200 is read first; it is not counted
// in Replies, so the pool still tells a session that fails at once.
func TestOwedNoop(t *testing.T) {
	srv := ftptest.NewServer(t)
	srv.PutFile("/f", testData(4<<20), time.Now())
	c := dialTest(t, srv)
	earlyClose(t, c, 1000)
	before, replies := len(srv.Commands()), c.Replies()
	if n, err := c.Size(testCtx(t), "/f"); err != nil || n != 4<<20 {
		t.Fatalf("Size = %d, %v", n, err)
	}
	if cmds := srv.Commands()[before:]; len(cmds) != 2 || cmds[0] != "NOOP" || cmds[1] != "SIZE /f" {
		t.Errorf("server saw %q, want NOOP then SIZE", cmds)
	}
	if got := c.Replies() - replies; got != 1 {
		t.Errorf("Replies grew by %d, want 1 (SIZE's)", got)
	}
	// Nothing is owed any more.
	before = len(srv.Commands())
	if err := c.Noop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if cmds := srv.Commands()[before:]; len(cmds) != 1 {
		t.Errorf("server saw %q, want one NOOP", cmds)
	}
}

// TestOwedNoopOutOfStep: a server that sends one reply more than it should
// after a transfer ended early is found out by the owed NOOP: the next
// command fails with a ProtocolError (not a lost connection, which the
// pool would retry: the command did reach a live server) and the Conn is
// given up. A 421 there is the server going away, as for any command.
func TestOwedNoopOutOfStep(t *testing.T) {
	for _, tc := range []struct {
		name     string
		handle   func(*ftptest.Server)
		wantLost bool
		wantCode int
	}{
		{"stray reply", func(srv *ftptest.Server) {
			srv.Handle("RETR", func(sc *ftptest.Conn, arg string) {
				sc.Reply(150, "Opening data connection.")
				dc, err := sc.AcceptData()
				if err != nil {
					sc.Reply(425, "no data connection")
					return
				}
				dc.Write(testData(4 << 20))
				dc.Close()
				sc.Reply(426, "Failure writing network stream.")
				sc.Reply(226, "Transfer complete.") // one too many
			})
		}, false, 0},
		{"421", func(srv *ftptest.Server) {
			srv.Handle("NOOP", func(sc *ftptest.Conn, arg string) {
				sc.Reply(421, "Timeout.")
				sc.Close()
			})
		}, true, 421},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := ftptest.NewServer(t)
			srv.PutFile("/f", testData(4<<20), time.Now())
			tc.handle(srv)
			c := dialTest(t, srv)
			earlyClose(t, c, 1000)
			_, err := c.Size(testCtx(t), "/f")
			var pe *ProtocolError
			if tc.wantCode != 0 && ReplyCode(err) != tc.wantCode || tc.wantCode == 0 && !errors.As(err, &pe) {
				t.Fatalf("Size after the early close: %v; want code %d or a ProtocolError", err, tc.wantCode)
			}
			if IsConnLost(err) != tc.wantLost {
				t.Errorf("IsConnLost(%v) = %v, want %v", err, !tc.wantLost, tc.wantLost)
			}
			if c.Usable() {
				t.Error("Conn still usable")
			}
		})
	}
}

// TestPipelinedEPSVRefused: EPSV, REST and RETR go out together; a server
// that does not know EPSV answers the three with errors, and the transfer
// starts again with PASV, which the session keeps using.
func TestPipelinedEPSVRefused(t *testing.T) {
	srv := ftptest.NewServer(t)
	srv.PutFile("/f", []byte("0123456789"), time.Now())
	srv.Handle("EPSV", func(sc *ftptest.Conn, arg string) { sc.Reply(500, "Unknown command.") })
	c := dialTest(t, srv)
	for i := range 2 {
		before := len(srv.Commands())
		tr, err := c.Retr(testCtx(t), "/f", 4, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		if err != nil || string(b) != "456789" {
			t.Fatalf("read %q, %v", b, err)
		}
		cmds := srv.Commands()[before:]
		want := []string{"EPSV", "REST 4", "RETR /f", "PASV", "REST 4", "RETR /f"}
		if i == 1 {
			want = want[3:] // EPSV is not tried again
		}
		if !slices.Equal(cmds, want) {
			t.Errorf("transfer %d: server saw %q, want %q", i, cmds, want)
		}
	}
}
