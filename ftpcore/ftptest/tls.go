package ftptest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"time"
)

// serverExt holds the settings of the TLS, active-mode and IPv6 options.
// Set by options before the listener starts, read-only afterwards, except
// the counters, which Server.mu guards.
type serverExt struct {
	tlsCfg      *tls.Config
	implicit    bool
	tlsRequired bool
	tlsReuse    bool
	ipv6        bool

	tlsData, tlsResumed int // guarded by Server.mu
}

// connExt is a connection's TLS and active-mode state.
type connExt struct {
	out      net.Conn      // the control connection's TLS layer; nil in the clear. Guarded by wmu.
	authDone chan struct{} // serve tells readLoop an AUTH has been dealt with

	// Owned by the serving goroutine.
	secure bool // the control connection is TLS
	pbsz   bool
	protP  bool

	active *net.TCPAddr // EPRT/PORT address; guarded by Conn.mu
}

// WithExplicitTLS makes the server offer FTPS by AUTH TLS (RFC 4217): AUTH
// TLS (or TLS-C, SSL) is answered 234, after which the control connection
// is the server side of a TLS handshake with cfg; PBSZ 0 and PROT P or C
// follow. Under PROT P every data connection is a TLS server too, its
// handshake run after the 150 reply, and an upload that ends without the
// client's close_notify is answered 426 (vsftpd's strict_ssl_read_eof).
// FEAT lists AUTH TLS, PBSZ and PROT. cfg is shared by all connections, so
// a session ticket issued on a control connection resumes on its data
// connections; it must hold a certificate.
func WithExplicitTLS(cfg *tls.Config) Option {
	return func(s *Server) {
		s.x.tlsCfg = cfg
		s.features = append(s.features, "AUTH TLS", "PBSZ", "PROT")
	}
}

// WithImplicitTLS makes every control connection start with a TLS
// handshake with cfg before the greeting (implicit FTPS); PBSZ, PROT and
// the data connections then work as with WithExplicitTLS, and AUTH is
// answered 503.
func WithImplicitTLS(cfg *tls.Config) Option {
	return func(s *Server) {
		s.x.tlsCfg = cfg
		s.x.implicit = true
		s.features = append(s.features, "PBSZ", "PROT")
	}
}

// WithTLSRequired refuses USER and PASS with 530 until the control
// connection is TLS, and transfer commands with 521 until PROT P (vsftpd's
// force_local_logins_ssl and force_local_data_ssl).
func WithTLSRequired() Option {
	return func(s *Server) { s.x.tlsRequired = true }
}

// WithTLSSessionReuse refuses a TLS data connection that does not resume a
// TLS session, with 522 after the 150 reply (vsftpd's require_ssl_reuse).
func WithTLSSessionReuse() Option {
	return func(s *Server) { s.x.tlsReuse = true }
}

// TLSDataConns returns the number of TLS data connections handshaken so
// far, and how many of them resumed a session.
func (s *Server) TLSDataConns() (total, resumed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.x.tlsData, s.x.tlsResumed
}

// initTLS runs when a control connection is accepted: under implicit TLS
// everything read and written goes through TLS from the first byte. The
// handshake itself runs with the first read or write.
func (c *Conn) initTLS() {
	c.x.authDone = make(chan struct{}, 1)
	if c.s.x.tlsCfg == nil || !c.s.x.implicit {
		return
	}
	tc := tls.Server(c.nc, c.s.x.tlsCfg)
	c.r = bufio.NewReaderSize(tc, maxLine+2)
	c.x.out = tc
	c.x.secure = true
}

// writer returns what replies are written to. Call with wmu held.
func (c *Conn) writer() net.Conn {
	if c.x.out != nil {
		return c.x.out
	}
	return c.nc
}

// isAUTH reports whether readLoop must stop after l until serve has dealt
// with it: the bytes that follow an accepted AUTH are a TLS handshake,
// which serve reads, not a command line.
func (c *Conn) isAUTH(l line) bool {
	if c.s.x.tlsCfg == nil || l.tooLong {
		return false
	}
	cmd, _, _ := strings.Cut(l.text, " ")
	return upper(cmd) == "AUTH"
}

// waitAUTH holds readLoop after an AUTH line until serve has answered it
// and, if it was accepted, switched c.r to TLS. It reports false when the
// connection ended meanwhile.
func (c *Conn) waitAUTH(l line) bool {
	if !c.isAUTH(l) {
		return true
	}
	select {
	case <-c.x.authDone:
		return true
	case <-c.done:
		return false
	}
}

// afterCommand runs on the serving goroutine after each command.
func (c *Conn) afterCommand(l line) {
	if c.isAUTH(l) {
		c.x.authDone <- struct{}{}
	}
}

func (c *Conn) cmdAUTH(arg string) {
	switch {
	case c.s.x.tlsCfg == nil:
		c.Reply(502, "Command not implemented.")
		return
	case c.x.secure:
		c.Reply(503, "Already using TLS.")
		return
	}
	switch upper(strings.TrimSpace(arg)) {
	case "TLS", "TLS-C", "SSL":
	default:
		c.Reply(504, "Unknown AUTH type.")
		return
	}
	c.Reply(234, "Proceed with negotiation.")
	tc := tls.Server(c.nc, c.s.x.tlsCfg)
	tc.SetDeadline(time.Now().Add(dataAcceptTimeout))
	if err := tc.Handshake(); err != nil {
		c.Close()
		return
	}
	tc.SetDeadline(time.Time{})
	// readLoop is waiting in waitAUTH, so c.r is ours to replace.
	c.r = bufio.NewReaderSize(tc, maxLine+2)
	c.wmu.Lock()
	c.x.out = tc
	c.wmu.Unlock()
	c.x.secure = true
}

func (c *Conn) cmdPBSZ(string) {
	if !c.x.secure {
		c.Reply(503, "PBSZ needs a secure connection.")
		return
	}
	// RFC 4217 §9: TLS has no buffer size; any request is answered 0.
	c.Reply(200, "PBSZ=0")
	c.x.pbsz = true
}

func (c *Conn) cmdPROT(arg string) {
	if !c.x.secure || !c.x.pbsz {
		c.Reply(503, "PROT needs a secure connection and PBSZ.")
		return
	}
	switch upper(strings.TrimSpace(arg)) {
	case "P":
		c.x.protP = true
		c.Reply(200, "PROT now Private.")
	case "C":
		c.x.protP = false
		c.Reply(200, "PROT now Clear.")
	case "S", "E":
		c.Reply(536, "PROT level not supported.")
	default:
		c.Reply(504, "Unknown PROT level.")
	}
}

// refuseInClear answers USER and PASS with 530 while WithTLSRequired
// demands TLS first. It reports whether it answered.
func (c *Conn) refuseInClear(cmd string) bool {
	if !c.s.x.tlsRequired || c.x.secure || (cmd != "USER" && cmd != "PASS") {
		return false
	}
	c.Reply(530, "Non-anonymous sessions must use encryption.")
	return true
}

// errNoReuse is a TLS data connection that did not resume a session under
// WithTLSSessionReuse.
var errNoReuse = errors.New("ftptest: TLS data connection did not resume the session")

// secureData makes dc the TLS server side under PROT P.
func (c *Conn) secureData(dc net.Conn) (net.Conn, error) {
	if !c.x.protP {
		return dc, nil
	}
	ec := &eofConn{Conn: dc}
	tc := tls.Server(ec, c.s.x.tlsCfg)
	tc.SetDeadline(time.Now().Add(dataAcceptTimeout))
	if err := tc.Handshake(); err != nil {
		dc.Close()
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	resumed := tc.ConnectionState().DidResume
	c.s.mu.Lock()
	c.s.x.tlsData++
	if resumed {
		c.s.x.tlsResumed++
	}
	c.s.mu.Unlock()
	if c.s.x.tlsReuse && !resumed {
		tc.Close()
		return nil, errNoReuse
	}
	return &tlsData{Conn: tc, raw: ec}, nil
}

// dataRefused answers a transfer command that WithTLSRequired refuses
// because data connections are in the clear. It reports whether it did.
func (c *Conn) dataRefused() bool {
	if !c.s.x.tlsRequired || c.x.protP {
		return false
	}
	c.closePasv()
	c.Reply(521, "Data connections must be encrypted.")
	return true
}

// dataFailed answers a data connection that could not be opened.
func (c *Conn) dataFailed(err error) {
	if errors.Is(err, errNoReuse) {
		c.Reply(522, "SSL connection failed: session reuse required.")
		return
	}
	c.Reply(425, "Can't open data connection.")
}

// tlsData is a TLS data connection that remembers how it ended.
type tlsData struct {
	*tls.Conn
	raw *eofConn
}

// eofConn records whether the TCP connection under a TLS connection
// reached its end: a TLS end of file without it was a close_notify, one
// with it a bare TCP close, which a truncating attacker can fake.
type eofConn struct {
	net.Conn
	eof bool // only touched by the goroutine reading the data connection
}

func (e *eofConn) Read(p []byte) (int, error) {
	n, err := e.Conn.Read(p)
	if err == io.EOF {
		e.eof = true
	}
	return n, err
}

// errNoCloseNotify is an upload that ended with a TCP close but no TLS
// close_notify.
var errNoCloseNotify = errors.New("ftptest: TLS upload ended without close_notify")

// uploadEnd checks the end of an upload: under TLS, an end of file
// without close_notify is an error.
func uploadEnd(dc net.Conn, err error) error {
	if td, ok := dc.(*tlsData); ok && err == nil && td.raw.eof {
		return errNoCloseNotify
	}
	return err
}
