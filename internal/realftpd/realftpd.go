// Package realftpd starts a real FTP server on the loopback interface for
// one test, so integration tests exercise the gateway against the servers it
// will meet in production rather than against a mock. Launch does the same
// outside of tests, for the benchmark under bench/.
//
// Three servers make up the matrix, each in its stock Debian 12 build:
// vsftpd 3.0.3 (also with explicit and implicit FTPS, RFC 4217), pure-ftpd
// 1.0.50 and proftpd 1.3.8. All speak RFC 959 with the RFC 2428 (EPSV, EPRT)
// extensions; pure-ftpd and proftpd also offer RFC 3659 (MLST, MLSD, SIZE,
// MDTM, REST STREAM), vsftpd only SIZE, MDTM and REST STREAM. Each instance
// has its own directory, port and passive port range, so tests may run in
// parallel.
//
// Starting a server needs root, the binaries and the test account, which
// scripts/install-test-deps.sh provides: vsftpd as a Debian package,
// pure-ftpd and proftpd unpacked under FTPGW_TEST_SERVERS_DIR
// (/opt/ftpgw-test-servers by default). Without them Start skips the test,
// unless FTPGW_REQUIRE_REAL_SERVERS=1 is set, in which case it fails it: CI
// sets the variable so that a broken machine cannot pass by skipping.
package realftpd

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The account scripts/install-test-deps.sh creates; keep the two in step.
const (
	TestUser     = "ftpgwtest"
	TestPassword = "ftpgw-test-pw"
)

// RequireEnv is the environment variable that turns a skip for missing
// prerequisites into a test failure when set to "1".
const RequireEnv = "FTPGW_REQUIRE_REAL_SERVERS"

// ServersDirEnv names the directory where scripts/install-test-deps.sh
// unpacked pure-ftpd and proftpd (one subdirectory each); DefaultServersDir
// applies when it is unset. The two must agree with the script.
const (
	ServersDirEnv     = "FTPGW_TEST_SERVERS_DIR"
	DefaultServersDir = "/opt/ftpgw-test-servers"
)

// Kind names one server configuration of the matrix.
type Kind string

const (
	// Vsftpd is vsftpd 3.0.3, plain FTP, not chrooted: LoginPath is Root,
	// and absolute paths outside Root are reachable.
	Vsftpd Kind = "vsftpd"
	// PureFTPd is pure-ftpd 1.0.50, plain FTP, with the test user chrooted
	// to Root: LoginPath is "/". It keeps no log of commands.
	PureFTPd Kind = "pure-ftpd"
	// ProFTPD is proftpd 1.3.8, plain FTP, not chrooted: LoginPath is Root.
	// Its login takes ~20 ms, but whenever a session ends its listener
	// stops accepting for 200 ms or more (a compiled-in pause after the
	// SIGCHLD interrupts its select), so a connection that follows the end
	// of another may wait that long for its greeting.
	ProFTPD Kind = "proftpd"
	// VsftpdTLS12 is vsftpd with explicit FTPS (AUTH TLS) required on the
	// control and every data connection, and require_ssl_reuse=YES: a data
	// connection must resume the control connection's TLS session. Debian's
	// vsftpd 3.0.3 knows only ssl_tlsv1 (all of TLS 1.x), so it cannot be
	// limited to TLS 1.2: the client is, through TLSInfo.MaxVersion.
	// Go's client resumes through session tickets, which vsftpd issues
	// under TLS 1.2 and 1.3 alike. A data connection that does not resume
	// completes its handshake, is closed without data, and the transfer
	// command gets "522 SSL connection failed: session reuse required".
	VsftpdTLS12 Kind = "vsftpd-ftps-tls1.2"
	// VsftpdTLS13 is VsftpdTLS12 without the client-side cap, so the
	// connections negotiate TLS 1.3.
	VsftpdTLS13 Kind = "vsftpd-ftps-tls1.3"
	// VsftpdImplicit is vsftpd with implicit FTPS (implicit_ssl=YES): TLS
	// from the first byte of the control connection, otherwise as
	// VsftpdTLS13.
	VsftpdImplicit Kind = "vsftpd-ftps-implicit"
)

// Matrix lists every Kind, in the order integration tests should run them.
// Treat it as read-only.
var Matrix = []Kind{Vsftpd, PureFTPd, ProFTPD, VsftpdTLS12, VsftpdTLS13, VsftpdImplicit}

// Options adjusts a server. The zero value is the default.
type Options struct {
	// IPv6 makes the server listen on ::1 instead of 127.0.0.1; all three
	// servers support it. Use EPSV then: PASV gets 425 from pure-ftpd, an
	// unusable 0.0.0.0 address from vsftpd and a malformed three-number
	// reply from proftpd.
	IPv6 bool
	// ActiveMode allows PORT and EPRT (the server connects to the client).
	// Without it vsftpd and proftpd refuse them; pure-ftpd has no switch
	// for that and always allows them.
	ActiveMode bool
	// MaxConns, when positive, is the most control connections the server
	// takes from the test's address at once (all of a test's come from
	// one): vsftpd's max_per_ip and pure-ftpd's -C, which greet the next
	// with 421 and close it ("421 There are too many connections from
	// your internet address.", "421 Too many connections (2) from this
	// IP"; vsftpd with implicit FTPS before the handshake, in plain
	// text), and proftpd's MaxConnectionsPerHost, which greets it with
	// 530 ("530 Sorry, the maximum number of connections (2) for your
	// host are already connected."). The connection Start keeps open to
	// proftpd counts against it.
	MaxConns int
	// PasvAddress, when set, is the IPv4 address vsftpd names in its PASV
	// replies (pasv_address) instead of the one it listens on: the
	// benchmark's latency mode puts a delay proxy at 127.0.0.2 in front of
	// the control port and of every port of the passive range, and a
	// client that connects where PASV says must reach the proxy too (EPSV
	// replies name no address: the client uses the control connection's).
	// vsftpd only; pure-ftpd and proftpd ignore it.
	PasvAddress string
}

// TLSInfo is what a client needs to talk to an FTPS server.
type TLSInfo struct {
	// Implicit is true when TLS starts with the connection (no AUTH TLS).
	Implicit bool
	// RootCAs holds the test CA that signed the server certificate.
	RootCAs *x509.CertPool
	// ServerName is a DNS name in the certificate ("localhost"); the
	// certificate also names the IP addresses 127.0.0.1 and ::1.
	ServerName string
	// MaxVersion is tls.VersionTLS12 for VsftpdTLS12, 0 otherwise.
	MaxVersion uint16
	// CAFile is the path of the CA certificate in PEM, for tests of a
	// CA-bundle option.
	CAFile string
}

// ClientConfig returns a new client configuration for the server with a
// session cache of its own. Use the same configuration (or at least the same
// ClientSessionCache) for the control connection and every data connection
// of a session: vsftpd's require_ssl_reuse refuses a data connection that
// does not resume the control connection's session.
func (i *TLSInfo) ClientConfig() *tls.Config {
	return &tls.Config{
		RootCAs:            i.RootCAs,
		ServerName:         i.ServerName,
		MaxVersion:         i.MaxVersion,
		ClientSessionCache: tls.NewLRUClientSessionCache(0),
	}
}

const (
	startTimeout = 10 * time.Second
	stopTimeout  = 5 * time.Second
	// Attempts to start when the server loses the race for its listening
	// port to another process between our probe and its bind.
	startAttempts = 5

	// Passive ranges are carved out of [pasvBase, pasvBase+pasvSlots*pasvSpan),
	// below Linux's default ephemeral range (32768-60999) so that they do not
	// compete with the listening ports the kernel hands out. Instances pick a
	// slot at random; when two share one, each server retries its bind on
	// another port of the range, so a collision costs nothing but a retry.
	pasvBase  = 10000
	pasvSpan  = 200
	pasvSlots = 100
)

// Server is a real FTP server process on the loopback interface serving
// Root as the test user's login directory. It is stopped (with every
// per-connection process, so sessions still open end with it) and its files
// removed when the test that started it finishes. The methods are safe for
// concurrent use.
type Server struct {
	// Kind is the configuration this server runs.
	Kind Kind
	// Addr is the control connection address, "127.0.0.1:port" or
	// "[::1]:port".
	Addr string
	// Host is the address the server listens on, "127.0.0.1" or "::1".
	Host string
	// User and Password log in.
	User, Password string
	// Root is the absolute host path of the login directory, owned by the
	// test user with mode 0755. Files put here are served.
	Root string
	// LoginPath is the server's name for Root, as PWD reports it right after
	// login: Root itself, except for PureFTPd, which chroots the user to
	// Root and calls it "/".
	LoginPath string
	// TLS is set for the FTPS kinds, nil for plain FTP.
	TLS *TLSInfo

	// PasvMinPort and PasvMaxPort bound the ports the server listens on
	// for passive (PASV/EPSV) data connections.
	PasvMinPort, PasvMaxPort int

	opts       Options
	dir        string // per-instance directory holding Root, config and logs
	logPath    string // what Log returns
	cmdLogPath string // proftpd's command log
	outPath    string // the process's stdin, stdout and stderr
	uid, gid   int
	tlsFiles   tlsFiles

	// What Restart needs: how the running process was started, and how
	// to stop it.
	bins     binaries
	port     int
	procMu   sync.Mutex
	stopProc func() error
}

// StartVsftpd is Start(t, Vsftpd).
func StartVsftpd(t testing.TB) *Server {
	t.Helper()
	return Start(t, Vsftpd)
}

// Start starts a fresh server of the given kind for t, with at most one
// Options, and stops it and removes its files at t.Cleanup. It is Launch
// tied to a test.
//
// When the server, root privileges or the test account are missing it calls
// t.Skip with the reason, or t.Fatal when FTPGW_REQUIRE_REAL_SERVERS=1.
func Start(t testing.TB, kind Kind, opts ...Options) *Server {
	t.Helper()
	if len(opts) > 1 {
		t.Fatalf("realftpd: Start takes at most one Options, got %d", len(opts))
	}
	var o Options
	if len(opts) == 1 {
		o = opts[0]
	}
	s, stop, err := Launch(kind, o)
	var u *UnavailableError
	if errors.As(err, &u) {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%v (%s=1, so this fails instead of skipping)", err, RequireEnv)
		}
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return s
}

// UnavailableError is the error of Launch when this machine cannot run the
// server at all: the program, root privileges or the test account are
// missing (scripts/install-test-deps.sh provides them). Start skips the test
// then rather than failing it.
type UnavailableError struct {
	Kind   Kind
	Reason string
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("realftpd: %s: %s", e.Kind, e.Reason)
}

// Launch starts a fresh server of the given kind outside of any test (a
// benchmark, a demo) and returns it with the function that stops it: stop
// kills the server with every per-connection process, so sessions still
// open end with it, and removes its files. stop may be called more than
// once and from any goroutine; only the first call does anything, and
// later ones return its error. The caller must call stop: the server
// outlives the caller's goroutines otherwise, though not the process (it
// gets SIGKILL when its parent dies).
//
// When the machine cannot run the server the error is an
// *UnavailableError; any other error means it could not be started.
func Launch(kind Kind, opts Options) (s *Server, stop func() error, err error) {
	if !slices.Contains(Matrix, kind) {
		return nil, nil, fmt.Errorf("realftpd: unknown kind %q", kind)
	}
	bins, acct, reason := prerequisites(kind)
	if reason != "" {
		return nil, nil, &UnavailableError{Kind: kind, Reason: reason}
	}
	uid, err := strconv.Atoi(acct.Uid)
	if err != nil {
		return nil, nil, fmt.Errorf("realftpd: uid of %s: %v", TestUser, err)
	}
	gid, err := strconv.Atoi(acct.Gid)
	if err != nil {
		return nil, nil, fmt.Errorf("realftpd: gid of %s: %v", TestUser, err)
	}

	dir, err := os.MkdirTemp("", "realftpd-")
	if err != nil {
		return nil, nil, fmt.Errorf("realftpd: %v", err)
	}
	removeDir := func() error {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("realftpd: removing %s: %v", dir, err)
		}
		return nil
	}
	fail := func(format string, args ...any) (*Server, func() error, error) {
		return nil, nil, errors.Join(fmt.Errorf(format, args...), removeDir())
	}
	// The servers report the real path in PWD replies; resolve any
	// symlink in TMPDIR so Root is exactly what they report.
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return fail("realftpd: %v", err)
	}
	// 0711: the test user, after the server drops privileges, must be able
	// to pass through to root/ but not list or change the configuration.
	// proftpd also refuses a world-writable directory for its scoreboard.
	if err := os.Chmod(dir, 0o711); err != nil {
		return fail("realftpd: %v", err)
	}
	for _, d := range []string{"empty", "root"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return fail("realftpd: %v", err)
		}
	}
	host := "127.0.0.1"
	if opts.IPv6 {
		host = "::1"
	}
	s = &Server{
		Kind:     kind,
		Host:     host,
		User:     TestUser,
		Password: TestPassword,
		Root:     filepath.Join(dir, "root"),
		opts:     opts,
		dir:      dir,
		outPath:  filepath.Join(dir, "server.out"),
		uid:      uid,
		gid:      gid,
	}
	s.LoginPath = s.Root
	if err := os.Chown(s.Root, uid, gid); err != nil {
		return fail("realftpd: %v", err)
	}
	if err := os.Chmod(s.Root, 0o755); err != nil {
		return fail("realftpd: %v", err)
	}

	slot := rand.IntN(pasvSlots)
	s.PasvMinPort = pasvBase + slot*pasvSpan
	s.PasvMaxPort = s.PasvMinPort + pasvSpan - 1

	if err := s.prepare(bins); err != nil {
		return fail("realftpd: preparing %s: %v", kind, err)
	}

	var lastErr error
	for range startAttempts {
		port, err := freePort(host)
		if err != nil {
			return fail("realftpd: %v", err)
		}
		stopServer, err := s.start(bins, port)
		if err == nil {
			s.Addr = net.JoinHostPort(host, strconv.Itoa(port))
			s.bins, s.port, s.stopProc = bins, port, stopServer
			var (
				once    sync.Once
				stopErr error
			)
			return s, func() error {
				once.Do(func() { stopErr = errors.Join(s.stopProcess(), removeDir()) })
				return stopErr
			}, nil
		}
		lastErr = err
		if !errors.Is(err, errBind) {
			break
		}
	}
	return fail("realftpd: starting %s: %v\n%s log:\n%s", kind, lastErr, kind, strings.Join(s.Log(), "\n"))
}

// family is the server program behind a kind.
func (k Kind) family() Kind {
	switch k {
	case VsftpdTLS12, VsftpdTLS13, VsftpdImplicit:
		return Vsftpd
	}
	return k
}

// binaries are the executables one kind needs.
type binaries struct {
	server string
	purePW string // pure-ftpd only: builds the user database
}

// errBind marks a start that failed because the listening port was taken.
var errBind = errors.New("listening port already in use")

// prepare writes what every start attempt shares: certificates and, for
// pure-ftpd, the user database.
func (s *Server) prepare(bins binaries) error {
	switch s.Kind.family() {
	case Vsftpd:
		s.logPath = filepath.Join(s.dir, "vsftpd.log")
		if s.Kind == Vsftpd {
			return nil
		}
		p, files, err := writeTLSFiles(s.dir)
		if err != nil {
			return err
		}
		s.tlsFiles = files
		s.TLS = &TLSInfo{
			Implicit:   s.Kind == VsftpdImplicit,
			RootCAs:    p.Roots,
			ServerName: ServerName,
			CAFile:     files.ca,
		}
		if s.Kind == VsftpdTLS12 {
			s.TLS.MaxVersion = tls.VersionTLS12
		}
		return nil
	case PureFTPd:
		s.logPath = filepath.Join(s.dir, "transfer.log")
		s.LoginPath = "/"
		return s.preparePureFTPd(bins)
	case ProFTPD:
		// proftpd -n logs to standard error, not to a SystemLog.
		s.logPath = s.outPath
		s.cmdLogPath = filepath.Join(s.dir, "commands.log")
		return nil
	}
	return fmt.Errorf("unknown kind %q", s.Kind)
}

// start runs the server on port and waits until it listens and greets. On
// success it returns the function that stops the process; on failure the
// process has been stopped.
func (s *Server) start(bins binaries, port int) (stopServer func() error, err error) {
	var args []string
	switch s.Kind.family() {
	case Vsftpd:
		args, err = s.vsftpdArgs(port)
	case PureFTPd:
		args, err = s.pureFTPdArgs(port)
	case ProFTPD:
		args, err = s.proftpdArgs(port)
	}
	if err != nil {
		return nil, err
	}
	// vsftpd reports fatal errors ("500 OOPS: ...") on fd 0, where an
	// inetd would have put the control connection, so stdin must be
	// writable to capture them. Stdout and stderr share the file.
	outFile, err := os.OpenFile(s.outPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bins.server, args...)
	cmd.Dir = s.dir
	// Listings show times in UTC whatever the machine's zone.
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TZ=UTC"}
	cmd.Stdin = outFile
	cmd.Stdout = outFile
	cmd.Stderr = outFile
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	outFile.Close() // the child has its own descriptors
	if err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() error {
		killTree(pid)
		select {
		case err := <-done:
			return err
		case <-time.After(stopTimeout):
			return fmt.Errorf("%s (pid %d) did not exit %v after SIGKILL", s.Kind.family(), pid, stopTimeout)
		}
	}

	// Wait for the listening socket of the process we started, rather than
	// for anything that answers on the port: another process could take
	// the port after ours failed to bind it.
	addr := net.JoinHostPort(s.Host, strconv.Itoa(port))
	deadline := time.Now().Add(startTimeout)
	for !listening(pid, port) {
		select {
		case err := <-done:
			msg := s.output() + "\n" + strings.Join(s.Log(), "\n")
			if strings.Contains(msg, "in use") || strings.Contains(msg, "could not bind") {
				return nil, fmt.Errorf("%w: %s", errBind, s.output())
			}
			return nil, fmt.Errorf("%s exited before listening on %s (%v): %s", s.Kind.family(), addr, err, s.output())
		default:
		}
		if time.Now().After(deadline) {
			stopErr := stop()
			return nil, fmt.Errorf("not listening on %s within %v (stop: %v) output: %s", addr, startTimeout, stopErr, s.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var held net.Conn
	for {
		greeting, c, err := s.probe(addr)
		if err == nil && strings.HasPrefix(greeting, "220") {
			// proftpd's listener, whenever the SIGCHLD of an ending
			// session interrupts its select, sleeps 200 ms (its
			// compiled-in EINTR retry interval; up to 400 ms seen)
			// before it accepts or starts another session. Ending the
			// probe's session now would hand that pause to the test's
			// first connection, so the probe stays logged out and idle
			// until cleanup. Other servers have no such pause.
			if s.Kind.family() == ProFTPD {
				held = c
			} else {
				c.Close()
			}
			break
		}
		if c != nil {
			c.Close()
		}
		if err == nil {
			err = fmt.Errorf("unexpected greeting %q", greeting)
		}
		if time.Now().After(deadline) {
			stopErr := stop()
			return nil, fmt.Errorf("no 220 greeting on %s within %v: %v (stop: %v) output: %s",
				addr, startTimeout, err, stopErr, s.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if held == nil {
		// Let the probe's session process end, so that it cannot be
		// mistaken for one of the test's.
		for len(descendants(pid)) > 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}

	return func() error {
		if held != nil {
			held.Close()
		}
		// The exit status after SIGKILL is always an error; only a hang
		// is worth reporting.
		if err := stop(); err != nil && !isKilled(err) {
			return fmt.Errorf("realftpd: stopping %s: %v", s.Kind, err)
		}
		return nil
	}, nil
}

// stopProcess stops the running server process, if any.
func (s *Server) stopProcess() error {
	s.procMu.Lock()
	defer s.procMu.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	err := s.stopProc()
	s.stopProc = func() error { return nil }
	return err
}

// Restart kills the server with every session, as a crash does, and starts
// it again on the same port with the same configuration and files, waiting
// until it greets: Kill, then Revive. Clients holding a session find it
// closed; new connections reach the new process. It fails t if the server
// does not come back. Call it only before the server is stopped.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill(t)
	s.Revive(t)
}

// Relaunch is Restart outside of any test, for a server from Launch: it
// returns an error when the server does not go down or come back.
func (s *Server) Relaunch() error {
	if err := s.kill(); err != nil {
		return err
	}
	return s.revive()
}

// Kill kills the server with every session, as a crash does, and leaves it
// down: connections to Addr are refused until Revive. It fails t if the
// process does not exit.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if err := s.kill(); err != nil {
		t.Fatal(err)
	}
}

func (s *Server) kill() error {
	if err := s.stopProcess(); err != nil {
		return fmt.Errorf("realftpd: killing %s: %v", s.Kind, err)
	}
	return nil
}

// Revive starts a server that Kill took down again, on the same port with
// the same configuration and files, and waits until it greets. It fails t
// if the server does not come back. Call it only after Kill, and before
// the server is stopped.
func (s *Server) Revive(t testing.TB) {
	t.Helper()
	if err := s.revive(); err != nil {
		t.Fatal(err)
	}
}

func (s *Server) revive() error {
	s.procMu.Lock()
	defer s.procMu.Unlock()
	var err error
	for range startAttempts {
		var stop func() error
		if stop, err = s.start(s.bins, s.port); err == nil {
			s.stopProc = stop
			return nil
		}
		if !errors.Is(err, errBind) {
			break
		}
		// Between the kill and the bind the port may be handed out to
		// some outgoing connection; it is soon free again.
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("realftpd: starting %s again on port %d: %v\n%s log:\n%s", s.Kind, s.port, err, s.Kind, strings.Join(s.Log(), "\n"))
}

// output returns what the server process wrote to its standard streams.
func (s *Server) output() string {
	b, _ := os.ReadFile(s.outPath)
	return strings.TrimSpace(string(b))
}

// probe dials addr (through TLS for implicit FTPS) and returns the first
// line the server sends, and the connection.
func (s *Server) probe(addr string) (string, net.Conn, error) {
	var (
		c   net.Conn
		err error
	)
	if s.TLS != nil && s.TLS.Implicit {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: s.TLS.ClientConfig()}
		c, err = d.Dial("tcp", addr)
	} else {
		c, err = net.DialTimeout("tcp", addr, time.Second)
	}
	if err != nil {
		return "", nil, err
	}
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return "", c, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", c, err
	}
	return strings.TrimRight(line, "\r\n"), c, nil
}

func isKilled(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}

const installHint = "; run scripts/install-test-deps.sh as root"

// serversDir is where scripts/install-test-deps.sh unpacked pure-ftpd and
// proftpd.
func serversDir() string {
	if d := os.Getenv(ServersDirEnv); d != "" {
		return d
	}
	return DefaultServersDir
}

// prerequisites returns the binaries for kind and the test account, or the
// reason the server cannot be started here.
func prerequisites(kind Kind) (bins binaries, acct *user.User, reason string) {
	if r := unsupported(); r != "" {
		return bins, nil, r
	}
	executable := func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
	}
	switch kind.family() {
	case Vsftpd:
		bin, err := exec.LookPath("vsftpd")
		if err != nil {
			// /usr/sbin is often missing from a non-login PATH.
			bin = "/usr/sbin/vsftpd"
			if !executable(bin) {
				return bins, nil, "vsftpd is not installed" + installHint
			}
		}
		bins.server = bin
	case PureFTPd:
		d := filepath.Join(serversDir(), "pure-ftpd")
		bins.server = filepath.Join(d, "usr/sbin/pure-ftpd")
		bins.purePW = filepath.Join(d, "usr/bin/pure-pw")
		if !executable(bins.server) || !executable(bins.purePW) {
			return bins, nil, fmt.Sprintf("pure-ftpd is not unpacked in %s (%s)%s", d, ServersDirEnv, installHint)
		}
	case ProFTPD:
		d := filepath.Join(serversDir(), "proftpd")
		bins.server = filepath.Join(d, "usr/sbin/proftpd")
		if !executable(bins.server) {
			return bins, nil, fmt.Sprintf("proftpd is not unpacked in %s (%s)%s", d, ServersDirEnv, installHint)
		}
	}
	if os.Geteuid() != 0 {
		return bins, nil, "the servers need root to authenticate local users and drop privileges; run the tests as root"
	}
	acct, err := user.Lookup(TestUser)
	if err != nil {
		return bins, nil, fmt.Sprintf("test account %q is missing: %v%s", TestUser, err, installHint)
	}
	if fi, err := os.Stat(acct.HomeDir); err != nil || !fi.IsDir() {
		return bins, nil, fmt.Sprintf("home directory %q of %s is missing, so vsftpd would refuse the login%s", acct.HomeDir, TestUser, installHint)
	}
	return bins, acct, ""
}

// freePort asks the kernel for a port on host that is free right now.
// Another process may take it before the server binds; Start retries then.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Log returns the lines of the server's own log so far:
//   - vsftpd: the protocol trace (every command and reply, PASS as
//     "PASS <password>"), one CONNECT line per connection, transfers;
//   - proftpd: what it writes to standard error, where -n sends its system
//     log (start-up, sessions opened and closed, logins, errors);
//   - pure-ftpd: its transfer log in Common Log Format, one line per
//     completed upload or download; pure-ftpd logs everything else only to
//     syslog, which these machines do not run.
//
// The readiness probe of Start shows up as one connection with no commands;
// for proftpd that connection stays open, never logged in, until cleanup.
func (s *Server) Log() []string {
	return readLines(s.logPath)
}

func readLines(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	text := strings.TrimRight(string(data), "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// HasCommandLog reports whether Commands reflects what the server received:
// true for vsftpd and proftpd, false for pure-ftpd.
func (s *Server) HasCommandLog() bool {
	return s.Kind.family() != PureFTPd
}

// Commands returns the commands the server received, in the order they
// arrived, from all connections: as sent ("EPSV", "RETR x") for vsftpd, with
// trailing spaces removed for proftpd (whose parser drops them anyway); PASS
// appears as "PASS <password>". Both servers log a command before they send
// its final reply, so a command whose final reply the client has read is
// present. They differ before that: vsftpd logs a command as it arrives,
// proftpd once it completes, so a RETR or STOR in progress shows up only
// with vsftpd, and proftpd logs QUIT just after its 221. For pure-ftpd,
// which cannot log commands, it returns nil (see HasCommandLog).
func (s *Server) Commands() []string {
	var cmds []string
	switch s.Kind.family() {
	case Vsftpd:
		for _, line := range s.Log() {
			if cmd, ok := parseCommand(line); ok {
				cmds = append(cmds, cmd)
			}
		}
	case ProFTPD:
		for _, line := range readLines(s.cmdLogPath) {
			cmds = append(cmds, parseProftpdCommand(line))
		}
	}
	return cmds
}

// Path returns the host path of rel under Root.
func (s *Server) Path(rel string) string {
	return filepath.Join(s.Root, rel)
}

// WriteFile creates the file rel under Root with data, creating missing
// parent directories; all of them belong to the test user, as if uploaded.
func (s *Server) WriteFile(t testing.TB, rel string, data []byte) {
	t.Helper()
	if !filepath.IsLocal(rel) {
		t.Fatalf("realftpd: WriteFile: %q is not a relative path inside Root", rel)
	}
	rel = filepath.Clean(rel)
	dir := s.Root
	parts := strings.Split(filepath.Dir(rel), string(filepath.Separator))
	for _, p := range parts {
		if p == "." {
			continue
		}
		dir = filepath.Join(dir, p)
		err := os.Mkdir(dir, 0o755)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			t.Fatalf("realftpd: WriteFile: %v", err)
		}
		if err := os.Chown(dir, s.uid, s.gid); err != nil {
			t.Fatalf("realftpd: WriteFile: %v", err)
		}
	}
	p := s.Path(rel)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatalf("realftpd: WriteFile: %v", err)
	}
	if err := os.Chown(p, s.uid, s.gid); err != nil {
		t.Fatalf("realftpd: WriteFile: %v", err)
	}
}
