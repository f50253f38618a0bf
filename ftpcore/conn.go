package ftpcore

import (
	"bufio"
	"context"
	"errors"
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
	busy     bool // a Transfer or Upload is open
	owed     bool // a NOOP goes ahead of the next command (pipeline.go)
	commands uint64
	replies  uint64
	hashAlgo string // the HASH algorithm selected with OPTS HASH, if any

	mu     sync.Mutex
	broken error // why the Conn is unusable; nil while usable
}

// Dial connects to cfg.Addr, reads the greeting, logs in, reads the
// server's features (FEAT), switches to UTF-8 paths when offered, selects
// binary type and records the login directory. ctx bounds the whole
// sequence.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
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
	c := newConn(nc, cfg)
	if err := c.handshake(ctx); err != nil {
		c.nc.Close()
		return nil, err
	}
	return c, nil
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

func (c *Conn) handshake(ctx context.Context) error {
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
	rep, err = c.roundTrip(ctx, "PWD", "")
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

// LoginDir returns the working directory after login, as PWD reported it,
// or "/" when the server did not say.
func (c *Conn) LoginDir() string { return c.dir }

// Commands returns the number of commands sent on the control connection.
func (c *Conn) Commands() uint64 { return c.commands }

// Replies returns the number of replies read on the control connection.
// The pool compares it across an operation to tell a stale session (it
// failed before any reply came, or its first reply was 421) from a failure
// later on; commands cannot tell, as two may go out in one write. The
// 200 to a NOOP the Conn sends on its own (pipeline.go) is not counted.
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
	// On an unusable Conn expect sends nothing and returns ErrUnusable, as
	// every other method does.
	_, err := c.expect(ctx, "QUIT", "", StatusClosing)
	c.poison(ErrUnusable)
	return err
}

// watch arranges for ctx's end to interrupt any blocked I/O on the given
// connections and to poison c. The returned stop must be called when the
// call ends; it reports whether ctx ended while it was being watched.
func (c *Conn) watch(ctx context.Context, conns ...net.Conn) (stop func() bool) {
	if ctx.Done() == nil {
		return func() bool { return false }
	}
	s := context.AfterFunc(ctx, func() {
		// Deadlines first: poison closes the control connection, and a
		// server that sees that may close the data connection, which a
		// blocked read must not take for a clean end of file.
		for _, nc := range conns {
			nc.SetDeadline(aLongTimeAgo)
		}
		c.poison(ctx.Err())
	})
	return func() bool { return !s() }
}

var aLongTimeAgo = time.Unix(1, 0)

// roundTrip sends "verb arg" and reads one reply, whatever its code. With
// an empty verb it only reads (the greeting). Any failure other than a
// rejected argument poisons the Conn.
func (c *Conn) roundTrip(ctx context.Context, verb, arg string) (*Reply, error) {
	return c.exchange(ctx, verb, arg, verb != "", c.cfg.CommandTimeout)
}

// readFinal reads the final reply of a transfer started with verb, waiting
// up to timeout.
func (c *Conn) readFinal(ctx context.Context, verb string, timeout time.Duration) (*Reply, error) {
	c.busy = false
	return c.exchange(ctx, verb, "", false, timeout)
}

func (c *Conn) exchange(ctx context.Context, verb, arg string, send bool, timeout time.Duration) (*Reply, error) {
	if err := c.Err(); err != nil {
		return nil, fmt.Errorf("ftpcore: %s: %w: %w", orGreeting(verb), ErrUnusable, err)
	}
	if c.busy {
		return nil, fmt.Errorf("ftpcore: %s: %w", orGreeting(verb), ErrBusy)
	}
	if err := checkArg(arg); err != nil {
		return nil, fmt.Errorf("ftpcore: %s: %w", verb, err)
	}
	stop := c.watch(ctx, c.nc)
	c.nc.SetDeadline(time.Now().Add(timeout))
	var rep *Reply
	var err error
	if send {
		b, owed := c.startLines()
		err = c.writeLines(c.appendCommand(b, verb, arg), owed, verb)
	}
	if err == nil {
		rep, err = c.readReply(verb)
	}
	if stop() || ctx.Err() != nil {
		err = fmt.Errorf("ftpcore: %s: %w", orGreeting(verb), ctx.Err())
		c.poison(err)
		return nil, err
	}
	if err != nil {
		c.poison(err)
		return nil, err
	}
	if rep.Code == StatusNotAvailable {
		// RFC 959: 421 is the server closing the control connection,
		// whether or not the close has arrived yet. A Conn left usable
		// here would go back to a pool and fail its next user.
		c.poison(unexpected(orGreeting(verb), rep))
	}
	return rep, nil
}

// appendCommand appends the command line "verb arg\r\n" to b, counts and
// traces it. The argument has been checked by the caller.
func (c *Conn) appendCommand(b []byte, verb, arg string) []byte {
	start := len(b)
	b = append(b, verb...)
	if arg != "" {
		b = append(b, ' ')
		b = append(b, arg...)
	}
	b = append(b, '\r', '\n')
	c.commands++
	if c.log != nil {
		line := string(b[start : len(b)-2])
		if verb == "PASS" || verb == "ACCT" {
			line = verb + " ****"
		}
		c.log.Debug("ftp send", "addr", c.cfg.Addr, "line", line)
	}
	return b
}

func (c *Conn) readReply(verb string) (*Reply, error) {
	rep, err := readReply(c.br, c.cfg.MaxReplySize)
	if err != nil {
		var pe *ProtocolError
		if errors.As(err, &pe) {
			pe.Cmd = verb
			return nil, pe
		}
		return nil, fmt.Errorf("ftpcore: %s: reading reply: %w", orGreeting(verb), err)
	}
	c.replies++
	if c.log != nil {
		c.log.Debug("ftp recv", "addr", c.cfg.Addr, "code", rep.Code, "text", rep.Msg())
	}
	return rep, nil
}

func orGreeting(verb string) string {
	if verb == "" {
		return "greeting"
	}
	return verb
}

// expect runs a command and returns its reply if the code is one of codes,
// an *Error otherwise.
func (c *Conn) expect(ctx context.Context, verb, arg string, codes ...int) (*Reply, error) {
	rep, err := c.roundTrip(ctx, verb, arg)
	if err != nil {
		return nil, err
	}
	for _, code := range codes {
		if rep.Code == code {
			return rep, nil
		}
	}
	return rep, unexpected(verb, rep)
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
