package ftpcore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Commands on the control connection go through three primitives, kept
// apart as net/textproto keeps Cmd, ReadResponse and Pipeline: begin
// holds the control connection for one call (the guard: usable, not busy,
// arguments clean, ctx watched, a deadline), send writes one or more
// commands in one write, and read reads one reply. exchange, exchangePair
// and startPipelined (datastart.go) are sequences of the three.
//
// Commands whose replies do not decide whether the next one is sent go out
// in one write, and their replies are read in order: SIZE and MDTM (or
// MLST and SIZE) of one file; EPSV (or PASV), REST and the transfer
// command; and the NOOP that proves the control connection in step after
// a transfer ended early, which waits for the next command rather than
// costing a round trip of its own. RFC 959 servers read commands one line
// at a time from the control connection, so this is invisible to them;
// Config has DisablePipelining for any that is not.
//
// A 421 reply, to any command, is RFC 959's "service not available,
// closing control connection": the server is going away, whether or not
// its close has arrived yet. read returns it as the *Error of the command
// it answered, counted in Replies, and nothing after it is read; the
// call's end poisons the Conn with that *Error. Every caller sees the same
// error whichever command met the 421, alone, pipelined or owed:
// IsConnLost recognises it, and the pool takes it, when it is the first
// reply of an operation, for a stale session and retries on a fresh one.
// Later calls fail fast with ErrUnusable, which IsConnLost does not
// recognise.

// pipelining reports whether commands may be sent ahead of replies.
func (c *Conn) pipelining() bool { return !c.cfg.DisablePipelining }

// cmd is one command line: the verb and its argument, "" for none.
type cmd struct{ verb, arg string }

// call is one use of the control connection, from begin to end.
type call struct {
	c    *Conn
	ctx  context.Context
	name string // the caller's command, for errors
	stop func() bool
}

// begin starts a call named for the caller's command, bounded by timeout
// and ctx. It fails fast, sending nothing and leaving the Conn as it is,
// when the Conn is unusable or busy or an argument of cmds (the commands
// the call will send) holds CR, LF or NUL or makes its line too long. A
// call begun must be ended.
func (c *Conn) begin(ctx context.Context, name string, timeout time.Duration, cmds ...cmd) (call, error) {
	name = orGreeting(name)
	if err := c.Err(); err != nil {
		return call{}, fmt.Errorf("ftpcore: %s: %w: %w", name, ErrUnusable, err)
	}
	if c.busy {
		return call{}, fmt.Errorf("ftpcore: %s: %w", name, ErrBusy)
	}
	for _, cm := range cmds {
		if err := checkArg(cm.verb, cm.arg); err != nil {
			return call{}, fmt.Errorf("ftpcore: %s: %w", cm.verb, err)
		}
	}
	stop := c.watch(ctx, c.nc)
	c.nc.SetDeadline(time.Now().Add(timeout))
	return call{c: c, ctx: ctx, name: name, stop: stop}, nil
}

// end ends the call whose I/O failed with err, or nil. If ctx ended
// meanwhile, the call failed because of it, whatever err says. A call
// that failed leaves the Conn's state unknown: the Conn is poisoned.
func (k call) end(err error) error {
	if k.stop() || k.ctx.Err() != nil {
		err = fmt.Errorf("ftpcore: %s: %w", k.name, k.ctx.Err())
	}
	if err != nil {
		k.c.poison(err)
	}
	return err
}

// watch arranges for ctx's end to interrupt any blocked I/O on the given
// connections and to poison c. The returned stop must be called when the
// call ends; it reports whether ctx ended while it was being watched.
func (c *Conn) watch(ctx context.Context, conns ...net.Conn) (stop func() bool) {
	if ctx.Done() == nil {
		return func() bool { return false }
	}
	s := context.AfterFunc(ctx, func() {
		// Deadlines first: poison closes the control connection, and a
		// server that sees that may close the data connection, which a
		// blocked read must not take for a clean end of file.
		for _, nc := range conns {
			nc.SetDeadline(aLongTimeAgo)
		}
		c.poison(ctx.Err())
	})
	return func() bool { return !s() }
}

var aLongTimeAgo = time.Unix(1, 0)

// send writes cmds in one write, checked by begin. A NOOP owed since a
// transfer ended early (abort.go) goes first in the same write, and its
// reply is read at once (settle), ahead of theirs.
func (c *Conn) send(cmds ...cmd) error {
	b, owed := c.wbuf[:0], c.owed
	if owed {
		b = c.appendCommand(b, "NOOP", "")
	}
	for _, cm := range cmds {
		b = c.appendCommand(b, cm.verb, cm.arg)
	}
	c.wbuf = b
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("ftpcore: %s: %w", cmds[0].verb, err)
	}
	if owed {
		return c.settle()
	}
	return nil
}

// appendCommand appends the command line "verb arg\r\n" to b, counts and
// traces it. The argument has been checked by the caller.
func (c *Conn) appendCommand(b []byte, verb, arg string) []byte {
	start := len(b)
	b = append(b, verb...)
	if arg != "" {
		b = append(b, ' ')
		b = append(b, arg...)
	}
	b = append(b, '\r', '\n')
	c.commands++
	if c.log != nil {
		line := string(b[start : len(b)-2])
		if verb == "PASS" || verb == "ACCT" {
			line = verb + " ****"
		}
		c.log.Debug("ftp send", "addr", c.cfg.Addr, "line", line)
	}
	return b
}

// read reads one reply, to verb ("" for the greeting), within the call's
// deadline, and counts it in Replies. A 421 is returned as verb's *Error.
func (c *Conn) read(verb string) (*Reply, error) { return c.readKeep(verb, nil) }

// readKeep is read for a reply of which only the middle lines keep accepts
// are wanted (all of them when keep is nil): the reply may then run to
// Config.MaxListing bytes, as a STAT of a directory does.
func (c *Conn) readKeep(verb string, keep func([]byte) bool) (*Reply, error) {
	var rep *Reply
	var err error
	if keep == nil {
		rep, err = readReply(c.br, c.cfg.MaxReplySize)
	} else {
		rep, err = readReplyKeep(c.br, c.cfg.MaxReplySize, c.cfg.MaxListing, keep)
	}
	if err != nil {
		var pe *ProtocolError
		if errors.As(err, &pe) {
			pe.Cmd = verb
			return nil, pe
		}
		return nil, fmt.Errorf("ftpcore: %s: reading reply: %w", orGreeting(verb), err)
	}
	c.replies++
	if c.cfg.OnReply != nil {
		c.cfg.OnReply(orGreeting(verb), rep.Code)
	}
	if c.log != nil {
		c.log.Debug("ftp recv", "addr", c.cfg.Addr, "code", rep.Code, "text", rep.Msg())
	}
	if rep.Code == StatusNotAvailable {
		return nil, unexpected(orGreeting(verb), rep)
	}
	return rep, nil
}

// settle reads the reply to the owed NOOP, sent ahead of the command that
// follows: it must be 200, which no transfer reply is, so it proves that
// nothing of the transfer that ended early is still in flight. Any other
// reply is a ProtocolError (a 421 an *Error, as always), and the caller's
// call poisons the Conn. A 200 is not counted in Replies: it answers no
// command of the caller's, and the pool must still see a session that
// fails right after it as failing before any reply.
func (c *Conn) settle() error {
	c.owed = false
	rep, err := c.read("NOOP")
	if err != nil {
		return err
	}
	if rep.Code == StatusCommandOK {
		c.replies--
		return nil
	}
	return &ProtocolError{Cmd: "NOOP", Msg: fmt.Sprintf("reply %d where NOOP's 200 was due after a transfer ended early: control connection out of step", rep.Code)}
}

func orGreeting(verb string) string {
	if verb == "" {
		return "greeting"
	}
	return verb
}

// exchange sends "verb arg" and reads one reply, whatever its code,
// within timeout; with send false it only reads the reply to verb (the
// greeting for ""). Any failure other than a rejected argument, and a 421,
// poisons the Conn.
func (c *Conn) exchange(ctx context.Context, verb, arg string, send bool, timeout time.Duration) (*Reply, error) {
	cmds := []cmd{{verb, arg}}
	if !send {
		cmds = nil
	}
	k, err := c.begin(ctx, verb, timeout, cmds...)
	if err != nil {
		return nil, err
	}
	if send {
		err = c.send(cmds...)
	}
	var rep *Reply
	if err == nil {
		rep, err = c.read(verb)
	}
	if err := k.end(err); err != nil {
		return nil, err
	}
	return rep, nil
}

// roundTrip sends "verb arg" and reads one reply, whatever its code,
// within the command timeout.
func (c *Conn) roundTrip(ctx context.Context, verb, arg string) (*Reply, error) {
	return c.exchange(ctx, verb, arg, true, c.cfg.CommandTimeout)
}

// readFinal reads the final reply of a transfer started with verb, waiting
// up to timeout.
func (c *Conn) readFinal(ctx context.Context, verb string, timeout time.Duration) (*Reply, error) {
	c.busy = false
	return c.exchange(ctx, verb, "", false, timeout)
}

// expect runs a command and returns its reply if the code is one of codes,
// an *Error otherwise.
func (c *Conn) expect(ctx context.Context, verb, arg string, codes ...int) (*Reply, error) {
	rep, err := c.roundTrip(ctx, verb, arg)
	if err != nil {
		return nil, err
	}
	for _, code := range codes {
		if rep.Code == code {
			return rep, nil
		}
	}
	return rep, unexpected(verb, rep)
}

// exchangePair sends "v1 a1" and "v2 a2" in one write and reads both
// replies, within one command timeout. A failure poisons the Conn, as in
// exchange, and so does a 421 to either.
func (c *Conn) exchangePair(ctx context.Context, v1, a1, v2, a2 string) (r1, r2 *Reply, err error) {
	cmds := [...]cmd{{v1, a1}, {v2, a2}}
	k, err := c.begin(ctx, v1, c.cfg.CommandTimeout, cmds[:]...)
	if err != nil {
		return nil, nil, err
	}
	err = c.send(cmds[:]...)
	if err == nil {
		r1, err = c.read(v1)
	}
	if err == nil {
		r2, err = c.read(v2)
	}
	if err := k.end(err); err != nil {
		return nil, nil, err
	}
	return r1, r2, nil
}

// exchangeAll sends cmds and reads one reply to each, in order, whatever
// their codes: all in one write within one command timeout when pipelining
// is on, otherwise one command at a time, each within its own. Every
// argument is checked before anything is sent, so that a rejected one
// cannot stop the sequence half-way (a CWD out without the CWD back). The
// replies to STAT keep only the middle lines keep accepts (readKeep). A
// failure poisons the Conn, as in exchange, and so does a 421 to any
// command.
func (c *Conn) exchangeAll(ctx context.Context, cmds []cmd, keep func([]byte) bool) ([]*Reply, error) {
	readOne := func(verb string) (*Reply, error) {
		if verb == "STAT" {
			return c.readKeep(verb, keep)
		}
		return c.read(verb)
	}
	reps := make([]*Reply, 0, len(cmds))
	if !c.pipelining() {
		for _, cm := range cmds {
			if err := checkArg(cm.verb, cm.arg); err != nil {
				return nil, fmt.Errorf("ftpcore: %s: %w", cm.verb, err)
			}
		}
		for _, cm := range cmds {
			k, err := c.begin(ctx, cm.verb, c.cfg.CommandTimeout, cm)
			if err != nil {
				return nil, err
			}
			var rep *Reply
			if err = c.send(cm); err == nil {
				rep, err = readOne(cm.verb)
			}
			if err := k.end(err); err != nil {
				return nil, err
			}
			reps = append(reps, rep)
		}
		return reps, nil
	}
	k, err := c.begin(ctx, cmds[0].verb, c.cfg.CommandTimeout, cmds...)
	if err != nil {
		return nil, err
	}
	err = c.send(cmds...)
	for i := 0; err == nil && i < len(cmds); i++ {
		var rep *Reply
		if rep, err = readOne(cmds[i].verb); err == nil {
			reps = append(reps, rep)
		}
	}
	if err := k.end(err); err != nil {
		return nil, err
	}
	return reps, nil
}
