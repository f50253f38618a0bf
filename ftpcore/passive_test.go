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
