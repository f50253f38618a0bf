package ftptest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// client is a bare-bones control connection, so that these tests do not
// depend on ftpcore, which is tested against this package.
type client struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dial(t *testing.T, s *Server) *client {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	// A hung server fails the test instead of hanging it.
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// dialLogin connects, reads the greeting and logs in.
func dialLogin(t *testing.T, s *Server) *client {
	t.Helper()
	c := dial(t, s)
	c.expect(220)
	c.cmd("USER user", 331)
	c.cmd("PASS pass", 230)
	return c
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, line+"\r\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

func (c *client) readLine() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read reply: %v (partial %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("reply line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// reply reads one reply, single- or multi-line, and returns its code and
// the text of each line (without the code on the first and last).
func (c *client) reply() (int, []string) {
	c.t.Helper()
	first := c.readLine()
	if len(first) < 4 {
		c.t.Fatalf("short reply %q", first)
	}
	code, err := strconv.Atoi(first[:3])
	if err != nil {
		c.t.Fatalf("bad reply %q", first)
	}
	lines := []string{first[4:]}
	if first[3] == '-' {
		for {
			l := c.readLine()
			if strings.HasPrefix(l, first[:3]+" ") {
				lines = append(lines, l[4:])
				break
			}
			lines = append(lines, l)
		}
	}
	return code, lines
}

func (c *client) expect(want int) []string {
	c.t.Helper()
	code, lines := c.reply()
	if code != want {
		c.t.Fatalf("reply %d %q, want %d", code, lines, want)
	}
	return lines
}

func (c *client) cmd(line string, want int) []string {
	c.t.Helper()
	c.send(line)
	return c.expect(want)
}

var epsvRE = regexp.MustCompile(`\(\|\|\|(\d+)\|\)`)

// epsv sends EPSV and dials the announced port.
func (c *client) epsv() net.Conn {
	c.t.Helper()
	lines := c.cmd("EPSV", 229)
	m := epsvRE.FindStringSubmatch(lines[0])
	if m == nil {
		c.t.Fatalf("bad EPSV reply %q", lines[0])
	}
	dc, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", m[1]))
	if err != nil {
		c.t.Fatalf("dial data: %v", err)
	}
	c.t.Cleanup(func() { dc.Close() })
	dc.SetDeadline(time.Now().Add(20 * time.Second))
	return dc
}

var pasvRE = regexp.MustCompile(`\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`)

// pasv sends PASV and returns the announced address.
func (c *client) pasv() (ip string, port int) {
	c.t.Helper()
	lines := c.cmd("PASV", 227)
	m := pasvRE.FindStringSubmatch(lines[0])
	if m == nil {
		c.t.Fatalf("bad PASV reply %q", lines[0])
	}
	hi, _ := strconv.Atoi(m[5])
	lo, _ := strconv.Atoi(m[6])
	return strings.Join(m[1:5], "."), hi<<8 | lo
}

func readAll(t *testing.T, dc net.Conn) []byte {
	t.Helper()
	b, err := io.ReadAll(dc)
	if err != nil {
		t.Fatalf("read data: %v", err)
	}
	return b
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name   string
		opts   []Option
		script []string // "COMMAND arg => code"
	}{
		{"ok", nil, []string{"USER user => 331", "PASS pass => 230", "PWD => 257"}},
		{"lower case commands", nil, []string{"user user => 331", "pass pass => 230", "noop => 200"}},
		{"bad password", nil, []string{"USER user => 331", "PASS nope => 530", "PWD => 530"}},
		{"bad user refused after PASS", nil, []string{"USER bob => 331", "PASS pass => 530"}},
		{"custom credentials", []Option{WithCredentials("alice", "s3cret")}, []string{
			"USER user => 331", "PASS pass => 530", "USER alice => 331", "PASS s3cret => 230",
		}},
		{"account", []Option{WithAccount("acct1")}, []string{"USER user => 331", "PASS pass => 332", "ACCT acct1 => 230"}},
		{"wrong account", []Option{WithAccount("acct1")}, []string{"USER user => 331", "PASS pass => 332", "ACCT x => 530", "PWD => 530"}},
		{"PASS without USER", nil, []string{"PASS pass => 503"}},
		{"before login", nil, []string{
			"FEAT => 211", "NOOP => 200", "PWD => 530", "EPSV => 530", "RETR x => 530", "CWD / => 530",
		}},
		{"unknown before and after login", nil, []string{"AUTH TLS => 502", "USER user => 331", "PASS pass => 230", "XYZZY => 502"}},
		{"login dir", []Option{WithLoginDir(`/home/"q"`)}, []string{"USER user => 331", "PASS pass => 230", "CDUP => 250", "CWD \"q\" => 250"}},
		{"quit", nil, []string{"QUIT => 221"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t, tt.opts...)
			c := dial(t, s)
			c.expect(220)
			for _, step := range tt.script {
				line, code, _ := strings.Cut(step, " => ")
				want, _ := strconv.Atoi(code)
				c.cmd(line, want)
			}
		})
	}
}

func TestPWDQuoting(t *testing.T) {
	s := NewServer(t, WithLoginDir(`/a "b"`))
	c := dialLogin(t, s)
	lines := c.cmd("PWD", 257)
	if want := `"/a ""b""" is the current directory.`; lines[0] != want {
		t.Errorf("PWD = %q, want %q", lines[0], want)
	}
}

func TestGreeting(t *testing.T) {
	tests := []struct {
		name     string
		opts     []Option
		wantCode int
		wantText string
		wantEOF  bool
	}{
		{"default", nil, 220, "ftptest ready", false},
		{"busy", []Option{WithGreeting(421, "Too many users")}, 421, "Too many users", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t, tt.opts...)
			c := dial(t, s)
			code, lines := c.reply()
			if code != tt.wantCode || lines[0] != tt.wantText {
				t.Fatalf("greeting %d %q, want %d %q", code, lines[0], tt.wantCode, tt.wantText)
			}
			if tt.wantEOF {
				if _, err := c.r.ReadByte(); err == nil {
					t.Fatal("connection still open after 421 greeting")
				}
			}
		})
	}
}

// TestMaxConns: the connection beyond the limit is greeted with 421 and
// closed, and counts for nothing; one that ends makes room; SetMaxConns
// moves the limit for the next.
func TestMaxConns(t *testing.T) {
	s := NewServer(t, WithMaxConns(2))
	refused := func() {
		t.Helper()
		c := dial(t, s)
		c.expect(421)
		if _, err := c.r.ReadByte(); err == nil {
			t.Fatal("connection still open after 421 greeting")
		}
	}
	c1 := dialLogin(t, s)
	dialLogin(t, s)
	refused()
	refused()
	c1.cmd("QUIT", 221)
	c1.nc.Close()
	// The server counts c1 out when its session ends, just after the 221.
	deadline := time.Now().Add(2 * time.Second)
	for {
		c := dial(t, s)
		if code, _ := c.reply(); code == 220 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no room after a session ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
	refused()
	s.SetMaxConns(3)
	dialLogin(t, s)
	refused()
}

func TestFEAT(t *testing.T) {
	tests := []struct {
		name     string
		opts     []Option
		wantCode int
		want     []string
	}{
		{"default", nil, 211, []string{
			"Features:", " EPSV", " PASV", " SIZE", " MDTM", " REST STREAM", " UTF8", " MLST type*;size*;modify*;", "End",
		}},
		{"custom", []Option{WithFeatures("SIZE", "UTF8")}, 211, []string{"Features:", " SIZE", " UTF8", "End"}},
		{"none", []Option{WithFeatures()}, 502, []string{"Command not implemented."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t, tt.opts...)
			c := dial(t, s)
			c.expect(220)
			got := c.cmd("FEAT", tt.wantCode)
			if !slices.Equal(got, tt.want) {
				t.Errorf("FEAT = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRawFEATBytes(t *testing.T) {
	s := NewServer(t, WithFeatures("SIZE"))
	c := dial(t, s)
	c.expect(220)
	c.send("FEAT")
	var got []string
	for range 3 {
		got = append(got, c.readLine())
	}
	want := []string{"211-Features:", " SIZE", "211 End"}
	if !slices.Equal(got, want) {
		t.Errorf("FEAT wire = %q, want %q", got, want)
	}
}

func TestRETR(t *testing.T) {
	content := []byte("hello, world\n")
	tests := []struct {
		name    string
		rest    int // -1: no REST
		passive string
		want    string
	}{
		{"EPSV whole", -1, "EPSV", "hello, world\n"},
		{"EPSV REST 7", 7, "EPSV", "world\n"},
		{"EPSV REST at end", len(content), "EPSV", ""},
		{"EPSV REST past end", 100, "EPSV", ""},
		{"PASV whole", -1, "PASV", "hello, world\n"},
		{"PASV REST 0", 0, "PASV", "hello, world\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			s.PutFile("/dir/f.txt", content, time.Now())
			c := dialLogin(t, s)
			c.cmd("TYPE I", 200)
			var dc net.Conn
			if tt.passive == "EPSV" {
				dc = c.epsv()
			} else {
				ip, port := c.pasv()
				if ip != "127.0.0.1" {
					t.Fatalf("PASV address %s", ip)
				}
				var err error
				if dc, err = net.Dial("tcp", net.JoinHostPort(ip, strconv.Itoa(port))); err != nil {
					t.Fatal(err)
				}
				defer dc.Close()
			}
			// REST between EPSV and RETR is what many clients send.
			if tt.rest >= 0 {
				c.cmd(fmt.Sprintf("REST %d", tt.rest), 350)
			}
			c.cmd("RETR dir/f.txt", 150)
			got := readAll(t, dc)
			c.expect(226)
			if string(got) != tt.want {
				t.Errorf("RETR = %q, want %q", got, tt.want)
			}
			// REST applies to one transfer only.
			dc = c.epsv()
			c.cmd("RETR /dir/f.txt", 150)
			if got := readAll(t, dc); !bytes.Equal(got, content) {
				t.Errorf("second RETR = %q, want whole file", got)
			}
			c.expect(226)
		})
	}
}

func TestRETRErrors(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		pre  []string
		cmd  string
		want int
	}{
		{"missing", nil, []string{"EPSV"}, "RETR nope", 550},
		{"directory", nil, []string{"EPSV"}, "RETR /d", 550},
		{"no EPSV", nil, nil, "RETR /f", 425},
		{"NODATACONN425 RETR", []Option{WithNoDataConn425()}, []string{"EPSV"}, "RETR /f", 425},
		{"NODATACONN425 LIST", []Option{WithNoDataConn425()}, []string{"EPSV"}, "LIST", 425},
		{"NODATACONN425 STOR", []Option{WithNoDataConn425()}, []string{"EPSV"}, "STOR /g", 425},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t, tt.opts...)
			s.PutFile("/f", []byte("x"), time.Now())
			s.Mkdir("/d")
			c := dialLogin(t, s)
			for _, p := range tt.pre {
				c.cmd(p, 229)
			}
			c.cmd(tt.cmd, tt.want)
			c.cmd("NOOP", 200)
			if n := s.DataConns(); n != 0 {
				t.Errorf("DataConns = %d, want 0", n)
			}
		})
	}
}

func TestSTOR(t *testing.T) {
	tests := []struct {
		name     string
		existing string // "" means no file
		pre      string
		cmd      string
		upload   string
		want     string
	}{
		{"new", "", "", "STOR up.bin", "payload", "payload"},
		{"overwrite", "old contents", "", "STOR up.bin", "new", "new"},
		{"REST", "0123456789", "REST 4", "STOR up.bin", "abc", "0123abc"},
		{"APPE", "head-", "", "APPE up.bin", "tail", "head-tail"},
		{"APPE new", "", "", "APPE up.bin", "tail", "tail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t, WithLoginDir("/in"))
			if tt.existing != "" {
				s.PutFile("/in/up.bin", []byte(tt.existing), time.Now())
			}
			c := dialLogin(t, s)
			dc := c.epsv()
			if tt.pre != "" {
				c.cmd(tt.pre, 350)
			}
			c.cmd(tt.cmd, 150)
			io.WriteString(dc, tt.upload)
			dc.Close()
			c.expect(226)
			got, ok := s.File("/in/up.bin")
			if !ok || string(got) != tt.want {
				t.Errorf("File = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func TestSTORReset(t *testing.T) {
	s := NewServer(t)
	c := dialLogin(t, s)
	dc := c.epsv()
	c.cmd("STOR part", 150)
	io.WriteString(dc, "partial")
	// Let the bytes arrive before the reset, which would discard them.
	time.Sleep(100 * time.Millisecond)
	// SO_LINGER 0 makes Close send RST instead of FIN.
	dc.(*net.TCPConn).SetLinger(0)
	dc.Close()
	c.expect(426)
	if got, _ := s.File("/part"); string(got) != "partial" {
		t.Errorf("File = %q, want what arrived", got)
	}
}

func TestFileCommands(t *testing.T) {
	mod := time.Date(2023, 11, 24, 4, 12, 0, 0, time.UTC)
	tests := []struct {
		name   string
		script []string // "COMMAND => code [text]"
		check  func(t *testing.T, s *Server)
	}{
		{"SIZE", []string{"SIZE a.txt => 213 6", "SIZE /d => 550", "SIZE nope => 550"}, nil},
		{"MDTM", []string{"MDTM /a.txt => 213 20231124041200", "MDTM nope => 550"}, nil},
		{"CWD CDUP", []string{
			"CWD d => 250", "PWD => 257 \"/d\" is the current directory.", "CWD nope => 550", "CWD /a.txt => 550",
			"CDUP => 250", "PWD => 257 \"/\" is the current directory.", "CDUP => 250",
		}, nil},
		{"DELE", []string{"DELE a.txt => 250", "DELE a.txt => 550", "DELE d => 550"}, func(t *testing.T, s *Server) {
			if s.Exists("/a.txt") {
				t.Error("a.txt still exists")
			}
		}},
		{"MKD RMD", []string{
			"MKD new => 257 \"/new\" created.", "MKD new => 550", "MKD /x/y => 550",
			"RMD d => 550", "RMD new => 250", "RMD new => 550",
		}, nil},
		{"RNFR RNTO", []string{"RNFR a.txt => 350", "RNTO b.txt => 250", "SIZE b.txt => 213 6"}, func(t *testing.T, s *Server) {
			if s.Exists("/a.txt") || !s.Exists("/b.txt") {
				t.Error("rename did not move the file")
			}
		}},
		{"RNTO overwrites", []string{"RNFR a.txt => 350", "RNTO d/e.txt => 250", "SIZE d/e.txt => 213 6"}, nil},
		{"RNFR directory", []string{"RNFR d => 350", "RNTO d2 => 250", "SIZE /d2/e.txt => 213 1"}, func(t *testing.T, s *Server) {
			if got := s.List("/d2"); !slices.Equal(got, []string{"e.txt"}) {
				t.Errorf("List(/d2) = %q", got)
			}
		}},
		{"RNTO without RNFR", []string{"RNTO b.txt => 503"}, nil},
		{"RNTO not straight after RNFR", []string{"RNFR a.txt => 350", "NOOP => 200", "RNTO b.txt => 503"}, nil},
		{"RNFR missing", []string{"RNFR nope => 550"}, nil},
		{"RNTO onto directory", []string{"RNFR a.txt => 350", "RNTO d => 550"}, nil},
		{"MLST", []string{"MLST a.txt => 250 Listing /a.txt| type=file;size=6;modify=20231124041200; /a.txt|End", "MLST nope => 550"}, nil},
		{"misc", []string{
			"SYST => 215 UNIX Type: L8", "TYPE A => 200", "TYPE X => 504", "OPTS UTF8 ON => 200",
			"MODE S => 200", "STRU F => 200", "ABOR => 225", "REST x => 501",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			s.PutFile("/a.txt", []byte("hello\n"), mod)
			s.PutFile("/d/e.txt", []byte("e"), mod)
			c := dialLogin(t, s)
			runScript(t, c, tt.script)
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

// runScript sends each step's command ("COMMAND => code [text]") and
// checks the reply's code and, where given, its text (lines joined with
// "|").
func runScript(t *testing.T, c *client, script []string) {
	t.Helper()
	for _, step := range script {
		line, rest, _ := strings.Cut(step, " => ")
		code, text, hasText := strings.Cut(rest, " ")
		want, _ := strconv.Atoi(code)
		got := c.cmd(line, want)
		if hasText && strings.Join(got, "|") != text {
			t.Errorf("%s: reply %q, want %q", line, strings.Join(got, "|"), text)
		}
	}
}

func TestListings(t *testing.T) {
	mod := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	old := time.Date(2019, 3, 5, 1, 2, 3, 0, time.UTC)
	ls := mod.Format("Jan _2 15:04")
	mlsdMod := mod.Format("20060102150405")
	tests := []struct {
		name string
		cmd  string
		want []string
	}{
		{"LIST", "LIST", []string{
			"-rw-r--r--    1 0        0               6 " + ls + " a.txt",
			"drwxr-xr-x    1 0        0            4096 " + ls + " d",
			"-rw-r--r--    1 0        0               3 Mar  5  2019 old",
		}},
		{"LIST flags", "LIST -la d", []string{"-rw-r--r--    1 0        0               1 " + ls + " e.txt"}},
		{"LIST file", "LIST a.txt", []string{"-rw-r--r--    1 0        0               6 " + ls + " a.txt"}},
		{"NLST", "NLST", []string{"a.txt", "d", "old"}},
		{"MLSD", "MLSD /d", []string{"type=file;size=1;modify=" + mlsdMod + "; e.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			s.PutFile("/a.txt", []byte("hello\n"), mod)
			s.PutFile("/d/e.txt", []byte("e"), mod)
			s.PutFile("/old", []byte("old"), old)
			// Pin the directory's time, which Mkdir sets to now.
			s.mu.Lock()
			s.files["/d"].mod = mod
			s.mu.Unlock()
			c := dialLogin(t, s)
			dc := c.epsv()
			c.cmd(tt.cmd, 150)
			got := strings.Split(strings.TrimSuffix(string(readAll(t, dc)), "\r\n"), "\r\n")
			c.expect(226)
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s =\n%q\nwant\n%q", tt.cmd, got, tt.want)
			}
		})
	}
	t.Run("errors", func(t *testing.T) {
		s := NewServer(t)
		s.PutFile("/a.txt", nil, mod)
		c := dialLogin(t, s)
		c.epsv()
		c.cmd("LIST nope", 550)
		c.epsv()
		c.cmd("MLSD a.txt", 501)
	})
}

// TestSTAT: STAT lists on the control connection, a file under the name
// it was given.
func TestSTAT(t *testing.T) {
	mod := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	ls := mod.Format("Jan _2 15:04")
	s := NewServer(t)
	s.PutFile("/d/a b.txt", []byte("hello\n"), mod)
	s.PutFile("/d/e/f", nil, mod)
	s.mu.Lock()
	s.files["/d/e"].mod = mod
	s.mu.Unlock()
	c := dialLogin(t, s)
	for _, tt := range []struct {
		arg  string
		want []string
	}{
		{"/d/a b.txt", []string{"-rw-r--r--    1 0        0               6 " + ls + " /d/a b.txt"}},
		{"/d", []string{
			"-rw-r--r--    1 0        0               6 " + ls + " a b.txt",
			"drwxr-xr-x    1 0        0            4096 " + ls + " e",
		}},
		{"/d/nope", nil},
	} {
		got := c.cmd("STAT "+tt.arg, 213)
		want := append(append([]string{"Status follows:"}, tt.want...), "End of status")
		if !slices.Equal(got, want) {
			t.Errorf("STAT %s =\n%q\nwant\n%q", tt.arg, got, want)
		}
	}
	c.cmd("CWD /d", 250)
	if got := c.cmd("STAT .", 213); len(got) != 4 || !strings.HasSuffix(got[1], " a b.txt") {
		t.Errorf("STAT . = %q", got)
	}
	c.cmd("STAT", 211)
}

func TestHandle(t *testing.T) {
	tests := []struct {
		name    string
		cmd     string
		handler Handler
		send    string
		want    []string // wire lines after the command
		wantEOF bool
	}{
		{
			name: "421 and close",
			cmd:  "RETR",
			handler: func(c *Conn, arg string) {
				c.Reply(421, "Service not available, closing control connection.")
				c.Close()
			},
			send:    "RETR /f",
			want:    []string{"421 Service not available, closing control connection."},
			wantEOF: true,
		},
		{
			name: "multi-line",
			cmd:  "NOOP",
			handler: func(c *Conn, arg string) {
				c.ReplyLines(200, "first", " middle", "last")
			},
			send: "noop",
			want: []string{"200-first", " middle", "200 last"},
		},
		{
			name: "raw bytes",
			cmd:  "SIZE",
			handler: func(c *Conn, arg string) {
				c.WriteRaw("21")
				c.WriteRaw("3 42\r\n")
			},
			send: "SIZE /f",
			want: []string{"213 42"},
		},
		{
			name: "delegate to default",
			cmd:  "SIZE",
			handler: func(c *Conn, arg string) {
				c.Reply(100, "cwd "+c.Cwd()+" arg "+arg)
				c.Default("size", arg)
			},
			send: "SIZE /f",
			want: []string{"100 cwd / arg /f", "213 1"},
		},
		{
			name:    "handler runs before login",
			cmd:     "USER",
			handler: func(c *Conn, arg string) { c.Reply(230, "no password needed") },
			send:    "USER anyone",
			want:    []string{"230 no password needed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			s.PutFile("/f", []byte("x"), time.Now())
			c := dialLogin(t, s)
			s.Handle(strings.ToLower(tt.cmd), tt.handler)
			c.send(tt.send)
			for _, w := range tt.want {
				if got := c.readLine(); got != w {
					t.Fatalf("got %q, want %q", got, w)
				}
			}
			if tt.wantEOF {
				if _, err := c.r.ReadByte(); err == nil {
					t.Fatal("control connection still open")
				}
				return
			}
			s.Handle(tt.cmd, nil)
			c.cmd("NOOP", 200)
		})
	}
}

func TestHandleCustomTransfer(t *testing.T) {
	s := NewServer(t)
	s.Handle("RETR", func(c *Conn, arg string) {
		c.Reply(150, "here it comes")
		dc, err := c.AcceptData()
		if err != nil {
			c.Reply(425, err.Error())
			return
		}
		io.WriteString(dc, "custom:"+arg)
		dc.Close()
		c.Reply(226, "done")
	})
	c := dialLogin(t, s)
	dc := c.epsv()
	c.cmd("RETR x", 150)
	if got := readAll(t, dc); string(got) != "custom:x" {
		t.Errorf("data = %q", got)
	}
	c.expect(226)
}

func TestReplyDelay(t *testing.T) {
	const d = 150 * time.Millisecond
	tests := []struct {
		name    string
		opts    []Option
		set     time.Duration // applied with SetReplyDelay after login; -1: leave
		wantMin time.Duration
		wantMax time.Duration
	}{
		{"option", []Option{WithReplyDelay(d)}, -1, d, 5 * d},
		{"set later", nil, d, d, 5 * d},
		{"none", nil, -1, 0, d},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t, tt.opts...)
			c := dialLogin(t, s)
			if tt.set >= 0 {
				s.SetReplyDelay(tt.set)
			}
			start := time.Now()
			c.cmd("NOOP", 200)
			if el := time.Since(start); el < tt.wantMin || el > tt.wantMax {
				t.Errorf("NOOP took %v, want between %v and %v", el, tt.wantMin, tt.wantMax)
			}
		})
	}
}

func TestPASVAddress(t *testing.T) {
	tests := []struct {
		name string
		ip   string
		want string
	}{
		{"default", "", "(127,0,0,1,"},
		{"bad ip", "10.1.2.3", "(10,1,2,3,"},
		{"malformed", "999.1.2.3", "(999,1,2,3,"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t, WithPASVAddress(tt.ip))
			c := dialLogin(t, s)
			lines := c.cmd("PASV", 227)
			if !strings.HasPrefix(lines[0], "Entering Passive Mode ") || !strings.Contains(lines[0], tt.want) {
				t.Errorf("227 %q, want it to contain %q", lines[0], tt.want)
			}
		})
	}
}

func TestWithoutEPSV(t *testing.T) {
	s := NewServer(t, WithoutEPSV())
	s.PutFile("/f", []byte("data"), time.Now())
	c := dialLogin(t, s)
	c.cmd("EPSV", 500)
	_, port := c.pasv()
	dc, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	c.cmd("RETR f", 150)
	if got := readAll(t, dc); string(got) != "data" {
		t.Errorf("data = %q", got)
	}
	c.expect(226)
}

func TestCounters(t *testing.T) {
	s := NewServer(t)
	s.PutFile("/f", []byte("data"), time.Now())
	for range 2 {
		c := dialLogin(t, s)
		dc := c.epsv()
		c.cmd("RETR f", 150)
		readAll(t, dc)
		c.expect(226)
		c.cmd("QUIT", 221)
	}
	c := dial(t, s)
	c.expect(220)
	c.cmd("USER user", 331)
	c.cmd("PASS wrong", 530)

	if got := s.Conns(); got != 3 {
		t.Errorf("Conns = %d, want 3", got)
	}
	if got := s.Logins(); got != 2 {
		t.Errorf("Logins = %d, want 2", got)
	}
	if got := s.DataConns(); got != 2 {
		t.Errorf("DataConns = %d, want 2", got)
	}
	want := []string{
		"USER user", "PASS pass", "EPSV", "RETR f", "QUIT",
		"USER user", "PASS pass", "EPSV", "RETR f", "QUIT",
		"USER user", "PASS wrong",
	}
	if got := s.Commands(); !slices.Equal(got, want) {
		t.Errorf("Commands =\n%q\nwant\n%q", got, want)
	}
}

func TestLongLine(t *testing.T) {
	tests := []struct {
		name string
		n    int
		want int
	}{
		{"at limit", maxLine - len("NOOP "), 200},
		{"over limit", maxLine + 1, 500},
		{"far over limit", 10 * maxLine, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			c := dialLogin(t, s)
			c.cmd("NOOP "+strings.Repeat("x", tt.n), tt.want)
			c.cmd("NOOP", 200)
		})
	}
}

// TestRETRClientClosesData checks that a client that drops the data
// connection mid-download gets its 426 at once, not after the file or the
// next slow-data pause.
func TestRETRClientClosesData(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		size int
	}{
		{"bulk", nil, 32 << 20},
		{"slow data", []Option{WithSlowData(1024, 5*time.Second)}, 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t, tt.opts...)
			s.PutFile("/big", bytes.Repeat([]byte("x"), tt.size), time.Now())
			c := dialLogin(t, s)
			dc := c.epsv()
			c.cmd("RETR big", 150)
			if _, err := io.ReadFull(dc, make([]byte, 1024)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			dc.Close()
			lines := c.expect(426)
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("426 after %v, want it promptly", el)
			}
			if lines[0] != "Connection closed; transfer aborted." {
				t.Errorf("426 text %q", lines[0])
			}
			c.cmd("NOOP", 200)
		})
	}
}

func TestABOR(t *testing.T) {
	s := NewServer(t, WithSlowData(16, 20*time.Millisecond))
	s.PutFile("/f", bytes.Repeat([]byte("y"), 64<<10), time.Now())
	c := dialLogin(t, s)
	dc := c.epsv()
	c.cmd("RETR f", 150)
	if _, err := io.ReadFull(dc, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	// RFC 959 4.1.3: Telnet IP and Synch precede ABOR.
	c.send("\xff\xf4\xff\xf2ABOR")
	c.expect(426)
	c.expect(226)
	io.Copy(io.Discard, dc) // the server has closed it
	c.cmd("NOOP", 200)
	if cmds := s.Commands(); cmds[len(cmds)-2] != "ABOR" {
		t.Errorf("Commands = %q, want ABOR recorded without Telnet bytes", cmds)
	}
}

func TestCommandsDuringTransferWait(t *testing.T) {
	s := NewServer(t, WithSlowData(4, 50*time.Millisecond))
	s.PutFile("/f", []byte("0123456789ab"), time.Now())
	c := dialLogin(t, s)
	dc := c.epsv()
	c.cmd("RETR f", 150)
	// A pipelined command is answered after the transfer's final reply.
	c.send("NOOP")
	if got := readAll(t, dc); string(got) != "0123456789ab" {
		t.Errorf("data = %q", got)
	}
	c.expect(226)
	c.expect(200)
}

func TestFileTree(t *testing.T) {
	s := NewServer(t)
	mod := time.Now()
	s.PutFile("a/b/c.txt", []byte("c"), mod)
	s.Mkdir("/a/empty")
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"List /a", s.List("/a"), []string{"b", "empty"}},
		{"List file", s.List("/a/b/c.txt"), []string(nil)},
		{"Exists dir", s.Exists("/a/b"), true},
		{"Exists cleaned", s.Exists("/a/./b/../b/c.txt"), true},
		{"Exists missing", s.Exists("/nope"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fmt.Sprint(tt.got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	data, ok := s.File("/a/b/c.txt")
	data[0] = 'X' // a copy: must not change the tree
	if again, _ := s.File("/a/b/c.txt"); !ok || string(again) != "c" {
		t.Errorf("File = %q, %v", again, ok)
	}
}

// TestCloseNoLeak closes a server with a client mid-transfer and one in a
// sleeping handler, and checks that no goroutine survives.
func TestCloseNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		s := NewServer(t, WithSlowData(1, time.Hour))
		s.PutFile("/f", []byte("slow"), time.Now())
		s.Handle("STAT", func(c *Conn, arg string) {
			select {
			case <-c.Done():
			case <-time.After(time.Hour):
			}
		})
		c1 := dialLogin(t, s)
		dc := c1.epsv()
		c1.cmd("RETR f", 150)
		io.ReadFull(dc, make([]byte, 1))
		c2 := dialLogin(t, s)
		c2.send("STAT")
		c3 := dial(t, s)
		c3.expect(220)
		// Wait for STAT to reach its handler.
		for !slices.Contains(s.Commands(), "STAT") {
			time.Sleep(time.Millisecond)
		}
		done := make(chan struct{})
		go func() {
			s.Close()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Close hangs")
		}
		dc.Close()
		c1.nc.Close()
		c2.nc.Close()
		c3.nc.Close()
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after Close\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHashCommands: HASH, OPTS HASH and the X commands answer with the
// file's real digests where FEAT lists them, and not otherwise.
func TestHashCommands(t *testing.T) {
	const (
		sha256Hello = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
		sha512Hello = "e7c22b994c59d9cf2b48e549b1e24666636045930d3da7c1acb299d1c3b7f931f94aae41edda2c2b207a36e10f8bcb8d45223e54878f5b316e7ce3b6bc019629"
	)
	mod := time.Date(2023, 11, 24, 4, 12, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		feats  []string
		script []string
	}{
		{"HASH", []string{"HASH SHA-256*;SHA-512"}, []string{
			"HASH a.txt => 213 SHA-256 0-6 " + sha256Hello + " a.txt",
			"OPTS HASH => 200 SHA-256",
			"OPTS HASH MD5 => 501", "OPTS HASH sha-512 => 200 SHA-512",
			"HASH /a.txt => 213 SHA-512 0-6 " + sha512Hello + " /a.txt",
			"HASH nope => 550", "HASH d => 550",
			"XSHA256 a.txt => 502",
		}},
		{"X commands", []string{"XSHA256", "XSHA512"}, []string{
			"XSHA256 a.txt => 250 " + sha256Hello, "XSHA512 a.txt => 250 " + sha512Hello,
			"XSHA256 nope => 550", "HASH a.txt => 502", "OPTS HASH SHA-256 => 501",
		}},
		{"none", nil, []string{"HASH a.txt => 502", "XSHA256 a.txt => 502", "OPTS HASH SHA-256 => 501"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t, WithFeatures(append([]string{"EPSV", "SIZE"}, tt.feats...)...))
			s.PutFile("/a.txt", []byte("hello\n"), mod)
			s.Mkdir("/d")
			c := dialLogin(t, s)
			runScript(t, c, tt.script)
		})
	}
}
