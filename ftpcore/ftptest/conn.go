package ftptest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"path"
	"strings"
	"sync"
	"time"
)

// Handler answers one command on a control connection. arg is everything
// after the first space of the command line, verbatim ("" if none).
//
// A Handler runs on the connection's serving goroutine, so it sees commands
// in order and may use every Conn method. A Handler that waits must also
// watch Conn.Done, or Server.Close waits for it.
type Handler func(c *Conn, arg string)

// Conn is one control connection as seen by the server.
//
// Its methods are meant for Handlers, which run on the connection's own
// goroutine. Reply, ReplyLines, WriteRaw, Close and Done are also safe from
// other goroutines; the rest are not.
type Conn struct {
	s     *Server
	nc    net.Conn
	r     *bufio.Reader
	lines chan line     // from readLoop; closed when the client's side ends
	done  chan struct{} // closed by Close
	once  sync.Once

	wmu sync.Mutex // serialises writes to nc

	x connExt // TLS and active mode: tls.go, active.go

	mu     sync.Mutex // guards pasv, data and closed, which Close touches from other goroutines
	pasv   net.Listener
	data   []net.Conn
	closed bool

	// Owned by the serving goroutine.
	pending  []line // commands that arrived during a transfer
	cwd      string
	user     string
	gotUser  bool
	needAcct bool
	loggedIn bool
	rest     int64
	rnfr     string
	hashAlgo string // OPTS HASH's choice; "" for FEAT's
}

// line is one command line read from the client.
type line struct {
	text    string
	tooLong bool
}

func newConn(s *Server, nc net.Conn) *Conn {
	c := &Conn{
		s:     s,
		nc:    nc,
		r:     bufio.NewReaderSize(nc, maxLine+2),
		lines: make(chan line),
		done:  make(chan struct{}),
		cwd:   "/",
	}
	c.initTLS()
	return c
}

// Server returns the server the connection belongs to.
func (c *Conn) Server() *Server { return c.s }

// Cwd returns the session's working directory. Call it only from a Handler.
func (c *Conn) Cwd() string { return c.cwd }

// Done returns a channel that is closed when the connection is closed, for
// Handlers that wait.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Close drops the control connection and any passive listener or data
// connection it owns. The client sees EOF (or a reset if it had unread bytes
// in flight). Safe to call more than once and from any goroutine.
func (c *Conn) Close() {
	c.once.Do(func() {
		close(c.done)
		c.nc.Close()
		c.mu.Lock()
		c.closed = true
		pasv, data := c.pasv, c.data
		c.pasv, c.data = nil, nil
		c.mu.Unlock()
		if pasv != nil {
			pasv.Close()
		}
		for _, dc := range data {
			dc.Close()
		}
	})
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Reply sends the single-line reply "code text\r\n", after the reply delay if
// one is set.
func (c *Conn) Reply(code int, text string) {
	c.delay()
	c.write(fmt.Sprintf("%03d %s\r\n", code, text))
}

// ReplyLines sends an RFC 959 multi-line reply: "code-first", the middle
// lines as given (callers indent them with a space, as RFC 959 advises, so
// that no line can be taken for the end), and "code last". With one line it
// is Reply. The reply delay applies once, before the whole reply.
func (c *Conn) ReplyLines(code int, lines ...string) {
	switch len(lines) {
	case 0:
		c.Reply(code, "")
		return
	case 1:
		c.Reply(code, lines[0])
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%03d-%s\r\n", code, lines[0])
	for _, l := range lines[1 : len(lines)-1] {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "%03d %s\r\n", code, lines[len(lines)-1])
	c.delay()
	c.write(b.String())
}

// WriteRaw sends exactly s on the control connection, with no reply delay,
// for malformed-stream tests.
func (c *Conn) WriteRaw(s string) {
	c.write(s)
}

func (c *Conn) write(s string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.writer().Write([]byte(s)); err != nil {
		// The client is gone; stop serving rather than answer into the
		// void.
		c.Close()
	}
}

func (c *Conn) delay() {
	d := c.s.faults().replyDelay
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.done:
	}
}

// readLoop reads command lines for serve. It runs apart from serve so that an
// ABOR can be read while serve waits for a transfer.
func (c *Conn) readLoop() {
	defer c.s.wg.Done()
	defer close(c.lines)
	for {
		l, err := c.readLine()
		if err != nil {
			return
		}
		if !l.tooLong {
			c.s.record(l.text)
		}
		select {
		case c.lines <- l:
		case <-c.done:
			return
		}
		if !c.waitAUTH(l) {
			return
		}
	}
}

func (c *Conn) readLine() (line, error) {
	tooLong := false
	for {
		frag, err := c.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Discard the rest of an over-long line, then report it, so
			// the session survives it.
			tooLong = true
			continue
		}
		if err != nil {
			return line{}, err
		}
		frag = frag[:len(frag)-1]
		if n := len(frag); n > 0 && frag[n-1] == '\r' {
			frag = frag[:n-1]
		}
		if tooLong || len(frag) > maxLine {
			return line{tooLong: true}, nil
		}
		return line{text: string(stripTelnet(frag))}, nil
	}
}

// stripTelnet removes a leading Telnet IAC sequence such as the IP and Synch
// (IAC IP IAC DM) that RFC 959 has clients send before ABOR. Bytes 0xF0 and
// up cannot start a command, and the DM may have been taken out of the
// stream as urgent data, so all of them are dropped.
func stripTelnet(b []byte) []byte {
	for len(b) > 0 && b[0] >= 0xF0 {
		b = b[1:]
	}
	return b
}

// next returns the next command: first any that arrived during a transfer,
// then from the reader.
func (c *Conn) next() (line, bool) {
	if len(c.pending) > 0 {
		l := c.pending[0]
		c.pending = c.pending[1:]
		return l, true
	}
	select {
	case l, ok := <-c.lines:
		return l, ok
	case <-c.done:
		return line{}, false
	}
}

func (c *Conn) serve() {
	defer c.s.wg.Done()
	admitted := c.s.admit()
	defer func() {
		c.Close()
		c.s.mu.Lock()
		delete(c.s.live, c)
		if admitted {
			c.s.admitted--
		}
		c.s.mu.Unlock()
	}()
	if !admitted {
		c.Reply(421, "Too many connections.")
		return
	}
	c.Reply(c.s.greetCode, c.s.greetText)
	if c.s.greetCode >= 400 {
		return
	}
	for !c.isClosed() {
		l, ok := c.next()
		if !ok {
			return
		}
		if l.tooLong {
			c.Reply(500, "Command line too long.")
			continue
		}
		cmd, arg, _ := strings.Cut(l.text, " ")
		cmd = upper(cmd)
		if cmd == "" {
			c.Reply(500, "Syntax error, command unrecognized.")
			continue
		}
		if cmd != "RNTO" {
			// RFC 959: RNTO must immediately follow RNFR.
			c.rnfr = ""
		}
		if h := c.s.handler(cmd); h != nil {
			h(c, arg)
		} else {
			c.Default(cmd, arg)
		}
		c.afterCommand(l)
	}
}

// abs resolves a client path against the working directory.
func (c *Conn) abs(p string) string {
	if p == "" {
		return c.cwd
	}
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Join(c.cwd, p)
}

// listenData opens a fresh passive listener, replacing any earlier one, and
// returns its port.
func (c *Conn) listenData() (int, error) {
	ln, err := c.listenPassive()
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		ln.Close()
		return 0, net.ErrClosed
	}
	old := c.pasv
	c.pasv = ln
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (c *Conn) closePasv() {
	c.mu.Lock()
	ln := c.pasv
	c.pasv = nil
	c.x.active = nil
	c.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// AcceptData waits up to 5 seconds for the client to connect to the listener
// opened by the last EPSV or PASV, and returns the data connection. The
// listener is closed afterwards, so each EPSV/PASV yields at most one data
// connection. After EPRT or PORT it connects to the client's address
// instead, once. Under PROT P it returns the server side of a TLS
// connection, handshake done. The connection is closed with the control
// connection if the caller has not closed it by then. Call it only from a
// Handler.
func (c *Conn) AcceptData() (net.Conn, error) {
	if a := c.takeActive(); a != nil {
		return c.connectData(a)
	}
	c.mu.Lock()
	ln := c.pasv
	c.mu.Unlock()
	if ln == nil {
		return nil, errors.New("ftptest: AcceptData without EPSV or PASV")
	}
	if tl, ok := ln.(*net.TCPListener); ok {
		tl.SetDeadline(time.Now().Add(dataAcceptTimeout))
	}
	dc, err := ln.Accept()
	c.mu.Lock()
	if c.pasv == ln {
		c.pasv = nil
	}
	if err == nil && c.closed {
		dc.Close()
		err = net.ErrClosed
	}
	if err == nil {
		c.data = append(c.data, dc)
	}
	c.mu.Unlock()
	ln.Close()
	if err != nil {
		return nil, fmt.Errorf("ftptest: accept data connection: %w", err)
	}
	c.s.mu.Lock()
	c.s.dataConns++
	c.s.mu.Unlock()
	return c.secureData(dc)
}

// openData answers a transfer command up to the open data connection: 425 for
// the NODATACONN425 fault or a missing EPSV/PASV, else 150 and the accept. It
// returns nil if it has already sent the final reply.
func (c *Conn) openData(preliminary string) net.Conn {
	if c.s.faults().noData425 {
		c.closePasv()
		c.Reply(425, "Can't open data connection.")
		return nil
	}
	if c.dataRefused() {
		return nil
	}
	if !c.hasDataSetup() {
		c.Reply(425, "Use PORT, EPRT, PASV or EPSV first.")
		return nil
	}
	c.Reply(150, preliminary)
	dc, err := c.AcceptData()
	if err != nil {
		c.dataFailed(err)
		return nil
	}
	return dc
}

type xferResult int

const (
	xferOK      xferResult = iota
	xferFailed             // the data connection broke
	xferAborted            // the client sent ABOR
	xferGone               // the control connection ended
)

// transfer runs fn on its own goroutine while this one keeps reading the
// control connection, so that an ABOR is acted on mid-transfer. Other
// commands that arrive meanwhile are kept for after the transfer, as a
// server that reads one command at a time would. On ABOR or a lost control
// connection, abort is closed and dc is closed to unblock fn.
func (c *Conn) transfer(dc net.Conn, fn func(abort <-chan struct{}) error) xferResult {
	abort := make(chan struct{})
	done := make(chan error, 1)
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		done <- fn(abort)
	}()
	stop := func() {
		close(abort)
		dc.Close()
		<-done
	}
	for {
		select {
		case err := <-done:
			if err != nil {
				return xferFailed
			}
			return xferOK
		case l, ok := <-c.lines:
			if !ok {
				stop()
				return xferGone
			}
			if !l.tooLong && strings.EqualFold(strings.TrimSpace(l.text), "ABOR") {
				stop()
				return xferAborted
			}
			c.pending = append(c.pending, l)
		case <-c.done:
			stop()
			return xferGone
		}
	}
}

// finish sends the final reply for a transfer.
func (c *Conn) finish(r xferResult) {
	switch r {
	case xferOK:
		c.Reply(226, "Transfer complete.")
	case xferFailed:
		c.Reply(426, "Connection closed; transfer aborted.")
	case xferAborted:
		// RFC 959 section 4.1.3: 426 for the aborted transfer, then 226
		// for the ABOR itself.
		c.Reply(426, "Transfer aborted.")
		c.Reply(226, "ABOR command successful.")
	}
}

// send writes data to dc in chunks, sleeping every between them, and closes
// dc. A client that closes its end mid-transfer is noticed at once by a
// concurrent read, not only at the next write, which might be a sleep away
// or succeed into the socket buffer.
func (c *Conn) send(dc net.Conn, data []byte, chunk int, every time.Duration, abort <-chan struct{}) error {
	errPeerClosed := errors.New("ftptest: data connection closed by client")
	gone := make(chan struct{})
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		var b [512]byte
		for {
			if _, err := dc.Read(b[:]); err != nil {
				break
			}
		}
		close(gone)
		// Unblock a Write stuck on a client that will never read.
		dc.SetWriteDeadline(time.Now())
	}()
	defer func() {
		dc.Close()
		<-gone
	}()
	if chunk <= 0 {
		chunk, every = defaultChunk, 0
	}
	for len(data) > 0 {
		select {
		case <-gone:
			return errPeerClosed
		default:
		}
		n := min(chunk, len(data))
		if _, err := dc.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
		if every > 0 && len(data) > 0 {
			t := time.NewTimer(every)
			select {
			case <-t.C:
			case <-abort:
				t.Stop()
				return net.ErrClosed
			case <-gone:
				t.Stop()
				return errPeerClosed
			}
		}
	}
	return nil
}

func upper(s string) string { return strings.ToUpper(s) }
