package ftpcore

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Defaults of Config, used where a field is zero and by callers (flags,
// config files, tests) that show or set them.
const (
	DefaultDialTimeout    = 10 * time.Second
	DefaultCommandTimeout = 30 * time.Second
	DefaultDataTimeout    = 60 * time.Second
	DefaultAbortTimeout   = 5 * time.Second
	DefaultKeepAlive      = 30 * time.Second
	DefaultMaxListing     = 64 << 20 // bytes of one directory listing

	// A server whose replies exceed these is broken or hostile; either
	// way the connection is given up.
	DefaultMaxReplyLine = 8192     // bytes in one reply line
	DefaultMaxReplySize = 64 << 10 // bytes in one (multi-line) reply
)

// Config says how to reach and log in to one FTP server. The zero value of
// every duration and limit means its default (the Default… constants).
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
	// chunk on Linux, elsewhere only whole chunks. An upload fails when
	// the server takes nothing for this long (Upload.Write). Default 60 s.
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
	// OnReply, if set, is called with each reply's code and the verb of
	// the command it answers ("greeting" for the greeting), as the reply
	// is read, on the Conn's goroutine: it must be quick. Metrics count
	// replies with it.
	OnReply func(verb string, code int)
	// Dialer, if set, dials the control and data connections (tests).
	Dialer *net.Dialer
}

func (c *Config) setDefaults() {
	setDefault(&c.DialTimeout, DefaultDialTimeout)
	setDefault(&c.CommandTimeout, DefaultCommandTimeout)
	setDefault(&c.DataTimeout, DefaultDataTimeout)
	setDefault(&c.GreetingTimeout, c.CommandTimeout)
	setDefault(&c.DataConnTimeout, c.DialTimeout)
	setDefault(&c.FinalReplyTimeout, c.CommandTimeout)
	setDefault(&c.AbortTimeout, DefaultAbortTimeout)
	if c.KeepAlive == 0 { // negative disables it
		c.KeepAlive = DefaultKeepAlive
	}
	setDefault(&c.MaxReplyLine, DefaultMaxReplyLine)
	setDefault(&c.MaxReplySize, DefaultMaxReplySize)
	setDefault(&c.MaxListing, DefaultMaxListing)
	if c.User == "" {
		c.User = "anonymous"
		if c.Password == "" {
			c.Password = "anonymous@"
		}
	}
}

// setDefault sets *v to def when it is zero or negative: unset.
func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// validate checks the Config fields of TLS and active mode, after
// setDefaults, so that a bad setting fails Dial before anything is sent.
func (c *Config) validate() error {
	switch c.TLS {
	case TLSOff, TLSExplicit, TLSImplicit:
	default:
		return fmt.Errorf("ftpcore: unknown TLS mode %d", int(c.TLS))
	}
	if c.ActiveAddr != "" && net.ParseIP(c.ActiveAddr) == nil {
		return fmt.Errorf("ftpcore: ActiveAddr %q is not an IP address", c.ActiveAddr)
	}
	if c.ActivePortMin < 0 || c.ActivePortMax < 0 || c.ActivePortMin > 65535 || c.ActivePortMax > 65535 ||
		(c.ActivePortMax != 0 && c.ActivePortMin > c.ActivePortMax) {
		return fmt.Errorf("ftpcore: bad active port range %d-%d", c.ActivePortMin, c.ActivePortMax)
	}
	return nil
}
