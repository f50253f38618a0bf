package ftpcore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
)

// startPipelined is startTransfer in passive mode with pipelining: EPSV
// (or PASV), REST when offset > 0, and "verb arg" go out in one write. The
// data connection is dialled as soon as the passive reply names the port,
// while the server reads REST and the transfer command and waits for it;
// the start takes one round trip instead of two or three.
//
// Sending the transfer command before the passive reply is known has two
// costs, both rare. When the dial of the data connection times out, the
// server may be left waiting for it with the command already taken, so
// the Conn is poisoned rather than kept (unpipelined, it would stay
// usable). When EPSV is refused as unknown (fallBackToPASV), the replies
// to REST and the transfer command are read and the start is made again
// with PASV, the unpipelined way, as it is for the rest of the session.
func (c *Conn) startPipelined(ctx context.Context, verb, arg string, offset int64) (net.Conn, *Reply, error) {
	pasv := c.passiveVerb()
	var buf [3]cmd
	cmds := append(buf[:0], cmd{pasv, ""})
	if offset > 0 {
		cmds = append(cmds, cmd{"REST", itoa(offset)})
	}
	cmds = append(cmds, cmd{verb, arg})
	k, err := c.begin(ctx, verb, c.cfg.CommandTimeout, cmds...)
	if err != nil {
		return nil, nil, err
	}
	err = c.send(cmds...)
	var p pipelinedStart
	if err == nil {
		p, err = c.readPipelined(ctx, pasv, verb, offset > 0)
	}
	if err := k.end(err); err != nil {
		if p.data != nil {
			p.data.Close()
		}
		return nil, nil, err
	}
	pending := &pendingData{nc: p.data}
	switch {
	case c.fallBackToPASV(pasv, p.pasvErr):
		return c.startSequential(ctx, verb, arg, offset)
	case p.pasvErr != nil:
		return nil, nil, p.pasvErr
	case p.rest != nil && p.rest.Code != StatusRequestFilePending:
		pending.Close()
		return nil, nil, c.restRefused(p.rest, p.rep)
	case p.dialErr != nil:
		// The transfer command failed too (see readPipelined); its reply
		// says why.
		return nil, nil, fmt.Errorf("%w (%w)", unexpected(verb, p.rep), p.dialErr)
	}
	return c.transferStarted(ctx, pending, verb, p.rep)
}

// pipelinedStart is what the replies to a pipelined start brought: the
// data connection, the replies to REST (if sent) and to the transfer
// command, and why there is no data connection: the passive command was
// refused (pasvErr) or the dial failed (dialErr).
type pipelinedStart struct {
	data             net.Conn
	rest, rep        *Reply
	pasvErr, dialErr error
}

// readPipelined reads the replies to a pipelined start, dialling the data
// connection as soon as the reply to pasv names its port. An error leaves
// the Conn's state unknown; a refused passive command or dial does not,
// as the replies that follow tell what the server made of the rest.
func (c *Conn) readPipelined(ctx context.Context, pasv, verb string, rest bool) (p pipelinedStart, err error) {
	prep, err := c.read(pasv)
	if err != nil {
		return p, err
	}
	host, port, err := c.passiveAddr(pasv, prep)
	var pe *ProtocolError
	switch {
	case errors.As(err, &pe):
		return p, err // a 229 or 227 we cannot read: out of step
	case err != nil:
		p.pasvErr = err
	default:
		p.data, p.dialErr = c.dialData(ctx, host, port)
		if p.dialErr != nil && (IsTimeout(p.dialErr) || ctx.Err() != nil) {
			// The server may be waiting for this connection, with the
			// transfer command taken: nothing to read for now.
			return p, p.dialErr
		}
	}
	// A refused dial is normal here: a server that refuses the transfer
	// command (no such file) may close its passive listener before the
	// dial arrives. The replies tell.
	if rest {
		if p.rest, err = c.read("REST"); err != nil {
			return p, err
		}
	}
	if p.rep, err = c.read(verb); err != nil {
		return p, err
	}
	if p.data == nil && p.rep.Class() <= 2 {
		// The server started (or finished) a transfer on a data
		// connection we do not have: its replies can no longer be told
		// apart from the next command's.
		return p, &ProtocolError{Cmd: verb, Msg: fmt.Sprintf("reply %d without a data connection (%v)", p.rep.Code, errors.Join(p.pasvErr, p.dialErr))}
	}
	return p, nil
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
