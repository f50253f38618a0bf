package realftpd

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMatrix starts every kind and runs one session through it: login, PWD,
// two downloads, an upload, QUIT; over TLS for the FTPS kinds, with the data
// connections resuming the control connection's TLS session.
func TestMatrix(t *testing.T) {
	for _, kind := range Matrix {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := Start(t, kind)

			if s.Kind != kind || s.User != TestUser || s.Password != TestPassword || s.Host != "127.0.0.1" {
				t.Errorf("Kind, User, Password, Host = %q, %q, %q, %q", s.Kind, s.User, s.Password, s.Host)
			}
			if want := "127.0.0.1:"; !strings.HasPrefix(s.Addr, want) {
				t.Errorf("Addr = %q, want %s...", s.Addr, want)
			}
			fi, err := os.Stat(s.Root)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o755 || !fi.IsDir() {
				t.Errorf("Root mode %v, want drwxr-xr-x", fi.Mode())
			}
			wantLogin := s.Root
			if kind == PureFTPd {
				wantLogin = "/"
			}
			if s.LoginPath != wantLogin {
				t.Errorf("LoginPath = %q, want %q", s.LoginPath, wantLogin)
			}
			checkTLSInfo(t, s)

			want := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
			s.WriteFile(t, "x", want)
			s.WriteFile(t, "sub/dir/y.txt", []byte("nested\n"))

			start := time.Now()
			c := dial(t, s)
			c.login()
			t.Logf("%s: connect and login in %v", kind, time.Since(start).Round(time.Millisecond))
			if s.TLS != nil {
				checkVersion(t, "control connection", kind, c.tlsState())
			}
			if pwd := c.cmd(257, "PWD"); !strings.HasPrefix(pwd, strconv.Quote(s.LoginPath)) {
				t.Errorf("PWD = %s, want %q", pwd, s.LoginPath)
			}
			c.cmd(200, "TYPE I")
			got, st := c.retr("x")
			if !bytes.Equal(got, want) {
				t.Errorf("RETR x: got %d bytes, want %d identical bytes", len(got), len(want))
			}
			checkData(t, "RETR x", s, st)
			got, st = c.retr("sub/dir/y.txt")
			if string(got) != "nested\n" {
				t.Errorf("RETR sub/dir/y.txt = %q", got)
			}
			checkData(t, "RETR sub/dir/y.txt", s, st)

			// Uploads land under Root, owned by the test user.
			st = c.stor("up.bin", []byte("uploaded"))
			checkData(t, "STOR up.bin", s, st)
			if got, err := os.ReadFile(s.Path("up.bin")); err != nil || string(got) != "uploaded" {
				t.Errorf("uploaded file = %q, %v", got, err)
			}
			if fi, err := os.Stat(s.Path("up.bin")); err != nil {
				t.Error(err)
			} else if uid, ok := fileUID(fi); ok && uid != s.uid {
				t.Errorf("uploaded file belongs to uid %d, want %d", uid, s.uid)
			}
			c.cmd(221, "QUIT")

			cmds := s.Commands()
			// proftpd logs QUIT only after its reply.
			for deadline := time.Now().Add(time.Second); s.HasCommandLog() && !slices.Contains(cmds, "QUIT") && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
				cmds = s.Commands()
			}
			if !s.HasCommandLog() {
				if kind != PureFTPd {
					t.Errorf("HasCommandLog() = false")
				}
				if cmds != nil {
					t.Errorf("Commands() = %q without a command log", cmds)
				}
			} else {
				wantCmds := []string{"USER ftpgwtest", "PASS <password>", "PWD", "TYPE I", "EPSV", "RETR x", "RETR sub/dir/y.txt", "STOR up.bin", "QUIT"}
				if s.TLS != nil && !s.TLS.Implicit {
					wantCmds = append(wantCmds, "AUTH TLS", "PBSZ 0", "PROT P")
				}
				for _, w := range wantCmds {
					if !slices.Contains(cmds, w) {
						t.Errorf("Commands() = %q, missing %q", cmds, w)
					}
				}
				if slices.Contains(cmds, "PASV") {
					t.Errorf("Commands() = %q, has PASV that was never sent", cmds)
				}
			}
			for _, line := range append(s.Log(), cmds...) {
				if strings.Contains(line, s.Password) {
					t.Errorf("log has the password: %q", line)
				}
			}
			if kind == PureFTPd {
				// Its only log: one line per completed transfer.
				if log := strings.Join(s.Log(), "\n"); !strings.Contains(log, `"GET `+s.Path("x")+`"`) || !strings.Contains(log, `"PUT `+s.Path("up.bin")+`"`) {
					t.Errorf("transfer log lacks RETR x or STOR up.bin:\n%s", log)
				}
			}
		})
	}
}

func checkTLSInfo(t *testing.T, s *Server) {
	t.Helper()
	switch s.Kind {
	case Vsftpd, PureFTPd, ProFTPD:
		if s.TLS != nil {
			t.Errorf("TLS = %+v for a plain server", s.TLS)
		}
		return
	}
	if s.TLS == nil {
		t.Fatal("TLS is nil for an FTPS server")
	}
	if s.TLS.Implicit != (s.Kind == VsftpdImplicit) {
		t.Errorf("TLS.Implicit = %v", s.TLS.Implicit)
	}
	wantMax := uint16(0)
	if s.Kind == VsftpdTLS12 {
		wantMax = tls.VersionTLS12
	}
	if s.TLS.MaxVersion != wantMax {
		t.Errorf("TLS.MaxVersion = %#x, want %#x", s.TLS.MaxVersion, wantMax)
	}
	if s.TLS.ServerName != "localhost" || s.TLS.RootCAs == nil {
		t.Errorf("TLS.ServerName = %q, RootCAs = %v", s.TLS.ServerName, s.TLS.RootCAs)
	}
	if pem, err := os.ReadFile(s.TLS.CAFile); err != nil || !bytes.Contains(pem, []byte("BEGIN CERTIFICATE")) {
		t.Errorf("TLS.CAFile %s: %v", s.TLS.CAFile, err)
	}
}

// checkVersion checks the TLS version each FTPS kind should negotiate.
func checkVersion(t *testing.T, what string, kind Kind, st tls.ConnectionState) {
	t.Helper()
	want := uint16(tls.VersionTLS13)
	if kind == VsftpdTLS12 {
		want = tls.VersionTLS12
	}
	if st.Version != want {
		t.Errorf("%s: %s, want %s", what, tls.VersionName(st.Version), tls.VersionName(want))
	}
}

// checkData checks a data connection's TLS state: plain for plain servers,
// and for FTPS the expected version and a resumed session (which vsftpd's
// require_ssl_reuse enforces; this checks the client's side of it).
func checkData(t *testing.T, what string, s *Server, st tls.ConnectionState) {
	t.Helper()
	if s.TLS == nil {
		if st.HandshakeComplete {
			t.Errorf("%s: TLS on a plain server's data connection", what)
		}
		return
	}
	if !st.HandshakeComplete {
		t.Errorf("%s: data connection without TLS", what)
		return
	}
	checkVersion(t, what+" data connection", s.Kind, st)
	if !st.DidResume {
		t.Errorf("%s: data connection did not resume the TLS session", what)
	}
}

// A data connection that does not resume the control connection's TLS
// session is refused: require_ssl_reuse=YES is in force.
func TestVsftpdRequiresSessionReuse(t *testing.T) {
	for _, kind := range []Kind{VsftpdTLS12, VsftpdTLS13} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := Start(t, kind)
			s.WriteFile(t, "x", []byte("data"))
			c := dial(t, s)
			c.login()
			d := c.epsv()
			// A fresh configuration: same trust, empty session cache.
			d.tls = tls.Client(d.tls.NetConn(), s.TLS.ClientConfig())
			d.Conn = d.tls
			c.send("RETR x")
			got := read(d)
			code, msg := c.reply()
			if code == 150 {
				code, msg = c.reply()
			}
			r := <-got
			// vsftpd completes the handshake, then closes the data
			// connection (cleanly) without sending the file.
			if code != 522 || len(r.data) != 0 {
				t.Errorf("RETR over a new TLS session: reply %d %s, data %q, %v; want 522 and no data", code, msg, r.data, r.err)
			}
			t.Logf("data connection: %v", r.err)
		})
	}
}

// TestIPv6 runs a session on ::1 for each server program.
func TestIPv6(t *testing.T) {
	for _, kind := range []Kind{Vsftpd, PureFTPd, ProFTPD, VsftpdTLS13} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := Start(t, kind, Options{IPv6: true})
			if s.Host != "::1" || !strings.HasPrefix(s.Addr, "[::1]:") {
				t.Errorf("Host, Addr = %q, %q", s.Host, s.Addr)
			}
			s.WriteFile(t, "x", []byte("over IPv6\n"))
			c := dial(t, s)
			if ra := c.c.RemoteAddr().(*net.TCPAddr); !ra.IP.Equal(net.IPv6loopback) {
				t.Errorf("connected to %v", ra)
			}
			c.login()
			c.cmd(200, "TYPE I")
			got, st := c.retr("x")
			if string(got) != "over IPv6\n" {
				t.Errorf("RETR x = %q", got)
			}
			checkData(t, "RETR x", s, st)
			c.cmd(221, "QUIT")
		})
	}
}

// TestActiveMode checks Options.ActiveMode: EPRT works with it, and is
// refused without it except by pure-ftpd, which cannot refuse it.
func TestActiveMode(t *testing.T) {
	for _, kind := range []Kind{Vsftpd, PureFTPd, ProFTPD} {
		for _, active := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/active=%v", kind, active), func(t *testing.T) {
				t.Parallel()
				s := Start(t, kind, Options{ActiveMode: active})
				s.WriteFile(t, "x", []byte("actively\n"))
				c := dial(t, s)
				c.login()
				c.cmd(200, "TYPE I")
				if !active && kind != PureFTPd {
					c.send("EPRT |1|127.0.0.1|9|")
					if code, msg := c.reply(); code/100 != 5 {
						t.Errorf("EPRT without ActiveMode: %d %s, want 5xx", code, msg)
					}
					c.cmd(221, "QUIT")
					return
				}
				accept := c.eprt()
				c.send("RETR x")
				c.preliminary("RETR")
				d := accept()
				r := <-read(d)
				if r.err != nil || string(r.data) != "actively\n" {
					t.Errorf("RETR x over EPRT = %q, %v", r.data, r.err)
				}
				c.final("RETR")
				c.cmd(221, "QUIT")
			})
		}
	}
}

func TestVsftpdParallel(t *testing.T) {
	roots := make(chan string, 2)
	for i := range 2 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			s := StartVsftpd(t)
			roots <- s.Root
			want := fmt.Sprintf("instance %d\n", i)
			s.WriteFile(t, "who", []byte(want))

			c := dial(t, s)
			c.login()
			c.cmd(200, "TYPE I")
			if got, _ := c.retr("who"); string(got) != want {
				t.Errorf("RETR who = %q, want %q", got, want)
			}
			c.cmd(221, "QUIT")
			if got := s.Commands(); !slices.Contains(got, "RETR who") {
				t.Errorf("Commands() = %q", got)
			}
		})
	}
	t.Cleanup(func() {
		close(roots)
		var seen []string
		for r := range roots {
			if slices.Contains(seen, r) {
				t.Errorf("two instances share Root %s", r)
			}
			seen = append(seen, r)
		}
	})
}

// Two pure-ftpd instances must serve their own Root, though they log in the
// same user name (pure-ftpd has no per-instance login directory for a
// system account; see preparePureFTPd).
func TestPureFTPdParallel(t *testing.T) {
	for i := range 3 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			s := Start(t, PureFTPd)
			want := fmt.Sprintf("instance %d at %s\n", i, s.Root)
			s.WriteFile(t, "who", []byte(want))
			c := dial(t, s)
			c.login()
			c.cmd(200, "TYPE I")
			if got, _ := c.retr("who"); string(got) != want {
				t.Errorf("RETR who = %q, want %q", got, want)
			}
			// Chrooted: nothing above Root.
			c.send("CWD ..")
			c.reply()
			if pwd := c.cmd(257, "PWD"); !strings.HasPrefix(pwd, `"/"`) {
				t.Errorf("PWD after CWD .. = %s", pwd)
			}
			c.cmd(221, "QUIT")
		})
	}
}

// A session still open when the test ends must not outlive the server: the
// per-connection processes leave the listener's process group, so this
// checks that cleanup finds them anyway.
func TestCleanupEndsOpenSessions(t *testing.T) {
	for _, kind := range []Kind{Vsftpd, PureFTPd, ProFTPD, VsftpdImplicit} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			var (
				c   *conn
				dir string
			)
			outer := t
			t.Run("server", func(t *testing.T) {
				s := Start(t, kind)
				dir = s.dir
				// Left open on purpose: examined by the outer test, after
				// the server's cleanup has run.
				c = dialOwned(t, s, outer)
				c.login()
				c.cmd(257, "PWD")
			})
			if c == nil || t.Failed() {
				t.FailNow()
			}
			if err := c.c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			var buf [64]byte
			n, err := c.c.Read(buf[:])
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Errorf("session still open after cleanup (read timed out)")
			} else if err == nil {
				t.Errorf("read %q after cleanup, want EOF", buf[:n])
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("instance directory %s still there: %v", dir, err)
			}
			procs, _ := os.ReadDir("/proc")
			for _, p := range procs {
				cmdline, err := os.ReadFile("/proc/" + p.Name() + "/cmdline")
				if err == nil && bytes.Contains(cmdline, []byte(dir)) {
					t.Errorf("process %s still running: %q", p.Name(), cmdline)
				}
			}
		})
	}
}

// recordTB stands in for a test's testing.TB to see how Start ends one.
type recordTB struct {
	testing.TB
	fatal, skip string
}

func (r *recordTB) Helper() {}
func (r *recordTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recordTB) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// A server that is not installed skips the test, or fails it when
// FTPGW_REQUIRE_REAL_SERVERS=1.
func TestMissingServer(t *testing.T) {
	t.Setenv(ServersDirEnv, t.TempDir())
	for _, require := range []string{"", "1"} {
		t.Run("require="+require, func(t *testing.T) {
			t.Setenv(RequireEnv, require)
			for _, kind := range []Kind{PureFTPd, ProFTPD} {
				r := &recordTB{TB: t}
				done := make(chan struct{})
				go func() {
					defer close(done)
					Start(r, kind)
				}()
				<-done
				msg := r.skip
				if require == "1" {
					msg = r.fatal
				}
				if !strings.Contains(msg, "is not unpacked in") || !strings.Contains(msg, string(kind)) {
					t.Errorf("%s: fatal %q, skip %q", kind, r.fatal, r.skip)
				}
				if (r.fatal != "") != (require == "1") {
					t.Errorf("%s with %s=%q: fatal %q, skip %q", kind, RequireEnv, require, r.fatal, r.skip)
				}
			}
		})
	}
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line string
		want string
		ok   bool
	}{
		{`Mon Nov 24 04:14:31 2026 [pid 42] [ftpgwtest] FTP command: Client "127.0.0.1", "EPSV"`, "EPSV", true},
		{`Mon Nov 24 04:14:31 2026 [pid 42] FTP command: Client "127.0.0.1", "USER ftpgwtest"`, "USER ftpgwtest", true},
		{`Mon Nov 24 04:14:31 2026 [pid 42] [ftpgwtest] FTP command: Client "127.0.0.1", "RETR a "quoted" name"`, `RETR a "quoted" name`, true},
		{`Mon Nov 24 04:14:31 2026 [pid 42] [ftpgwtest] FTP command: Client "::1", "RETR trailing "`, `RETR trailing `, true},
		{`Mon Nov 24 04:14:31 2026 [pid 42] [ftpgwtest] FTP response: Client "127.0.0.1", "229 Entering Extended Passive Mode (|||10001|)"`, "", false},
		{`Mon Nov 24 04:14:31 2026 [pid 41] CONNECT: Client "127.0.0.1"`, "", false},
		{``, "", false},
	}
	for _, tt := range tests {
		got, ok := parseCommand(tt.line)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseCommand(%q) = %q, %v; want %q, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
	for line, want := range map[string]string{
		"PASS (hidden)": "PASS <password>",
		"RETR a b":      "RETR a b",
		"PWD":           "PWD",
	} {
		if got := parseProftpdCommand(line); got != want {
			t.Errorf("parseProftpdCommand(%q) = %q, want %q", line, got, want)
		}
	}
}

// TestPasvAddress checks Options.PasvAddress: vsftpd names it in its PASV
// replies, with a port of its passive range, and still listens on Host.
func TestPasvAddress(t *testing.T) {
	t.Parallel()
	s := Start(t, Vsftpd, Options{PasvAddress: "127.0.0.2"})
	c := dial(t, s)
	c.login()
	// "Entering Passive Mode (127,0,0,2,p1,p2)."
	msg := c.cmd(227, "PASV")
	i, j := strings.IndexByte(msg, '('), strings.IndexByte(msg, ')')
	if i < 0 || j < i {
		t.Fatalf("PASV: %q", msg)
	}
	f := strings.Split(msg[i+1:j], ",")
	if len(f) != 6 || strings.Join(f[:4], ".") != "127.0.0.2" {
		t.Fatalf("PASV: %q, want the address 127.0.0.2", msg)
	}
	p1, err1 := strconv.Atoi(f[4])
	p2, err2 := strconv.Atoi(f[5])
	if port := p1*256 + p2; err1 != nil || err2 != nil || port < s.PasvMinPort || port > s.PasvMaxPort {
		t.Errorf("PASV: %q, port outside %d-%d", msg, s.PasvMinPort, s.PasvMaxPort)
	}
	c.cmd(221, "QUIT")
}
