package ftpcore

import (
	"context"
	"fmt"
	"net"
)

// LocateRetr is Locate (with lstat) and Retr of path in one: the passive
// command, REST when offset > 0 and RETR go out in the write that carries
// Locate's commands, so that a download whose look at the file decides
// nothing the transfer needs (a plain GET, a range given by its start)
// has its data connection dialled as soon as the replies to the look
// arrive: the first byte comes one round trip sooner than with Locate
// then Retr. The look and the transfer see the file at the same moment,
// as they would one round trip apart.
//
// The transfer is speculative: the caller judges loc and then either
// reads the Transfer (Limit first, where the look decides the length) or
// gives it up with Discard, which ends it early (abort.go) and leaves the
// Conn usable as Close of any Transfer ended early does. It is nil when the server did
// not start it (a directory, a missing or unreadable file: the look says
// why), when the look needs a second round trip (STAT did not describe the
// path, which Locate then lists, with the transfer first aborted), and
// where the start cannot be pipelined (active mode, pipelining off): then
// LocateRetr is Locate, and the caller starts the transfer itself. err is
// Locate's: a path not found comes with the Location filled in as far as
// the server told, and a nil Transfer.
func (c *Conn) LocateRetr(ctx context.Context, path string, dirs []string, offset, length int64) (loc Location, t *Transfer, err error) {
	if c.cfg.Active || !c.pipelining() || offset < 0 || checkArg("RETR", path) != nil {
		loc, err = c.Locate(ctx, path, true, dirs...)
		return loc, nil, err
	}
	pl := c.planLocate(path, true, dirs)
	n := len(pl.cmds)
	armed := c.takeArmed()
	cmds, pasv := c.appendStart(pl.cmds[:n:n], armed, "RETR", path, offset)
	k, err := c.begin(ctx, "RETR", c.cfg.CommandTimeout, cmds...)
	if err != nil {
		if armed != nil {
			armed.Close()
		}
		return Location{}, nil, err
	}
	err = c.send(cmds...)
	reps := make([]*Reply, n)
	for i := 0; err == nil && i < n; i++ {
		if pl.cmds[i].verb == "STAT" {
			reps[i], err = c.readKeep("STAT", pl.keep)
		} else {
			reps[i], err = c.read(pl.cmds[i].verb)
		}
	}
	var p pipelinedStart
	if err == nil {
		p, err = c.readPipelined(ctx, pasv, "RETR", offset > 0, armed)
	}
	if err := k.end(err); err != nil {
		if p.data != nil {
			p.data.Close()
		} else if armed != nil {
			armed.Close()
		}
		return Location{}, nil, err
	}
	t, err = c.speculativeStart(ctx, pasv, p, offset, length)
	if err != nil {
		return Location{}, nil, err
	}
	loc, lerr, list := pl.read(c, reps)
	if list || !c.Usable() {
		if t != nil {
			if err := t.Discard(); err != nil && !c.Usable() {
				return Location{}, nil, err
			}
			t = nil
		}
		if list {
			loc, lerr = c.listSelf(ctx, pl, loc, lerr)
		}
	}
	return loc, t, lerr
}

// speculativeStart completes the start of LocateRetr's transfer from the
// replies p read. A start the server refused is no error here (the look
// says what is at the path); nil, nil then. An error is one that leaves
// the Conn unusable.
func (c *Conn) speculativeStart(ctx context.Context, pasv string, p pipelinedStart, offset, length int64) (*Transfer, error) {
	pending := &pendingData{nc: p.data}
	switch {
	case c.fallBackToPASV(pasv, p.pasvErr):
		// EPSV is unknown: from now on the session uses PASV, and this
		// transfer is started the caller's way.
		return nil, nil
	case p.pasvErr != nil, p.dialErr != nil, p.rep.Class() > 2:
		pending.Close()
		return nil, nil
	case p.rest != nil && p.rest.Code != StatusRequestFilePending:
		pending.Close()
		if err := c.restRefused(p.rest, p.rep); !c.Usable() {
			return nil, err
		}
		return nil, nil
	}
	data, rep, err := c.transferStarted(ctx, pending, "RETR", p.rep)
	if err != nil {
		if !c.Usable() {
			return nil, err
		}
		return nil, nil
	}
	return c.newRetr(ctx, data, rep, offset, length), nil
}

// newRetr is the Transfer of a RETR from offset started on data with the
// preliminary (or final) reply rep.
func (c *Conn) newRetr(ctx context.Context, data net.Conn, rep *Reply, offset, length int64) *Transfer {
	t := &Transfer{c: c, ctx: ctx, verb: "RETR", data: data, limit: length, offset: offset}
	t.tcp, _ = data.(*net.TCPConn)
	if rep.Class() == 2 {
		t.done = rep
	} else {
		a := &t.announced
		a.n, a.slack, a.ok = announcedSize(rep)
	}
	t.stop = watchData(ctx, data)
	return t
}

// Limit caps what the Transfer yields at n bytes from its start (n < 0:
// to the end of the file), as Retr's length does: for a transfer started
// before the length was known (LocateRetr). It must be called before the
// first Read or WriteTo.
func (t *Transfer) Limit(n int64) error {
	if t.n > 0 || t.held || t.eof || t.closed {
		return fmt.Errorf("ftpcore: Limit after the transfer has begun to be read")
	}
	t.limit = n
	return nil
}

// Discard ends a transfer of which nothing was read: it waits for the data
// to begin (Wait), then closes it, as cut short where the data goes on.
// Closing at once could reset the data connection before the server's
// first write: pure-ftpd then sends no final reply at all, and the Conn
// would be lost to the AbortTimeout (measured on pure-ftpd 1.0.50 with a
// speculative RETR of a 7-byte file, about one close in three).
func (t *Transfer) Discard() error {
	t.Wait()
	return t.Close()
}
