package ftpcore

import (
	"context"
	"errors"
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
