package ftpcore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// openData asks for a passive data connection (EPSV first, PASV when EPSV
// is refused, remembered for the session) and connects to it.
func (c *Conn) openData(ctx context.Context) (net.Conn, error) {
	port, host, err := c.passive(ctx)
	if err != nil {
		return nil, err
	}
	nc, err := c.dialData(ctx, host, port)
	if err != nil {
		// The server holds a passive listener we never used; it will drop
		// it at the next data command, so the session is still consistent.
		if ctx.Err() != nil {
			c.poison(ctx.Err())
		}
		return nil, err
	}
	return nc, nil
}

// passive sends EPSV or PASV and returns the port and host to connect to.
func (c *Conn) passive(ctx context.Context) (port int, host string, err error) {
	for {
		verb := c.passiveVerb()
		rep, err := c.roundTrip(ctx, verb, "")
		if err != nil {
			return 0, "", err
		}
		host, port, err := c.passiveAddr(verb, rep)
		if c.fallBackToPASV(verb, err) {
			continue
		}
		var pe *ProtocolError
		if errors.As(err, &pe) {
			c.poison(err)
		}
		return port, host, err
	}
}

// fallBackToPASV reports whether err, what passiveAddr made of the reply
// to verb, is EPSV refused as a command the server does not know, and then
// has PASV asked from now on, for the rest of the session. Sequential and
// pipelined starts alike go by it. RFC 959 has an unknown command answered
// with 500 or 502; any permanent refusal (5yz) of EPSV is taken the same
// way, as PASV is what is left to try. PASV cannot describe an IPv6
// address, so over IPv6 the refusal stands.
func (c *Conn) fallBackToPASV(verb string, err error) bool {
	var fe *Error
	if verb != "EPSV" || c.ipv6() || !errors.As(err, &fe) || fe.Code < 500 {
		return false
	}
	c.noEPSV = true
	return true
}

// ipv6 reports whether the control connection runs over IPv6.
func (c *Conn) ipv6() bool { return c.peer != nil && c.peer.To4() == nil }

// passiveVerb is the command that asks for a passive data connection:
// EPSV, or PASV once EPSV was refused or when configured so. PASV cannot
// describe an IPv6 address: over IPv6, EPSV or nothing.
func (c *Conn) passiveVerb() string {
	if c.ipv6() || (!c.noEPSV && !c.cfg.DisableEPSV) {
		return "EPSV"
	}
	return "PASV"
}

// passiveAddr reads where to connect from the reply to verb (EPSV or
// PASV): an *Error when the server refused, a ProtocolError when the
// reply cannot be read. The host is the control connection's peer, or with
// UsePASVAddress the address a 227 names.
func (c *Conn) passiveAddr(verb string, rep *Reply) (host string, port int, err error) {
	host = c.peer.String()
	switch {
	case verb == "EPSV" && rep.Code == StatusExtendedPassive:
		port, err = parseEPSV(rep.Msg())
		return host, port, err
	case verb == "PASV" && rep.Code == StatusPassiveMode:
		ip, port, err := parsePASV(rep.Msg())
		if err != nil {
			return "", 0, err
		}
		if c.cfg.UsePASVAddress && !ip.IsUnspecified() {
			host = ip.String()
		}
		return host, port, nil
	}
	return "", 0, unexpected(verb, rep)
}

// parseEPSV reads the port from a 229 reply: "(<d><d><d>port<d>)" where
// <d> is any printable delimiter (RFC 2428 §3).
func parseEPSV(msg string) (int, error) {
	i := strings.IndexByte(msg, '(')
	j := strings.LastIndexByte(msg, ')')
	if i < 0 || j < i+6 {
		return 0, &ProtocolError{Cmd: "EPSV", Msg: fmt.Sprintf("malformed 229 reply %q", msg)}
	}
	f := msg[i+1 : j]
	d := f[0]
	if d < 33 || d > 126 || f[1] != d || f[2] != d || f[len(f)-1] != d {
		return 0, &ProtocolError{Cmd: "EPSV", Msg: fmt.Sprintf("malformed 229 reply %q", msg)}
	}
	// Digits only: Atoi would also take a sign ("+21").
	p := f[3 : len(f)-1]
	port, err := strconv.Atoi(p)
	if !isNumber(p) || err != nil || port <= 0 || port > 65535 {
		return 0, &ProtocolError{Cmd: "EPSV", Msg: fmt.Sprintf("bad port in 229 reply %q", msg)}
	}
	return port, nil
}

// parsePASV reads "h1,h2,h3,h4,p1,p2" from a 227 reply. RFC 959 does not fix
// where the numbers stand, so the first run of six comma-separated numbers
// counts.
func parsePASV(msg string) (net.IP, int, error) {
	bad := func() (net.IP, int, error) {
		return nil, 0, &ProtocolError{Cmd: "PASV", Msg: fmt.Sprintf("malformed 227 reply %q", msg)}
	}
	start := strings.IndexFunc(msg, func(r rune) bool { return r >= '0' && r <= '9' })
	if start < 0 {
		return bad()
	}
	end := start
	for end < len(msg) && (isDigit(msg[end]) || msg[end] == ',' || msg[end] == ' ') {
		end++
	}
	parts := strings.Split(msg[start:end], ",")
	if len(parts) != 6 {
		return bad()
	}
	var n [6]int
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 0 || v > 255 {
			return bad()
		}
		n[i] = v
	}
	port := n[4]<<8 | n[5]
	if port == 0 {
		return bad()
	}
	return net.IPv4(byte(n[0]), byte(n[1]), byte(n[2]), byte(n[3])), port, nil
}

// startTransfer opens a data connection, sends REST when offset > 0, sends
// verb with arg, and waits for the preliminary reply. On success the Conn is
// busy until the caller's transfer is closed.
func (c *Conn) startTransfer(ctx context.Context, verb, arg string, offset int64) (net.Conn, *Reply, error) {
	if err := checkArg(arg); err != nil {
		return nil, nil, fmt.Errorf("ftpcore: %s: %w", verb, err)
	}
	if !c.cfg.Active && c.pipelining() {
		return c.startPipelined(ctx, verb, arg, offset) // pipeline.go
	}
	return c.startSequential(ctx, verb, arg, offset)
}

// startSequential is startTransfer with the data connection prepared
// first (active mode, or pipelining off); REST and the transfer command
// still go out together unless pipelining is off.
func (c *Conn) startSequential(ctx context.Context, verb, arg string, offset int64) (net.Conn, *Reply, error) {
	pending, err := c.prepareData(ctx) // active.go
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

// Transfer is the data side of a RETR: an io.ReadCloser whose Close ends the
// transfer and reads the server's final reply. Closing before the end (a
// range is satisfied, the caller's ctx ended) ends the transfer early and
// leaves the Conn either verified reusable or unusable. A Transfer is not
// safe for concurrent use; after Close, do not use it.
type Transfer struct {
	c      *Conn
	ctx    context.Context
	verb   string // the transfer command; "" is RETR
	data   net.Conn
	tcp    *net.TCPConn // nil if the data connection is not plain TCP (TLS: no splice)
	stop   func() bool
	limit  int64 // bytes still allowed; < 0 means to the end
	n      int64
	eof    bool
	done   *Reply // final reply already received with the preliminary one
	err    error  // first read error
	closed bool

	progress func(n int64) // OnProgress
}

// Retr starts downloading path from offset (REST+RETR; no REST at 0). When
// length >= 0 the Transfer yields at most length bytes and then ends early;
// length < 0 reads to the end of the file. ctx governs the whole transfer:
// cancelling it interrupts reads at once, and Close then aborts the
// transfer with ABOR (abort.go); the Conn stays usable only if the server
// answers that within AbortTimeout as expected.
func (c *Conn) Retr(ctx context.Context, path string, offset, length int64) (*Transfer, error) {
	if offset < 0 {
		return nil, fmt.Errorf("ftpcore: RETR: negative offset %d", offset)
	}
	data, rep, err := c.startTransfer(ctx, "RETR", path, offset)
	if err != nil {
		return nil, err
	}
	t := &Transfer{c: c, ctx: ctx, verb: "RETR", data: data, limit: length}
	t.tcp, _ = data.(*net.TCPConn)
	if rep.Class() == 2 {
		t.done = rep
	}
	t.stop = watchData(ctx, data)
	return t, nil
}

// DataConn returns the data connection itself (a *net.TCPConn for TCP, a
// *tls.Conn under TLS), for callers that need socket-level control.
// Reading from it directly bypasses the Transfer's accounting; use WriteTo
// for zero-copy instead (plain TCP only: TLS is copied through user space).
func (t *Transfer) DataConn() net.Conn { return t.data }

// BytesRead returns the number of bytes delivered so far.
func (t *Transfer) BytesRead() int64 { return t.n }

// Complete reports whether the data connection reached its end.
func (t *Transfer) Complete() bool { return t.eof }

func (t *Transfer) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if t.limit == 0 {
		return 0, io.EOF
	}
	if t.limit > 0 && int64(len(p)) > t.limit {
		p = p[:t.limit]
	}
	t.data.SetReadDeadline(time.Now().Add(t.c.cfg.DataTimeout))
	if err := t.cancelled(); err != nil {
		return 0, err
	}
	n, err := t.data.Read(p)
	t.count(int64(n))
	if err == io.EOF {
		if err := t.cancelled(); err != nil {
			return n, err // the server may have ended the data because we left
		}
		t.eof = true
		return n, io.EOF
	}
	if err != nil {
		t.err = t.dataErr(err)
		return n, t.err
	}
	return n, nil
}

func (t *Transfer) count(n int64) {
	t.n += n
	if t.limit > 0 {
		t.limit -= n
	}
	if t.progress != nil && n > 0 {
		t.progress(n)
	}
}

// OnProgress sets f to be called with the number of bytes delivered each
// time some are: after every Read, and in WriteTo after every spliced
// chunk (at most 1 MiB), so counting costs nothing per byte and hides
// nothing from the splice. f runs on the goroutine reading the Transfer
// and must be quick. Set it before the first read.
func (t *Transfer) OnProgress(f func(n int64)) { t.progress = f }

// transferChunk is how much WriteTo hands to io.Copy at a time. Smaller
// chunks cost CPU (measured splicing from vsftpd to a TCP socket: 16 KiB
// +72%, 64 KiB +24%, 256 KiB +13% over 1 MiB); the idle watch (idle.go)
// sees progress inside a chunk on Linux, so the chunk need not be small
// for DataTimeout to be a true idle timeout.
const transferChunk = 1 << 20

// WriteTo copies the transfer to w until the end (or the length given to
// Retr). The copy goes through io.Copy on the bare *net.TCPConn wrapped in
// an *io.LimitedReader, so when w is (or wraps, through io.ReaderFrom) a
// TCP socket, the kernel splices data socket to w without a user-space copy.
func (t *Transfer) WriteTo(w io.Writer) (int64, error) {
	if t.tcp == nil {
		return io.Copy(w, struct{ io.Reader }{t})
	}
	if t.err != nil {
		return 0, t.err
	}
	// The idle watch, not a deadline per chunk, bounds a stall.
	t.tcp.SetReadDeadline(time.Time{})
	if err := t.cancelled(); err != nil {
		return 0, err
	}
	idle := startIdleWatch(t.tcp, t.c.cfg.DataTimeout)
	defer idle.stop()
	var total int64
	for t.limit != 0 && !t.eof {
		chunk := int64(transferChunk)
		if t.limit > 0 && t.limit < chunk {
			chunk = t.limit
		}
		lr := &io.LimitedReader{R: t.tcp, N: chunk}
		n, err := io.Copy(w, lr)
		idle.progress()
		total += n
		t.count(n)
		if err != nil {
			// From the data connection or from w: either way the transfer
			// cannot go on, and Close will end it as cut short.
			t.err = t.dataErr(err)
			return total, t.err
		}
		if n < chunk {
			if err := t.cancelled(); err != nil {
				return total, err // as in Read: not a clean end
			}
			t.eof = true
		}
	}
	return total, nil
}

// cancelled records and returns the end of t.ctx. It is called after each
// new read deadline is set: cancelling ctx sets a deadline in the past,
// which that new deadline may just have overwritten; and an end of file
// read after the cancellation must not count as the transfer's end, since
// the server may be closing the data connection because of what the
// cancellation started.
func (t *Transfer) cancelled() error {
	if t.ctx.Err() == nil {
		return nil
	}
	t.err = t.dataErr(t.ctx.Err())
	return t.err
}

func (t *Transfer) dataErr(err error) error {
	if t.ctx.Err() != nil {
		return fmt.Errorf("ftpcore: RETR data: %w", t.ctx.Err())
	}
	return fmt.Errorf("ftpcore: RETR data: %w", err)
}

// Close ends the transfer. After the whole file was read it reads the final
// reply (at most FinalReplyTimeout) and returns an *Error unless it is a
// 2yz completion (a 426 or 451 there means the data is incomplete). Closed
// early, it resets the data connection, reads the server's final reply and
// proves the control connection is in step with a NOOP; after the caller's
// ctx ended it sends ABOR first (abort.go) and returns the ctx's error.
// That exchange is bounded by AbortTimeout, and when any of it fails the
// Conn is marked unusable and Close returns why. Closing early is not
// itself an error.
func (t *Transfer) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	c := t.c
	if !t.eof && t.err == nil && t.limit == 0 {
		t.probeEOF()
	}
	watchedEnd := t.stop()
	if !t.eof {
		resetData(t.data) // RST: the server's next write fails at once
		// A cancellation that came after the caller had all it asked for
		// cuts nothing short.
		cancelled := (watchedEnd || t.ctx.Err() != nil) && t.limit != 0
		return t.endEarly(cancelled)
	}
	t.data.Close()
	rep := t.done
	if rep == nil {
		var err error
		// The caller's ctx may already be past its use; the transfer is
		// complete, so its final reply is read regardless.
		rep, err = c.readFinal(context.Background(), t.verbName(), c.cfg.FinalReplyTimeout)
		if err != nil {
			return err
		}
	}
	c.busy = false
	if rep.Class() != 2 {
		return unexpected(t.verbName(), rep)
	}
	return nil
}

// probeEOF looks whether the data connection ends right after the bytes
// the caller wanted: then the transfer is complete, not cut short. It only
// looks at what has arrived (waiting at most a millisecond): a range in
// the middle of a file must not wait for the server's next bytes, and a
// missed end is handled as an early close, which keeps the session too.
func (t *Transfer) probeEOF() {
	var b [1]byte
	t.data.SetReadDeadline(time.Now().Add(time.Millisecond))
	n, err := t.data.Read(b[:])
	if n == 0 && err == io.EOF {
		t.eof = true
	}
}

// Upload is the data side of a STOR: an io.WriteCloser whose Close ends the
// data connection and reads the server's final reply. Abort ends it so the
// server sees a reset rather than a clean end of file. An Upload is not safe
// for concurrent use; after Close or Abort, do not use it.
type Upload struct {
	c      *Conn
	ctx    context.Context
	verb   string
	data   net.Conn
	stop   func() bool
	n      int64
	done   *Reply
	prelim *Reply // the reply that opened the transfer (STOU names the file in it)
	err    error
	closed bool

	progress func(n int64) // OnProgress
}

// Stor starts uploading to path: STOR, with REST offset first when offset >
// 0 (resuming). ctx governs the whole upload.
func (c *Conn) Stor(ctx context.Context, path string, offset int64) (*Upload, error) {
	return c.store(ctx, "STOR", path, offset)
}

// Appe starts appending to path (APPE).
func (c *Conn) Appe(ctx context.Context, path string) (*Upload, error) {
	return c.store(ctx, "APPE", path, 0)
}

func (c *Conn) store(ctx context.Context, verb, path string, offset int64) (*Upload, error) {
	if offset < 0 {
		return nil, fmt.Errorf("ftpcore: %s: negative offset %d", verb, offset)
	}
	data, rep, err := c.startTransfer(ctx, verb, path, offset)
	if err != nil {
		return nil, err
	}
	u := &Upload{c: c, ctx: ctx, verb: verb, data: data, prelim: rep}
	if rep.Class() == 2 {
		u.done = rep
	}
	u.stop = watchData(ctx, data)
	return u, nil
}

// BytesWritten returns the number of bytes sent so far.
func (u *Upload) BytesWritten() int64 { return u.n }

func (u *Upload) Write(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	u.data.SetWriteDeadline(time.Now().Add(u.c.cfg.DataTimeout))
	if err := u.ctx.Err(); err != nil {
		// As in Transfer.cancelled: the deadline just set may have
		// replaced the one cancelling ctx set, and the write would go
		// into the socket buffer as if nothing had happened.
		u.err = fmt.Errorf("ftpcore: %s data: %w", u.verb, err)
		return 0, u.err
	}
	n, err := u.data.Write(p)
	u.n += int64(n)
	if u.progress != nil && n > 0 {
		u.progress(int64(n))
	}
	if err != nil {
		if u.ctx.Err() != nil {
			err = u.ctx.Err()
		}
		u.err = fmt.Errorf("ftpcore: %s data: %w", u.verb, err)
		return n, u.err
	}
	return n, nil
}

// OnProgress sets f to be called with the number of bytes written to the
// data connection after every write (at most 256 KiB through ReadFrom).
// f runs on the goroutine writing the Upload and must be quick. Set it
// before the first write.
func (u *Upload) OnProgress(f func(n int64)) { u.progress = f }

// uploadBuffer is the size of the buffer ReadFrom copies through.
const uploadBuffer = 256 << 10

// ReadFrom copies r into the upload until r's EOF. Errors from r are
// returned as they are, so the caller can tell a failing source from a
// failing server.
func (u *Upload) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, uploadBuffer)
	var total int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			w, werr := u.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// Close ends the data connection cleanly (the server sees end of file) and
// returns nil only if the server's final reply, awaited at most
// FinalReplyTimeout, is a 2yz completion. After a failed Write or with the
// ctx ended it aborts instead, as Abort does, and returns that error.
func (u *Upload) Close() error {
	if u.closed {
		return nil
	}
	u.closed = true
	watchedEnd := u.stop()
	if u.err != nil {
		return u.abort(u.err)
	}
	if err := u.ctx.Err(); err != nil || watchedEnd {
		// A clean end of file would tell the server it has the whole
		// file; after a cancellation it has not.
		return u.abort(fmt.Errorf("ftpcore: %s: %w", u.verb, u.ctx.Err()))
	}
	closeData(u.data, u.c.cfg.DataTimeout) // close_notify first under TLS
	return u.finish()
}

// Abort ends the upload so the server does not take it for complete: the
// data connection is reset, not closed. It reads the server's final reply,
// at most AbortTimeout, so the Conn stays usable (abort.go); cause is
// returned if the Conn is still usable, or cause and the reason it is not.
func (u *Upload) Abort(cause error) error {
	if u.closed {
		return nil
	}
	u.closed = true
	u.stop()
	return u.abort(cause)
}

func (u *Upload) abort(cause error) error {
	resetData(u.data) // RST, and under TLS no close_notify
	if err := u.endCutShort(); err != nil {
		if cause == nil {
			return err
		}
		return fmt.Errorf("%w (abort: %w)", cause, err)
	}
	return cause
}

func (u *Upload) finish() error {
	c := u.c
	rep := u.done
	if rep == nil {
		var err error
		// The caller's ctx may end now; the upload is complete, so its
		// final reply is read regardless.
		rep, err = c.readFinal(context.Background(), u.verb, c.cfg.FinalReplyTimeout)
		if err != nil {
			return err
		}
	}
	c.busy = false
	if rep.Class() != 2 {
		return unexpected(u.verb, rep)
	}
	return nil
}
