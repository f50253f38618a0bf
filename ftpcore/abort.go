package ftpcore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Ending a transfer before its end.
//
// The data connection is always reset first (RST, never FIN, and under TLS
// no close_notify), so that the server can never take a transfer the
// client gave up for a complete one. What follows on the control
// connection depends on why the transfer ends, and was chosen by measuring
// vsftpd 3.0.3, pure-ftpd 1.0.50 and proftpd 1.3.8 (the realftpd matrix):
//
//   - Cancelled download (the caller's ctx ended): ABOR, sent as RFC 959
//     §4.1.3 describes (Telnet IP, then Synch, then "ABOR"), then the
//     replies, then NOOP, which must be answered 200.
//   - Download closed early (a range is satisfied, the data failed or
//     stalled): the final reply, then NOOP (ahead of the next command,
//     see below). No ABOR.
//   - Upload cut short (cancelled, Abort, a failed write): the final
//     reply only. Every server answers a reset upload with exactly one
//     reply (vsftpd "426 Failure reading network stream.", proftpd "426
//     Transfer aborted. Data connection closed", pure-ftpd "451-Error
//     during read from data connection"), while an ABOR on top adds a
//     second reply whose order differs (proftpd sends its "226 Abort
//     successful" before the 426) or that never comes (pure-ftpd).
//
// What the servers send after a download's data connection is reset and
// ABOR is sent, exactly:
//
//	vsftpd    426 Failure writing network stream.  225 No transfer to ABOR.
//	          (transfer already complete: 226 Transfer complete.  225 No transfer to ABOR.)
//	proftpd   426 Transfer aborted. Data connection closed  226 Abort successful
//	          (transfer already complete: 226 Transfer complete  226 Abort successful)
//	pure-ftpd 150 0.001 seconds (measured here), 2209.85 Mbytes per second
//	          and nothing for the ABOR; when the ABOR arrives before the
//	          reset is noticed: 426 ABORT  226-Transfer aborted (2 lines);
//	          transfer already complete: 226-File successfully transferred
//	          and nothing for the ABOR
//
// vsftpd (without async_abor_enable, its default) and proftpd do not act
// on ABOR while they are blocked writing to a data connection the client
// no longer reads, so the reset is what stops them; pure-ftpd answers an
// ABOR carrying the Telnet bytes only while its transfer loop runs, and
// ignores it otherwise (a plain "ABOR" when idle gets "226 Since you see
// this ABOR must've succeeded"); a middlebox that strips TCP urgent data
// turns the Telnet bytes into a line vsftpd and proftpd answer with 500.
// So neither the number of replies nor their order is fixed, and "426
// then 225/226" cannot be the only accepted shape. After the first reply
// (sent once the server has left its transfer loop, so a NOOP that follows
// is read as a command and not rejected as one arriving mid-transfer, as
// pure-ftpd does with "500 Unknown command") NOOP is sent, and the replies
// before its 200 may only be transfer or ABOR replies (225, 226, 250, 4yz,
// 5yz), at most maxStrays of them. No transfer or ABOR reply is 200, so
// the 200 proves that nothing is left in flight. Anything else, or no
// 200 within AbortTimeout, leaves the state unknown: the Conn is poisoned.
//
// Early close of a download, measured over 30 closes per case through a
// proxy adding 10 ms each way on the control connection (RTT 20 ms; on
// loopback without it all variants take 0.1-0.4 ms and differ by less
// than the noise), median time from the reset to a Conn known in step:
//
//	                          vsftpd    proftpd   pure-ftpd
//	reset, final, NOOP        31.3 ms   31.4 ms   31.6 ms
//	reset+ABOR, replies, NOOP 31.5 ms   31.7 ms   31.8 ms
//
// ABOR buys nothing there: the NOOP is needed either way (pure-ftpd's
// final reply to a reset download has code 150, after which only a NOOP
// can tell whether more is coming), and ABOR adds a reply to read. Without
// the NOOP it would take 10.5 ms, but nothing would prove the control
// connection in step. So the NOOP is not sent at once: with pipelining it
// goes out in the same write as the Conn's next command, and its 200 is
// read before that command's reply (exchange.go). The early end then
// costs the final reply only, and the proof no round trip at all; a Conn
// found out of step then fails that next command instead.

// maxStrays bounds the transfer and ABOR replies accepted before the
// NOOP's 200 after an ABOR: the transfer's own reply and the ABOR's, one
// of which came first.
const maxStrays = 2

// Telnet commands (RFC 854) that RFC 959 §4.1.3 has a client send before
// ABOR: Interrupt Process, then the Synch (IAC as TCP urgent data, then
// Data Mark).
const (
	telnetIAC = 0xFF
	telnetIP  = 0xF4
	telnetDM  = 0xF2
)

// errNoUrgent says this platform cannot send TCP urgent data: ABOR goes
// without the Telnet sequence.
var errNoUrgent = errors.New("TCP urgent data not supported")

// watchData arranges for ctx's end to interrupt I/O on a data connection
// at once, leaving the control connection alone: the transfer's Close
// ends the transfer on it, with a timeout of its own. stop reports whether
// ctx ended while watched.
func watchData(ctx context.Context, data net.Conn) (stop func() bool) {
	if ctx.Done() == nil {
		return func() bool { return false }
	}
	s := context.AfterFunc(ctx, func() { data.SetDeadline(aLongTimeAgo) })
	return func() bool { return !s() }
}

// sendABOR sends ABOR the way RFC 959 §4.1.3 and the BSD ftp client do on
// a TCP control connection: "IAC IP IAC" with the last IAC as urgent data
// (the Synch's urgent notification), then "DM ABOR\r\n" in band. On a TLS
// control connection (or where urgent data cannot be sent) it is a plain
// "ABOR\r\n": Telnet bytes inside TLS would reach the server's command
// parser as garbage, and the urgent flag cannot cross TLS.
func (c *Conn) sendABOR() error {
	c.commands++
	tcp, isTCP := c.nc.(*net.TCPConn)
	urgent := false
	var err error
	if isTCP {
		err = sendUrgent(tcp, []byte{telnetIAC, telnetIP, telnetIAC})
		urgent = err == nil
		if errors.Is(err, errNoUrgent) {
			err = nil
		}
	}
	if c.log != nil {
		c.log.Debug("ftp send", "addr", c.cfg.Addr, "line", "ABOR", "telnet_synch", urgent)
	}
	if err == nil {
		if urgent {
			_, err = c.nc.Write([]byte{telnetDM, 'A', 'B', 'O', 'R', '\r', '\n'})
		} else {
			_, err = c.nc.Write([]byte("ABOR\r\n"))
		}
	}
	if err != nil {
		return fmt.Errorf("ftpcore: ABOR: %w", err)
	}
	return nil
}

// abortTransfer ends a download the caller cancelled, whose data
// connection has been reset and whose final reply has not been read: ABOR,
// the replies, and the NOOP proof, all before deadline.
func (c *Conn) abortTransfer(verb string, deadline time.Time) error {
	k, err := c.begin(context.Background(), "ABOR", time.Until(deadline))
	if err != nil {
		return err
	}
	if err := k.end(c.sendABOR()); err != nil {
		return err
	}
	if _, err := c.finalReply(verb, deadline); err != nil {
		return err
	}
	return c.proveInStep(verb, deadline, maxStrays)
}

// finalReply reads the reply that ends a transfer cut short, before
// deadline. Any code but a 3yz is accepted: 2yz if the server had sent
// everything, 4yz or 5yz for the failed transfer, and 1yz because
// pure-ftpd ends a reset download with one ("150 0.001 seconds (measured
// here), ..."); the caller proves with NOOP that nothing else is in
// flight. A 3yz (more input wanted) leaves the state unknown.
func (c *Conn) finalReply(verb string, deadline time.Time) (*Reply, error) {
	rep, err := c.readUntil(verb, deadline)
	if err != nil {
		return nil, err
	}
	if rep.Class() == 3 {
		err := &ProtocolError{Cmd: verb, Msg: fmt.Sprintf("unexpected final reply %d", rep.Code)}
		c.poison(err)
		return nil, err
	}
	return rep, nil
}

// proveInStep sends NOOP and reads replies until its 200, before
// deadline. Up to strays replies before it are accepted when they can only
// be late transfer or ABOR replies (225, 226, 250, 4yz, 5yz). Otherwise the
// Conn is poisoned.
func (c *Conn) proveInStep(verb string, deadline time.Time, strays int) error {
	rep, err := c.exchange(context.Background(), "NOOP", "", true, time.Until(deadline))
	for i := 0; err == nil && rep.Code != StatusCommandOK; i++ {
		if i >= strays || !strayReply(rep.Code) {
			err := &ProtocolError{Cmd: verb, Msg: fmt.Sprintf("reply %d where NOOP's 200 was due after the transfer ended early: control connection out of step", rep.Code)}
			c.poison(err)
			return err
		}
		rep, err = c.readUntil("NOOP", deadline)
	}
	return err
}

// owe arranges the NOOP proof after an early end that read the final
// reply: with pipelining it goes out with the next command, whose caller
// is answered only after its 200 (exchange.go, settle), and the early end
// costs no round trip of its own; without, it is proveInStep now.
func (c *Conn) owe(verb string, deadline time.Time) error {
	if !c.pipelining() {
		return c.proveInStep(verb, deadline, 0)
	}
	c.owed = true
	return nil
}

// strayReply reports whether code can be a transfer's or an ABOR's reply
// arriving after the first one.
func strayReply(code int) bool {
	switch code {
	case StatusDataConnOpen, StatusClosingDataConn, StatusRequestedFileOK:
		return true
	}
	return code >= 400 && code < 600
}

// readUntil reads one reply before deadline; a failure poisons the Conn.
func (c *Conn) readUntil(verb string, deadline time.Time) (*Reply, error) {
	return c.exchange(context.Background(), verb, "", false, time.Until(deadline))
}

// endEarly ends, on the control connection, a download whose data
// connection has just been reset: with ABOR when the caller's ctx ended
// (cancelled), else with the final reply and NOOP. Every step is bounded by
// AbortTimeout from now. A cancelled transfer returns the ctx error (and
// why the Conn is unusable if the abort failed); an early close returns
// nil if the Conn is still usable, otherwise why not.
func (t *Transfer) endEarly(cancelled bool) error {
	c := t.c
	verb := t.verbName()
	c.busy = false
	deadline := time.Now().Add(c.cfg.AbortTimeout)
	var err error
	switch {
	case c.Err() != nil:
		err = fmt.Errorf("ftpcore: %s: %w: %w", verb, ErrUnusable, c.Err())
	case t.done != nil:
		// The server finished with its first reply; nothing to abort.
		err = c.owe(verb, deadline)
	case cancelled:
		err = c.abortTransfer(verb, deadline)
	default:
		if _, err = c.finalReply(verb, deadline); err == nil {
			err = c.owe(verb, deadline)
		}
	}
	if !cancelled {
		return err
	}
	if err != nil {
		return fmt.Errorf("ftpcore: %s: %w (abort: %w)", verb, t.ctx.Err(), err)
	}
	return fmt.Errorf("ftpcore: %s: %w", verb, t.ctx.Err())
}

// endCutShort ends, on the control connection, an upload whose data
// connection has just been reset, and returns the final reply, read within
// AbortTimeout. A 1yz there is not a final reply, so a NOOP proves the
// state before the Conn is trusted again.
func (u *Upload) endCutShort() (*Reply, error) {
	c := u.c
	c.busy = false
	if u.done != nil {
		return u.done, nil
	}
	deadline := time.Now().Add(c.cfg.AbortTimeout)
	rep, err := c.finalReply(u.verb, deadline)
	if err != nil {
		return nil, err
	}
	if rep.Class() == 1 {
		return rep, c.proveInStep(u.verb, deadline, 1)
	}
	return rep, nil
}
