package api_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/pool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// joined is two backends on one handler: /a/ serves the FTP server's
// directory a, /b/ its directory b, each through its own pool.
type joined struct {
	ftpd *realftpd.Server
	url  string
	reg  *prometheus.Registry
}

func startJoined(t *testing.T, extra ...api.Config) *joined {
	t.Helper()
	ftpd := realftpd.Start(t, realftpd.Vsftpd, realftpd.Options{})
	reg := prometheus.NewRegistry()
	var servers []*api.Server
	for _, name := range []string{"a", "b"} {
		if err := os.Mkdir(ftpd.Path(name), 0o755); err != nil {
			t.Fatal(err)
		}
		chownTestUser(t, ftpd.Path(name))
		p, err := pool.New(pool.Config{Name: "backend-" + name, MaxSessions: 2, Conn: ftpcore.Config{
			Addr: ftpd.Addr, User: ftpd.User, Password: ftpd.Password, CommandTimeout: 10 * time.Second,
		}})
		if err != nil {
			t.Fatal(err)
		}
		reg.MustRegister(pool.NewCollector(p))
		s := api.New(api.Config{Pool: p, Mount: "/" + name + "/", Root: name, Registerer: reg, ReadyTimeout: 10 * time.Second,
			Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})})
		t.Cleanup(func() { s.Close(); p.Close() })
		servers = append(servers, s)
	}
	for _, c := range extra {
		c.Registerer = reg
		s := api.New(c)
		t.Cleanup(s.Close)
		servers = append(servers, s)
	}
	ts := serveHandler(servers[0], api.Join(servers...))
	t.Cleanup(ts.Close)
	mounts := []string{"/a/", "/b/"}
	for _, c := range extra {
		mounts = append(mounts, c.Mount)
	}
	mountsAt(t, ts.URL, mounts...)
	return &joined{ftpd: ftpd, url: ts.URL, reg: reg}
}

func (j *joined) fetch(t *testing.T, method, p string, body io.Reader, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, j.url+p, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestJoinServesEachBackendAtItsMount: each mount reaches its own root on
// the FTP server, a PUT's Location names its mount, a path outside every
// mount is 404, and each backend's metrics carry its own label.
func TestJoinServesEachBackendAtItsMount(t *testing.T) {
	j := startJoined(t)
	for _, name := range []string{"a", "b"} {
		if err := os.WriteFile(j.ftpd.Path(name+"/which.txt"), []byte("backend "+name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a", "b"} {
		if code, _, body := j.fetch(t, http.MethodGet, "/"+name+"/which.txt", nil); code != 200 || string(body) != "backend "+name+"\n" {
			t.Errorf("GET /%s/which.txt = %d %q, want 200 %q", name, code, body, "backend "+name+"\n")
		}
	}
	code, hdr, _ := j.fetch(t, http.MethodPut, "/b/new.txt", strings.NewReader("to b"))
	if code != http.StatusCreated || hdr.Get("Location") != "/b/new.txt" {
		t.Errorf("PUT /b/new.txt = %d, Location %q; want 201, /b/new.txt", code, hdr.Get("Location"))
	}
	if got, err := os.ReadFile(j.ftpd.Path("b/new.txt")); err != nil || string(got) != "to b" {
		t.Errorf("b/new.txt on the server = %q, %v; want %q", got, err, "to b")
	}
	if _, err := os.Stat(j.ftpd.Path("a/new.txt")); !os.IsNotExist(err) {
		t.Errorf("a/new.txt exists (%v): the PUT to /b/ reached backend a", err)
	}
	if code, _, _ := j.fetch(t, http.MethodGet, "/files/which.txt", nil); code != http.StatusNotFound {
		t.Errorf("GET /files/which.txt with no backend at /files/ = %d, want 404", code)
	}
	if code, hdr, _ := j.fetch(t, http.MethodGet, "/a", nil); code != http.StatusMovedPermanently || hdr.Get("Location") != "/a/" {
		t.Errorf("GET /a = %d Location %q, want 301 to /a/", code, hdr.Get("Location"))
	}
	code, _, body := j.fetch(t, http.MethodGet, "/metrics", nil)
	if code != 200 {
		t.Fatalf("GET /metrics = %d", code)
	}
	for _, want := range []string{`ftpgw_transfer_bytes_total{backend="backend-a",direction="download"}`, `ftpgw_transfer_bytes_total{backend="backend-b",direction="upload"} 4`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if n := testutil.CollectAndCount(j.reg, "ftpgw_pool_max_sessions"); n != 2 {
		t.Errorf("ftpgw_pool_max_sessions has %d series, want one a backend", n)
	}
}

// TestJoinReadiness: /readyz asks every backend and names the one that
// cannot serve; ftpgw_backend_ready says the same of each.
func TestJoinReadiness(t *testing.T) {
	up := startJoined(t)
	const help = "# HELP ftpgw_backend_ready Whether the backend could serve at the last /readyz: 1 if a session could be had (or all were busy serving a server that was fine), 0 if not; absent before the first /readyz.\n# TYPE ftpgw_backend_ready gauge\n"
	if n, err := testutil.GatherAndCount(up.reg, "ftpgw_backend_ready"); n != 0 || err != nil {
		t.Errorf("ftpgw_backend_ready has %d series before any /readyz (%v), want none", n, err)
	}
	code, _, body := up.fetch(t, http.MethodGet, "/readyz", nil)
	if code != 200 || string(body) != "backend-a: ready\nbackend-b: ready\n" {
		t.Errorf("/readyz = %d %q, want 200 with both backends ready", code, body)
	}
	if err := testutil.GatherAndCompare(up.reg, strings.NewReader(help+`ftpgw_backend_ready{backend="backend-a"} 1
ftpgw_backend_ready{backend="backend-b"} 1
`), "ftpgw_backend_ready"); err != nil {
		t.Error(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	p, err := pool.New(pool.Config{Name: "dead", AcquireTimeout: time.Second, Conn: ftpcore.Config{Addr: dead, User: "u", Password: "p"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	j := startJoined(t, api.Config{Pool: p, Mount: "/dead/", ReadyTimeout: time.Second})
	code, hdr, body := j.fetch(t, http.MethodGet, "/readyz", nil)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with a backend down = %d %q, want 503", code, body)
	}
	if d := problemOf(t, hdr, body)["detail"]; d != "no FTP session can be had of backend dead" {
		t.Errorf("detail %q, want it to name the backend dead (and only it)", d)
	}
	if err := testutil.GatherAndCompare(j.reg, strings.NewReader(help+`ftpgw_backend_ready{backend="backend-a"} 1
ftpgw_backend_ready{backend="backend-b"} 1
ftpgw_backend_ready{backend="dead"} 0
`), "ftpgw_backend_ready"); err != nil {
		t.Error(err)
	}
	if code, _, _ := j.fetch(t, http.MethodGet, "/a/", nil); code != 200 {
		t.Errorf("GET /a/ with another backend down = %d, want 200", code)
	}
}

// TestValidMount: what a mount may be.
func TestValidMount(t *testing.T) {
	for _, m := range []string{"/files/", "/a/", "/media/v1/", "/x-y_z.~/"} {
		if err := api.ValidMount(m); err != nil {
			t.Errorf("ValidMount(%q) = %v, want nil", m, err)
		}
	}
	for _, m := range []string{"", "/", "files", "/files", "files/", "//", "/a//b/", "/./", "/../", "/a b/", "/{x}/", "/a*/", "/healthz/", "/metrics/x/", "/readyz/", "/signed-urls/", "/openapi.yaml/", "/é/"} {
		if err := api.ValidMount(m); err == nil {
			t.Errorf("ValidMount(%q) = nil, want an error", m)
		}
	}
}
