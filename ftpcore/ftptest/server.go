// Package ftptest provides an in-process, scriptable FTP server for tests, in
// the manner of net/http/httptest.
//
// The server speaks enough of RFC 959 (FTP), RFC 2389 (FEAT, OPTS),
// RFC 2428 (EPSV) and RFC 3659 (SIZE, MDTM, REST STREAM, MLST, MLSD) for a
// client to log in, list (STAT of a path too), download and upload against
// an in-memory file tree,
// over real sockets on 127.0.0.1. Its purpose is faults rather than fidelity:
// any command can be replaced with a Handler that writes exact replies,
// malformed bytes or nothing at all, and options reproduce the directives of
// curl's tests/ftpserver.pl (REPLY, DELAY, PASVBADIP, NODATACONN425,
// SLOWDOWNDATA).
//
// Each EPSV or PASV opens a fresh listener on 127.0.0.1:0 (or the control
// connection's address) and closes the one before. The listener lives until
// one data connection is accepted, until a transfer command (RETR, STOR,
// APPE, LIST, NLST, MLSD) fails before accepting, or until the session
// ends. It is not closed by other commands in between, because clients
// commonly send TYPE, SIZE or REST after EPSV and before RETR.
//
// Built-in transfers run while the control connection is still read, so
// that ABOR is answered mid-transfer (426, then 226); other commands that
// arrive during a transfer are answered after it.
//
// Options add FTPS (RFC 2228, RFC 4217: AUTH TLS, PBSZ, PROT, TLS data
// connections, implicit TLS), active mode (EPRT, PORT: the server connects
// to the client) and IPv6 (listening on ::1). Without a TLS option AUTH
// answers 502, which is what a client must cope with against a plain
// server anyway.
package ftptest

import (
	"errors"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

const (
	// maxLine is the longest command line accepted, excluding CRLF. Longer
	// lines are answered with 500 so that tests can check a client's own
	// limits without the server buffering without bound.
	maxLine = 4096

	// dataAcceptTimeout bounds the wait for a client to connect to a passive
	// listener, so that a client that never connects fails a test instead of
	// hanging it.
	dataAcceptTimeout = 5 * time.Second

	// defaultChunk is the write size for downloads when no slow-data fault is
	// set; small enough that an ABOR or a closed data connection is noticed
	// between writes.
	defaultChunk = 32 << 10
)

// Server is an FTP server on 127.0.0.1 with an in-memory file tree.
//
// Create it with NewServer. All methods are safe for concurrent use, also
// while clients are connected. After Close the file tree and the counters can
// still be read.
type Server struct {
	// Addr is the control listener's address, "127.0.0.1:port" ("[::1]:port"
	// with WithIPv6).
	Addr string

	ln        net.Listener
	wg        sync.WaitGroup // accept loop, per-connection and per-transfer goroutines
	closeOnce sync.Once

	// Set by options before the listener starts, read-only afterwards.
	user, pass, acct string
	more             map[string]string // WithMoreUsers: user to password
	features         []string
	noFeat           bool
	greetCode        int
	greetText        string
	noEPSV           bool
	loginDir         string
	x                serverExt // TLS, active mode, IPv6: tls.go, active.go

	mu         sync.Mutex // guards everything below
	pasvIP     string
	replyDelay time.Duration
	noData425  bool
	slowChunk  int
	slowEvery  time.Duration
	maxConns   int
	admitted   int // control connections greeted and not yet ended
	handlers   map[string]Handler
	files      map[string]*node
	commands   []string
	dataConns  int
	logins     int
	conns      int
	live       map[*Conn]struct{}
	closed     bool
}

// Option configures a Server in NewServer.
type Option func(*Server)

// WithCredentials sets the only user name and password that log in. The
// default is "user" and "pass". Any other pair is refused with 530 after PASS,
// never after USER, as real servers do to avoid disclosing user names.
func WithCredentials(user, pass string) Option {
	return func(s *Server) { s.user, s.pass = user, pass }
}

// WithMoreUsers adds accounts that log in beside WithCredentials' one,
// given as user, password, user, password...
func WithMoreUsers(pairs ...string) Option {
	return func(s *Server) {
		if s.more == nil {
			s.more = map[string]string{}
		}
		for i := 0; i+1 < len(pairs); i += 2 {
			s.more[pairs[i]] = pairs[i+1]
		}
	}
}

// WithAccount makes PASS answer 332, so that the client has to send ACCT
// acct before it is logged in (RFC 959 section 5.4).
func WithAccount(acct string) Option {
	return func(s *Server) { s.acct = acct }
}

// WithFeatures sets the lines listed by FEAT, without the leading space. With
// no arguments FEAT answers 502, like a pre-RFC 2389 server.
func WithFeatures(lines ...string) Option {
	return func(s *Server) {
		s.features = slices.Clone(lines)
		s.noFeat = len(lines) == 0
	}
}

// WithGreeting sets the reply sent when a client connects; the default is
// 220 "ftptest ready". With a code of 400 or more the server closes the
// connection after the greeting, as a busy server does with 421.
func WithGreeting(code int, text string) Option {
	return func(s *Server) { s.greetCode, s.greetText = code, text }
}

// WithPASVAddress sets the address announced in the 227 reply to PASV
// (curl's PASVBADIP). The passive listener itself stays on 127.0.0.1, so a
// client that trusts the announced address fails to connect. An IPv4 address
// is announced as its four octets; any other string has its dots replaced by
// commas and is sent as is, to produce malformed replies.
func WithPASVAddress(ip string) Option {
	return func(s *Server) { s.pasvIP = ip }
}

// WithoutEPSV makes EPSV answer 500, so that a client has to fall back to
// PASV.
func WithoutEPSV() Option {
	return func(s *Server) { s.noEPSV = true }
}

// WithLoginDir sets the working directory after login; the default is "/".
// The directory is created in the file tree if it does not exist.
func WithLoginDir(dir string) Option {
	return func(s *Server) { s.loginDir = cleanPath(dir) }
}

// WithReplyDelay makes the server sleep for d before every reply, including
// the greeting (curl's DELAY). See also SetReplyDelay.
func WithReplyDelay(d time.Duration) Option {
	return func(s *Server) { s.replyDelay = d }
}

// WithNoDataConn425 makes RETR, STOR, APPE, LIST, NLST and MLSD answer 425
// in place of 150 and accept no data connection (curl's NODATACONN425). See
// also SetNoDataConn425.
func WithNoDataConn425() Option {
	return func(s *Server) { s.noData425 = true }
}

// WithSlowData makes RETR write chunk bytes and then sleep for every, until
// the file is sent (curl's SLOWDOWNDATA). See also SetSlowData.
func WithSlowData(chunk int, every time.Duration) Option {
	return func(s *Server) { s.slowChunk, s.slowEvery = chunk, every }
}

// WithMaxConns makes the server take at most n control connections at
// once, as vsftpd's max_clients does: one more is greeted with 421 and
// closed, and does not count against the limit. 0, the default, is no
// limit. See also SetMaxConns.
func WithMaxConns(n int) Option {
	return func(s *Server) { s.maxConns = n }
}

// NewServer starts a server on 127.0.0.1:0 and registers Close with
// t.Cleanup. It fails the test if it cannot listen.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		user:      "user",
		pass:      "pass",
		features:  []string{"EPSV", "PASV", "SIZE", "MDTM", "REST STREAM", "UTF8", "MLST type*;size*;modify*;"},
		greetCode: 220,
		greetText: "ftptest ready",
		loginDir:  "/",
		handlers:  make(map[string]Handler),
		files:     map[string]*node{"/": {dir: true, mod: time.Now().UTC().Truncate(time.Second)}},
		live:      make(map[*Conn]struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.Mkdir(s.loginDir)
	ln, err := net.Listen(s.listenAddr())
	if err != nil {
		t.Fatalf("ftptest: listen: %v", err)
	}
	s.ln = ln
	s.Addr = ln.Addr().String()
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.Close)
	return s
}

// Host returns the host part of Addr, "127.0.0.1" (or "::1").
func (s *Server) Host() string {
	h, _, _ := net.SplitHostPort(s.Addr)
	return h
}

// Port returns the port part of Addr.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// Close stops the listener, closes every live control and data connection
// and waits for all of the server's goroutines to return. It is safe to call
// more than once. A Handler that blocks without watching Conn.Done makes
// Close wait for it.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		live := make([]*Conn, 0, len(s.live))
		for c := range s.live {
			live = append(live, c)
		}
		s.mu.Unlock()
		s.ln.Close()
		for _, c := range live {
			c.Close()
		}
	})
	s.wg.Wait()
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (e.g. EMFILE under a leaky test): back off
			// rather than spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.live[c] = struct{}{}
		s.conns++
		s.wg.Add(2)
		s.mu.Unlock()
		go c.readLoop()
		go c.serve()
	}
}

// Handle makes h answer cmd (case-insensitive, e.g. "RETR") on every
// connection from the next command on, in place of the built-in behaviour.
// The handler runs whether or not the client is logged in; it can call
// Conn.Default to get the built-in behaviour, login check included. A nil h
// restores the default. An ABOR that arrives during a built-in transfer is
// always handled by the built-in code. Safe to call while clients are
// connected.
func (s *Server) Handle(cmd string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h == nil {
		delete(s.handlers, upper(cmd))
		return
	}
	s.handlers[upper(cmd)] = h
}

func (s *Server) handler(cmd string) Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handlers[cmd]
}

// SetReplyDelay changes the delay set by WithReplyDelay, for replies sent
// from now on.
func (s *Server) SetReplyDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replyDelay = d
}

// SetNoDataConn425 switches the fault set by WithNoDataConn425 on or off for
// later transfer commands.
func (s *Server) SetNoDataConn425(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noData425 = on
}

// SetSlowData changes the fault set by WithSlowData for later downloads; a
// chunk of 0 or less switches it off.
func (s *Server) SetSlowData(chunk int, every time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slowChunk, s.slowEvery = chunk, every
}

// SetMaxConns changes the limit set by WithMaxConns for connections that
// arrive from now on.
func (s *Server) SetMaxConns(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxConns = n
}

// admit counts a new control connection in, unless the limit set by
// WithMaxConns is reached.
func (s *Server) admit() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxConns > 0 && s.admitted >= s.maxConns {
		return false
	}
	s.admitted++
	return true
}

// SetPASVAddress changes the address set by WithPASVAddress for later PASV
// replies; "" restores 127.0.0.1.
func (s *Server) SetPASVAddress(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pasvIP = ip
}

// Commands returns every command line received so far, in the order it
// arrived, across all connections, without CRLF. Lines are verbatim (PASS
// included) except that a leading Telnet IP/Synch sequence, which clients
// send before ABOR, is removed, and lines over the length limit are left out.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commands)
}

// DataConns returns the number of data connections accepted so far.
func (s *Server) DataConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dataConns
}

// Logins returns the number of successful logins so far.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// Conns returns the number of control connections accepted so far.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *Server) record(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = append(s.commands, line)
}

type faults struct {
	replyDelay time.Duration
	noData425  bool
	slowChunk  int
	slowEvery  time.Duration
	pasvIP     string
}

// faults snapshots the settable faults, so that a command sees one
// consistent set even if a test changes them concurrently.
func (s *Server) faults() faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return faults{s.replyDelay, s.noData425, s.slowChunk, s.slowEvery, s.pasvIP}
}
