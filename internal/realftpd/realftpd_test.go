package realftpd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// conn is a deliberately tiny FTP client, independent of ftpcore, so this
// package's tests check the server rather than the code under test.
type conn struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dial(t testing.TB, addr string) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return &conn{t: t, c: c, r: bufio.NewReader(c)}
}

// reply reads one reply, multi-line ones included, and returns its code and
// the text of its last line.
func (c *conn) reply() (int, string) {
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
	if line[3] == '-' {
		end := line[:3] + " "
		for !strings.HasPrefix(line, end) {
			if line, err = c.r.ReadString('\n'); err != nil {
				c.t.Fatalf("reading multi-line reply: %v", err)
			}
			line = strings.TrimRight(line, "\r\n")
		}
	}
	return code, line[4:]
}

// cmd sends a command and fails the test unless the reply has code want.
func (c *conn) cmd(want int, format string, args ...any) string {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.c, format+"\r\n", args...); err != nil {
		c.t.Fatal(err)
	}
	code, msg := c.reply()
	if code != want {
		c.t.Fatalf("%s: got %d %s, want %d", strings.Fields(format)[0], code, msg, want)
	}
	return msg
}

func (c *conn) login(s *Server) {
	c.t.Helper()
	if code, msg := c.reply(); code != 220 {
		c.t.Fatalf("greeting: %d %s", code, msg)
	}
	c.cmd(331, "USER %s", s.User)
	c.cmd(230, "PASS %s", s.Password)
}

// epsv opens a passive data connection (RFC 2428).
func (c *conn) epsv() net.Conn {
	c.t.Helper()
	msg := c.cmd(229, "EPSV")
	// "Entering Extended Passive Mode (|||port|)"
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	if i < 0 || j < i+4 {
		c.t.Fatalf("EPSV reply %q", msg)
	}
	port := msg[i+4 : j]
	d, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), 5*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { d.Close() })
	return d
}

func (c *conn) retr(name string) []byte {
	c.t.Helper()
	d := c.epsv()
	c.cmd(150, "RETR %s", name)
	got, err := io.ReadAll(d)
	if err != nil {
		c.t.Fatal(err)
	}
	d.Close()
	if code, msg := c.reply(); code != 226 {
		c.t.Fatalf("RETR final reply: %d %s", code, msg)
	}
	return got
}

func TestVsftpd(t *testing.T) {
	s := StartVsftpd(t)

	if s.User != TestUser || s.Password != TestPassword {
		t.Errorf("credentials %q/%q", s.User, s.Password)
	}
	fi, err := os.Stat(s.Root)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 || !fi.IsDir() {
		t.Errorf("Root mode %v, want drwxr-xr-x", fi.Mode())
	}

	want := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	s.WriteFile(t, "x", want)
	s.WriteFile(t, "sub/dir/y.txt", []byte("nested\n"))

	c := dial(t, s.Addr)
	c.login(s)
	if pwd := c.cmd(257, "PWD"); !strings.HasPrefix(pwd, strconv.Quote(s.Root)) {
		t.Errorf("PWD = %s, want %q", pwd, s.Root)
	}
	c.cmd(200, "TYPE I")
	if got := c.retr("x"); !bytes.Equal(got, want) {
		t.Errorf("RETR x: got %d bytes, want %d identical bytes", len(got), len(want))
	}
	if got := c.retr("sub/dir/y.txt"); string(got) != "nested\n" {
		t.Errorf("RETR sub/dir/y.txt = %q", got)
	}

	// Uploads land under Root, owned by the test user (write_enable=YES).
	d := c.epsv()
	c.cmd(150, "STOR up.bin")
	if _, err := d.Write([]byte("uploaded")); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if code, msg := c.reply(); code != 226 {
		t.Fatalf("STOR final reply: %d %s", code, msg)
	}
	if got, err := os.ReadFile(s.Path("up.bin")); err != nil || string(got) != "uploaded" {
		t.Errorf("uploaded file = %q, %v", got, err)
	}
	c.cmd(221, "QUIT")

	cmds := s.Commands()
	for _, w := range []string{"USER ftpgwtest", "PASS <password>", "PWD", "EPSV", "RETR x", "RETR sub/dir/y.txt", "STOR up.bin", "QUIT"} {
		if !slices.Contains(cmds, w) {
			t.Errorf("Commands() = %q, missing %q", cmds, w)
		}
	}
	if slices.Contains(cmds, "PASV") {
		t.Errorf("Commands() = %q, has PASV that was never sent", cmds)
	}
	for _, line := range s.Log() {
		if strings.Contains(line, s.Password) {
			t.Errorf("log has the password: %q", line)
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

			c := dial(t, s.Addr)
			c.login(s)
			c.cmd(200, "TYPE I")
			if got := c.retr("who"); string(got) != want {
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

// A session still open when the test ends must not outlive the server: the
// per-connection processes leave the listener's process group, so this
// checks that cleanup finds them anyway.
func TestCleanupEndsOpenSessions(t *testing.T) {
	var (
		nc  net.Conn
		dir string
	)
	t.Run("server", func(t *testing.T) {
		s := StartVsftpd(t)
		dir = s.dir
		var err error
		nc, err = net.DialTimeout("tcp", s.Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c := &conn{t: t, c: nc, r: bufio.NewReader(nc)}
		c.login(s)
		c.cmd(257, "PWD")
		// Left open on purpose: closed by the outer test, after the
		// server's cleanup has run.
	})
	if nc == nil {
		t.Skip("server did not start")
	}
	defer nc.Close()

	if err := nc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var buf [64]byte
	n, err := nc.Read(buf[:])
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
}
