package ftpcore

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
	"github.com/ftpgw/ftpgw/internal/testpki"
)

// testPKI is a CA and a server certificate it signed for 127.0.0.1, ::1
// and localhost.
type testPKI struct {
	caPEM []byte
	roots *x509.CertPool
	cert  tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p, err := testpki.New("ftpcore test CA")
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{caPEM: p.CAPEM, roots: p.Roots, cert: p.Cert}
}

// serverConfig is the server side: one *tls.Config per server, so its
// session tickets resume on every connection of the server.
func (p *testPKI) serverConfig(maxVersion uint16) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.cert}, MaxVersion: maxVersion}
}

// tlsClient sets cfg up to trust p.
func (p *testPKI) tlsClient(mode TLSMode) func(*Config) {
	return func(cfg *Config) {
		cfg.TLS = mode
		cfg.TLSConfig = &tls.Config{RootCAs: p.roots}
	}
}

var tlsVersions = []struct {
	name string
	max  uint16
}{
	{"TLS1.2", tls.VersionTLS12},
	{"TLS1.3", tls.VersionTLS13},
}

// cmdVerbs returns the verbs of cmds, in order.
func cmdVerbs(cmds []string) []string {
	var v []string
	for _, c := range cmds {
		verb, _, _ := strings.Cut(c, " ")
		v = append(v, strings.ToUpper(verb))
	}
	return v
}

// exercise runs RETR (whole, ranged, through WriteTo), STOR and List on c
// and checks each data connection was TLS and resumed the control
// connection's session.
func exercise(t *testing.T, c *Conn, s *ftptest.Server, wantVersion uint16) {
	t.Helper()
	ctx := testCtx(t)
	data := testData(1 << 20)
	s.PutFile("/f.bin", data, time.Now())

	st, ok := c.TLSConnectionState()
	if !ok || st.Version != wantVersion {
		t.Fatalf("control TLS: %v, version %x; want %x", ok, st.Version, wantVersion)
	}

	tr, err := c.Retr(ctx, "/f.bin", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	tc, ok := tr.DataConn().(*tls.Conn)
	if !ok {
		t.Fatalf("DataConn() is %T, want *tls.Conn", tr.DataConn())
	}
	if !tc.ConnectionState().DidResume {
		t.Error("data connection did not resume the control connection's session")
	}
	var buf bytes.Buffer
	if n, err := tr.WriteTo(&buf); err != nil || n != int64(len(data)) {
		t.Fatalf("WriteTo: %d, %v", n, err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatal("RETR data differs")
	}

	tr, err = c.Retr(ctx, "/f.bin", 1000, 5000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("ranged Close: %v", err)
	}
	if !bytes.Equal(got, data[1000:6000]) {
		t.Fatal("ranged RETR data differs")
	}

	up, err := c.Stor(ctx, "/up.bin", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := up.Close(); err != nil {
		t.Fatalf("Upload.Close: %v", err)
	}
	if f, _ := s.File("/up.bin"); !bytes.Equal(f, data) {
		t.Fatalf("uploaded %d bytes, want %d", len(f), len(data))
	}

	entries, err := c.List(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("List: %v", entries)
	}
	if total, resumed := s.TLSDataConns(); total != 4 || resumed != 4 {
		t.Errorf("server saw %d TLS data connections, %d resumed; want 4, 4", total, resumed)
	}
	if err := c.Noop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestExplicitTLS(t *testing.T) {
	pki := newTestPKI(t)
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			s := ftptest.NewServer(t, ftptest.WithExplicitTLS(pki.serverConfig(v.max)),
				ftptest.WithTLSRequired(), ftptest.WithTLSSessionReuse())
			c := dialTest(t, s, pki.tlsClient(TLSExplicit))
			want := []string{"AUTH", "PBSZ", "PROT", "USER", "PASS"}
			if got := cmdVerbs(s.Commands())[:5]; !equalStrings(got, want) {
				t.Errorf("commands %v, want %v first", got, want)
			}
			exercise(t, c, s, v.max)
		})
	}
}

func TestImplicitTLS(t *testing.T) {
	pki := newTestPKI(t)
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			s := ftptest.NewServer(t, ftptest.WithImplicitTLS(pki.serverConfig(v.max)),
				ftptest.WithTLSRequired(), ftptest.WithTLSSessionReuse())
			c := dialTest(t, s, pki.tlsClient(TLSImplicit))
			want := []string{"PBSZ", "PROT", "USER", "PASS"}
			if got := cmdVerbs(s.Commands())[:4]; !equalStrings(got, want) {
				t.Errorf("commands %v, want %v first", got, want)
			}
			exercise(t, c, s, v.max)
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTLSVerification checks that the certificate is verified for the
// name the client asked for, against the caller's roots only.
func TestTLSVerification(t *testing.T) {
	pki := newTestPKI(t)
	other := newTestPKI(t)
	for _, mode := range []TLSMode{TLSExplicit, TLSImplicit} {
		opt := ftptest.WithExplicitTLS(pki.serverConfig(0))
		if mode == TLSImplicit {
			opt = ftptest.WithImplicitTLS(pki.serverConfig(0))
		}
		tests := []struct {
			name    string
			tlsCfg  *tls.Config
			wantErr func(error) bool
		}{
			{"right name by default", &tls.Config{RootCAs: pki.roots}, nil},
			{"localhost", &tls.Config{RootCAs: pki.roots, ServerName: "localhost"}, nil},
			{"wrong name", &tls.Config{RootCAs: pki.roots, ServerName: "ftp.example.com"}, func(err error) bool {
				var he x509.HostnameError
				return errors.As(err, &he)
			}},
			{"untrusted CA", &tls.Config{RootCAs: other.roots}, func(err error) bool {
				var ue x509.UnknownAuthorityError
				return errors.As(err, &ue)
			}},
			{"system roots", nil, func(err error) bool {
				var ue x509.UnknownAuthorityError
				var ve *tls.CertificateVerificationError
				return errors.As(err, &ue) || errors.As(err, &ve)
			}},
			{"InsecureSkipVerify", &tls.Config{InsecureSkipVerify: true, ServerName: "ftp.example.com"}, nil},
		}
		for _, tt := range tests {
			t.Run(mode.String()+"/"+tt.name, func(t *testing.T) {
				s := ftptest.NewServer(t, opt, ftptest.WithTLSRequired())
				cfg := testConfig(s)
				cfg.TLS, cfg.TLSConfig = mode, tt.tlsCfg
				c, err := Dial(testCtx(t), cfg)
				if tt.wantErr == nil {
					if err != nil {
						t.Fatalf("Dial: %v", err)
					}
					defer c.Close()
					if _, err := c.List(testCtx(t), "/"); err != nil {
						t.Fatalf("List: %v", err)
					}
					return
				}
				if err == nil {
					c.Close()
					t.Fatal("Dial succeeded")
				}
				if !tt.wantErr(err) {
					t.Fatalf("Dial: %v (%T)", err, errors.Unwrap(err))
				}
				if n := verbs(s.Commands(), "USER") + verbs(s.Commands(), "PASS"); n != 0 {
					t.Errorf("USER/PASS sent after a failed handshake: %q", s.Commands())
				}
			})
		}
	}
	t.Run("caller's config not modified", func(t *testing.T) {
		tlsCfg := &tls.Config{RootCAs: pki.roots}
		s := ftptest.NewServer(t, ftptest.WithExplicitTLS(pki.serverConfig(0)))
		cfg := testConfig(s)
		cfg.TLS, cfg.TLSConfig = TLSExplicit, tlsCfg
		c, err := Dial(testCtx(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if tlsCfg.ServerName != "" || tlsCfg.ClientSessionCache != nil {
			t.Errorf("caller's tls.Config modified: ServerName %q, cache %v", tlsCfg.ServerName, tlsCfg.ClientSessionCache)
		}
	})
}

// TestTLSRefused checks that a client that asked for TLS gives up before
// it sends anything secret when the server does not play along.
func TestTLSRefused(t *testing.T) {
	pki := newTestPKI(t)
	tests := []struct {
		name     string
		opts     []ftptest.Option
		handlers map[string]ftptest.Handler
		wantCmd  string
		wantCode int
	}{
		{"no AUTH", []ftptest.Option{ftptest.WithFeatures("EPSV", "SIZE")}, nil, "AUTH", 502},
		{"AUTH 500", []ftptest.Option{ftptest.WithExplicitTLS(pki.serverConfig(0))},
			map[string]ftptest.Handler{"AUTH": reply(500, "AUTH not understood")}, "AUTH", 500},
		{"AUTH 334", []ftptest.Option{ftptest.WithExplicitTLS(pki.serverConfig(0))},
			map[string]ftptest.Handler{"AUTH": reply(334, "ADAT=xyz")}, "AUTH", 334},
		{"greeting 230", []ftptest.Option{ftptest.WithGreeting(230, "Logged in already")}, nil, "greeting", 230},
		{"PBSZ refused", []ftptest.Option{ftptest.WithExplicitTLS(pki.serverConfig(0))},
			map[string]ftptest.Handler{"PBSZ": reply(502, "no")}, "PBSZ", 502},
		{"PROT P refused", []ftptest.Option{ftptest.WithExplicitTLS(pki.serverConfig(0))},
			map[string]ftptest.Handler{"PROT": reply(536, "PROT P not supported")}, "PROT", 536},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, tt.opts...)
			for cmd, h := range tt.handlers {
				s.Handle(cmd, h)
			}
			cfg := testConfig(s)
			pki.tlsClient(TLSExplicit)(&cfg)
			c, err := Dial(testCtx(t), cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			var fe *Error
			if !errors.Is(err, ErrTLSRefused) || !errors.As(err, &fe) || fe.Cmd != tt.wantCmd || fe.Code != tt.wantCode {
				t.Fatalf("Dial: %v; want ErrTLSRefused with %s %d", err, tt.wantCmd, tt.wantCode)
			}
			for _, l := range s.Commands() {
				if v := cmdVerbs([]string{l})[0]; v == "USER" || v == "PASS" {
					t.Errorf("sent %q to a server that refused TLS", l)
				}
			}
		})
	}
}

// TestImplicitTLSPlainReply: a server that answers the ClientHello with a
// reply in plain text, as vsftpd with implicit_ssl refuses a connection
// beyond max_per_ip, fails Dial with that reply as the greeting's *Error,
// so that the pool sees its 421; bytes that are neither TLS nor a reply
// stay a TLS error.
func TestImplicitTLSPlainReply(t *testing.T) {
	pki := newTestPKI(t)
	tests := []struct {
		name     string
		sent     string
		wantCode int // 0: no *Error
	}{
		{"421", "421 There are too many connections from your internet address.\r\n", 421},
		{"multi-line 421", "421-Too many.\r\n421 Try later.\r\n", 421},
		{"not a reply", "HELLO there\r\n", 0},
		{"too short for a reply", "421", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := rawServer(t, func(nc net.Conn) {
				io.WriteString(nc, tt.sent)
			})
			cfg := Config{Addr: addr, User: "user", Password: "pass", DialTimeout: 5 * time.Second}
			pki.tlsClient(TLSImplicit)(&cfg)
			c, err := Dial(testCtx(t), cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			var fe *Error
			if got := errors.As(err, &fe); got != (tt.wantCode != 0) || (got && (fe.Code != tt.wantCode || fe.Cmd != "greeting")) {
				t.Fatalf("Dial: %v; want a greeting *Error %d: %v", err, tt.wantCode, tt.wantCode != 0)
			}
		})
	}
}

func reply(code int, text string) ftptest.Handler {
	return func(c *ftptest.Conn, _ string) { c.Reply(code, text) }
}

// TestTLSRequiredByServer checks the server side of WithTLSRequired and
// that a plain client gets its 530.
func TestTLSRequiredByServer(t *testing.T) {
	pki := newTestPKI(t)
	s := ftptest.NewServer(t, ftptest.WithExplicitTLS(pki.serverConfig(0)), ftptest.WithTLSRequired())
	_, err := Dial(testCtx(t), testConfig(s))
	if ReplyCode(err) != 530 {
		t.Fatalf("plain Dial: %v, want 530", err)
	}
}

// TestTLSDataNotResumed checks a data connection that a server refuses
// because it did not resume the session: the transfer fails with the
// server's reply and the Conn stays usable.
func TestTLSDataNotResumed(t *testing.T) {
	pki := newTestPKI(t)
	s := ftptest.NewServer(t, ftptest.WithExplicitTLS(pki.serverConfig(0)), ftptest.WithTLSSessionReuse())
	s.PutFile("/f", []byte("data"), time.Now())
	c := dialTest(t, s, func(cfg *Config) {
		cfg.TLS = TLSExplicit
		cfg.TLSConfig = &tls.Config{RootCAs: pki.roots, SessionTicketsDisabled: true}
	})
	// The client's side of the handshake may complete before the server
	// has looked at it, so the refusal can come with Retr or with Close.
	tr, err := c.Retr(testCtx(t), "/f", 0, -1)
	if err == nil {
		io.ReadAll(tr)
		err = tr.Close()
	}
	if ReplyCode(err) != 522 {
		t.Fatalf("Retr: %v, want the server's 522", err)
	}
	if !c.Usable() {
		t.Fatalf("Conn unusable after a refused data connection: %v", c.Err())
	}
	if err := c.Noop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// TestTLSSharedSessionCache runs two Conns on one session cache, as the
// pool does per backend, with transfers interleaved: each Conn's data
// connections must resume its own control session, and the second
// control connection resumes from the cache.
func TestTLSSharedSessionCache(t *testing.T) {
	pki := newTestPKI(t)
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			s := ftptest.NewServer(t, ftptest.WithExplicitTLS(pki.serverConfig(v.max)), ftptest.WithTLSSessionReuse())
			s.PutFile("/f", []byte("hello"), time.Now())
			cache := tls.NewLRUClientSessionCache(4)
			mod := func(cfg *Config) {
				cfg.TLS = TLSExplicit
				cfg.TLSConfig = &tls.Config{RootCAs: pki.roots, ClientSessionCache: cache}
			}
			a := dialTest(t, s, mod)
			b := dialTest(t, s, mod)
			if st, _ := b.TLSConnectionState(); !st.DidResume {
				t.Error("second control connection did not resume from the shared cache")
			}
			for range 3 {
				retrAll(t, a, "/f", []byte("hello"))
				retrAll(t, b, "/f", []byte("hello"))
			}
			if total, resumed := s.TLSDataConns(); total != 6 || resumed != 6 {
				t.Errorf("%d TLS data connections, %d resumed; want 6, 6", total, resumed)
			}
		})
	}
}

// TestTLSUploadEnd checks that Upload.Close ends a TLS upload with
// close_notify (the server takes it as complete) and Abort without it
// (the server does not).
func TestTLSUploadEnd(t *testing.T) {
	pki := newTestPKI(t)
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			s := ftptest.NewServer(t, ftptest.WithExplicitTLS(pki.serverConfig(v.max)))
			var trace traceLog
			c := dialTest(t, s, pki.tlsClient(TLSExplicit), func(cfg *Config) { cfg.Logger = trace.logger() })
			ctx := testCtx(t)
			data := testData(3 << 20)
			for i := range 5 {
				up, err := c.Stor(ctx, "/ok", 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := up.Write(data); err != nil {
					t.Fatal(err)
				}
				if err := up.Close(); err != nil {
					t.Fatalf("upload %d: Close: %v", i, err)
				}
				if f, _ := s.File("/ok"); !bytes.Equal(f, data) {
					t.Fatalf("upload %d: server has %d bytes, want %d", i, len(f), len(data))
				}
			}
			if trace.received("426") {
				t.Fatal("server refused a closed upload")
			}
			up, err := c.Stor(ctx, "/aborted", 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := up.Write(data[:1000]); err != nil {
				t.Fatal(err)
			}
			cause := errors.New("source failed")
			if err := up.Abort(cause); err != cause {
				t.Fatalf("Abort: %v", err)
			}
			if !c.Usable() {
				t.Fatal(c.Err())
			}
			if !trace.received("426") {
				t.Error("server took the aborted upload as complete")
			}
			if err := c.Noop(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTLSTransferEarlyClose checks a TLS download closed before its end:
// the Conn is proved in step and the next transfer works.
func TestTLSTransferEarlyClose(t *testing.T) {
	pki := newTestPKI(t)
	s := ftptest.NewServer(t, ftptest.WithExplicitTLS(pki.serverConfig(0)))
	data := testData(8 << 20)
	s.PutFile("/big", data, time.Now())
	c := dialTest(t, s, pki.tlsClient(TLSExplicit))
	tr, err := c.Retr(testCtx(t), "/big", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(tr, make([]byte, 100000)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("early Close: %v", err)
	}
	retrAll(t, c, "/big", data)
}

func TestLoadCAFile(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(good, pki.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	pool, err := LoadCAFile(good)
	if err != nil {
		t.Fatal(err)
	}
	s := ftptest.NewServer(t, ftptest.WithExplicitTLS(pki.serverConfig(0)))
	dialTest(t, s, func(cfg *Config) {
		cfg.TLS, cfg.TLSConfig = TLSExplicit, &tls.Config{RootCAs: pool}
	})
	for _, p := range []string{bad, filepath.Join(dir, "missing.pem")} {
		if _, err := LoadCAFile(p); err == nil {
			t.Errorf("LoadCAFile(%s) succeeded", p)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"TLS mode", func(c *Config) { c.TLS = 7 }},
		{"ActiveAddr", func(c *Config) { c.ActiveAddr = "localhost" }},
		{"port range", func(c *Config) { c.ActivePortMin, c.ActivePortMax = 3000, 2000 }},
		{"port", func(c *Config) { c.ActivePortMin = 70000 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t)
			cfg := testConfig(s)
			tt.mod(&cfg)
			if c, err := Dial(testCtx(t), cfg); err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if s.Conns() != 0 {
				t.Error("Dial connected despite a bad Config")
			}
		})
	}
}

// TestConnSessionCache pins the session cache semantics the pool relies on:
// two Conns on one shared cache each give their data connections their own
// control session, whatever the other put in the shared cache since.
func TestConnSessionCache(t *testing.T) {
	shared := tls.NewLRUClientSessionCache(4)
	sA, sB, sA2 := &tls.ClientSessionState{}, &tls.ClientSessionState{}, &tls.ClientSessionState{}

	a := &connSessionCache{shared: shared}
	if cs, ok := a.Get("k"); ok || cs != nil {
		t.Fatal("empty cache returned a session")
	}
	a.Put("k", sA) // TLS 1.2: the ticket comes with the control handshake
	a.seal(false)

	b := &connSessionCache{shared: shared}
	if cs, _ := b.Get("k"); cs != sA {
		t.Fatal("second control handshake did not get the shared session")
	}
	b.seal(true) // resumed sA, no new ticket
	if cs, _ := b.Get("k"); cs != sA {
		t.Fatal("b's data connections do not get the session b's control resumed")
	}
	b.Put("k", sB) // a new ticket on b
	if cs, _ := a.Get("k"); cs != sA {
		t.Fatal("a's data connections got b's session")
	}
	if cs, _ := b.Get("k"); cs != sB {
		t.Fatal("b's data connections do not get b's newest session")
	}
	if cs, _ := shared.Get("k"); cs != sB {
		t.Fatal("the shared cache did not learn b's session")
	}
	a.Put("k", sA2) // TLS 1.3: a ticket read after the handshake
	if cs, _ := a.Get("k"); cs != sA2 {
		t.Fatal("a's data connections do not get a's newest session")
	}
	a.Put("k", nil) // Go drops a session that failed to resume
	if cs, ok := a.Get("k"); ok || cs != nil {
		t.Fatal("a sealed cache fell back to the shared one")
	}

	c := &connSessionCache{}
	c.seal(false)
	if _, ok := c.Get("k"); ok {
		t.Fatal("a cache without a shared one invented a session")
	}
}
