package ftpcore

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// Test421 pins the one 421 rule: whichever command meets the 421, sent
// alone, as one of a pipelined pair or in a pipelined transfer start, and
// whether or not the server has closed the connection yet, the call
// returns that command's *Error 421 (a lost connection, so a pool retries
// a session whose first reply it is), nothing after the 421 is read, and
// the Conn is unusable.
func Test421(t *testing.T) {
	retr := func(ctx context.Context, c *Conn) error {
		tr, err := c.Retr(ctx, "/f", 4, -1)
		if err == nil {
			tr.Close()
		}
		return err
	}
	stat := func(ctx context.Context, c *Conn) error {
		_, err := c.Stat(ctx, "/f")
		return err
	}
	noop := func(ctx context.Context, c *Conn) error { return c.Noop(ctx) }
	for _, tc := range []struct {
		name        string
		call        func(context.Context, *Conn) error
		verb        string // the command that meets the 421
		wantReplies uint64
	}{
		{"command", noop, "NOOP", 1},
		{"pair, first", stat, "SIZE", 1},
		{"pair, second", stat, "MDTM", 2},
		{"pipelined start, EPSV", retr, "EPSV", 1},
		{"pipelined start, REST", retr, "REST", 2},
		{"pipelined start, RETR", retr, "RETR", 3},
	} {
		for _, closed := range []bool{true, false} {
			name := tc.name + ", left open"
			if closed {
				name = tc.name + ", closed"
			}
			t.Run(name, func(t *testing.T) {
				srv := ftptest.NewServer(t, noMLST)
				srv.PutFile("/f", []byte("0123456789"), time.Now())
				c := dialTest(t, srv)
				srv.Handle(tc.verb, func(sc *ftptest.Conn, _ string) {
					sc.Reply(421, "Timeout.")
					if closed {
						sc.Close()
					}
				})
				replies := c.Replies()
				err := tc.call(testCtx(t), c)
				var fe *Error
				if !errors.As(err, &fe) || fe.Code != StatusNotAvailable || fe.Cmd != tc.verb {
					t.Fatalf("error %v, want %s's *Error 421", err, tc.verb)
				}
				if !IsConnLost(err) || errors.Is(err, ErrUnusable) {
					t.Errorf("IsConnLost(%v) = %v, ErrUnusable %v; want a lost connection", err, IsConnLost(err), errors.Is(err, ErrUnusable))
				}
				if got := c.Replies() - replies; got != tc.wantReplies {
					t.Errorf("Replies grew by %d, want %d: nothing is read after the 421", got, tc.wantReplies)
				}
				if c.Usable() || c.Err() != err {
					t.Errorf("Usable %v, Err %v; want unusable for the 421 itself", c.Usable(), c.Err())
				}
				err = c.Noop(testCtx(t))
				if !errors.Is(err, ErrUnusable) || IsConnLost(err) {
					t.Errorf("Noop after the 421: %v, want ErrUnusable and not IsConnLost", err)
				}
			})
		}
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
