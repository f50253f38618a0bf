package ftpcore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// TLSMode says whether a Conn protects its connections with TLS (RFC 4217).
type TLSMode int

const (
	// TLSOff is plain FTP: no TLS on either connection.
	TLSOff TLSMode = iota
	// TLSExplicit connects in the clear and upgrades with AUTH TLS (RFC
	// 2228, RFC 4217 §4) before anything else is sent, then asks for
	// protected data connections (PBSZ 0, PROT P) before logging in.
	TLSExplicit
	// TLSImplicit starts the TLS handshake right after the TCP connect,
	// before the greeting (the "ftps" port 990 convention), and then asks
	// for protected data connections as TLSExplicit does.
	TLSImplicit
)

func (m TLSMode) String() string {
	switch m {
	case TLSOff:
		return "off"
	case TLSExplicit:
		return "explicit"
	case TLSImplicit:
		return "implicit"
	}
	return fmt.Sprintf("TLSMode(%d)", int(m))
}

// ErrTLSRefused is wrapped by the error Dial returns when Config.TLS asks
// for TLS and the server does not provide it: AUTH TLS, PBSZ or PROT P was
// answered with anything but success (the *Error with the reply is
// wrapped too) other than a 421, which is the server going away as it may
// on any command, or the server greeted with 230, logged in before any
// credentials could be protected. Nothing secret was sent: USER and PASS
// are never sent in the clear when TLS is asked for.
var ErrTLSRefused = errors.New("server refused TLS")

// LoadCAFile reads the PEM certificates in the file at path into a new
// pool, for tls.Config.RootCAs. A file without a single certificate is an
// error, so that a wrong path or format is not mistaken for an empty trust
// store.
func LoadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ftpcore: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ftpcore: CA file %s: no PEM certificate", path)
	}
	return pool, nil
}

// tlsState is the TLS side of a Conn.
type tlsState struct {
	// cfg is used for the control connection and every data connection:
	// the same ServerName (so verification checks the same name) and the
	// same session cache (so data connections resume the control
	// connection's session).
	cfg   *tls.Config
	cache *connSessionCache
	// prot is true once PROT P is accepted: data connections are TLS.
	prot bool
}

// newTLSState builds the tls.Config for the Conn: a clone of the caller's,
// with ServerName defaulting to the host of Addr and a session cache of the
// Conn's own in front of the caller's.
func newTLSState(cfg *Config) *tlsState {
	var tc *tls.Config
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	} else {
		tc = &tls.Config{}
	}
	if tc.ServerName == "" {
		// Verification needs a name, and Go keys its session cache by
		// ServerName when there is one, by the remote address otherwise:
		// one name for every connection of the Conn keeps both right.
		host, _, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			host = cfg.Addr
		}
		tc.ServerName = host
	}
	cache := &connSessionCache{shared: tc.ClientSessionCache}
	tc.ClientSessionCache = cache
	return &tlsState{cfg: tc, cache: cache}
}

// startTLS runs first in the FTP handshake: it prepares the Conn's TLS
// and, for implicit FTPS, performs the handshake before the greeting.
func (c *Conn) startTLS(ctx context.Context) error {
	if c.cfg.TLS == TLSOff {
		return nil
	}
	c.tls = newTLSState(&c.cfg)
	if c.cfg.TLS == TLSImplicit {
		return c.upgradeControl(ctx, "implicit TLS")
	}
	return nil
}

// greetingError is the error for a greeting other than 220. A 230 to a
// client that wants explicit TLS means the server logged it in before any
// credential could be protected; that is a refusal of TLS, not just an
// odd greeting.
func greetingError(mode TLSMode, rep *Reply) error {
	err := unexpected("greeting", rep)
	if mode == TLSExplicit && rep.Code == StatusLoggedIn {
		return fmt.Errorf("ftpcore: %w: logged in without credentials before AUTH TLS: %w", ErrTLSRefused, err)
	}
	return err
}

// secureControl runs after the greeting and before USER: AUTH TLS and the
// handshake for explicit FTPS, then PBSZ 0 and PROT P for both modes. Any
// refusal ends Dial with ErrTLSRefused: a client that asked for TLS must
// not go on to send its password, or its data, in the clear. The replies
// to PBSZ and PROT are also the control connection's first reads after
// the handshake, which is when Go takes in the session tickets a TLS 1.3
// server sends after it; data connections resume those.
func (c *Conn) secureControl(ctx context.Context) error {
	if c.tls == nil {
		return nil
	}
	if c.cfg.TLS == TLSExplicit {
		rep, err := c.roundTrip(ctx, "AUTH", "TLS")
		if err != nil {
			return err
		}
		if rep.Code != StatusAuthOK {
			return fmt.Errorf("ftpcore: %w: %w", ErrTLSRefused, unexpected("AUTH", rep))
		}
		// Bytes already buffered after the 234 were sent before the
		// handshake, in the clear, by whoever sits on the path: taking
		// them as replies from the server would let them forge the
		// session (the STARTTLS injection of CVE-2011-0411).
		if c.br.Buffered() > 0 {
			err := &ProtocolError{Cmd: "AUTH", Msg: "data after 234 before the TLS handshake"}
			c.poison(err)
			return err
		}
		if err := c.upgradeControl(ctx, "AUTH TLS"); err != nil {
			return err
		}
	}
	for _, cmd := range [][2]string{{"PBSZ", "0"}, {"PROT", "P"}} {
		rep, err := c.roundTrip(ctx, cmd[0], cmd[1])
		if err != nil {
			return err
		}
		if rep.Code != StatusCommandOK {
			return fmt.Errorf("ftpcore: %w: %w", ErrTLSRefused, unexpected(cmd[0], rep))
		}
	}
	c.tls.prot = true
	return nil
}

// upgradeControl runs the TLS handshake on the control connection, bounded
// by DialTimeout and ctx, and reads replies through TLS from then on.
func (c *Conn) upgradeControl(ctx context.Context, what string) error {
	tc := tls.Client(c.nc, c.tls.cfg)
	if err := c.tlsHandshake(ctx, tc, c.cfg.DialTimeout); err != nil {
		if rep := plainReply(err); rep != nil {
			err = fmt.Errorf("ftpcore: %s handshake: the server answered in plain text: %w", what, unexpected("greeting", rep))
		} else {
			err = fmt.Errorf("ftpcore: %s handshake: %w", what, err)
		}
		c.poison(err)
		return err
	}
	c.tls.cache.seal(tc.ConnectionState().DidResume)
	c.nc = tc
	c.br.Reset(tc)
	if c.log != nil {
		st := tc.ConnectionState()
		c.log.Debug("ftp tls", "addr", c.cfg.Addr, "conn", "control", "version", tls.VersionName(st.Version),
			"cipher", tls.CipherSuiteName(st.CipherSuite), "resumed", st.DidResume)
	}
	return nil
}

// plainReply returns the FTP reply a server sent in plain text where the
// TLS handshake was due, or nil. vsftpd with implicit_ssl refuses a
// connection beyond max_per_ip or max_clients so, before any TLS: "421
// There are too many connections from your internet address." Only the
// reply's first five bytes are known: crypto/tls reads the rest into its
// own buffer and keeps it, so the code is what the reply says.
func plainReply(err error) *Reply {
	var rhe tls.RecordHeaderError
	if !errors.As(err, &rhe) {
		return nil
	}
	h := rhe.RecordHeader
	code := 0
	for _, b := range h[:3] {
		if b < '0' || b > '9' {
			return nil
		}
		code = code*10 + int(b-'0')
	}
	if h[3] != ' ' && h[3] != '-' {
		return nil
	}
	return &Reply{Code: code, Lines: []string{"(sent in plain text where the TLS handshake was due)"}}
}

func (c *Conn) tlsHandshake(ctx context.Context, tc *tls.Conn, timeout time.Duration) error {
	tc.SetDeadline(time.Now().Add(timeout))
	err := tc.HandshakeContext(ctx)
	if err == nil {
		tc.SetDeadline(time.Time{})
	} else if ctx.Err() != nil {
		err = ctx.Err()
	}
	return err
}

// TLSConnectionState returns the state of the control connection's TLS,
// and false when the Conn does not use TLS. The state of a data
// connection is that of Transfer.DataConn, a *tls.Conn under TLS.
func (c *Conn) TLSConnectionState() (tls.ConnectionState, bool) {
	if tc, ok := c.nc.(*tls.Conn); ok {
		return tc.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

// secureData makes a data connection the TLS client side after PROT P,
// whichever side opened it (RFC 4217 §7: the client is the TLS client in
// active mode too). Servers start their side of the handshake only when
// they have answered the transfer command, so this runs after the 1xx.
func (c *Conn) secureData(ctx context.Context, nc net.Conn) (net.Conn, error) {
	if c.tls == nil || !c.tls.prot {
		return nc, nil
	}
	tc := tls.Client(nc, c.tls.cfg)
	if err := c.tlsHandshake(ctx, tc, c.cfg.DataConnTimeout); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	if c.log != nil {
		st := tc.ConnectionState()
		c.log.Debug("ftp tls", "addr", c.cfg.Addr, "conn", "data", "version", tls.VersionName(st.Version),
			"resumed", st.DidResume)
	}
	return tc, nil
}

// rawConn returns the TCP connection under a data connection.
func rawConn(nc net.Conn) net.Conn {
	if tc, ok := nc.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return nc
}

// resetData ends a data connection with a TCP reset, so the server sees an
// error rather than an end of file. Under TLS the TCP connection is closed
// directly: a close_notify first would tell the server the data is
// complete.
func resetData(nc net.Conn) {
	raw := rawConn(nc)
	if tcp, ok := raw.(*net.TCPConn); ok {
		tcp.SetLinger(0)
	}
	raw.Close()
}

// closeData ends an upload's data connection cleanly. Plain TCP is just
// closed (FIN). Under TLS it sends close_notify, the end of data a strict
// server waits for, then FIN, and reads until the server closes its side,
// at most timeout: a TLS 1.3 server sends session tickets on the data
// connection that an upload never reads, and closing a socket with unread
// bytes makes the kernel send a reset, which can destroy the tail of the
// upload before the server has read it.
func closeData(nc net.Conn, timeout time.Duration) {
	tc, ok := nc.(*tls.Conn)
	if !ok {
		nc.Close()
		return
	}
	tc.SetDeadline(time.Now().Add(timeout))
	if tc.CloseWrite() == nil {
		if tcp, ok := tc.NetConn().(*net.TCPConn); ok {
			tcp.CloseWrite()
		}
		io.Copy(io.Discard, tc)
	}
	tc.Close()
}

// connSessionCache is the session cache of one Conn. It stands in front of
// the caller's cache (Config.TLSConfig.ClientSessionCache, nil for none),
// which the control connection's handshake may resume from and which
// learns every new session, so that a pool's next Conn can resume. Data
// connections get the Conn's own session only: with a cache shared by
// several Conns the entry under the server's name is whichever Conn
// handshook last, and a server that demands reuse of the control
// session (vsftpd's require_ssl_reuse) refuses a data connection that
// resumes another one. The key is ignored: one Conn talks to one server
// name.
type connSessionCache struct {
	shared tls.ClientSessionCache

	mu      sync.Mutex
	own     *tls.ClientSessionState // the newest session of this Conn
	offered *tls.ClientSessionState // taken from shared for the control handshake
	sealed  bool                    // control handshake done: data connections use own only
}

func (s *connSessionCache) Get(key string) (*tls.ClientSessionState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.own != nil || s.sealed {
		return s.own, s.own != nil
	}
	if s.shared == nil {
		return nil, false
	}
	cs, ok := s.shared.Get(key)
	if ok {
		s.offered = cs
	}
	return cs, ok
}

func (s *connSessionCache) Put(key string, cs *tls.ClientSessionState) {
	s.mu.Lock()
	s.own = cs
	s.mu.Unlock()
	if s.shared != nil {
		s.shared.Put(key, cs)
	}
}

// seal ends the control handshake: a session it resumed from the shared
// cache is the Conn's own unless the server issued a new one.
func (s *connSessionCache) seal(resumed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.own == nil && resumed {
		s.own = s.offered
	}
	s.offered = nil
	s.sealed = true
}
