package ftpcore

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// These tests run FTPS, active mode and IPv6 against the real servers of
// internal/realftpd. They skip without root and the servers, and fail
// instead when FTPGW_REQUIRE_REAL_SERVERS=1.

var ftpsKinds = []realftpd.Kind{realftpd.VsftpdTLS12, realftpd.VsftpdTLS13, realftpd.VsftpdImplicit}

func realConfig(s *realftpd.Server) Config {
	cfg := Config{
		Addr:           s.Addr,
		User:           s.User,
		Password:       s.Password,
		DialTimeout:    5 * time.Second,
		CommandTimeout: 10 * time.Second,
		DataTimeout:    10 * time.Second,
	}
	if s.TLS != nil {
		cfg.TLS = TLSExplicit
		if s.TLS.Implicit {
			cfg.TLS = TLSImplicit
		}
		cfg.TLSConfig = s.TLS.ClientConfig()
	}
	return cfg
}

func dialReal(t *testing.T, s *realftpd.Server, mods ...func(*Config)) *Conn {
	t.Helper()
	cfg := realConfig(s)
	for _, m := range mods {
		m(&cfg)
	}
	c, err := Dial(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("Dial %s: %v\nserver log:\n%s", s.Kind, err, strings.Join(s.Log(), "\n"))
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wantTLSVersion(s *realftpd.Server) uint16 {
	if s.TLS.MaxVersion != 0 {
		return s.TLS.MaxVersion
	}
	return tls.VersionTLS13
}

// realRoundTrip downloads n files on c, one data connection each, then
// uploads one and lists the directory. Under TLS it checks that every
// data connection is TLS of the expected version and resumed a session.
func realRoundTrip(t *testing.T, c *Conn, s *realftpd.Server, n int) {
	t.Helper()
	ctx := testCtx(t)
	files := make([][]byte, n)
	for i := range files {
		files[i] = testData(1000 + i*997)
		s.WriteFile(t, fmt.Sprintf("dir/f%02d", i), files[i])
	}
	checkData := func(what string, nc any) {
		t.Helper()
		if s.TLS == nil {
			return
		}
		tc, ok := nc.(*tls.Conn)
		if !ok {
			t.Fatalf("%s: data connection %T, want *tls.Conn", what, nc)
		}
		st := tc.ConnectionState()
		if st.Version != wantTLSVersion(s) || !st.DidResume {
			t.Errorf("%s: data connection %s, resumed %v", what, tls.VersionName(st.Version), st.DidResume)
		}
	}
	for i, want := range files {
		name := fmt.Sprintf("dir/f%02d", i)
		tr, err := c.Retr(ctx, name, 0, -1)
		if err != nil {
			t.Fatalf("Retr %s: %v\nserver log tail:\n%s", name, err, logTail(s))
		}
		checkData("RETR "+name, tr.DataConn())
		var buf bytes.Buffer
		if i%2 == 0 {
			_, err = tr.WriteTo(&buf)
		} else {
			_, err = io.Copy(&buf, struct{ io.Reader }{tr})
		}
		if err != nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		if err := tr.Close(); err != nil {
			t.Fatalf("Close %s: %v\nserver log tail:\n%s", name, err, logTail(s))
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("%s: %d bytes, want %d", name, buf.Len(), len(want))
		}
	}

	// A ranged read: REST, and an early close. pure-ftpd 1.0.50 answers
	// a download the client reset with "150 0.001 seconds (measured
	// here)..." as its last reply, which Transfer.Close takes for a
	// protocol error; that is not what these tests are about, so it
	// reads to the end there.
	big := testData(4 << 20)
	s.WriteFile(t, "dir/big", big)
	length := int64(5000)
	if s.Kind == realftpd.PureFTPd {
		length = -1
	}
	tr, err := c.Retr(ctx, "dir/big", 100000, length)
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
	if want := big[100000:]; length >= 0 && !bytes.Equal(got, want[:length]) || length < 0 && !bytes.Equal(got, want) {
		t.Fatal("ranged RETR data differs")
	}

	up, err := c.Stor(ctx, "dir/up.bin", 0)
	if err != nil {
		t.Fatalf("Stor: %v\nserver log tail:\n%s", err, logTail(s))
	}
	if _, err := up.ReadFrom(bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	if err := up.Close(); err != nil {
		t.Fatalf("Upload.Close: %v\nserver log tail:\n%s", err, logTail(s))
	}
	if b, err := os.ReadFile(s.Path("dir/up.bin")); err != nil || !bytes.Equal(b, big) {
		t.Fatalf("uploaded file: %d bytes, %v; want %d", len(b), err, len(big))
	}

	entries, err := c.List(ctx, "dir")
	if err != nil {
		t.Fatalf("List: %v\nserver log tail:\n%s", err, logTail(s))
	}
	if len(entries) != n+2 {
		t.Errorf("List: %d entries, want %d", len(entries), n+2)
	}
	if err := c.Noop(ctx); err != nil {
		t.Fatal(err)
	}
}

func logTail(s *realftpd.Server) string {
	l := s.Log()
	if len(l) > 30 {
		l = l[len(l)-30:]
	}
	return strings.Join(l, "\n")
}

// TestRealFTPS runs 50 downloads, a ranged read, an upload and a listing on
// one Conn against vsftpd with require_ssl_reuse=YES, in TLS 1.2 (capped by
// the client), TLS 1.3 and implicit FTPS, passive and active.
func TestRealFTPS(t *testing.T) {
	for _, kind := range ftpsKinds {
		for _, activeMode := range []bool{false, true} {
			name := string(kind)
			if activeMode {
				name += "/active"
			}
			t.Run(name, func(t *testing.T) {
				s := realftpd.Start(t, kind, realftpd.Options{ActiveMode: activeMode})
				c := dialReal(t, s, func(cfg *Config) { cfg.Active = activeMode })
				st, ok := c.TLSConnectionState()
				if !ok || st.Version != wantTLSVersion(s) {
					t.Fatalf("control connection: TLS %v, %s", ok, tls.VersionName(st.Version))
				}
				realRoundTrip(t, c, s, 50)
				if activeMode && verbs(s.Commands(), "EPRT") == 0 {
					t.Errorf("no EPRT in active mode: %q", s.Commands())
				}
			})
		}
	}
}

// TestRealFTPSSharedCache runs two Conns on one session cache, as the pool
// does per backend, with interleaved downloads.
func TestRealFTPSSharedCache(t *testing.T) {
	for _, kind := range ftpsKinds {
		t.Run(string(kind), func(t *testing.T) {
			s := realftpd.Start(t, kind)
			s.WriteFile(t, "f", []byte("hello"))
			cache := tls.NewLRUClientSessionCache(8)
			shared := func(cfg *Config) { cfg.TLSConfig.ClientSessionCache = cache }
			a := dialReal(t, s, shared)
			b := dialReal(t, s, shared)
			for range 5 {
				retrAll(t, a, "f", []byte("hello"))
				retrAll(t, b, "f", []byte("hello"))
			}
		})
	}
}

func TestRealFTPSVerification(t *testing.T) {
	s := realftpd.Start(t, realftpd.VsftpdTLS13)
	tests := []struct {
		name    string
		mod     func(*tls.Config)
		wantErr func(error) bool
	}{
		{"CA file", func(c *tls.Config) {
			pool, err := LoadCAFile(s.TLS.CAFile)
			if err != nil {
				t.Fatal(err)
			}
			c.RootCAs = pool
		}, nil},
		{"IP address as the name", func(c *tls.Config) { c.ServerName = "" }, nil},
		{"wrong name", func(c *tls.Config) { c.ServerName = "ftp.example.com" }, func(err error) bool {
			var he x509.HostnameError
			return errors.As(err, &he)
		}},
		{"system roots", func(c *tls.Config) { c.RootCAs = nil }, func(err error) bool {
			var ue x509.UnknownAuthorityError
			var ve *tls.CertificateVerificationError
			return errors.As(err, &ue) || errors.As(err, &ve)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := realConfig(s)
			tt.mod(cfg.TLSConfig)
			c, err := Dial(testCtx(t), cfg)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if !tt.wantErr(err) {
				t.Fatalf("Dial: %v", err)
			}
		})
	}
}

// TestRealTLSRefused asks a plain vsftpd for TLS: it refuses AUTH, and no
// USER or PASS goes out.
func TestRealTLSRefused(t *testing.T) {
	s := realftpd.Start(t, realftpd.Vsftpd)
	cfg := realConfig(s)
	cfg.TLS = TLSExplicit
	cfg.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	c, err := Dial(testCtx(t), cfg)
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded")
	}
	if !errors.Is(err, ErrTLSRefused) {
		t.Fatalf("Dial: %v, want ErrTLSRefused", err)
	}
	t.Logf("plain vsftpd: %v", err)
	if n := verbs(s.Commands(), "USER") + verbs(s.Commands(), "PASS"); n != 0 {
		t.Errorf("USER/PASS sent: %q", s.Commands())
	}
}

// TestRealActiveAndIPv6 runs the round trip in active mode and over IPv6
// against each plain server.
func TestRealActiveAndIPv6(t *testing.T) {
	for _, kind := range []realftpd.Kind{realftpd.Vsftpd, realftpd.PureFTPd, realftpd.ProFTPD} {
		for _, o := range []realftpd.Options{{ActiveMode: true}, {IPv6: true}, {IPv6: true, ActiveMode: true}} {
			name := string(kind)
			if o.IPv6 {
				name += "/ipv6"
			}
			if o.ActiveMode {
				name += "/active"
			}
			t.Run(name, func(t *testing.T) {
				s := realftpd.Start(t, kind, o)
				c := dialReal(t, s, func(cfg *Config) { cfg.Active = o.ActiveMode })
				realRoundTrip(t, c, s, 5)
				if s.HasCommandLog() {
					cmds := s.Commands()
					if o.ActiveMode && verbs(cmds, "EPRT")+verbs(cmds, "PORT") == 0 {
						t.Errorf("no EPRT/PORT in active mode: %q", cmds)
					}
					if o.IPv6 && verbs(cmds, "PASV")+verbs(cmds, "PORT") != 0 {
						t.Errorf("PASV or PORT over IPv6: %q", cmds)
					}
				}
			})
		}
	}
}

// TestRealFTPSIPv6 runs FTPS over IPv6, passive and active.
func TestRealFTPSIPv6(t *testing.T) {
	for _, activeMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("active=%v", activeMode), func(t *testing.T) {
			s := realftpd.Start(t, realftpd.VsftpdTLS13, realftpd.Options{IPv6: true, ActiveMode: activeMode})
			c := dialReal(t, s, func(cfg *Config) { cfg.Active = activeMode })
			realRoundTrip(t, c, s, 3)
		})
	}
}

// TestRealFTPSNoReuse turns session tickets off, so no data connection can
// resume: vsftpd completes the handshake, closes the data connection
// empty, answers 522 and then ends the whole session, which the next
// command sees as a lost connection.
func TestRealFTPSNoReuse(t *testing.T) {
	for _, kind := range []realftpd.Kind{realftpd.VsftpdTLS12, realftpd.VsftpdTLS13} {
		t.Run(string(kind), func(t *testing.T) {
			s := realftpd.Start(t, kind)
			s.WriteFile(t, "f", []byte("hello"))
			c := dialReal(t, s, func(cfg *Config) { cfg.TLSConfig.SessionTicketsDisabled = true })
			tr, err := c.Retr(testCtx(t), "f", 0, -1)
			if err == nil {
				io.ReadAll(tr)
				err = tr.Close()
			}
			if ReplyCode(err) != 522 {
				t.Fatalf("Retr without session reuse: %v, want 522", err)
			}
			if err := c.Noop(testCtx(t)); !IsConnLost(err) {
				t.Fatalf("Noop after 522: %v, want the connection lost", err)
			}
		})
	}
}
