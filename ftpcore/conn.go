package ftpcore

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config says how to reach and log in to one FTP server. The zero value of
// every duration and limit means its default.
type Config struct {
	// Addr is the server's "host:port".
	Addr string
	// User, Password and Account are the login. Account is sent with ACCT
	// only when the server asks for one (332). An empty User logs in as
	// "anonymous".
	User, Password, Account string

	// DialTimeout bounds connecting the control connection and, under
	// FTPS, its TLS handshake. Default 10 s.
	DialTimeout time.Duration
	// GreetingTimeout bounds the wait for the server's greeting after the
	// connection is made (a 120 "ready in n minutes" included). Default
	// CommandTimeout.
	GreetingTimeout time.Duration
	// CommandTimeout bounds the wait for each reply. Default 30 s.
	CommandTimeout time.Duration
	// DataConnTimeout bounds opening each data connection: the dial in
	// passive mode, the wait for the server to connect in active mode, and
	// the data connection's TLS handshake under FTPS. Default DialTimeout.
	DataConnTimeout time.Duration
	// DataTimeout is how long a data connection may go without progress.
	// A download fails when nothing arrives for this long: Read waits at
	// most this long, and WriteTo (which copies in 1 MiB chunks so that
	// the kernel can splice them) counts what the kernel receives inside a
	// chunk on Linux, elsewhere only whole chunks. An upload's Write must
	// complete within it (ReadFrom writes 256 KiB at a time). Default 60 s.
	DataTimeout time.Duration
	// FinalReplyTimeout bounds the wait for the final reply of a transfer
	// that ran to its end, in Transfer.Close and Upload.Close: the server
	// may first have to flush and close the file. Default CommandTimeout.
	FinalReplyTimeout time.Duration
	// AbortTimeout bounds the whole exchange that ends a transfer cut short
	// (Transfer.Close before the end, after a cancelled ctx or a failed
	// read; Upload.Abort; Upload.Close after a cancelled ctx or a failed
	// write): ABOR when the ctx was cancelled, the replies, and the NOOP
	// that proves the control connection in step. When it does not
	// complete in time the Conn is unusable. Default 5 s.
	AbortTimeout time.Duration
	// KeepAlive is the TCP keepalive period of the control connection,
	// which carries nothing while a transfer runs: the first probe after
	// this long without traffic, then one every period. Negative disables
	// keepalive. Default 30 s.
	KeepAlive time.Duration

	// UsePASVAddress makes data connections go to the address in a 227
	// reply. Off by default: the address is ignored and the control
	// connection's peer is used instead, because a server (or whoever
	// answers in its name) can otherwise point the client at any host
	// (CVE-2020-8284).
	UsePASVAddress bool
	// DisablePipelining sends every command only after the reply to the
	// one before. By default two commands whose replies are independent
	// (SIZE and MDTM; REST and RETR) go out in one write, saving a round
	// trip; a server that cannot take that is broken, but exists.
	DisablePipelining bool
	// DisableEPSV skips EPSV and uses PASV from the start. It is ignored
	// when the control connection is IPv6, where PASV cannot work.
	DisableEPSV bool

	// Active makes the server connect to the client for data (EPRT, or
	// PORT when the server refuses EPRT), instead of passive mode. A data
	// connection from any address but the control connection's peer is
	// refused.
	Active bool
	// ActiveAddr is the local IP address to listen on and announce in
	// active mode. Default: the local address of the control connection.
	ActiveAddr string
	// ActivePortMin and ActivePortMax bound the local port listened on in
	// active mode. 0 for both means any port; one of them 0 means 1024 or
	// 65535.
	ActivePortMin, ActivePortMax int

	// TLS selects FTPS (RFC 4217): TLSOff (the default), TLSExplicit
	// (AUTH TLS) or TLSImplicit. With TLS, data connections are TLS too
	// (PROT P), and a server that refuses any of it fails Dial with
	// ErrTLSRefused before USER is sent.
	TLS TLSMode
	// TLSConfig configures the TLS client; it is cloned, never modified.
	// Nil means the system roots. ServerName defaults to the host of Addr
	// and is the name the server's certificate is verified for. RootCAs
	// is the trust store (see LoadCAFile). InsecureSkipVerify turns off
	// verification: for tests only. ClientSessionCache may be shared by
	// the Conns of one server so that new control connections resume;
	// each Conn's data connections resume the session of its own control
	// connection, as servers that demand session reuse require. Nil means
	// a cache per Conn.
	TLSConfig *tls.Config

	// MaxReplyLine and MaxReplySize cap one reply line and one whole reply,
	// in bytes. Defaults DefaultMaxReplyLine and DefaultMaxReplySize.
	MaxReplyLine, MaxReplySize int
	// MaxListing caps the bytes read from one directory listing. Default
	// 64 MiB.
	MaxListing int64

	// Logger receives protocol traces at Debug level, PASS redacted. Nil
	// means no traces.
	Logger *slog.Logger
	// Dialer, if set, dials the control and data connections (tests).
	Dialer *net.Dialer
}

func (c *Config) setDefaults() {
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 30 * time.Second
	}
	if c.DataTimeout <= 0 {
		c.DataTimeout = 60 * time.Second
	}
	if c.GreetingTimeout <= 0 {
		c.GreetingTimeout = c.CommandTimeout
	}
	if c.DataConnTimeout <= 0 {
		c.DataConnTimeout = c.DialTimeout
	}
	if c.FinalReplyTimeout <= 0 {
		c.FinalReplyTimeout = c.CommandTimeout
	}
	if c.AbortTimeout <= 0 {
		c.AbortTimeout = 5 * time.Second
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 30 * time.Second
	}
	if c.MaxReplyLine <= 0 {
		c.MaxReplyLine = DefaultMaxReplyLine
	}
	if c.MaxReplySize <= 0 {
		c.MaxReplySize = DefaultMaxReplySize
	}
	if c.MaxListing <= 0 {
		c.MaxListing = 64 << 20
	}
	if c.User == "" {
		c.User = "anonymous"
		if c.Password == "" {
			c.Password = "anonymous@"
		}
	}
}

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
			return &Error{Cmd: "PASS", Code: rep.Code, Msg: rep.Msg()}
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
	return &Error{Cmd: "login", Code: rep.Code, Msg: rep.Msg()}
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
		c.poison(&Error{Cmd: orGreeting(verb), Code: rep.Code, Msg: rep.Msg()})
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
	return rep, &Error{Cmd: verb, Code: rep.Code, Msg: rep.Msg()}
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
