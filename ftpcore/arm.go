package ftpcore

import (
	"context"
	"errors"
	"net"
	"time"
)

// Arming: the data connection of the next transfer, dialled while the
// session is idle.
//
// A transfer in passive mode needs a data connection, and its dial costs a
// round trip for the TCP handshake (two before the server's first byte
// arrives, as the server accepts only when the handshake is complete) on
// top of the one for the passive command, however the commands are
// pipelined. Arm does both ahead of time: it sends EPSV (or PASV), reads
// the reply and dials the port it names in the background. The server
// keeps its passive listener across other commands until a transfer
// command takes it (vsftpd, pure-ftpd and proftpd alike; the next EPSV
// would replace it), and the kernel completes the handshake into the
// listener's backlog before the server accepts. The next transfer then
// sends no passive command and dials nothing: REST and RETR (or STOR,
// LIST, ...) go out alone or in the write of the commands before them, and
// the server accepts the waiting connection and starts at once. On a warm
// session a download's first byte comes one round trip after its request.
//
// An armed connection is given up, and the transfer starts the usual way,
// when its dial failed, when it is older than armMaxAge (a middlebox may
// have forgotten a connection idle that long, and a transfer on it would
// stall rather than fail), when it has ended or holds bytes already (the
// server closed or misused its listener), or when the server answers the
// transfer command with 425 (it could not use it). Active mode and
// DisablePipelining never arm.

// armMaxAge is how long an armed data connection is used after its dial.
const armMaxAge = 15 * time.Second

// armedData is a data connection dialled ahead of the next transfer.
type armedData struct {
	done chan struct{} // closed when the dial has ended
	nc   net.Conn
	err  error
	at   time.Time
}

// Arm prepares the data connection of the next transfer: the passive
// command now (one round trip), its dial in the background. It does
// nothing on a Conn that is armed already, busy, unusable, in active mode
// or without pipelining. A refused or unreadable passive reply leaves the
// Conn usable and unarmed (EPSV refused as unknown: PASV next time, as in
// a transfer); an error is one that left the Conn unusable.
func (c *Conn) Arm(ctx context.Context) error {
	c.WaitArm()
	return c.arm(ctx)
}

// ArmAsync is Arm in the background, bounded by timeout: it returns at
// once. Until it ends, the Conn belongs to it: call WaitArm before any
// other use (Usable and Err excepted; Close, Quit, Arm and Armed wait by
// themselves). A session handed out again within the round trip of the
// passive reply is then no worse off than one that was never armed. A
// Conn the arming made unusable says so.
func (c *Conn) ArmAsync(timeout time.Duration) {
	c.WaitArm()
	if !c.canArm() {
		return
	}
	done := make(chan struct{})
	c.arming = done
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		c.arm(ctx)
		cancel()
	}()
}

// WaitArm waits for an ArmAsync under way to end.
func (c *Conn) WaitArm() {
	if ch := c.arming; ch != nil {
		<-ch
		c.arming = nil
	}
}

// canArm reports whether Arm has something to do.
func (c *Conn) canArm() bool {
	return c.armed == nil && !c.busy && !c.cfg.Active && c.pipelining() && c.Err() == nil
}

// arm is Arm once no ArmAsync is under way.
func (c *Conn) arm(ctx context.Context) error {
	if !c.canArm() {
		return nil
	}
	verb := c.passiveVerb()
	rep, err := c.roundTrip(ctx, verb, "")
	if err != nil {
		return err
	}
	host, port, err := c.passiveAddr(verb, rep)
	if err != nil {
		c.fallBackToPASV(verb, err)
		return nil
	}
	a := &armedData{done: make(chan struct{}), at: time.Now()}
	go func() {
		defer close(a.done)
		a.nc, a.err = c.dialData(context.Background(), host, port)
	}()
	c.armed = a
	return nil
}

// Armed reports whether the Conn holds a data connection for its next
// transfer (Arm), once its dial has ended.
func (c *Conn) Armed() bool {
	c.WaitArm()
	if c.armed == nil {
		return false
	}
	<-c.armed.done
	return c.armed.err == nil
}

// takeArmed returns the armed data connection, if there is one that can
// be used, and disarms the Conn either way.
func (c *Conn) takeArmed() net.Conn {
	a := c.armed
	if a == nil {
		return nil
	}
	c.armed = nil
	<-a.done
	if a.err != nil {
		return nil
	}
	if time.Since(a.at) > armMaxAge || !idleOpen(a.nc) {
		a.nc.Close()
		return nil
	}
	return a.nc
}

// disarm closes the armed data connection, if any.
func (c *Conn) disarm() {
	if nc := c.takeArmed(); nc != nil {
		nc.Close()
	}
}

// idleOpen reports whether nc, a data connection no transfer has used, is
// still open with nothing to read: not ended or reset by the server, and
// holding no bytes it should not have sent yet.
func idleOpen(nc net.Conn) bool {
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		return true
	}
	readable, err := peekNow(tcp)
	if errors.Is(err, errors.ErrUnsupported) {
		return true
	}
	return err == nil && !readable
}
