package api_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/pool"
)

// TestReadyzWhileBusy: a backend whose every session is busy serving
// downloads is ready, without waiting for a session to come free; once its
// FTP server is gone, with the downloads still holding their sessions, it
// is not, and the 503 names it.
func TestReadyzWhileBusy(t *testing.T) {
	forEachServerWith(t, gatewayOptions{maxSessions: 2}, func(t *testing.T, g *gateway) {
		// Far more than the socket buffers between the FTP server and
		// the client hold, so that a client that stops reading keeps its
		// session busy.
		writeRandomFile(t, g, "big.bin", 32<<20, 1)
		for range 2 {
			resp := g.do(t, http.MethodGet, "/files/big.bin", nil)
			t.Cleanup(func() { resp.Body.Close() })
			if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET: %d %v", resp.StatusCode, err)
			}
		}
		if n := g.pool.Stat().AcquiredSessions(); n != 2 {
			t.Fatalf("%d sessions in use, want both", n)
		}
		if code, _, body := g.fetch(t, http.MethodGet, "/readyz", nil); code != http.StatusOK || string(body) != "ready\n" {
			t.Fatalf("/readyz with every session busy serving: %d %q, want 200", code, body)
		}
		g.ftpd.Kill(t)
		code, hdr, body := g.fetch(t, http.MethodGet, "/readyz", nil)
		if code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz with the server gone: %d %q, want 503", code, body)
		}
		if d, want := problemOf(t, hdr, body)["detail"], "no FTP session can be had of backend "+string(g.ftpd.Kind); d != want {
			t.Errorf("detail %q, want %q", d, want)
		}
	})
}

// TestReadyzDraining: once the gateway drains, /readyz is 503 saying so,
// while files are still served.
func TestReadyzDraining(t *testing.T) {
	g := startGatewayOn(t, realftpd.Vsftpd)
	g.ftpd.WriteFile(t, "hello.txt", []byte("hello\n"))
	if code, _, body := g.fetch(t, http.MethodGet, "/readyz", nil); code != http.StatusOK {
		t.Fatalf("/readyz before draining: %d %q", code, body)
	}
	g.api.Drain()
	code, hdr, body := g.fetch(t, http.MethodGet, "/readyz", nil)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz draining: %d %q, want 503", code, body)
	}
	if d := problemOf(t, hdr, body)["detail"]; d != "draining: the gateway is shutting down" {
		t.Errorf("detail %q", d)
	}
	if code, _, body := g.fetch(t, http.MethodGet, "/files/hello.txt", nil); code != http.StatusOK || string(body) != "hello\n" {
		t.Errorf("GET while draining: %d %q", code, body)
	}
	if code, _, _ := g.fetch(t, http.MethodGet, "/healthz", nil); code != http.StatusOK {
		t.Errorf("/healthz while draining: %d", code)
	}
}

// TestReadyzServerFull: when the gateway's busy sessions are all the FTP
// server takes (its limit of connections), the greeting /readyz asks for
// is the server's refusal for too many; the server is there, serving, and
// the backend is ready, of a fixed login and of Basic passthrough alike.
func TestReadyzServerFull(t *testing.T) {
	for _, kind := range []realftpd.Kind{realftpd.Vsftpd, realftpd.PureFTPd} {
		for _, basic := range []bool{false, true} {
			name := string(kind)
			o := gatewayOptions{maxSessions: 2, server: realftpd.Options{MaxConns: 2}}
			if basic {
				name += " basic"
				o.basic = &basicOptions{}
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				g := startGatewayOn(t, kind, o)
				writeRandomFile(t, g, "big.bin", 32<<20, 1)
				var cred []string
				if basic {
					cred = basicAuth(g.ftpd.User, g.ftpd.Password)
				}
				for range 2 {
					resp := g.do(t, http.MethodGet, "/files/big.bin", nil, cred...)
					t.Cleanup(func() { resp.Body.Close() })
					if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil || resp.StatusCode != http.StatusOK {
						t.Fatalf("GET: %d %v", resp.StatusCode, err)
					}
				}
				if code, _, body := g.fetch(t, http.MethodGet, "/readyz", nil); code != http.StatusOK || string(body) != "ready\n" {
					t.Fatalf("/readyz with the server full of the gateway's busy sessions: %d %q, want 200", code, body)
				}
			})
		}
	}
}

// TestReadyzDrainingJoined: with several backends, draining any one of
// their Servers drains the gateway: /readyz, which the first answers for
// all, is 503 draining.
func TestReadyzDrainingJoined(t *testing.T) {
	srv := ftptest.NewServer(t)
	var servers []*api.Server
	for _, name := range []string{"a", "b"} {
		p, err := pool.New(pool.Config{Name: name, Conn: ftpcore.Config{Addr: srv.Addr, User: "user", Password: "pass"}})
		if err != nil {
			t.Fatal(err)
		}
		s := api.New(api.Config{Pool: p, Mount: "/" + name + "/"})
		t.Cleanup(func() { s.Close(); p.Close() })
		servers = append(servers, s)
	}
	ts := serveHandler(servers[0], api.Join(servers...))
	t.Cleanup(ts.Close)
	if code, _, body := fetchURL(t, http.MethodGet, ts.URL+"/readyz"); code != http.StatusOK || string(body) != "a: ready\nb: ready\n" {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	servers[1].Drain()
	code, hdr, body := fetchURL(t, http.MethodGet, ts.URL+"/readyz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the second backend drained: %d %q, want 503", code, body)
	}
	if d := problemOf(t, hdr, body)["detail"]; d != "draining: the gateway is shutting down" {
		t.Errorf("detail %q", d)
	}
}
