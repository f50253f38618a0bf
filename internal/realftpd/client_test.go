package realftpd

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// conn is a deliberately tiny FTP client, independent of ftpcore, so this
// package's tests check the servers rather than the code under test.
type conn struct {
	t   testing.TB
	s   *Server
	c   net.Conn
	r   *bufio.Reader
	tls *tls.Config // shared by the control and data connections; nil for plain FTP
}

// dial connects to s and reads the greeting; for explicit FTPS it then
// upgrades the connection with AUTH TLS, for implicit FTPS it starts with
// TLS.
func dial(t testing.TB, s *Server) *conn {
	t.Helper()
	return dialOwned(t, s, t)
}

// dialOwned is dial with the connection closed at owner's cleanup rather
// than t's.
func dialOwned(t testing.TB, s *Server, owner testing.TB) *conn {
	t.Helper()
	c := &conn{t: t, s: s}
	if s.TLS != nil {
		c.tls = s.TLS.ClientConfig()
	}
	nc, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	owner.Cleanup(func() { nc.Close() })
	if s.TLS != nil && s.TLS.Implicit {
		nc = c.handshake(nc)
	}
	c.setConn(nc)
	if code, msg := c.reply(); code != 220 {
		t.Fatalf("greeting: %d %s", code, msg)
	}
	if s.TLS != nil && !s.TLS.Implicit {
		c.cmd(234, "AUTH TLS")
		c.setConn(c.handshake(nc))
	}
	return c
}

func (c *conn) setConn(nc net.Conn) {
	if err := nc.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	c.c = nc
	c.r = bufio.NewReader(nc)
}

func (c *conn) handshake(nc net.Conn) *tls.Conn {
	c.t.Helper()
	tc := tls.Client(nc, c.tls)
	if err := tc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake on the control connection: %v", err)
	}
	return tc
}

// tlsState returns the control connection's TLS state.
func (c *conn) tlsState() tls.ConnectionState {
	c.t.Helper()
	tc, ok := c.c.(*tls.Conn)
	if !ok {
		c.t.Fatal("control connection is not TLS")
	}
	return tc.ConnectionState()
}

// reply reads one reply, multi-line ones included, and returns its code and
// the text of its last line.
func (c *conn) reply() (int, string) {
	c.t.Helper()
	code, lines := c.replyLines()
	return code, lines[len(lines)-1][4:]
}

// replyLines reads one reply and returns its code and every line.
func (c *conn) replyLines() (int, []string) {
	c.t.Helper()
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading reply: %v", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if len(line) < 4 {
		c.t.Fatalf("short reply %q", line)
	}
	code, err := strconv.Atoi(line[:3])
	if err != nil {
		c.t.Fatalf("bad reply %q", line)
	}
	lines := []string{line}
	if line[3] == '-' {
		end := line[:3] + " "
		for !strings.HasPrefix(line, end) {
			if line, err = c.r.ReadString('\n'); err != nil {
				c.t.Fatalf("reading multi-line reply: %v", err)
			}
			line = strings.TrimRight(line, "\r\n")
			lines = append(lines, line)
		}
	}
	return code, lines
}

// send writes one command line.
func (c *conn) send(format string, args ...any) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.c, format+"\r\n", args...); err != nil {
		c.t.Fatal(err)
	}
}

// cmd sends a command and fails the test unless the reply has code want.
func (c *conn) cmd(want int, format string, args ...any) string {
	c.t.Helper()
	c.send(format, args...)
	code, msg := c.reply()
	if code != want {
		c.t.Fatalf("%s: got %d %s, want %d", strings.Fields(format)[0], code, msg, want)
	}
	return msg
}

// login logs in, and for FTPS protects the data connections (RFC 4217).
func (c *conn) login() {
	c.t.Helper()
	c.cmd(331, "USER %s", c.s.User)
	c.cmd(230, "PASS %s", c.s.Password)
	if c.tls != nil {
		c.cmd(200, "PBSZ 0")
		c.cmd(200, "PROT P")
	}
}

// dataConn is one data connection, TLS or not.
type dataConn struct {
	net.Conn
	tls *tls.Conn // nil for plain FTP
}

// epsv opens a passive data connection (RFC 2428). For FTPS the TLS
// handshake is left to the first read or write: vsftpd starts it only after
// it has the transfer command.
func (c *conn) epsv() *dataConn {
	c.t.Helper()
	msg := c.cmd(229, "EPSV")
	// "Entering Extended Passive Mode (|||port|)"
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	if i < 0 || j < i+4 {
		c.t.Fatalf("EPSV reply %q", msg)
	}
	port := msg[i+4 : j]
	d, err := net.DialTimeout("tcp", net.JoinHostPort(c.s.Host, port), 5*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { d.Close() })
	if err := d.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	dc := &dataConn{Conn: d}
	if c.tls != nil {
		dc.tls = tls.Client(d, c.tls)
		dc.Conn = dc.tls
	}
	return dc
}

// eprt opens an active data connection (RFC 2428): the server connects to
// a listener of ours.
func (c *conn) eprt() (accept func() *dataConn) {
	c.t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(c.s.Host, "0"))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { l.Close() })
	proto := "1"
	if strings.Contains(c.s.Host, ":") {
		proto = "2"
	}
	c.cmd(200, "EPRT |%s|%s|%d|", proto, c.s.Host, l.Addr().(*net.TCPAddr).Port)
	return func() *dataConn {
		c.t.Helper()
		if err := l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			c.t.Fatal(err)
		}
		d, err := l.Accept()
		l.Close()
		if err != nil {
			c.t.Fatalf("accepting the server's data connection: %v", err)
		}
		c.t.Cleanup(func() { d.Close() })
		return &dataConn{Conn: d}
	}
}

// preliminary reads the 1xx reply that starts a transfer.
func (c *conn) preliminary(verb string) {
	c.t.Helper()
	if code, msg := c.reply(); code != 150 && code != 125 {
		c.t.Fatalf("%s: got %d %s, want 150 or 125", verb, code, msg)
	}
}

// final reads the reply that ends a transfer.
func (c *conn) final(verb string) {
	c.t.Helper()
	if code, msg := c.reply(); code != 226 {
		c.t.Fatalf("%s final reply: %d %s, want 226", verb, code, msg)
	}
}

// read drains d in the background, so that a TLS handshake on it can run
// while the control connection waits for the preliminary reply.
func read(d *dataConn) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		b, err := io.ReadAll(d)
		d.Close()
		ch <- readResult{b, err}
	}()
	return ch
}

type readResult struct {
	data []byte
	err  error
}

// retr downloads name over a passive data connection and returns the data
// connection's TLS state (zero for plain FTP).
func (c *conn) retr(name string) ([]byte, tls.ConnectionState) {
	c.t.Helper()
	return c.fetch("RETR "+name, c.epsv())
}

// fetch sends a command that sends data to us (RETR, LIST, MLSD) on d.
func (c *conn) fetch(command string, d *dataConn) ([]byte, tls.ConnectionState) {
	c.t.Helper()
	verb, _, _ := strings.Cut(command, " ")
	c.send("%s", command)
	got := read(d)
	c.preliminary(verb)
	r := <-got
	if r.err != nil {
		c.t.Fatalf("%s: reading the data connection: %v", verb, r.err)
	}
	c.final(verb)
	var st tls.ConnectionState
	if d.tls != nil {
		st = d.tls.ConnectionState()
	}
	return r.data, st
}

// stor uploads data as name over a passive data connection.
func (c *conn) stor(name string, data []byte) tls.ConnectionState {
	c.t.Helper()
	d := c.epsv()
	c.send("STOR %s", name)
	wrote := make(chan error, 1)
	go func() {
		_, err := d.Write(data)
		if cerr := d.Close(); err == nil {
			err = cerr
		}
		wrote <- err
	}()
	c.preliminary("STOR")
	if err := <-wrote; err != nil {
		c.t.Fatalf("STOR: writing the data connection: %v", err)
	}
	c.final("STOR")
	var st tls.ConnectionState
	if d.tls != nil {
		st = d.tls.ConnectionState()
	}
	return st
}
