package ftpcore

import (
	"context"
	"fmt"
	"time"
)

// Two commands whose replies do not decide whether the second is sent
// (SIZE and MDTM of one file; REST and the transfer it positions) go out
// in one write, and their replies are read in order: one round trip
// instead of two. RFC 959 servers read commands one line at a time from
// the control connection, so this is invisible to them; Config has
// DisablePipelining for any that is not.

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
	c.wbuf = c.appendCommand(c.wbuf[:0], v1, a1)
	c.wbuf = c.appendCommand(c.wbuf, v2, a2)
	_, err = c.nc.Write(c.wbuf)
	if err != nil {
		err = fmt.Errorf("ftpcore: %s: %w", v1, err)
	}
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
			e := &Error{Cmd: r.verb, Code: r.rep.Code, Msg: r.rep.Msg()}
			c.poison(e)
			return nil, nil, e
		}
	}
	return r1, r2, nil
}
