package ftpcore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// testTimeout bounds every test's context, so that a hang fails the test
// rather than the whole run.
const testTimeout = 30 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// testConfig logs in to an ftptest server with its default credentials and
// timeouts short enough for tests, long enough for a loaded -race run.
func testConfig(s *ftptest.Server) Config {
	return Config{
		Addr:           s.Addr,
		User:           "user",
		Password:       "pass",
		DialTimeout:    5 * time.Second,
		CommandTimeout: 5 * time.Second,
		DataTimeout:    5 * time.Second,
	}
}

// dialTest dials s with testConfig changed by mods, and closes the Conn
// when the test ends.
func dialTest(t *testing.T, s *ftptest.Server, mods ...func(*Config)) *Conn {
	t.Helper()
	cfg := testConfig(s)
	for _, m := range mods {
		m(&cfg)
	}
	c, err := Dial(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// verbs returns how many of cmds have the verb v.
func verbs(cmds []string, v string) int {
	n := 0
	for _, c := range cmds {
		verb, _, _ := strings.Cut(c, " ")
		if strings.EqualFold(verb, v) {
			n++
		}
	}
	return n
}

// traceLog collects a Conn's Debug protocol trace.
type traceLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *traceLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *traceLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *traceLog) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// received reports whether the trace shows a reply with code.
func (l *traceLog) received(code string) bool {
	return strings.Contains(l.String(), `msg="ftp recv" addr=`) && strings.Contains(l.String(), " code="+code+" ")
}

// rawServer serves every connection with fn, for byte streams ftptest
// cannot produce. fn must return once the client has gone.
func rawServer(t *testing.T, fn func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(testTimeout))
				fn(nc)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestDialLogin(t *testing.T) {
	tests := []struct {
		name     string
		opts     []ftptest.Option
		cfg      func(*Config)
		wantCode int    // 0: login succeeds
		wantCmd  string // a command the server must have seen
	}{
		{name: "user and password", wantCmd: "PASS pass"},
		{
			name:    "account asked for",
			opts:    []ftptest.Option{ftptest.WithAccount("acct1")},
			cfg:     func(c *Config) { c.Account = "acct1" },
			wantCmd: "ACCT acct1",
		},
		{
			name:     "account asked for, none configured",
			opts:     []ftptest.Option{ftptest.WithAccount("acct1")},
			wantCode: 332,
		},
		{
			name:     "wrong account",
			opts:     []ftptest.Option{ftptest.WithAccount("acct1")},
			cfg:      func(c *Config) { c.Account = "nope" },
			wantCode: 530,
		},
		{
			name:     "wrong password",
			cfg:      func(c *Config) { c.Password = "nope" },
			wantCode: 530,
		},
		{
			name:    "anonymous by default",
			opts:    []ftptest.Option{ftptest.WithCredentials("anonymous", "anonymous@")},
			cfg:     func(c *Config) { c.User, c.Password = "", "" },
			wantCmd: "USER anonymous",
		},
		{
			// ftptest sends the greeting text verbatim, so a second line
			// in it is a second reply: 120, then 220.
			name:    "greeting 120 then 220",
			opts:    []ftptest.Option{ftptest.WithGreeting(120, "Service ready in 1 minute.\r\n220 Ready now.")},
			wantCmd: "USER user",
		},
		{
			name:     "greeting 421",
			opts:     []ftptest.Option{ftptest.WithGreeting(421, "Too many users, try later.")},
			wantCode: 421,
		},
		{
			name:     "greeting 530",
			opts:     []ftptest.Option{ftptest.WithGreeting(530, "Not allowed from your address.")},
			wantCode: 530,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, tt.opts...)
			cfg := testConfig(s)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			c, err := Dial(testCtx(t), cfg)
			if tt.wantCode != 0 {
				if err == nil {
					c.Close()
					t.Fatalf("Dial succeeded, want a %d *Error", tt.wantCode)
				}
				var fe *Error
				if !errors.As(err, &fe) || fe.Code != tt.wantCode {
					t.Fatalf("Dial error %v, want *Error %d", err, tt.wantCode)
				}
				if got, want := IsConnLost(err), tt.wantCode == 421; got != want {
					t.Errorf("IsConnLost = %v, want %v", got, want)
				}
				if s.Logins() != 0 {
					t.Errorf("server counted %d logins", s.Logins())
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			t.Cleanup(func() { c.Close() })
			if !c.Usable() || s.Logins() != 1 {
				t.Fatalf("Usable = %v, server logins = %d", c.Usable(), s.Logins())
			}
			if !slices.Contains(s.Commands(), tt.wantCmd) {
				t.Errorf("server saw %q, want %q among them", s.Commands(), tt.wantCmd)
			}
			if err := c.Noop(testCtx(t)); err != nil {
				t.Errorf("Noop after login: %v", err)
			}
		})
	}
}

// TestDialSequence pins the commands of a login, in order.
func TestDialSequence(t *testing.T) {
	s := ftptest.NewServer(t)
	dialTest(t, s)
	want := []string{"USER user", "PASS pass", "FEAT", "OPTS UTF8 ON", "TYPE I", "PWD"}
	if got := s.Commands(); !slices.Equal(got, want) {
		t.Fatalf("server saw %q, want %q", got, want)
	}
}

func TestDialGreetingFaults(t *testing.T) {
	tests := []struct {
		name  string
		serve func(net.Conn)
		cfg   func(*Config)
		check func(t *testing.T, err error)
	}{
		{
			name:  "garbage",
			serve: func(nc net.Conn) { io.WriteString(nc, "SSH-2.0-OpenSSH_9.6\r\n"); io.Copy(io.Discard, nc) },
			check: func(t *testing.T, err error) {
				var pe *ProtocolError
				if !errors.As(err, &pe) {
					t.Errorf("Dial error %v, want *ProtocolError", err)
				}
			},
		},
		{
			name:  "closed at once",
			serve: func(nc net.Conn) {},
			check: func(t *testing.T, err error) {
				if !IsConnLost(err) {
					t.Errorf("Dial error %v, want IsConnLost", err)
				}
			},
		},
		{
			name:  "silent",
			serve: func(nc net.Conn) { io.Copy(io.Discard, nc) },
			cfg:   func(c *Config) { c.CommandTimeout = 200 * time.Millisecond },
			check: func(t *testing.T, err error) {
				if !IsTimeout(err) {
					t.Errorf("Dial error %v, want IsTimeout", err)
				}
			},
		},
		{
			// A server that keeps saying "ready in a minute" must not keep
			// Dial forever: the command timeout bounds the whole greeting.
			name: "endless 120",
			serve: func(nc net.Conn) {
				for {
					if _, err := io.WriteString(nc, "120 Service ready in 1 minute.\r\n"); err != nil {
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			},
			cfg: func(c *Config) { c.CommandTimeout = 300 * time.Millisecond },
			check: func(t *testing.T, err error) {
				if !IsTimeout(err) {
					t.Errorf("Dial error %v, want IsTimeout", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := rawServer(t, tt.serve)
			cfg := Config{Addr: addr, CommandTimeout: 5 * time.Second}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			// Dial gets no deadline of its own here: the Conn's timeouts
			// must bound it.
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			start := time.Now()
			c, err := Dial(ctx, cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Dial took %v", d)
			}
			tt.check(t, err)
		})
	}
}

func TestDialSlowGreeting(t *testing.T) {
	s := ftptest.NewServer(t, ftptest.WithReplyDelay(3*time.Second))
	cfg := testConfig(s)
	cfg.CommandTimeout = 200 * time.Millisecond
	start := time.Now()
	c, err := Dial(testCtx(t), cfg)
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded")
	}
	if !IsTimeout(err) || time.Since(start) > 2*time.Second {
		t.Fatalf("Dial error %v after %v, want a prompt timeout", err, time.Since(start))
	}
}

func TestDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := Dial(testCtx(t), Config{Addr: addr, DialTimeout: 2 * time.Second})
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded")
	}
	if ReplyCode(err) != 0 {
		t.Errorf("ReplyCode = %d, want 0", ReplyCode(err))
	}
}

func TestFeatures(t *testing.T) {
	s := ftptest.NewServer(t)
	c := dialTest(t, s)
	for _, name := range []string{"MLST", "mlst", "EPSV", "Size", "UTF8", "REST"} {
		if !c.HasFeature(name) {
			t.Errorf("HasFeature(%q) = false", name)
		}
	}
	if c.HasFeature("AUTH") {
		t.Error(`HasFeature("AUTH") = true`)
	}
	f := c.Features()
	if f["MLST"] != "type*;size*;modify*;" || f["REST"] != "STREAM" || f["EPSV"] != "" {
		t.Errorf("Features() = %q", f)
	}
	delete(f, "MLST")
	if !c.HasFeature("MLST") {
		t.Error("changing the map Features returned changed the Conn")
	}
}

func TestFeatVariants(t *testing.T) {
	tests := []struct {
		name     string
		opts     []ftptest.Option
		feat     ftptest.Handler // replaces FEAT when set
		opts8    ftptest.Handler // replaces OPTS when set
		wantFeat []string
		wantOpts int // OPTS UTF8 ON commands sent
	}{
		{name: "UTF8 offered", wantFeat: []string{"EPSV", "MDTM", "MLST", "PASV", "REST", "SIZE", "UTF8"}, wantOpts: 1},
		{
			name:     "UTF8 not offered",
			opts:     []ftptest.Option{ftptest.WithFeatures("EPSV", "SIZE")},
			wantFeat: []string{"EPSV", "SIZE"},
		},
		{
			name: "FEAT not implemented",
			opts: []ftptest.Option{ftptest.WithFeatures()},
		},
		{
			// RFC 2389 §3.2: "211 no-features" on one line is a valid
			// answer.
			name: "single-line 211",
			feat: func(c *ftptest.Conn, _ string) { c.Reply(211, "no-features") },
		},
		{
			name:     "lower-case features with blank lines",
			feat:     func(c *ftptest.Conn, _ string) { c.ReplyLines(211, "Features:", " utf8", "", " size", "End") },
			wantFeat: []string{"SIZE", "UTF8"},
			wantOpts: 1,
		},
		{
			name:     "OPTS UTF8 refused",
			opts8:    func(c *ftptest.Conn, _ string) { c.Reply(501, "No.") },
			wantFeat: []string{"EPSV", "MDTM", "MLST", "PASV", "REST", "SIZE", "UTF8"},
			wantOpts: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, tt.opts...)
			if tt.feat != nil {
				s.Handle("FEAT", tt.feat)
			}
			if tt.opts8 != nil {
				s.Handle("OPTS", tt.opts8)
			}
			c := dialTest(t, s)
			var got []string
			for k := range c.Features() {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.wantFeat) {
				t.Errorf("features %q, want %q", got, tt.wantFeat)
			}
			if n := verbs(s.Commands(), "OPTS"); n != tt.wantOpts || (n > 0 && !slices.Contains(s.Commands(), "OPTS UTF8 ON")) {
				t.Errorf("server saw %q: %d OPTS, want %d OPTS UTF8 ON", s.Commands(), n, tt.wantOpts)
			}
			if err := c.Noop(testCtx(t)); err != nil {
				t.Errorf("Noop: %v", err)
			}
		})
	}
}

func TestLoginDir(t *testing.T) {
	tests := []struct {
		name string
		opts []ftptest.Option
		pwd  ftptest.Handler
		want string
	}{
		{name: "root", want: "/"},
		{name: "home", opts: []ftptest.Option{ftptest.WithLoginDir("/home/x")}, want: "/home/x"},
		{name: "quote in the name", opts: []ftptest.Option{ftptest.WithLoginDir(`/we"ird dir`)}, want: `/we"ird dir`},
		{name: "PWD refused", pwd: func(c *ftptest.Conn, _ string) { c.Reply(550, "No.") }, want: "/"},
		{name: "relative PWD", pwd: func(c *ftptest.Conn, _ string) { c.Reply(257, `"home" is it`) }, want: "/"},
		{name: "unquoted PWD", pwd: func(c *ftptest.Conn, _ string) { c.Reply(257, `/home is it`) }, want: "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, tt.opts...)
			if tt.pwd != nil {
				s.Handle("PWD", tt.pwd)
			}
			c := dialTest(t, s)
			if got := c.LoginDir(); got != tt.want {
				t.Errorf("LoginDir() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTraceRedactsPassword checks the Debug trace: commands and replies
// are there, the password and account are not.
func TestTraceRedactsPassword(t *testing.T) {
	s := ftptest.NewServer(t, ftptest.WithCredentials("alice", "s3cret-pw"), ftptest.WithAccount("acct-9"))
	var log traceLog
	dialTest(t, s, func(c *Config) {
		c.User, c.Password, c.Account = "alice", "s3cret-pw", "acct-9"
		c.Logger = log.logger()
	})
	out := log.String()
	for _, want := range []string{`line="USER alice"`, `line="PASS ****"`, `line="ACCT ****"`, "code=230"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{"s3cret-pw", "acct-9"} {
		if strings.Contains(out, secret) {
			t.Errorf("trace contains %q:\n%s", secret, out)
		}
	}
}

// TestBadArgument sends arguments that would smuggle a second command onto
// the control connection, and one that would make a line longer than
// servers read (which vsftpd answers by closing the session, and proftpd
// by never answering). None may reach the wire, and the Conn stays usable.
func TestBadArgument(t *testing.T) {
	ops := []struct {
		name string
		call func(ctx context.Context, c *Conn, arg string) error
	}{
		{"Size", func(ctx context.Context, c *Conn, a string) error { _, err := c.Size(ctx, a); return err }},
		{"ModTime", func(ctx context.Context, c *Conn, a string) error { _, err := c.ModTime(ctx, a); return err }},
		{"Stat", func(ctx context.Context, c *Conn, a string) error { _, err := c.Stat(ctx, a); return err }},
		{"List", func(ctx context.Context, c *Conn, a string) error { _, err := c.List(ctx, a); return err }},
		{"Retr", func(ctx context.Context, c *Conn, a string) error {
			tr, err := c.Retr(ctx, a, 0, -1)
			if err == nil {
				tr.Close()
			}
			return err
		}},
		{"Retr with offset", func(ctx context.Context, c *Conn, a string) error {
			tr, err := c.Retr(ctx, a, 10, 5)
			if err == nil {
				tr.Close()
			}
			return err
		}},
		{"Stor", func(ctx context.Context, c *Conn, a string) error {
			u, err := c.Stor(ctx, a, 0)
			if err == nil {
				u.Close()
			}
			return err
		}},
		{"Appe", func(ctx context.Context, c *Conn, a string) error {
			u, err := c.Appe(ctx, a)
			if err == nil {
				u.Close()
			}
			return err
		}},
		{"Delete", func(ctx context.Context, c *Conn, a string) error { return c.Delete(ctx, a) }},
		{"Mkdir", func(ctx context.Context, c *Conn, a string) error { return c.Mkdir(ctx, a) }},
		{"Rmdir", func(ctx context.Context, c *Conn, a string) error { return c.Rmdir(ctx, a) }},
		{"Cwd", func(ctx context.Context, c *Conn, a string) error { return c.Cwd(ctx, a) }},
		{"Rename from", func(ctx context.Context, c *Conn, a string) error { return c.Rename(ctx, a, "/b") }},
		{"Rename to", func(ctx context.Context, c *Conn, a string) error { return c.Rename(ctx, "/a", a) }},
	}
	args := map[string]string{
		"CRLF":     "/a\r\nDELE /victim",
		"LF":       "/a\nDELE /victim",
		"CR":       "/a\rDELE /victim",
		"NUL":      "/a\x00DELE /victim",
		"too long": "/" + strings.Repeat("a", 4096) + "DELE /victim",
	}
	for _, withMLST := range []bool{true, false} {
		var opts []ftptest.Option
		name := "MLST"
		if !withMLST {
			opts = append(opts, ftptest.WithFeatures("EPSV", "SIZE", "MDTM"))
			name = "no MLST"
		}
		t.Run(name, func(t *testing.T) {
			s := ftptest.NewServer(t, opts...)
			s.PutFile("/a", []byte("aaaaaaaaaaaaaaaaaaaa"), time.Now())
			s.PutFile("/victim", []byte("v"), time.Now())
			c := dialTest(t, s)
			ctx := testCtx(t)
			for _, op := range ops {
				for argName, arg := range args {
					t.Run(op.name+"/"+argName, func(t *testing.T) {
						before, sent := len(s.Commands()), c.Commands()
						err := op.call(ctx, c, arg)
						want := ErrBadArgument
						if argName == "too long" {
							want = ErrLineTooLong
						}
						if !errors.Is(err, want) {
							t.Fatalf("error %.100v, want %v", err, want)
						}
						if !c.Usable() || c.Commands() != sent {
							t.Fatalf("Usable = %v, commands sent %d, want usable and none sent", c.Usable(), c.Commands()-sent)
						}
						if err := c.Noop(ctx); err != nil {
							t.Fatalf("Noop after the rejected argument: %v", err)
						}
						if got := s.Commands()[before:]; !slices.Equal(got, []string{"NOOP"}) {
							t.Fatalf("server saw %q, want only NOOP", got)
						}
					})
				}
			}
			for _, cmd := range s.Commands() {
				if strings.Contains(cmd, "victim") {
					t.Errorf("server saw %q", cmd)
				}
			}
			if !s.Exists("/victim") {
				t.Error("/victim was deleted")
			}
		})
	}
}

func TestCommandTimeout(t *testing.T) {
	s := ftptest.NewServer(t)
	c := dialTest(t, s, func(c *Config) { c.CommandTimeout = 300 * time.Millisecond })
	s.SetReplyDelay(5 * time.Second)
	start := time.Now()
	err := c.Noop(testCtx(t))
	if !IsTimeout(err) {
		t.Fatalf("Noop error %v, want IsTimeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Noop took %v with a 300ms command timeout", d)
	}
	if c.Usable() {
		t.Fatal("Conn usable after a timed-out command: the late reply would be read as the next one's")
	}
	err = c.Noop(testCtx(t))
	if !errors.Is(err, ErrUnusable) || IsConnLost(err) {
		t.Fatalf("Noop after timeout: %v, want ErrUnusable and not IsConnLost", err)
	}
}

func TestContextEndsCommand(t *testing.T) {
	tests := []struct {
		name string
		ctx  func(parent context.Context) (context.Context, context.CancelFunc)
		want error
	}{
		{
			name: "cancelled after 50ms",
			ctx: func(parent context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(parent)
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			},
			want: context.Canceled,
		},
		{
			name: "deadline after 50ms",
			ctx: func(parent context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(parent, 50*time.Millisecond)
			},
			want: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t)
			// The command timeout is long: only the context can end the
			// call in time.
			c := dialTest(t, s, func(c *Config) { c.CommandTimeout = 20 * time.Second })
			s.Handle("NOOP", func(sc *ftptest.Conn, _ string) { <-sc.Done() })
			ctx, cancel := tt.ctx(testCtx(t))
			defer cancel()
			start := time.Now()
			err := c.Noop(ctx)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Noop error %v, want %v", err, tt.want)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Noop returned after %v", d)
			}
			if c.Usable() || !errors.Is(c.Err(), tt.want) {
				t.Fatalf("Usable = %v, Err = %v; want unusable for %v", c.Usable(), c.Err(), tt.want)
			}
			if tt.want == context.DeadlineExceeded && !IsTimeout(err) {
				t.Errorf("IsTimeout(%v) = false", err)
			}
		})
	}
}

func TestMalformedReply(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		cfg  func(*Config)
	}{
		{name: "garbage", raw: "garbage\r\n"},
		{name: "four digits", raw: "2000 ok\r\n"},
		{name: "line too long", raw: "200 " + strings.Repeat("x", DefaultMaxReplyLine+10) + "\r\n"},
		{
			name: "reply too long",
			raw:  "200-a\r\n" + strings.Repeat(" padding padding padding\r\n", 100) + "200 end\r\n",
			cfg:  func(c *Config) { c.MaxReplySize = 1024 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t)
			var mods []func(*Config)
			if tt.cfg != nil {
				mods = append(mods, tt.cfg)
			}
			c := dialTest(t, s, mods...)
			s.Handle("NOOP", func(sc *ftptest.Conn, _ string) { sc.WriteRaw(tt.raw) })
			err := c.Noop(testCtx(t))
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Cmd != "NOOP" {
				t.Fatalf("Noop error %v, want *ProtocolError for NOOP", err)
			}
			if c.Usable() {
				t.Fatal("Conn usable after a malformed reply")
			}
			if err := c.Noop(testCtx(t)); !errors.Is(err, ErrUnusable) {
				t.Fatalf("second Noop: %v, want ErrUnusable", err)
			}
		})
	}
}

func TestConnLost(t *testing.T) {
	tests := []struct {
		name     string
		noop     ftptest.Handler
		wantCode int
	}{
		{name: "closed after the command", noop: func(sc *ftptest.Conn, _ string) { sc.Close() }},
		{name: "half a reply then closed", noop: func(sc *ftptest.Conn, _ string) { sc.WriteRaw("200 NOOP o"); sc.Close() }},
		{
			name:     "421 then closed",
			noop:     func(sc *ftptest.Conn, _ string) { sc.Reply(421, "Timeout."); sc.Close() },
			wantCode: 421,
		},
		{
			// RFC 959: 421 means the server is closing the control
			// connection, whether or not it has yet.
			name:     "421 left open",
			noop:     func(sc *ftptest.Conn, _ string) { sc.Reply(421, "Service shutting down.") },
			wantCode: 421,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t)
			c := dialTest(t, s)
			s.Handle("NOOP", tt.noop)
			err := c.Noop(testCtx(t))
			if err == nil || !IsConnLost(err) {
				t.Fatalf("Noop error %v, want IsConnLost", err)
			}
			if ReplyCode(err) != tt.wantCode {
				t.Errorf("ReplyCode = %d, want %d", ReplyCode(err), tt.wantCode)
			}
			if c.Usable() {
				t.Fatal("Conn usable after the server closed it")
			}
			err = c.Noop(testCtx(t))
			if !errors.Is(err, ErrUnusable) || IsConnLost(err) {
				t.Fatalf("second Noop: %v, want ErrUnusable and not IsConnLost", err)
			}
		})
	}
}

// TestStaleSession closes the server's side while the Conn is idle, as a
// server's idle timeout does to a pooled session: the next command reports
// the connection lost.
func TestStaleSession(t *testing.T) {
	s := ftptest.NewServer(t)
	c := dialTest(t, s)
	var mu sync.Mutex
	var server *ftptest.Conn
	s.Handle("NOOP", func(sc *ftptest.Conn, arg string) {
		mu.Lock()
		server = sc
		mu.Unlock()
		sc.Default("NOOP", arg)
	})
	if err := c.Noop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	server.Close()
	mu.Unlock()
	_, err := c.Size(testCtx(t), "/x")
	if !IsConnLost(err) || c.Usable() {
		t.Fatalf("Size on a closed session: %v (usable %v), want IsConnLost and unusable", err, c.Usable())
	}
}

// TestUnusableFailsFast checks that every method of an unusable Conn fails
// with ErrUnusable and sends nothing.
func TestUnusableFailsFast(t *testing.T) {
	s := ftptest.NewServer(t)
	s.PutFile("/a", []byte("a"), time.Now())
	c := dialTest(t, s)
	s.Handle("NOOP", func(sc *ftptest.Conn, _ string) { sc.WriteRaw("garbage\r\n") })
	if err := c.Noop(testCtx(t)); err == nil {
		t.Fatal("Noop succeeded")
	}
	ctx := testCtx(t)
	sent := c.Commands()
	calls := map[string]func() error{
		"Noop":    func() error { return c.Noop(ctx) },
		"Size":    func() error { _, err := c.Size(ctx, "/a"); return err },
		"ModTime": func() error { _, err := c.ModTime(ctx, "/a"); return err },
		"Stat":    func() error { _, err := c.Stat(ctx, "/a"); return err },
		"List":    func() error { _, err := c.List(ctx, "/"); return err },
		"Retr":    func() error { _, err := c.Retr(ctx, "/a", 0, -1); return err },
		"Stor":    func() error { _, err := c.Stor(ctx, "/b", 0); return err },
		"Appe":    func() error { _, err := c.Appe(ctx, "/b"); return err },
		"Delete":  func() error { return c.Delete(ctx, "/a") },
		"Mkdir":   func() error { return c.Mkdir(ctx, "/d") },
		"Rmdir":   func() error { return c.Rmdir(ctx, "/d") },
		"Rename":  func() error { return c.Rename(ctx, "/a", "/b") },
		"Cwd":     func() error { return c.Cwd(ctx, "/") },
		"Quit":    func() error { return c.Quit(ctx) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, ErrUnusable) {
				t.Errorf("%s: %v, want ErrUnusable", name, err)
			}
		})
	}
	if c.Commands() != sent {
		t.Errorf("%d commands sent on an unusable Conn", c.Commands()-sent)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestBusy(t *testing.T) {
	s := ftptest.NewServer(t)
	s.PutFile("/a", bytes.Repeat([]byte("x"), 1000), time.Now())
	c := dialTest(t, s)
	ctx := testCtx(t)
	tr, err := c.Retr(ctx, "/a", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Noop(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("Noop during a transfer: %v, want ErrBusy", err)
	}
	if _, err := c.Retr(ctx, "/a", 0, -1); !errors.Is(err, ErrBusy) {
		t.Fatalf("Retr during a transfer: %v, want ErrBusy", err)
	}
	if !c.Usable() {
		t.Fatal("ErrBusy made the Conn unusable")
	}
	if _, err := io.Copy(io.Discard, tr); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop(ctx); err != nil {
		t.Fatalf("Noop after the transfer: %v", err)
	}
}

func TestQuitAndClose(t *testing.T) {
	t.Run("Quit", func(t *testing.T) {
		s := ftptest.NewServer(t)
		c := dialTest(t, s)
		if err := c.Quit(testCtx(t)); err != nil {
			t.Fatalf("Quit: %v", err)
		}
		if c.Usable() || verbs(s.Commands(), "QUIT") != 1 {
			t.Fatalf("Usable = %v, server saw %q", c.Usable(), s.Commands())
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close after Quit: %v", err)
		}
		if err := c.Noop(testCtx(t)); !errors.Is(err, ErrUnusable) {
			t.Fatalf("Noop after Quit: %v", err)
		}
		if verbs(s.Commands(), "QUIT") != 1 {
			t.Errorf("server saw %q", s.Commands())
		}
	})
	t.Run("Close", func(t *testing.T) {
		s := ftptest.NewServer(t)
		c := dialTest(t, s)
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if c.Usable() || verbs(s.Commands(), "QUIT") != 1 {
			t.Fatalf("Usable = %v, server saw %q", c.Usable(), s.Commands())
		}
		if err := c.Noop(testCtx(t)); !errors.Is(err, ErrUnusable) {
			t.Fatalf("Noop after Close: %v", err)
		}
	})
	t.Run("Quit refused", func(t *testing.T) {
		s := ftptest.NewServer(t)
		c := dialTest(t, s)
		s.Handle("QUIT", func(sc *ftptest.Conn, _ string) { sc.Reply(500, "No.") })
		if err := c.Quit(testCtx(t)); ReplyCode(err) != 500 {
			t.Fatalf("Quit: %v, want the 500", err)
		}
		if c.Usable() {
			t.Fatal("Conn usable after Quit")
		}
	})
}

func TestCommandsCounter(t *testing.T) {
	s := ftptest.NewServer(t)
	c := dialTest(t, s)
	start := c.Commands()
	if start != uint64(len(s.Commands())) {
		t.Fatalf("Commands() = %d after login, server saw %d", start, len(s.Commands()))
	}
	for range 3 {
		if err := c.Noop(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Commands() - start; got != 3 {
		t.Fatalf("Commands() rose by %d over 3 NOOPs", got)
	}
}

func TestCanResume(t *testing.T) {
	for _, tc := range []struct {
		feats []string
		want  bool
	}{
		{[]string{"REST STREAM", "SIZE"}, true},
		{[]string{"REST stream"}, true},
		{[]string{"SIZE"}, false},
		{[]string{"REST"}, false},
	} {
		srv := ftptest.NewServer(t, ftptest.WithFeatures(tc.feats...))
		if got := dialTest(t, srv).CanResume(); got != tc.want {
			t.Errorf("FEAT %v: CanResume %v, want %v", tc.feats, got, tc.want)
		}
	}
}
