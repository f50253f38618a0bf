package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/logbuf"

	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// basicGet runs GET base+path with the Basic credentials user and
// password (none when user is "") and returns the status and body.
func basicGet(t *testing.T, base, path, user, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestBasicEndToEnd runs the gateway with --auth basic in front of the
// fake server: the Basic credentials are the FTP login, a wrong password
// is 401, the users' pools are in /metrics, and no password reaches the
// logs, even at debug level.
func TestBasicEndToEnd(t *testing.T) {
	const password = "s3cret-Basic-pw"
	srv := ftptest.NewServer(t, ftptest.WithCredentials("alice", password))
	srv.PutFile("/hello.txt", []byte("hello\n"), time.Now())
	base, stop := startGateway(t, []string{"--upstream", "ftp://" + srv.Addr + "/", "--auth", "basic",
		"--basic-max-users", "4", "--login-failures-per-user", "1", "--log-level", "debug"})

	if code, body := basicGet(t, base, "/files/hello.txt", "", ""); code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d %s, want 401", code, body)
	}
	if code, body := basicGet(t, base, "/files/hello.txt", "alice", "wrong-one"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d %s, want 401", code, body)
	}
	// --login-failures-per-user 1: the next attempt is not tried.
	logins := srv.Logins()
	conns := srv.Conns()
	if code, body := basicGet(t, base, "/files/hello.txt", "alice", "wrong-two"); code != http.StatusTooManyRequests {
		t.Errorf("second wrong password: %d %s, want 429", code, body)
	}
	if srv.Conns() != conns || srv.Logins() != logins {
		t.Error("a login past the limit reached the FTP server")
	}
	// The limit counts alice; bob's right password would pass, but bob
	// has no account: a fresh user name, one more 401.
	if code, _ := basicGet(t, base, "/files/hello.txt", "bob", password); code != http.StatusUnauthorized {
		t.Errorf("bob: %d, want 401", code)
	}
	if code, body := basicGet(t, base, "/metrics", "", ""); code != http.StatusOK || !strings.Contains(body, `ftpgw_user_pools_open{backend="default"} 0`) {
		t.Errorf("/metrics: %d, no ftpgw_user_pools_open 0:\n%s", code, body)
	}
	logs := stop()
	for _, secret := range []string{password, "wrong-one", "wrong-two"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs carry the password %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, `"mode":"basic"`) {
		t.Errorf("the start line does not say the auth mode is basic:\n%s", logs)
	}
}

// TestBasicDemo: --demo --auth basic prints the demo server's account,
// which then logs in.
func TestBasicDemo(t *testing.T) {
	cfg, err := loadConfig([]string{"--demo", "--auth", "basic", "--listen", "127.0.0.1:0", "--drain-pause", "0s", "--shutdown-timeout", "5s"}, envFrom(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	listening := make(chan net.Addr, 1)
	cfg.onListening = func(a net.Addr) { listening <- a }
	ctx, cancel := context.WithCancel(t.Context())
	var stderr logbuf.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &stderr) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	var base string
	select {
	case a := <-listening:
		base = "http://" + a.String()
	case <-time.After(10 * time.Second):
		t.Fatalf("not listening after 10s\n%s", stderr.String())
	}
	// The instructions follow the listening line.
	userRE := regexp.MustCompile(`-u (demo-[0-9a-f]+):([0-9a-f]+) `)
	var m []string
	for deadline := time.Now().Add(5 * time.Second); m == nil && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		m = userRE.FindStringSubmatch(stderr.String())
	}
	if m == nil {
		t.Fatalf("the demo's instructions name no account:\n%s", stderr.String())
	}
	if code, body := basicGet(t, base, "/files/hello.txt", m[1], m[2]); code != http.StatusOK || body != demoHello {
		t.Errorf("GET as the demo's account: %d %q", code, body)
	}
	if code, _ := basicGet(t, base, "/files/hello.txt", "", ""); code != http.StatusUnauthorized {
		t.Errorf("GET without credentials: %d, want 401", code)
	}
}

// TestBasicConfigFile: in the config file, auth basic and its settings are
// a backend's own, beside a backend of tokens (at the top level they would
// be every backend's, and refused for the token backend, as TLS settings
// are for a plain one).
func TestBasicConfigFile(t *testing.T) {
	tokens := writeTokensFile(t, tokenLine(t, testToken, auth.Read))
	file := writeConfigFile(t, `
backends:
  - name: people
    mount: /people/
    upstream: ftpes://ftp.example.net/
    auth: basic
    basic-max-users: 3
    login-failure-window: 2m
    login-failures-per-user: 2
  - name: media
    mount: /media/
    upstream: ftp://u:p@ftp.example.net/
    tokens-file: `+tokens+`
`)
	c, err := loadConfig([]string{"--config", file}, envFrom(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := basicSettings{MaxUsers: 3, IdleTimeout: 5 * time.Minute, MaxSessionsPerUser: 2, FailuresPerUser: 2, FailuresPerAddress: 20, FailureWindow: 2 * time.Minute}
	if c.Auth.Mode != authBasic || c.Basic != want || c.Upstream.User != "" {
		t.Errorf("people: auth %v, basic %+v, user %q; want basic, %+v, none", c.Auth.Mode, c.Basic, c.Upstream.User, want)
	}
	if len(c.Backends) != 1 || c.Backends[0].Auth.Mode != authToken {
		t.Fatalf("media: %+v", c.Backends)
	}
	if c.Listen != defaultListen {
		t.Errorf("listen %q, want %q: every backend authenticates", c.Listen, defaultListen)
	}
}
