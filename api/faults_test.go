package api_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
	"github.com/ftpgw/ftpgw/internal/contract"
	"github.com/ftpgw/ftpgw/pool"
	"github.com/prometheus/client_golang/prometheus"
)

// fakeGateway is the api in front of the scriptable ftptest server: exact
// replies and faults that a real server will not produce on demand.
func fakeGateway(t *testing.T, srv *ftptest.Server, tune func(*pool.Config)) *httptest.Server {
	t.Helper()
	return fakeGatewayMetrics(t, srv, tune, nil)
}

// fakeGatewayMetrics is fakeGateway with the api's metrics registered in
// reg.
func fakeGatewayMetrics(t *testing.T, srv *ftptest.Server, tune func(*pool.Config), reg prometheus.Registerer) *httptest.Server {
	t.Helper()
	cfg := pool.Config{
		Name: "fake",
		Conn: ftpcore.Config{
			Addr: srv.Addr, User: "user", Password: "pass",
			CommandTimeout: time.Second, DataTimeout: time.Second, DialTimeout: time.Second,
		},
		MaxSessions:    2,
		AcquireTimeout: 2 * time.Second,
	}
	if tune != nil {
		tune(&cfg)
	}
	p, err := pool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(api.Config{Pool: p, Registerer: reg})
	ts := serveGateway(h)
	t.Cleanup(func() {
		ts.Close()
		h.Close()
		p.Close()
	})
	return ts
}

// testClient is the tests' own HTTP client. http.DefaultTransport is
// shared: every httptest.Server's Close closes its idle connections, and a
// request of a test running in parallel that has just picked one of them
// fails with "CloseIdleConnections called".
var testClient = &http.Client{Transport: contract.Transport{Next: &http.Transport{}}}

func fetchURL(t *testing.T, method, url string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := testClient.Do(withTest(t, req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b []byte
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return resp.StatusCode, resp.Header, b
}

// TestReplyCodesBecomeStatuses runs each FTP failure through the whole
// stack and checks the status and the problem body the client gets.
func TestReplyCodesBecomeStatuses(t *testing.T) {
	tests := []struct {
		name       string
		cmd        string // the command whose reply is scripted
		code       int
		text       string
		method     string
		status     int
		retryAfter bool
	}{
		{"550 missing", "MLST", 550, "No such file or directory", "GET", 404, false},
		{"550 permission", "MLST", 550, "Permission denied", "GET", 403, false},
		{"421 closing", "MLST", 421, "Service not available", "GET", 503, true},
		{"450 busy", "MLST", 450, "File busy", "GET", 503, true},
		{"530 not logged in", "MLST", 530, "Not logged in", "GET", 502, false},
		{"425 no data connection", "RETR", 425, "Can't open data connection", "GET", 502, false},
		{"426 transfer aborted", "RETR", 426, "Connection closed; transfer aborted", "GET", 502, false},
		// The STOR is of the gateway's temporary name, in a directory that
		// is there: refused, it is a directory the account may not write.
		{"553 on STOR in a directory that is there", "STOR", 553, "Could not create file", "PUT", 403, false},
		{"501 bad argument on STOR", "STOR", 501, "Syntax error in parameters", "PUT", 400, false},
		{"552 quota on STOR", "STOR", 552, "Exceeded storage allocation", "PUT", 507, false},
		{"452 disk full on STOR", "STOR", 452, "Insufficient storage space", "PUT", 507, false},
		{"451 local error on DELE", "DELE", 451, "Local error", "DELETE", 502, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := ftptest.NewServer(t)
			srv.PutFile("/f.txt", []byte("content"), time.Now())
			var calls atomic.Int32
			srv.Handle(tc.cmd, func(c *ftptest.Conn, arg string) {
				if tc.code == 421 && calls.Add(1) > 1 {
					c.Default(tc.cmd, arg) // the retry on a fresh session succeeds
					return
				}
				c.Reply(tc.code, tc.text)
				if tc.code == 421 {
					c.Close()
				}
			})
			ts := fakeGateway(t, srv, nil)
			req, _ := http.NewRequest(tc.method, ts.URL+"/files/f.txt", nil)
			if tc.method == "PUT" {
				req.Body = http.NoBody
			}
			resp, err := testClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := make([]byte, 4096)
			n, _ := resp.Body.Read(body)
			resp.Body.Close()
			if tc.code == 421 {
				// A 421 on the first command is a stale session: retried
				// once, and the retry was allowed to succeed.
				if resp.StatusCode != 200 {
					t.Fatalf("421 then success: status %d, want 200 after one retry", resp.StatusCode)
				}
				return
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body[:n])
			}
			checkContract(t, tc.method, req.URL.String(), resp.StatusCode, resp.Header, body[:n])
			p := problemOf(t, resp.Header, body[:n])
			if p["ftp_code"] != float64(tc.code) {
				t.Errorf("ftp_code %v, want %d", p["ftp_code"], tc.code)
			}
			_, hasMsg := p["ftp_message"]
			if hasMsg != (tc.status >= 500) {
				t.Errorf("ftp_message present=%v on a %d", hasMsg, tc.status)
			}
			if (resp.Header.Get("Retry-After") != "") != tc.retryAfter {
				t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
		})
	}
}

func TestStaleTwiceFails(t *testing.T) {
	srv := ftptest.NewServer(t)
	srv.PutFile("/f.txt", []byte("x"), time.Now())
	srv.Handle("MLST", func(c *ftptest.Conn, arg string) {
		c.Reply(421, "Service not available, closing control connection")
		c.Close()
	})
	ts := fakeGateway(t, srv, nil)
	status, h, b := fetchURL(t, "GET", ts.URL+"/files/f.txt")
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q: %s", status, h.Get("Retry-After"), b)
	}
	if srv.Logins() != 2 {
		t.Errorf("%d logins, want 2 (one retry)", srv.Logins())
	}
}

func TestSilentServerTimesOut(t *testing.T) {
	srv := ftptest.NewServer(t)
	srv.PutFile("/f.txt", []byte("x"), time.Now())
	srv.Handle("MLST", func(c *ftptest.Conn, arg string) {
		select { // never answers
		case <-c.Done():
		case <-time.After(5 * time.Second):
		}
	})
	ts := fakeGateway(t, srv, nil)
	start := time.Now()
	status, h, b := fetchURL(t, "GET", ts.URL+"/files/f.txt")
	if status != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504: %s", status, b)
	}
	checkContract(t, "GET", ts.URL+"/files/f.txt", status, h, b)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v with a 1s command timeout", d)
	}
}

func TestUnreachableBackend(t *testing.T) {
	srv := ftptest.NewServer(t)
	addr := srv.Addr
	srv.Close()
	p, err := pool.New(pool.Config{Conn: ftpcore.Config{Addr: addr, DialTimeout: time.Second}, AcquireTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	gw := api.New(api.Config{Pool: p})
	defer gw.Close()
	ts := serveGateway(gw)
	defer ts.Close()
	status, h, b := fetchURL(t, "GET", ts.URL+"/files/x")
	if status != http.StatusBadGateway {
		t.Fatalf("status %d: %s", status, b)
	}
	problemOf(t, h, b)
	checkContract(t, "GET", ts.URL+"/files/x", status, h, b)
	status, h, b = fetchURL(t, "GET", ts.URL+"/readyz")
	if status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the backend down: %d", status)
	}
	checkContract(t, "GET", ts.URL+"/readyz", status, h, b)
	if status, _, _ := fetchURL(t, "GET", ts.URL+"/healthz"); status != http.StatusOK {
		t.Errorf("/healthz: %d", status)
	}
}

func TestPoolExhausted(t *testing.T) {
	srv := ftptest.NewServer(t)
	srv.PutFile("/f.txt", []byte("x"), time.Now())
	release := make(chan struct{})
	srv.Handle("MLST", func(c *ftptest.Conn, arg string) {
		select {
		case <-release:
		case <-c.Done():
		}
		c.Default("MLST", arg)
	})
	ts := fakeGateway(t, srv, func(c *pool.Config) {
		c.MaxSessions = 1
		c.AcquireTimeout = 1200 * time.Millisecond
		c.Conn.CommandTimeout = 5 * time.Second
	})
	done := make(chan int)
	go func() {
		s, _, _ := fetchURL(t, "GET", ts.URL+"/files/f.txt")
		done <- s
	}()
	// Wait until the first request holds the only session.
	deadline := time.Now().Add(5 * time.Second)
	for srv.Logins() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	status, h, b := fetchURL(t, "GET", ts.URL+"/files/f.txt")
	close(release)
	// Retry-After is the time it waited, in whole seconds, rounded up.
	checkBusy(t, "second request", status, h, b, http.StatusServiceUnavailable, "2", "all FTP sessions are busy")
	checkContract(t, "GET", ts.URL+"/files/f.txt", status, h, b)
	if s := <-done; s != 200 {
		t.Errorf("first request: %d", s)
	}
}
