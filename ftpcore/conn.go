package ftpcore

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Conn is one logged-in FTP control connection. A Conn is not safe for
// concurrent use: one goroutine issues commands at a time, and while a
// Transfer or Upload is open the Conn accepts no other command until that
// transfer is closed.
type Conn struct {
	cfg      Config
	nc       net.Conn
	br       *bufio.Reader
	wbuf     []byte
	peer     net.IP
	features map[string]string
	dir      string
	log      *slog.Logger // nil unless Debug traces are wanted

	noEPSV   bool // EPSV refused once; PASV from now on
	noEPRT   bool // EPRT refused once; PORT from now on
	tls      *tlsState
	busy     bool          // a Transfer or Upload is open
	owed     bool          // a NOOP goes ahead of the next command (exchange.go)
	armed    *armedData    // the next transfer's data connection (arm.go)
	arming   chan struct{} // closed when an ArmAsync ends (arm.go)
	commands uint64
	replies  uint64
	// connectTime and loginTime are how long Dial took to connect and
	// then to log in (greeting, TLS, USER/PASS, features).
	connectTime, loginTime time.Duration
	hashAlgo               string // the HASH algorithm selected with OPTS HASH, if any

	mu     sync.Mutex
	broken error // why the Conn is unusable; nil while usable
}

// Dial connects to cfg.Addr, reads the greeting, logs in, reads the
// server's features (FEAT), switches to UTF-8 paths when offered, selects
// binary type and records the login directory. ctx bounds the whole
// sequence.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	start := time.Now()
	c, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	connected := time.Now()
	if err := c.handshake(ctx); err != nil {
		c.nc.Close()
		return nil, err
	}
	c.connectTime, c.loginTime = connected.Sub(start), time.Since(connected)
	return c, nil
}

// DialTimes returns how long Dial took to open the control connection
// (connect) and then to log in (login: the greeting, the TLS handshake
// under FTPS, USER/PASS and the features the Conn asks for).
func (c *Conn) DialTimes() (connect, login time.Duration) { return c.connectTime, c.loginTime }

// connect sets cfg's defaults, checks it, and opens the control
// connection.
func connect(ctx context.Context, cfg Config) (*Conn, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := cfg.controlDialer() // keepalive.go
	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	nc, err := d.DialContext(dctx, "tcp", cfg.Addr)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("ftpcore: dial %s: %w", cfg.Addr, err)
	}
	return newConn(nc, cfg), nil
}

func newConn(nc net.Conn, cfg Config) *Conn {
	c := &Conn{
		cfg:      cfg,
		nc:       nc,
		br:       bufio.NewReaderSize(nc, cfg.MaxReplyLine),
		features: map[string]string{},
		dir:      "/",
	}
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		c.peer = ta.IP
	}
	if cfg.Logger != nil && cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
		c.log = cfg.Logger
	}
	return c
}

// Greet connects to cfg.Addr (with the TLS handshake first under implicit
// FTPS), reads the greeting, and says QUIT: proof that the server is there
// and taking connections, without logging in. A greeting other than 220
// (a 421, proftpd's 530 for too many connections) is an *Error with Cmd
// "greeting". No credential is sent, so it needs none.
func Greet(ctx context.Context, cfg Config) error {
	c, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.nc.Close()
	if err := c.greet(ctx); err != nil {
		return err
	}
	c.Quit(ctx)
	return nil
}

func (c *Conn) handshake(ctx context.Context) error {
	if err := c.greet(ctx); err != nil {
		return err
	}
	if err := c.secureControl(ctx); err != nil {
		return err
	}
	if err := c.login(ctx); err != nil {
		return err
	}
	if err := c.readFeatures(ctx); err != nil {
		return err
	}
	if _, ok := c.features["UTF8"]; ok {
		// RFC 2640: a failure here only means paths stay in the server's
		// default encoding; it is not a reason to give up the session.
		if _, err := c.roundTrip(ctx, "OPTS", "UTF8 ON"); err != nil {
			return err
		}
	}
	if _, err := c.expect(ctx, "TYPE", "I", StatusCommandOK); err != nil {
		return err
	}
	rep, err := c.roundTrip(ctx, "PWD", "")
	if err != nil {
		return err
	}
	if rep.Code == StatusPathCreated {
		if dir, ok := parseQuotedPath(rep.Lines[0]); ok && strings.HasPrefix(dir, "/") {
			c.dir = dir
		}
	}
	return nil
}

// greet starts implicit TLS if configured and reads the greeting, which
// must be 220.
func (c *Conn) greet(ctx context.Context) error {
	if err := c.startTLS(ctx); err != nil {
		return err
	}
	// A 120 promises the real greeting later. The greeting timeout bounds
	// the wait for it as a whole: a server repeating 120 must not hold
	// Dial for ever when ctx has no deadline.
	deadline := time.Now().Add(c.cfg.GreetingTimeout)
	rep, err := c.exchange(ctx, "", "", false, c.cfg.GreetingTimeout)
	for err == nil && rep.Code == StatusReadyMinute {
		rep, err = c.exchange(ctx, "", "", false, time.Until(deadline))
	}
	if err != nil {
		return err
	}
	if rep.Code != StatusReady {
		return greetingError(c.cfg.TLS, rep)
	}
	return nil
}

func (c *Conn) login(ctx context.Context) error {
	rep, err := c.roundTrip(ctx, "USER", c.cfg.User)
	if err != nil {
		return err
	}
	if rep.Code == StatusUserOK {
		rep, err = c.roundTrip(ctx, "PASS", c.cfg.Password)
		if err != nil {
			return err
		}
	}
	if rep.Code == StatusNeedAccount {
		if c.cfg.Account == "" {
			return unexpected("PASS", rep)
		}
		rep, err = c.roundTrip(ctx, "ACCT", c.cfg.Account)
		if err != nil {
			return err
		}
	}
	switch rep.Code {
	case StatusLoggedIn, StatusCommandNotImpl:
		return nil
	}
	return unexpected("login", rep)
}

// readFeatures sends FEAT (RFC 2389) and records each feature line: the
// keyword upper-cased as key, the rest as value. A server without FEAT has
// no features.
func (c *Conn) readFeatures(ctx context.Context) error {
	rep, err := c.roundTrip(ctx, "FEAT", "")
	if err != nil {
		return err
	}
	// A single-line 211 ("211 no-features", RFC 2389 §3.2) lists nothing;
	// without this check its one line would be sliced as [1:0].
	if rep.Code != StatusSystemStatus || len(rep.Lines) < 2 {
		return nil
	}
	for _, l := range rep.Lines[1 : len(rep.Lines)-1] {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		name, params, _ := strings.Cut(l, " ")
		c.features[strings.ToUpper(name)] = params
	}
	return nil
}

// Features returns a copy of the server's FEAT features: upper-cased
// keyword to its parameters ("MLST" → "type*;size*;modify*;").
func (c *Conn) Features() map[string]string {
	m := make(map[string]string, len(c.features))
	for k, v := range c.features {
		m[k] = v
	}
	return m
}

// HasFeature reports whether FEAT listed name (case-insensitive).
func (c *Conn) HasFeature(name string) bool {
	_, ok := c.features[strings.ToUpper(name)]
	return ok
}

// CanResume reports whether the server advertises REST in stream mode
// (FEAT "REST STREAM", RFC 3659 §5), so that Retr and Stor with an offset
// resume where a transfer stopped. Servers that do not list it may still
// accept REST; callers that must know should try and handle the *Error.
func (c *Conn) CanResume() bool {
	v, ok := c.features["REST"]
	return ok && strings.EqualFold(strings.TrimSpace(v), "STREAM")
}

// LoginDir returns the working directory after login, as PWD reported it,
// or "/" when the server did not say.
func (c *Conn) LoginDir() string { return c.dir }

// Commands returns the number of commands sent on the control connection.
func (c *Conn) Commands() uint64 { return c.commands }

// Replies returns the number of replies read on the control connection.
// The pool compares it across an operation to tell a stale session (it
// failed before any reply came, or its first reply was 421) from a failure
// later on; commands cannot tell, as two may go out in one write. The
// 200 to a NOOP the Conn sends on its own (exchange.go) is not counted.
func (c *Conn) Replies() uint64 { return c.replies }

// Usable reports whether the Conn can take another command: it has not been
// closed, and no earlier failure left its state unknown.
func (c *Conn) Usable() bool { return c.Err() == nil }

// Busy reports whether a Transfer or Upload of the Conn is still open: the
// Conn takes no command until it is closed.
func (c *Conn) Busy() bool { return c.busy }

// Err returns why the Conn is unusable, or nil.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken
}

// poison marks the Conn unusable for err (the first reason wins) and closes
// the control connection, so a server waiting on it sees the end promptly.
func (c *Conn) poison(err error) {
	c.mu.Lock()
	first := c.broken == nil
	if first {
		c.broken = err
	}
	c.mu.Unlock()
	if first {
		c.nc.Close()
	}
}

// Close sends QUIT when the Conn is usable, waiting up to the command
// timeout for the reply, and closes the connection. It always closes.
func (c *Conn) Close() error {
	c.WaitArm()
	c.disarm()
	if c.Usable() && !c.busy {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CommandTimeout)
		c.roundTrip(ctx, "QUIT", "")
		cancel()
	}
	c.poison(ErrUnusable)
	return nil
}

// Quit is Close with a context of the caller's.
func (c *Conn) Quit(ctx context.Context) error {
	c.WaitArm()
	c.disarm()
	// On an unusable Conn expect sends nothing and returns ErrUnusable, as
	// every other method does.
	_, err := c.expect(ctx, "QUIT", "", StatusClosing)
	c.poison(ErrUnusable)
	return err
}

// Noop sends NOOP: the cheapest proof that the session is alive.
func (c *Conn) Noop(ctx context.Context) error {
	_, err := c.expect(ctx, "NOOP", "", StatusCommandOK)
	return err
}

// parseQuotedPath extracts the path from a 257 reply text: the first quoted
// string, with "" standing for one quote (RFC 959 Appendix II).
func parseQuotedPath(s string) (string, bool) {
	i := strings.IndexByte(s, '"')
	if i < 0 {
		return "", false
	}
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		if s[j] != '"' {
			b.WriteByte(s[j])
			continue
		}
		if j+1 < len(s) && s[j+1] == '"' {
			b.WriteByte('"')
			j++
			continue
		}
		return b.String(), true
	}
	return "", false
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
