package ftpcore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

func active(cfg *Config) { cfg.Active = true }

// exerciseActive runs RETR (whole and with REST), STOR, LIST and MLSD on c.
func exerciseActive(t *testing.T, c *Conn, s *ftptest.Server) {
	t.Helper()
	ctx := testCtx(t)
	data := testData(2 << 20)
	s.PutFile("/dir/f.bin", data, time.Now())

	retrAll(t, c, "/dir/f.bin", data)

	tr, err := c.Retr(ctx, "/dir/f.bin", 12345, -1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := tr.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data[12345:]) {
		t.Fatal("RETR with REST: data differs")
	}

	up, err := c.Stor(ctx, "/dir/up.bin", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := up.Close(); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.File("/dir/up.bin"); !bytes.Equal(f, data) {
		t.Fatalf("uploaded %d bytes, want %d", len(f), len(data))
	}

	entries, err := c.List(ctx, "/dir") // MLSD: ftptest offers MLST
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("MLSD: %v", entries)
	}
	t.Run("LIST", func(t *testing.T) {
		tr, err := c.startList(ctx, "LIST", "/dir")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "f.bin") || !strings.Contains(string(b), "up.bin") {
			t.Fatalf("LIST: %q", b)
		}
	})
	if verbs(s.Commands(), "EPSV")+verbs(s.Commands(), "PASV") != 0 {
		t.Errorf("passive commands in active mode: %q", s.Commands())
	}
	if err := c.Noop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestActive(t *testing.T) {
	s := ftptest.NewServer(t)
	c := dialTest(t, s, active)
	exerciseActive(t, c, s)
	if n := verbs(s.Commands(), "EPRT"); n != 5 {
		t.Errorf("%d EPRT, want 5: %q", n, s.Commands())
	}
	for _, l := range s.Commands() {
		if strings.HasPrefix(l, "EPRT ") && !strings.HasPrefix(l, "EPRT |1|127.0.0.1|") {
			t.Errorf("sent %q", l)
		}
	}
}

// TestActivePORTFallback checks PORT after EPRT is refused as unknown,
// and that the refusal is remembered for the session.
func TestActivePORTFallback(t *testing.T) {
	for _, code := range []int{500, 502} {
		t.Run(itoa(int64(code)), func(t *testing.T) {
			s := ftptest.NewServer(t)
			s.Handle("EPRT", reply(code, "EPRT not understood"))
			c := dialTest(t, s, active)
			exerciseActive(t, c, s)
			if n, p := verbs(s.Commands(), "EPRT"), verbs(s.Commands(), "PORT"); n != 1 || p != 5 {
				t.Errorf("%d EPRT and %d PORT, want 1 and 5", n, p)
			}
		})
	}
	t.Run("EPRT 522", func(t *testing.T) {
		// Not "unknown command": the server knows EPRT and refuses the
		// address; PORT would be refused too.
		s := ftptest.NewServer(t)
		s.Handle("EPRT", reply(522, "Network protocol not supported, use (2)"))
		s.PutFile("/f", []byte("x"), time.Now())
		c := dialTest(t, s, active)
		if _, err := c.Retr(testCtx(t), "/f", 0, -1); ReplyCode(err) != 522 {
			t.Fatalf("Retr: %v, want 522", err)
		}
		if verbs(s.Commands(), "PORT") != 0 {
			t.Error("PORT sent after EPRT 522")
		}
	})
	t.Run("PORT refused", func(t *testing.T) {
		s := ftptest.NewServer(t)
		s.Handle("EPRT", reply(500, "no"))
		s.Handle("PORT", reply(500, "Illegal PORT command."))
		s.PutFile("/f", []byte("x"), time.Now())
		c := dialTest(t, s, active)
		if _, err := c.Retr(testCtx(t), "/f", 0, -1); ReplyCode(err) != 500 {
			t.Fatalf("Retr: %v, want 500", err)
		}
		if !c.Usable() {
			t.Fatal(c.Err())
		}
	})
}

// decoyEPRT answers EPRT as usual after connecting to the client's port
// from 127.0.0.2 and sending evil bytes there, standing for a third party
// racing the server to the port.
func decoyEPRT(t *testing.T) ftptest.Handler {
	return func(c *ftptest.Conn, arg string) {
		f := strings.Split(arg, "|")
		if len(f) == 5 {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: time.Second}
			if nc, err := d.Dial("tcp", net.JoinHostPort(f[2], f[3])); err == nil {
				nc.Write([]byte("evil bytes"))
				go func() {
					<-c.Done()
					nc.Close()
				}()
			} else {
				t.Errorf("decoy: %v", err)
			}
		}
		c.Default("EPRT", arg)
	}
}

// TestActiveStranger checks that a data connection from an address other
// than the server's is refused, and the wait goes on for the server's.
func TestActiveStranger(t *testing.T) {
	t.Run("then the server", func(t *testing.T) {
		s := ftptest.NewServer(t)
		s.Handle("EPRT", decoyEPRT(t))
		data := testData(100000)
		s.PutFile("/f", data, time.Now())
		var trace traceLog
		c := dialTest(t, s, active, func(cfg *Config) { cfg.Logger = trace.logger() })
		retrAll(t, c, "/f", data)
		if !strings.Contains(trace.String(), "from=127.0.0.2:") {
			t.Errorf("the stranger's connection was not seen and refused:\n%s", trace.String())
		}
	})
	t.Run("only the stranger", func(t *testing.T) {
		s := ftptest.NewServer(t)
		s.Handle("EPRT", decoyEPRT(t))
		s.Handle("RETR", func(c *ftptest.Conn, _ string) {
			// A server that never connects and gives up late.
			c.Reply(150, "Opening data connection.")
			select {
			case <-c.Done():
			case <-time.After(time.Second):
			}
			c.Reply(425, "Can't open data connection.")
		})
		c := dialTest(t, s, active, func(cfg *Config) { cfg.DialTimeout = 300 * time.Millisecond })
		_, err := c.Retr(testCtx(t), "/f", 0, -1)
		if !IsTimeout(err) || ReplyCode(err) != 425 {
			t.Fatalf("Retr: %v, want an accept timeout and the server's 425", err)
		}
		if err := c.Noop(testCtx(t)); err != nil {
			t.Fatalf("Noop after a failed active transfer: %v", err)
		}
	})
}

func TestFromPeer(t *testing.T) {
	peer4 := net.ParseIP("192.0.2.7")
	peer6 := net.ParseIP("2001:db8::7")
	tests := []struct {
		addr net.Addr
		peer net.IP
		want bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 20}, peer4, true},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 20}, peer4, true},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.8"), Port: 20}, peer4, false},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 20}, peer6, true},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::8"), Port: 20}, peer6, false},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 20}, nil, false},
		{&net.UDPAddr{IP: net.ParseIP("192.0.2.7"), Port: 20}, peer4, false},
	}
	for _, tt := range tests {
		if got := fromPeer(tt.addr, tt.peer); got != tt.want {
			t.Errorf("fromPeer(%v, %v) = %v, want %v", tt.addr, tt.peer, got, tt.want)
		}
	}
}

func TestFormatEPRTAndPORT(t *testing.T) {
	tests := []struct {
		ip         string
		port       int
		eprt, want string
	}{
		{"127.0.0.1", 5282, "|1|127.0.0.1|5282|", "127,0,0,1,20,162"},
		{"::ffff:10.1.2.3", 65535, "|1|10.1.2.3|65535|", "10,1,2,3,255,255"},
		{"::1", 1024, "|2|::1|1024|", ""},
		{"2001:db8::1", 21, "|2|2001:db8::1|21|", ""},
	}
	for _, tt := range tests {
		ip := net.ParseIP(tt.ip)
		if got := formatEPRT(ip, tt.port); got != tt.eprt {
			t.Errorf("formatEPRT(%s, %d) = %q, want %q", tt.ip, tt.port, got, tt.eprt)
		}
		if v4 := ip.To4(); v4 != nil {
			if got := formatPORT(v4, tt.port); got != tt.want {
				t.Errorf("formatPORT(%s, %d) = %q, want %q", tt.ip, tt.port, got, tt.want)
			}
		}
	}
}

// TestActivePortRange checks that the listener stays in the range, and
// that a range with every port taken fails cleanly.
func TestActivePortRange(t *testing.T) {
	s := ftptest.NewServer(t)
	s.PutFile("/f", []byte("x"), time.Now())
	// Find two free ports next to each other, as well as that can be done.
	var lo int
	for range 50 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if p < 65535 {
			if ln2, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", itoa(int64(p+1)))); err == nil {
				ln2.Close()
				lo = p
				break
			}
		}
	}
	if lo == 0 {
		t.Skip("no two adjacent free ports")
	}
	c := dialTest(t, s, active, func(cfg *Config) { cfg.ActivePortMin, cfg.ActivePortMax = lo, lo+1 })
	for range 4 {
		retrAll(t, c, "/f", []byte("x"))
	}
	for _, l := range s.Commands() {
		if strings.HasPrefix(l, "EPRT ") {
			port := strings.Split(l, "|")[3]
			if port != itoa(int64(lo)) && port != itoa(int64(lo+1)) {
				t.Errorf("%q outside %d-%d", l, lo, lo+1)
			}
		}
	}
	// Take both ports: the transfer fails, the session does not.
	var held []net.Listener
	for _, p := range []int{lo, lo + 1} {
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", itoa(int64(p))))
		if err != nil {
			t.Skipf("port %d taken meanwhile: %v", p, err)
		}
		held = append(held, ln)
	}
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	if _, err := c.Retr(testCtx(t), "/f", 0, -1); err == nil || !strings.Contains(err.Error(), "no free port") {
		t.Fatalf("Retr with the range taken: %v", err)
	}
	if err := c.Noop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// TestActiveTLS checks that a data connection the server opened is still
// the TLS client side (RFC 4217 §7) and resumes the control session.
func TestActiveTLS(t *testing.T) {
	pki := newTestPKI(t)
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			s := ftptest.NewServer(t, ftptest.WithExplicitTLS(pki.serverConfig(v.max)),
				ftptest.WithTLSRequired(), ftptest.WithTLSSessionReuse())
			c := dialTest(t, s, active, pki.tlsClient(TLSExplicit))
			exerciseActive(t, c, s)
			if total, resumed := s.TLSDataConns(); total != 5 || resumed != 5 {
				t.Errorf("%d TLS data connections, %d resumed; want 5, 5", total, resumed)
			}
		})
	}
}

// TestActiveCancel checks that cancelling while waiting for the server's
// connection ends the wait at once and poisons the Conn.
func TestActiveCancel(t *testing.T) {
	s := ftptest.NewServer(t)
	s.Handle("RETR", func(c *ftptest.Conn, _ string) {
		c.Reply(150, "Opening data connection.")
		<-c.Done()
	})
	c := dialTest(t, s, active, func(cfg *Config) { cfg.DialTimeout = 10 * time.Second })
	ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Retr(ctx, "/f", 0, -1)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Retr: %v after %v", err, time.Since(start))
	}
	waitUnusable(t, c)
}

func TestIPv6(t *testing.T) {
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	data := testData(300000)
	t.Run("EPSV", func(t *testing.T) {
		s := ftptest.NewServer(t, ftptest.WithIPv6())
		s.PutFile("/f", data, time.Now())
		c := dialTest(t, s)
		if !strings.HasPrefix(s.Addr, "[::1]:") {
			t.Fatalf("server on %s", s.Addr)
		}
		retrAll(t, c, "/f", data)
		if _, err := c.List(testCtx(t), "/"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no PASV fallback", func(t *testing.T) {
		for _, disable := range []bool{false, true} {
			s := ftptest.NewServer(t, ftptest.WithIPv6(), ftptest.WithoutEPSV())
			s.PutFile("/f", data, time.Now())
			c := dialTest(t, s, func(cfg *Config) { cfg.DisableEPSV = disable })
			for range 2 {
				_, err := c.Retr(testCtx(t), "/f", 0, -1)
				var fe *Error
				if !errors.As(err, &fe) || fe.Cmd != "EPSV" || fe.Code != 500 {
					t.Fatalf("DisableEPSV %v: Retr: %v, want the EPSV 500", disable, err)
				}
			}
			if verbs(s.Commands(), "PASV") != 0 {
				t.Errorf("PASV sent over IPv6: %q", s.Commands())
			}
		}
	})
	t.Run("active", func(t *testing.T) {
		s := ftptest.NewServer(t, ftptest.WithIPv6())
		c := dialTest(t, s, active)
		exerciseActive(t, c, s)
		for _, l := range s.Commands() {
			if strings.HasPrefix(l, "EPRT ") && !strings.HasPrefix(l, "EPRT |2|::1|") {
				t.Errorf("sent %q", l)
			}
		}
	})
	t.Run("EPRT refused", func(t *testing.T) {
		s := ftptest.NewServer(t, ftptest.WithIPv6())
		s.Handle("EPRT", reply(500, "no"))
		c := dialTest(t, s, active)
		for range 2 {
			if _, err := c.Retr(testCtx(t), "/f", 0, -1); ReplyCode(err) != 500 {
				t.Fatalf("Retr: %v, want the EPRT 500", err)
			}
		}
		if verbs(s.Commands(), "PORT") != 0 || verbs(s.Commands(), "EPRT") != 2 {
			t.Errorf("commands %q", s.Commands())
		}
	})
	t.Run("TLS", func(t *testing.T) {
		pki := newTestPKI(t)
		s := ftptest.NewServer(t, ftptest.WithIPv6(), ftptest.WithExplicitTLS(pki.serverConfig(0)),
			ftptest.WithTLSSessionReuse())
		s.PutFile("/f", data, time.Now())
		c := dialTest(t, s, pki.tlsClient(TLSExplicit))
		retrAll(t, c, "/f", data)
		ca := dialTest(t, s, pki.tlsClient(TLSExplicit), active)
		retrAll(t, ca, "/f", data)
		if total, resumed := s.TLSDataConns(); total != 2 || resumed != 2 {
			t.Errorf("%d TLS data connections, %d resumed", total, resumed)
		}
	})
}
