package faultsuite_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
	"github.com/ftpgw/ftpgw/internal/contract"
	"github.com/ftpgw/ftpgw/internal/faultproxy"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/pool"
)

// A rig is one gateway under test: the api on a loopback HTTP server
// wired as cmd/gateway wires it, its pool, and one FTP server behind it.
// A real server is reached through the two proxies of
// faultproxy.ListenFTP: ctl in front of the control port, data on every
// port of the server's passive range. ftpcore dials a passive data
// connection at the control connection's peer and the port the EPSV or
// PASV reply names, so with the control connection going to ctl's address
// the data connections reach data, and nothing in the FTP stream is
// rewritten (it could not be under FTPS anyway). The fake server needs no
// proxy: it makes its faults itself.
type rig struct {
	ftpd      *realftpd.Server // the real server, or nil
	fake      *ftptest.Server  // the fake server, or nil
	ctl, data *faultproxy.Proxy
	pool      *pool.Pool
	http      *httptest.Server
	client    *http.Client
}

// The files every rig starts with: file, which downloads read and
// uploads replace, and check, which the recovery GET reads.
const (
	fileName  = "file.bin"
	fileSize  = 4 << 20
	checkName = "check.txt"
	checkBody = "the pool is back"
)

// Timeouts short enough for a fast suite.
const (
	dialTimeout    = 2 * time.Second
	commandTimeout = 2 * time.Second
	dataTimeout    = time.Second
	abortTimeout   = time.Second
	acquireTimeout = 2 * time.Second
)

// rigConfig varies a rig from the defaults.
type rigConfig struct {
	pool pool.Config // Conn's Addr and login are filled in
	api  api.Config  // Pool is filled in
}

func defaultRigConfig() rigConfig {
	return rigConfig{
		pool: pool.Config{
			Name: "faults",
			Conn: ftpcore.Config{
				DialTimeout: dialTimeout, CommandTimeout: commandTimeout,
				DataTimeout: dataTimeout, AbortTimeout: abortTimeout,
			},
			MaxSessions:    2,
			AcquireTimeout: acquireTimeout,
		},
		api: api.Config{ClientIdleTimeout: 2 * time.Second},
	}
}

// startRealRig starts a server of kind behind the proxies and the gateway
// in front of them.
func startRealRig(t *testing.T, kind realftpd.Kind, cfg rigConfig) *rig {
	t.Helper()
	ftpd := realftpd.Start(t, kind)
	r := &rig{ftpd: ftpd}
	ctl, data, err := faultproxy.ListenFTP(ftpd.Addr, ftpd.PasvMinPort, ftpd.PasvMaxPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctl.Close()
		data.Close()
	})
	r.ctl, r.data = ctl, data
	conn := &cfg.pool.Conn
	conn.Addr, conn.User, conn.Password = r.ctl.Addr(), ftpd.User, ftpd.Password
	if ftpd.TLS != nil {
		conn.TLS = ftpcore.TLSExplicit
		if ftpd.TLS.Implicit {
			conn.TLS = ftpcore.TLSImplicit
		}
		conn.TLSConfig = ftpd.TLS.ClientConfig()
	}
	r.put(t, fileName, version(0))
	r.put(t, checkName, []byte(checkBody))
	r.startGateway(t, cfg)
	return r
}

// startFakeRig starts the gateway in front of a fake server; script sets
// its handlers before any session logs in.
func startFakeRig(t *testing.T, cfg rigConfig, script func(*ftptest.Server)) *rig {
	t.Helper()
	r := &rig{fake: ftptest.NewServer(t)}
	cfg.pool.Conn.Addr, cfg.pool.Conn.User, cfg.pool.Conn.Password = r.fake.Addr, "user", "pass"
	r.put(t, fileName, version(0))
	r.put(t, checkName, []byte(checkBody))
	if script != nil {
		script(r.fake)
	}
	r.startGateway(t, cfg)
	return r
}

func (r *rig) startGateway(t *testing.T, cfg rigConfig) {
	t.Helper()
	p, err := pool.New(cfg.pool)
	if err != nil {
		t.Fatal(err)
	}
	cfg.api.Pool = p
	h := api.New(cfg.api)
	ts := httptest.NewUnstartedServer(h)
	ts.Listener = h.Listener(ts.Listener)
	ts.Config.ConnContext = h.ConnContext
	ts.Start()
	tr := &http.Transport{}
	r.pool, r.http = p, ts
	// Every response is held to openapi.yaml; TestMain fails the run on
	// a violation.
	r.client = &http.Client{Transport: contract.Transport{Next: tr}, Timeout: 30 * time.Second}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ts.Close()
		h.Close()
		p.Close()
	})
}

// version is the content of file.bin in version v: fileSize bytes that
// no other version shares a prefix with.
func version(v uint64) []byte {
	b := make([]byte, fileSize)
	rand.NewChaCha8([32]byte{byte(v), 'f'}).Read(b)
	return b
}

// put writes a file on the server, as its owner.
func (r *rig) put(t *testing.T, name string, data []byte) {
	t.Helper()
	if r.fake != nil {
		r.fake.PutFile("/"+name, data, time.Now())
		return
	}
	// Written aside and renamed, so that a transfer under way keeps the
	// version it opened.
	tmp := "put-" + name
	r.ftpd.WriteFile(t, tmp, data)
	if err := os.Rename(r.ftpd.Path(tmp), r.ftpd.Path(name)); err != nil {
		t.Fatal(err)
	}
}

// file reads a file on the server.
func (r *rig) file(name string) ([]byte, bool) {
	if r.fake != nil {
		return r.fake.File("/" + name)
	}
	b, err := os.ReadFile(r.ftpd.Path(name))
	return b, err == nil
}

// temps lists the upload temporaries on the server.
func (r *rig) temps() []string {
	var found []string
	if r.fake != nil {
		for _, n := range r.fake.List("/") {
			if strings.HasPrefix(n, ".ftpgw-upload-") {
				found = append(found, n)
			}
		}
		return found
	}
	entries, _ := os.ReadDir(r.ftpd.Root)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".ftpgw-upload-") {
			found = append(found, e.Name())
		}
	}
	return found
}

func (r *rig) url(p string) string { return r.http.URL + p }

// outcome is what a client saw of one request.
type outcome struct {
	status int // 0: no response came
	header http.Header
	body   []byte
	cut    bool  // the body ended before its length: the response was cut
	err    error // why there was no response, or why the body was cut
}

func (o outcome) String() string {
	s := fmt.Sprintf("status %d, %d body bytes, cut %v", o.status, len(o.body), o.cut)
	if o.err != nil {
		s += ", err " + o.err.Error()
	}
	if strings.HasPrefix(o.header.Get("Content-Type"), "application/problem+json") {
		s += ", problem " + string(o.body)
	}
	return s
}

// do sends a request on the rig's client and reads the whole response.
func (r *rig) do(method, p string, body io.Reader, hdr ...string) outcome {
	req, err := http.NewRequest(method, r.url(p), body)
	if err != nil {
		return outcome{err: err}
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	return readOutcome(resp)
}

func readOutcome(resp *http.Response) outcome {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return outcome{status: resp.StatusCode, header: resp.Header, body: b, cut: err != nil, err: err}
}

// rawConn is a client connection of the test's own, to leave or drip on.
type rawConn struct {
	*net.TCPConn
}

// dialGateway opens a connection to the gateway (or to addr, if given)
// with a receive buffer of rbuf bytes unless 0.
func (r *rig) dialGateway(t *testing.T, rbuf int, addr ...string) rawConn {
	t.Helper()
	a := r.http.Listener.Addr().String()
	if len(addr) > 0 {
		a = addr[0]
	}
	c, err := net.Dial("tcp", a)
	if err != nil {
		t.Fatal(err)
	}
	tc := c.(*net.TCPConn)
	if rbuf > 0 {
		tc.SetReadBuffer(rbuf)
	}
	t.Cleanup(func() { tc.Close() })
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	return rawConn{tc}
}

// get sends a GET and reads the response's head.
func (c rawConn) get(t *testing.T, p string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://gateway"+p, nil)
	if err := req.Write(c); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// startPut sends the head of a PUT of size bytes.
func (c rawConn) startPut(t *testing.T, p string, size int) {
	t.Helper()
	head := "PUT " + p + " HTTP/1.1\r\nHost: gateway\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n"
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
}

// response reads the response to a request sent on c, if one comes.
func (c rawConn) response() outcome {
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return outcome{err: err}
	}
	return readOutcome(resp)
}

// problem is an RFC 9457 body as the gateway writes it.
type problem struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Status     int    `json:"status"`
	Detail     string `json:"detail"`
	FTPCode    int    `json:"ftp_code"`
	FTPMessage string `json:"ftp_message"`
}

func problemOf(o outcome) (problem, error) {
	var p problem
	if ct := o.header.Get("Content-Type"); ct != "application/problem+json" {
		return p, fmt.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	if err := json.Unmarshal(o.body, &p); err != nil {
		return p, fmt.Errorf("problem body %q: %v", o.body, err)
	}
	return p, nil
}

// eventually polls cond every 20 ms for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sameBytes says whether got equals want, briefly when it does not.
func sameBytes(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	return fmt.Sprintf("%d bytes, want %d (common prefix %d)", len(got), len(want), commonPrefix(got, want))
}

func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
