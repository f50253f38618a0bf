package ftpcore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Commands whose replies do not decide whether the next one is sent go out
// in one write, and their replies are read in order: SIZE and MDTM (or
// MLST and SIZE) of one file; EPSV (or PASV), REST and the transfer
// command; and the NOOP that proves the control connection in step after
// a transfer ended early, which waits for the next command rather than
// costing a round trip of its own. RFC 959 servers read commands one line
// at a time from the control connection, so this is invisible to them;
// Config has DisablePipelining for any that is not.

// pipelining reports whether commands may be sent ahead of replies.
func (c *Conn) pipelining() bool { return !c.cfg.DisablePipelining }

// exchangePair sends "v1 a1" and "v2 a2" in one write and reads both
// replies, within one command timeout. A failure poisons the Conn, as in
// exchange; so does a 421 to either, which is returned as an *Error.
func (c *Conn) exchangePair(ctx context.Context, v1, a1, v2, a2 string) (r1, r2 *Reply, err error) {
	if err := c.Err(); err != nil {
		return nil, nil, fmt.Errorf("ftpcore: %s: %w: %w", v1, ErrUnusable, err)
	}
	if c.busy {
		return nil, nil, fmt.Errorf("ftpcore: %s: %w", v1, ErrBusy)
	}
	for _, a := range [...][2]string{{v1, a1}, {v2, a2}} {
		if err := checkArg(a[1]); err != nil {
			return nil, nil, fmt.Errorf("ftpcore: %s: %w", a[0], err)
		}
	}
	stop := c.watch(ctx, c.nc)
	c.nc.SetDeadline(time.Now().Add(c.cfg.CommandTimeout))
	b, owed := c.startLines()
	b = c.appendCommand(b, v1, a1)
	b = c.appendCommand(b, v2, a2)
	err = c.writeLines(b, owed, v1)
	if err == nil {
		r1, err = c.readReply(v1)
	}
	if err == nil && r1.Code != StatusNotAvailable {
		r2, err = c.readReply(v2)
	}
	if stop() || ctx.Err() != nil {
		err = fmt.Errorf("ftpcore: %s: %w", v1, ctx.Err())
		c.poison(err)
		return nil, nil, err
	}
	if err != nil {
		c.poison(err)
		return nil, nil, err
	}
	for _, r := range [...]struct {
		verb string
		rep  *Reply
	}{{v1, r1}, {v2, r2}} {
		if r.rep != nil && r.rep.Code == StatusNotAvailable {
			e := unexpected(r.verb, r.rep)
			c.poison(e)
			return nil, nil, e
		}
	}
	return r1, r2, nil
}

// startLines returns the write buffer, emptied, holding the owed NOOP
// first if an early end left one owed (Transfer.endEarly); owed says so.
func (c *Conn) startLines() (b []byte, owed bool) {
	if !c.owed {
		return c.wbuf[:0], false
	}
	return c.appendCommand(c.wbuf[:0], "NOOP", ""), true
}

// writeLines writes the command lines b (from startLines and
// appendCommand) in one write, and then, if b starts with the owed NOOP,
// reads its reply (settle). verb names the first command for errors.
func (c *Conn) writeLines(b []byte, owed bool, verb string) error {
	c.wbuf = b
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("ftpcore: %s: %w", verb, err)
	}
	if owed {
		return c.settle()
	}
	return nil
}

// settle reads the reply to the owed NOOP, sent ahead of the command that
// follows: it must be 200, which no transfer reply is, so it proves that
// nothing of the transfer that ended early is still in flight. A 421 is
// returned as an *Error, any other reply as a ProtocolError; the caller
// poisons the Conn. A 200 is not counted in Replies: it answers no command
// of the caller's, and the pool must still see a session that fails right
// after it as failing before any reply.
func (c *Conn) settle() error {
	c.owed = false
	rep, err := c.readReply("NOOP")
	if err != nil {
		return err
	}
	switch rep.Code {
	case StatusCommandOK:
		c.replies--
		return nil
	case StatusNotAvailable:
		return unexpected("NOOP", rep)
	}
	return &ProtocolError{Cmd: "NOOP", Msg: fmt.Sprintf("reply %d where NOOP's 200 was due after a transfer ended early: control connection out of step", rep.Code)}
}

// startPipelined is startTransfer in passive mode with pipelining: EPSV
// (or PASV), REST when offset > 0, and "verb arg" go out in one write. The
// data connection is dialled as soon as the passive reply names the port,
// while the server reads REST and the transfer command and waits for it;
// the start takes one round trip instead of two or three.
//
// Sending the transfer command before the passive reply is known has two
// costs, both rare. When the data connection cannot be dialled, the
// server is left waiting for it with the command already taken, so the
// Conn is poisoned rather than kept (unpipelined, it would stay usable).
// When EPSV is refused as unknown (500, 502), the replies to REST and the
// transfer command are read and the start is made again with PASV, the
// unpipelined way, as it is for the rest of the session.
func (c *Conn) startPipelined(ctx context.Context, verb, arg string, offset int64) (net.Conn, *Reply, error) {
	if err := c.Err(); err != nil {
		return nil, nil, fmt.Errorf("ftpcore: %s: %w: %w", verb, ErrUnusable, err)
	}
	if c.busy {
		return nil, nil, fmt.Errorf("ftpcore: %s: %w", verb, ErrBusy)
	}
	pasv := c.passiveVerb()
	stop := c.watch(ctx, c.nc)
	c.nc.SetDeadline(time.Now().Add(c.cfg.CommandTimeout))
	b, owed := c.startLines()
	b = c.appendCommand(b, pasv, "")
	if offset > 0 {
		b = c.appendCommand(b, "REST", itoa(offset))
	}
	b = c.appendCommand(b, verb, arg)
	err := c.writeLines(b, owed, pasv)

	var prep, rest, rep *Reply
	var data net.Conn
	var pasvErr, dialErr error // the passive reply was a refusal; the dial failed
	if err == nil {
		prep, err = c.readReply(pasv)
	}
	if err == nil {
		var host string
		var port int
		host, port, pasvErr = c.passiveAddr(pasv, prep)
		var pe *ProtocolError
		switch {
		case errors.As(pasvErr, &pe):
			err = pasvErr // a 229 or 227 we cannot read: out of step
		case pasvErr == nil:
			data, dialErr = c.dialData(ctx, host, port)
			if dialErr != nil && (IsTimeout(dialErr) || ctx.Err() != nil) {
				// The server may be waiting for this connection, with the
				// transfer command taken: nothing to read for now.
				err = dialErr
			}
		}
	}
	// A refused dial is normal here: a server that refuses the transfer
	// command (no such file) may close its passive listener before the
	// dial arrives. The replies tell.
	if err == nil && offset > 0 {
		rest, err = c.readReply("REST")
	}
	if err == nil {
		rep, err = c.readReply(verb)
	}
	if stop() || ctx.Err() != nil {
		err = fmt.Errorf("ftpcore: %s: %w", verb, ctx.Err())
	}
	if err == nil {
		for _, r := range [...]*Reply{prep, rest, rep} {
			if r != nil && r.Code == StatusNotAvailable {
				err = unexpected(verb, r)
			}
		}
	}
	if err == nil && data == nil && rep.Class() <= 2 {
		// The server started (or finished) a transfer on a data
		// connection we do not have: its replies can no longer be told
		// apart from the next command's.
		err = &ProtocolError{Cmd: verb, Msg: fmt.Sprintf("reply %d without a data connection (%v)", rep.Code, errors.Join(pasvErr, dialErr))}
	}
	if err != nil {
		if data != nil {
			data.Close()
		}
		c.poison(err)
		return nil, nil, err
	}
	pending := &pendingData{nc: data}
	switch {
	case pasvErr != nil:
		var fe *Error
		if errors.As(pasvErr, &fe) && fe.Code >= 500 && pasv == "EPSV" && !c.ipv6() {
			// RFC 2428 §3: a server that does not know EPSV says 500/502.
			c.noEPSV = true
			return c.startSequential(ctx, verb, arg, offset)
		}
		return nil, nil, pasvErr
	case rest != nil && rest.Code != StatusRequestFilePending:
		pending.Close()
		return nil, nil, c.restRefused(rest, rep)
	case dialErr != nil:
		// The transfer command failed too (see above); its reply says why.
		return nil, nil, fmt.Errorf("%w (%w)", unexpected(verb, rep), dialErr)
	}
	return c.transferStarted(ctx, pending, verb, rep)
}

// dialData connects to a passive data port within DataConnTimeout.
func (c *Conn) dialData(ctx context.Context, host string, port int) (net.Conn, error) {
	d := c.cfg.dataDialer() // keepalive.go
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DataConnTimeout)
	defer cancel()
	nc, err := d.DialContext(dctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("ftpcore: data connection: %w", err)
	}
	return nc, nil
}
