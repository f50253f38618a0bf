// Package realftpd starts a real vsftpd on 127.0.0.1 for one test, so
// integration tests exercise the gateway against the server it will meet in
// production rather than against a mock.
//
// The server speaks RFC 959 with the RFC 2428 (EPSV) and RFC 3659 extensions
// vsftpd 3.0 implements. Each instance has its own directory, port and
// passive port range, so tests that use it may run in parallel.
//
// Starting vsftpd needs root, the vsftpd binary and the test account created
// by scripts/install-test-deps.sh. Without them StartVsftpd skips the test,
// unless FTPGW_REQUIRE_REAL_SERVERS=1 is set, in which case it fails it: CI
// sets the variable so that a broken machine cannot pass by skipping.
package realftpd

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
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

const (
	startTimeout = 5 * time.Second
	stopTimeout  = 5 * time.Second
	// Attempts to start when vsftpd loses the race for its listening port
	// to another process between our probe and its bind.
	startAttempts = 5

	// Passive ranges are carved out of [pasvBase, pasvBase+pasvSlots*pasvSpan),
	// below Linux's default ephemeral range (32768-60999) so that they do not
	// compete with the listening ports the kernel hands out. Instances pick a
	// slot at random; when two share one, vsftpd retries its bind on another
	// port of the range, so a collision costs nothing but a retry.
	pasvBase  = 10000
	pasvSpan  = 200
	pasvSlots = 100
)

// Server is a vsftpd process on 127.0.0.1 serving Root as the test user's
// login directory. It is stopped, and its files removed, when the test that
// started it finishes. The methods are safe for concurrent use.
type Server struct {
	// Addr is the control connection address, "127.0.0.1:port".
	Addr string
	// User and Password log in; vsftpd checks them through PAM.
	User, Password string
	// Root is the absolute host path of the login directory, owned by the
	// test user with mode 0755. Files put here are served. vsftpd does not
	// chroot the user: absolute paths outside Root are reachable too.
	Root string

	// PasvMinPort and PasvMaxPort bound the ports vsftpd listens on for
	// passive (PASV/EPSV) data connections.
	PasvMinPort, PasvMaxPort int

	dir     string // per-instance directory holding Root, config and log
	logPath string
	uid     int
	gid     int
}

// StartVsftpd starts a fresh vsftpd for t and stops it (killing the
// per-connection processes too, so sessions still open end with it) and
// removes its files at t.Cleanup.
//
// When vsftpd, root privileges or the test account are missing it calls
// t.Skip with the reason, or t.Fatal when FTPGW_REQUIRE_REAL_SERVERS=1.
func StartVsftpd(t testing.TB) *Server {
	t.Helper()

	bin, acct, reason := prerequisites()
	if reason != "" {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("realftpd: %s (%s=1, so this fails instead of skipping)", reason, RequireEnv)
		}
		t.Skipf("realftpd: %s", reason)
	}
	uid, err := strconv.Atoi(acct.Uid)
	if err != nil {
		t.Fatalf("realftpd: uid of %s: %v", TestUser, err)
	}
	gid, err := strconv.Atoi(acct.Gid)
	if err != nil {
		t.Fatalf("realftpd: gid of %s: %v", TestUser, err)
	}

	dir, err := os.MkdirTemp("", "realftpd-")
	if err != nil {
		t.Fatalf("realftpd: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("realftpd: removing %s: %v", dir, err)
		}
	})
	// vsftpd reports the real path in PWD replies; resolve any
	// symlink in TMPDIR so Root is exactly what the server reports.
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		t.Fatalf("realftpd: %v", err)
	}
	// 0711: the test user, after vsftpd drops privileges, must be able to
	// pass through to root/ but not list or change the config.
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatalf("realftpd: %v", err)
	}
	for _, d := range []string{"empty", "root"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatalf("realftpd: %v", err)
		}
	}
	s := &Server{
		User:     TestUser,
		Password: TestPassword,
		Root:     filepath.Join(dir, "root"),
		dir:      dir,
		logPath:  filepath.Join(dir, "vsftpd.log"),
		uid:      uid,
		gid:      gid,
	}
	if err := os.Chown(s.Root, uid, gid); err != nil {
		t.Fatalf("realftpd: %v", err)
	}
	if err := os.Chmod(s.Root, 0o755); err != nil {
		t.Fatalf("realftpd: %v", err)
	}

	slot := rand.IntN(pasvSlots)
	s.PasvMinPort = pasvBase + slot*pasvSpan
	s.PasvMaxPort = s.PasvMinPort + pasvSpan - 1

	var lastErr error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			t.Fatalf("realftpd: %v", err)
		}
		err = s.start(t, bin, port)
		if err == nil {
			return s
		}
		lastErr = err
		if !errors.Is(err, errBind) {
			break
		}
	}
	t.Fatalf("realftpd: starting vsftpd: %v\nvsftpd log:\n%s", lastErr, strings.Join(s.Log(), "\n"))
	return nil
}

// errBind marks a start that failed because the listening port was taken.
var errBind = errors.New("listening port already in use")

// start runs vsftpd on port and waits for its greeting. On success the
// process is owned by t's cleanup; on failure it has been stopped.
func (s *Server) start(t testing.TB, bin string, port int) error {
	confPath := filepath.Join(s.dir, "vsftpd.conf")
	if err := os.WriteFile(confPath, []byte(s.config(port)), 0o600); err != nil {
		return err
	}
	// vsftpd reports fatal errors ("500 OOPS: ...") on fd 0, where an
	// inetd would have put the control connection, so stdin must be
	// writable to capture them. Stdout and stderr share the file.
	outPath := filepath.Join(s.dir, "vsftpd.out")
	outFile, err := os.OpenFile(outPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	output := func() string {
		b, _ := os.ReadFile(outPath)
		return strings.TrimSpace(string(b))
	}
	cmd := exec.Command(bin, confPath)
	cmd.Dir = s.dir
	cmd.Stdin = outFile
	cmd.Stdout = outFile
	cmd.Stderr = outFile
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	outFile.Close() // the child has its own descriptors
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() error {
		killTree(cmd.Process.Pid)
		select {
		case err := <-done:
			return err
		case <-time.After(stopTimeout):
			return fmt.Errorf("vsftpd (pid %d) did not exit %v after SIGKILL", cmd.Process.Pid, stopTimeout)
		}
	}

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case err := <-done:
			msg := output()
			if strings.Contains(msg, "could not bind listening") {
				return fmt.Errorf("%w: %s", errBind, msg)
			}
			return fmt.Errorf("vsftpd exited before greeting (%v): %s", err, msg)
		default:
		}
		greeting, err := probe(addr)
		if err == nil && strings.HasPrefix(greeting, "220") {
			break
		}
		if err == nil {
			err = fmt.Errorf("unexpected greeting %q", greeting)
		}
		if time.Now().After(deadline) {
			stopErr := stop()
			return fmt.Errorf("no 220 greeting on %s within %v: %v (stop: %v) output: %s",
				addr, startTimeout, err, stopErr, output())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The greeting could have come from another server that took the port
	// after vsftpd failed to bind it and before we noticed it exiting.
	// Ours logs each connection before it greets.
	if !s.logged("CONNECT: ") {
		stopErr := stop()
		return fmt.Errorf("%w: %s answered, but not the vsftpd we started (stop: %v) output: %s",
			errBind, addr, stopErr, output())
	}

	s.Addr = addr
	t.Cleanup(func() {
		// The exit status after SIGKILL is always an error; only a hang
		// is worth reporting.
		if err := stop(); err != nil && !isKilled(err) {
			t.Errorf("realftpd: stopping vsftpd: %v", err)
		}
	})
	return nil
}

// probe dials addr and returns the first line the server sends.
func probe(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func isKilled(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}

const installHint = "; run scripts/install-test-deps.sh as root"

// prerequisites returns the vsftpd binary and the test account, or the
// reason the server cannot be started here.
func prerequisites() (bin string, acct *user.User, reason string) {
	bin, err := exec.LookPath("vsftpd")
	if err != nil {
		// /usr/sbin is often missing from a non-login PATH.
		bin = "/usr/sbin/vsftpd"
		if _, err := os.Stat(bin); err != nil {
			return "", nil, "vsftpd is not installed" + installHint
		}
	}
	if r := unsupported(); r != "" {
		return "", nil, r
	}
	if os.Geteuid() != 0 {
		return "", nil, "vsftpd needs root to authenticate local users and drop privileges; run the tests as root"
	}
	acct, err = user.Lookup(TestUser)
	if err != nil {
		return "", nil, fmt.Sprintf("test account %q is missing: %v%s", TestUser, err, installHint)
	}
	if fi, err := os.Stat(acct.HomeDir); err != nil || !fi.IsDir() {
		return "", nil, fmt.Sprintf("home directory %q of %s is missing, so vsftpd would refuse the login%s", acct.HomeDir, TestUser, installHint)
	}
	return bin, acct, ""
}

// freePort asks the kernel for a port that is free right now. Another
// process may take it before vsftpd binds; StartVsftpd retries then.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// config renders vsftpd.conf. vsftpd rejects unknown or malformed lines, and
// it reads no other configuration file when one is named on the command line.
func (s *Server) config(port int) string {
	opts := [][2]string{
		{"listen", "YES"},
		{"listen_ipv6", "NO"},
		{"listen_address", "127.0.0.1"},
		{"listen_port", strconv.Itoa(port)},
		// In the foreground, so the process we started is the listener.
		{"background", "NO"},
		// The seccomp sandbox kills sessions in these containers.
		{"seccomp_sandbox", "NO"},
		{"secure_chroot_dir", filepath.Join(s.dir, "empty")},
		{"pasv_enable", "YES"},
		{"pasv_address", "127.0.0.1"},
		{"pasv_min_port", strconv.Itoa(s.PasvMinPort)},
		{"pasv_max_port", strconv.Itoa(s.PasvMaxPort)},
		{"port_enable", "YES"},
		{"connect_from_port_20", "NO"},
		{"write_enable", "YES"},
		{"local_enable", "YES"},
		{"anonymous_enable", "NO"},
		{"local_root", s.Root},
		{"local_umask", "022"},
		{"allow_writeable_chroot", "YES"},
		{"pam_service_name", "vsftpd"},
		{"hide_ids", "NO"},
		{"log_ftp_protocol", "YES"},
		{"vsftpd_log_file", s.logPath},
		{"xferlog_enable", "YES"},
		{"xferlog_std_format", "NO"},
		{"dual_log_enable", "NO"},
		{"use_localtime", "NO"},
		{"idle_session_timeout", "600"},
		{"data_connection_timeout", "120"},
		{"max_per_ip", "0"},
		{"max_clients", "0"},
	}
	var b strings.Builder
	for _, o := range opts {
		fmt.Fprintf(&b, "%s=%s\n", o[0], o[1])
	}
	return b.String()
}

// Log returns the lines of vsftpd's log so far, including the protocol
// trace (every command and reply). The readiness probe of StartVsftpd shows
// up as one CONNECT with no commands. vsftpd logs PASS as "PASS <password>".
func (s *Server) Log() []string {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return nil
	}
	text := strings.TrimRight(string(data), "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// logged reports whether a line containing substr appears in the log
// within a second.
func (s *Server) logged(substr string) bool {
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		for _, line := range s.Log() {
			if strings.Contains(line, substr) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// Commands returns the commands the server received, in the order they
// appear in the log, as sent ("EPSV", "RETR x"), from all connections.
// vsftpd writes a command to the log before it replies, so a command whose
// reply the client has read is always present.
func (s *Server) Commands() []string {
	var cmds []string
	for _, line := range s.Log() {
		if cmd, ok := parseCommand(line); ok {
			cmds = append(cmds, cmd)
		}
	}
	return cmds
}

// parseCommand extracts the command from a protocol log line such as
//
//	Mon Nov 24 04:14:31 2026 [pid 42] [ftpgwtest] FTP command: Client "127.0.0.1", "RETR x"
func parseCommand(line string) (string, bool) {
	const marker = `FTP command: Client "`
	_, rest, ok := strings.Cut(line, marker)
	if !ok {
		return "", false
	}
	_, cmd, ok := strings.Cut(rest, `", "`)
	if !ok || !strings.HasSuffix(cmd, `"`) {
		return "", false
	}
	return strings.TrimSuffix(cmd, `"`), true
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
