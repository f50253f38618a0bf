package ftpcore

import (
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// TestEPSVFallback pins the one EPSV rule, for the sequential start and
// the pipelined one alike: EPSV refused with a 5yz means a server that
// does not know it, so the transfer is made with PASV, as is every later
// one; a 4yz is a refusal like any other, and over IPv6, where PASV cannot
// serve, so is a 5yz. Either way the Conn stays usable.
func TestEPSVFallback(t *testing.T) {
	pasv := []string{"PASV", "REST 4", "RETR /f"}
	// firstCommands is what the server sees of the first transfer: the
	// pipelined start sends REST and RETR with EPSV, and makes the start
	// again with PASV after a fallback.
	firstCommands := func(pipelining, fallback bool) []string {
		cmds := []string{"EPSV"}
		if pipelining {
			cmds = append(cmds, "REST 4", "RETR /f")
		}
		if fallback {
			cmds = append(cmds, pasv...)
		}
		return cmds
	}
	for _, tc := range []struct {
		name     string
		code     int
		ipv6     bool
		fallback bool
	}{
		{"500", 500, false, true},
		{"502", 502, false, true},
		{"501", 501, false, true},
		{"425", 425, false, false},
		{"500 over IPv6", 500, true, false},
	} {
		for _, pipelining := range []bool{true, false} {
			name := tc.name + ", sequential"
			if pipelining {
				name = tc.name + ", pipelined"
			}
			t.Run(name, func(t *testing.T) {
				var opts []ftptest.Option
				if tc.ipv6 {
					if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
						t.Skipf("no IPv6 loopback: %v", err)
					} else {
						ln.Close()
					}
					opts = append(opts, ftptest.WithIPv6())
				}
				srv := ftptest.NewServer(t, opts...)
				srv.PutFile("/f", []byte("0123456789"), time.Now())
				srv.Handle("EPSV", reply(tc.code, "EPSV refused."))
				c := dialTest(t, srv, func(cfg *Config) { cfg.DisablePipelining = !pipelining })
				for i := range 2 {
					before := len(srv.Commands())
					tr, err := c.Retr(testCtx(t), "/f", 4, -1)
					if tc.fallback {
						if err != nil {
							t.Fatalf("transfer %d: %v", i, err)
						}
						b, err := io.ReadAll(tr)
						if cerr := tr.Close(); err != nil || cerr != nil || string(b) != "456789" {
							t.Fatalf("transfer %d: read %q, %v, Close %v", i, b, err, cerr)
						}
					} else {
						var fe *Error
						if !errors.As(err, &fe) || fe.Cmd != "EPSV" || fe.Code != tc.code {
							t.Fatalf("transfer %d: %v, want EPSV's %d", i, err, tc.code)
						}
					}
					want := firstCommands(pipelining, tc.fallback)
					if i == 1 && tc.fallback {
						want = pasv // EPSV is not tried again
					}
					if cmds := srv.Commands()[before:]; !slices.Equal(cmds, want) {
						t.Errorf("transfer %d: server saw %q, want %q", i, cmds, want)
					}
				}
				if err := c.Noop(testCtx(t)); err != nil {
					t.Fatalf("Noop after: %v", err)
				}
			})
		}
	}
}

func TestPassiveFallback(t *testing.T) {
	tests := []struct {
		name      string
		opts      []ftptest.Option
		cfg       func(*Config)
		wantEPSV  int
		wantPASV  int
		transfers int
	}{
		{name: "EPSV", wantEPSV: 2, transfers: 2},
		{name: "EPSV refused, PASV remembered", opts: []ftptest.Option{ftptest.WithoutEPSV()}, wantEPSV: 1, wantPASV: 2, transfers: 2},
		{name: "EPSV disabled", cfg: func(c *Config) { c.DisableEPSV = true }, wantPASV: 2, transfers: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, tt.opts...)
			data := testData(100 << 10)
			s.PutFile("/f", data, time.Now())
			var guard loopbackOnly
			mods := []func(*Config){func(c *Config) { c.Dialer = guard.dialer() }}
			if tt.cfg != nil {
				mods = append(mods, tt.cfg)
			}
			c := dialTest(t, s, mods...)
			for range tt.transfers {
				retrAll(t, c, "/f", data)
			}
			cmds := s.Commands()
			if verbs(cmds, "EPSV") != tt.wantEPSV || verbs(cmds, "PASV") != tt.wantPASV {
				t.Errorf("server saw %q; want %d EPSV and %d PASV", cmds, tt.wantEPSV, tt.wantPASV)
			}
		})
	}
}

// TestPASVAddressIgnored announces an address off the host in the 227
// reply. By default the client ignores it and connects to the control
// connection's peer; the Dialer guard proves nothing else was dialled.
func TestPASVAddressIgnored(t *testing.T) {
	s := ftptest.NewServer(t, ftptest.WithoutEPSV(), ftptest.WithPASVAddress("10.1.2.3"))
	data := testData(10 << 10)
	s.PutFile("/f", data, time.Now())
	var guard loopbackOnly
	c := dialTest(t, s, func(c *Config) { c.Dialer = guard.dialer() })
	retrAll(t, c, "/f", data)
	got := guard.addresses()
	if len(got) != 2 {
		t.Fatalf("dialled %q, want the control and one data connection", got)
	}
	for _, a := range got {
		if host, _, _ := net.SplitHostPort(a); host != "127.0.0.1" {
			t.Errorf("dialled %s", a)
		}
	}
}

// TestPASVAddressOptIn checks which host passive() picks, without dialling
// it: with UsePASVAddress the announced address is used unless it is
// unspecified.
func TestPASVAddressOptIn(t *testing.T) {
	tests := []struct {
		name     string
		announce string
		optIn    bool
		wantHost string
	}{
		{name: "ignored by default", announce: "10.1.2.3", wantHost: "127.0.0.1"},
		{name: "used when opted in", announce: "10.1.2.3", optIn: true, wantHost: "10.1.2.3"},
		{name: "unspecified is the peer", announce: "0.0.0.0", optIn: true, wantHost: "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, ftptest.WithoutEPSV(), ftptest.WithPASVAddress(tt.announce))
			var guard loopbackOnly
			c := dialTest(t, s, func(c *Config) {
				c.UsePASVAddress = tt.optIn
				c.Dialer = guard.dialer()
			})
			ctx := testCtx(t)
			port, host, err := c.passive(ctx)
			if err != nil {
				t.Fatalf("passive: %v", err)
			}
			if host != tt.wantHost || port < 1 || port > 65535 {
				t.Fatalf("passive = %s port %d, want host %s", host, port, tt.wantHost)
			}
			if n := len(guard.addresses()); n != 1 {
				t.Fatalf("dialled %q, want only the control connection", guard.addresses())
			}
			if err := c.Noop(ctx); err != nil {
				t.Fatalf("Noop: %v", err)
			}
		})
	}
}

func TestPassiveMalformed(t *testing.T) {
	tests := []struct {
		name    string
		opts    []ftptest.Option
		handler map[string]ftptest.Handler
	}{
		{
			name:    "EPSV port 0",
			handler: map[string]ftptest.Handler{"EPSV": func(sc *ftptest.Conn, _ string) { sc.Reply(229, "Entering Extended Passive Mode (|||0|)") }},
		},
		{
			name:    "EPSV without parentheses",
			handler: map[string]ftptest.Handler{"EPSV": func(sc *ftptest.Conn, _ string) { sc.Reply(229, "Entering Extended Passive Mode") }},
		},
		{
			name: "PASV with five numbers",
			opts: []ftptest.Option{ftptest.WithoutEPSV(), ftptest.WithPASVAddress("1.2.3")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, tt.opts...)
			s.PutFile("/f", []byte("x"), time.Now())
			for cmd, h := range tt.handler {
				s.Handle(cmd, h)
			}
			c := dialTest(t, s)
			tr, err := c.Retr(testCtx(t), "/f", 0, -1)
			if err == nil {
				tr.Close()
				t.Fatal("Retr succeeded")
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) || c.Usable() {
				t.Fatalf("Retr error %v, usable %v; want *ProtocolError and unusable", err, c.Usable())
			}
		})
	}
}

// TestPipelinedEPSVRefused: EPSV, REST and RETR go out together; a server
// that does not know EPSV answers the three with errors, and the transfer
// starts again with PASV, which the session keeps using.
func TestPipelinedEPSVRefused(t *testing.T) {
	srv := ftptest.NewServer(t)
	srv.PutFile("/f", []byte("0123456789"), time.Now())
	srv.Handle("EPSV", func(sc *ftptest.Conn, arg string) { sc.Reply(500, "Unknown command.") })
	c := dialTest(t, srv)
	for i := range 2 {
		before := len(srv.Commands())
		tr, err := c.Retr(testCtx(t), "/f", 4, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		if err != nil || string(b) != "456789" {
			t.Fatalf("read %q, %v", b, err)
		}
		cmds := srv.Commands()[before:]
		want := []string{"EPSV", "REST 4", "RETR /f", "PASV", "REST 4", "RETR /f"}
		if i == 1 {
			want = want[3:] // EPSV is not tried again
		}
		if !slices.Equal(cmds, want) {
			t.Errorf("transfer %d: server saw %q, want %q", i, cmds, want)
		}
	}
}
