package ftpcore

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Starting a transfer: the data connection is prepared (passive.go,
// active.go), the transfer command is sent, and after its preliminary
// reply the data connection is completed (accepted, secured). In passive
// mode with pipelining, the passive command, REST and the transfer command
// go out in one write (startPipelined); otherwise each waits for the reply
// to the one before, REST and the transfer command excepted
// (startSequential).

// startTransfer opens a data connection, sends REST when offset > 0, sends
// verb with arg, and waits for the preliminary reply. On success the Conn is
// busy until the caller's transfer is closed.
func (c *Conn) startTransfer(ctx context.Context, verb, arg string, offset int64) (net.Conn, *Reply, error) {
	if err := checkArg(verb, arg); err != nil {
		return nil, nil, fmt.Errorf("ftpcore: %s: %w", verb, err)
	}
	if !c.cfg.Active && c.pipelining() {
		return c.startPipelined(ctx, verb, arg, offset)
	}
	return c.startSequential(ctx, verb, arg, offset)
}

// startSequential is startTransfer with the data connection prepared
// first (active mode, or pipelining off); REST and the transfer command
// still go out together unless pipelining is off.
func (c *Conn) startSequential(ctx context.Context, verb, arg string, offset int64) (net.Conn, *Reply, error) {
	pending, err := c.prepareData(ctx)
	if err != nil {
		return nil, nil, err
	}
	var rep *Reply
	switch {
	case offset > 0 && c.pipelining():
		rest, r, err := c.exchangePair(ctx, "REST", itoa(offset), verb, arg)
		if err != nil {
			pending.Close()
			return nil, nil, err
		}
		if rest.Code != StatusRequestFilePending {
			pending.Close()
			return nil, nil, c.restRefused(rest, r)
		}
		rep = r
	case offset > 0:
		if _, err := c.expect(ctx, "REST", itoa(offset), StatusRequestFilePending); err != nil {
			pending.Close()
			return nil, nil, err
		}
		fallthrough
	default:
		var err error
		rep, err = c.roundTrip(ctx, verb, arg)
		if err != nil {
			pending.Close()
			return nil, nil, err
		}
	}
	return c.transferStarted(ctx, pending, verb, rep)
}

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
//
// On an armed Conn (arm.go) the passive command is not sent: the armed
// data connection is the transfer's, and a 425 (the server could not use
// it) starts the transfer again the usual way.
func (c *Conn) startPipelined(ctx context.Context, verb, arg string, offset int64) (net.Conn, *Reply, error) {
	armed := c.takeArmed()
	var buf [3]cmd
	cmds, pasv := c.appendStart(buf[:0], armed, verb, arg, offset)
	k, err := c.begin(ctx, verb, c.cfg.CommandTimeout, cmds...)
	if err != nil {
		if armed != nil {
			armed.Close()
		}
		return nil, nil, err
	}
	err = c.send(cmds...)
	var p pipelinedStart
	if err == nil {
		p, err = c.readPipelined(ctx, pasv, verb, offset > 0, armed)
	}
	if err := k.end(err); err != nil {
		if p.data != nil {
			p.data.Close()
		} else if armed != nil {
			armed.Close()
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
	case armed != nil && p.rep.Code == StatusCannotOpenData:
		pending.Close()
		return c.startPipelined(ctx, verb, arg, offset)
	case p.dialErr != nil:
		// The transfer command failed too (see readPipelined); its reply
		// says why.
		return nil, nil, fmt.Errorf("%w (%w)", unexpected(verb, p.rep), p.dialErr)
	}
	return c.transferStarted(ctx, pending, verb, p.rep)
}

// appendStart appends to cmds the commands of a pipelined start of "verb
// arg" from offset: the passive command, unless armed is the armed data
// connection; REST when offset > 0; the transfer command. pasv is the
// passive command appended, "" for none.
func (c *Conn) appendStart(cmds []cmd, armed net.Conn, verb, arg string, offset int64) (_ []cmd, pasv string) {
	if armed == nil {
		pasv = c.passiveVerb()
		cmds = append(cmds, cmd{pasv, ""})
	}
	if offset > 0 {
		cmds = append(cmds, cmd{"REST", itoa(offset)})
	}
	return append(cmds, cmd{verb, arg}), pasv
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
//
// With pasv "", no passive command was sent: armed, the armed data
// connection (arm.go), is the data connection.
func (c *Conn) readPipelined(ctx context.Context, pasv, verb string, rest bool, armed net.Conn) (p pipelinedStart, err error) {
	if pasv == "" {
		p.data = armed
		return c.readTransferReplies(p, verb, rest)
	}
	prep, err := c.read(pasv)
	if err != nil {
		return p, err
	}
	switch host, port, err := c.passiveAddr(pasv, prep); {
	case err == nil:
		p.data, p.dialErr = c.dialData(ctx, host, port)
		if p.dialErr != nil && (IsTimeout(p.dialErr) || ctx.Err() != nil) {
			// The server may be waiting for this connection, with the
			// transfer command taken: nothing to read for now.
			return p, p.dialErr
		}
	case errors.As(err, new(*ProtocolError)):
		return p, err // a 229 or 227 we cannot read: out of step
	default:
		p.pasvErr = err
	}
	// A refused dial is normal here: a server that refuses the transfer
	// command (no such file) may close its passive listener before the
	// dial arrives. The replies tell.
	return c.readTransferReplies(p, verb, rest)
}

// readTransferReplies reads the replies to REST (if rest) and the
// transfer command verb of a pipelined start into p.
func (c *Conn) readTransferReplies(p pipelinedStart, verb string, rest bool) (_ pipelinedStart, err error) {
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
		perr := &ProtocolError{Cmd: verb, Msg: fmt.Sprintf("reply %d without a data connection", p.rep.Code)}
		if p.dialErr != nil {
			return p, fmt.Errorf("%w (%w)", perr, p.dialErr)
		}
		return p, fmt.Errorf("%w (%w)", perr, p.pasvErr)
	}
	return p, nil
}

// restRefused returns REST's refusal, sent together with the transfer
// command whose reply is rep. If the server started the transfer anyway,
// from the beginning, its final reply is still to come: the Conn is
// poisoned.
func (c *Conn) restRefused(rest, rep *Reply) error {
	err := unexpected("REST", rest)
	if rep.Class() == 1 {
		c.poison(err)
	}
	return err
}

// transferStarted completes the data connection after the reply rep to the
// transfer command verb: a 1yz starts the transfer, a 2yz says it is
// already over (an empty one), anything else is the command's failure.
func (c *Conn) transferStarted(ctx context.Context, pending *pendingData, verb string, rep *Reply) (net.Conn, *Reply, error) {
	switch rep.Class() {
	case 1:
		// Accept (active mode) and TLS handshake come only now: servers
		// connect and start TLS once they have answered the command.
		data, err := c.completeData(ctx, pending, verb)
		if err != nil {
			return nil, nil, err
		}
		c.busy = true
		return data, rep, nil
	case 2:
		// Some servers answer an empty transfer with the final reply at
		// once. The data connection then carries nothing.
		c.busy = true
		return emptyData(pending), rep, nil
	}
	pending.Close()
	return nil, nil, unexpected(verb, rep)
}

// pendingData is a data connection on its way: dialled (passive mode) or
// listened for (active mode), not yet accepted or secured. The transfer
// command goes out in between.
type pendingData struct {
	nc net.Conn         // passive: the connection dialled
	ln *net.TCPListener // active: where the server is to connect
}

func (p *pendingData) Close() {
	if p.nc != nil {
		p.nc.Close()
	}
	if p.ln != nil {
		p.ln.Close()
	}
}

// prepareData opens the data connection's first half before the transfer
// command: EPSV/PASV and the dial in passive mode, the listener and
// EPRT/PORT in active mode.
func (c *Conn) prepareData(ctx context.Context) (*pendingData, error) {
	if c.cfg.Active {
		ln, err := c.activeListen(ctx)
		if err != nil {
			return nil, err
		}
		return &pendingData{ln: ln}, nil
	}
	nc, err := c.openData(ctx)
	if err != nil {
		return nil, err
	}
	return &pendingData{nc: nc}, nil
}

// completeData finishes the data connection after a 1xx reply to verb:
// accepts the server's connection in active mode, then runs the TLS
// handshake under PROT P. When that fails the server is left waiting on a
// data connection that will not come; its final reply is read, so that
// the Conn stays usable when the server says the transfer failed.
func (c *Conn) completeData(ctx context.Context, p *pendingData, verb string) (net.Conn, error) {
	nc := p.nc
	var err error
	if p.ln != nil {
		nc, err = c.acceptActive(ctx, p.ln)
	}
	if err == nil {
		nc, err = c.secureData(ctx, nc)
	}
	if err == nil {
		return nc, nil
	}
	p.Close()
	if ctx.Err() != nil {
		err = fmt.Errorf("ftpcore: %s: data connection: %w", verb, ctx.Err())
		c.poison(err)
		return nil, err
	}
	rep, rerr := c.readFinal(ctx, verb, c.cfg.CommandTimeout)
	if rerr != nil {
		return nil, fmt.Errorf("ftpcore: %s: %w: %w (then: %w)", verb, ErrDataConn, err, rerr)
	}
	switch rep.Class() {
	case 2:
		// The server thinks it is done; what it sent is lost, but the
		// session is in step.
		return nil, fmt.Errorf("ftpcore: %s: %w: %w", verb, ErrDataConn, err)
	case 4, 5:
		return nil, fmt.Errorf("ftpcore: %s: %w: %w: %w", verb, ErrDataConn, err,
			unexpected(verb, rep))
	}
	perr := &ProtocolError{Cmd: verb, Msg: fmt.Sprintf("unexpected final reply %d", rep.Code)}
	c.poison(perr)
	return nil, fmt.Errorf("ftpcore: %s: %w: %w (then: %w)", verb, ErrDataConn, err, perr)
}

// emptyData stands for the data connection of a transfer the server
// completed with its first reply: it reads as an immediate end of file.
func emptyData(p *pendingData) net.Conn {
	if p.nc != nil {
		return p.nc
	}
	p.Close()
	nc, peer := net.Pipe()
	peer.Close()
	return nc
}
