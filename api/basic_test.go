package api_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/logbuf"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/pool"
	"github.com/prometheus/client_golang/prometheus"
)

// basicAuth is the Authorization header of HTTP Basic for user and
// password, as hdr pairs for fetch.
func basicAuth(user, password string) []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}
}

// logins counts the USER commands for user that reached the FTP server.
func (g *gateway) logins(user string) int {
	n := 0
	for _, c := range g.commands() {
		if c == "USER "+user {
			n++
		}
	}
	return n
}

// countCommand counts the commands named verb that reached the FTP server.
func (g *gateway) countCommand(verb string) int {
	n := 0
	for _, c := range g.commands() {
		if c == verb || strings.HasPrefix(c, verb+" ") {
			n++
		}
	}
	return n
}

const basicChallenge = `Basic realm="ftpgw", charset="UTF-8"`

// TestBasicPassthrough runs the logins of Basic passthrough on every
// server, FTPS included: no credentials and a wrong password are 401 with
// the challenge (never 502) and leave no pool; the right password is the
// FTP login, once for the requests that follow; control characters are
// 400 before anything is sent. No password reaches a log, a problem body
// or the metrics.
func TestBasicPassthrough(t *testing.T) {
	const wrong = "wrong-Pa55word"
	var logs logbuf.Buffer
	forEachServerWith(t, gatewayOptions{basic: &basicOptions{}, apiLog: slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})},
		func(t *testing.T, g *gateway) {
			user, password := g.ftpd.User, g.ftpd.Password
			g.ftpd.WriteFile(t, "hello.txt", []byte("hello\n"))

			code, h, body := g.fetch(t, http.MethodGet, "/files/hello.txt", nil)
			if code != http.StatusUnauthorized || h.Get("Www-Authenticate") != basicChallenge {
				t.Fatalf("no credentials: %d, WWW-Authenticate %q; want 401 with %q", code, h.Get("Www-Authenticate"), basicChallenge)
			}
			problemOf(t, h, body)
			if n := g.logins(user); n != 0 {
				t.Fatalf("a request without credentials logged in %d times", n)
			}

			code, h, body = g.fetch(t, http.MethodGet, "/files/hello.txt", nil, basicAuth(user, wrong)...)
			if code != http.StatusUnauthorized || h.Get("Www-Authenticate") != basicChallenge {
				t.Fatalf("wrong password: %d, WWW-Authenticate %q; body %s", code, h.Get("Www-Authenticate"), body)
			}
			if p := problemOf(t, h, body); p["ftp_message"] != nil {
				t.Errorf("the FTP server's words are in the 401: %v", p)
			}
			if bytes.Contains(body, []byte(wrong)) {
				t.Errorf("the password is in the problem body %s", body)
			}
			if n := g.logins(user); n != 1 {
				t.Errorf("wrong password: %d logins reached the server, want 1", n)
			}
			if st := g.users.Stat(); st.Pools != 0 {
				t.Errorf("a refused login left %d pools", st.Pools)
			}

			for i := range 2 {
				code, _, body = g.fetch(t, http.MethodGet, "/files/hello.txt", nil, basicAuth(user, password)...)
				if code != http.StatusOK || string(body) != "hello\n" {
					t.Fatalf("right password, request %d: %d %q", i+1, code, body)
				}
			}
			if n := g.logins(user); n != 2 {
				t.Errorf("two requests with the right password after a wrong one: %d logins in all, want 2 (one each password)", n)
			}
			if st := g.users.Stat(); st.Pools != 1 {
				t.Errorf("pools = %d, want 1", st.Pools)
			}

			for _, bad := range []struct{ user, password string }{
				{user + "\r\nDELE x", password}, {user, password + "\x00"}, // CR, LF, NUL
				{"caf\xe9", password}, {user, "\xff" + password}, // not UTF-8
			} {
				code, h, body = g.fetch(t, http.MethodGet, "/files/hello.txt", nil, basicAuth(bad.user, bad.password)...)
				if code != http.StatusBadRequest {
					t.Errorf("credentials %q: %d, want 400; body %s", bad.user, code, body)
				}
				problemOf(t, h, body)
			}
			if n := g.countCommand("USER"); n != 2 {
				t.Errorf("USER sent %d times in all, want 2: malformed credentials reached the server", n)
			}

			// Ready by the greeting, without a login.
			if code, _, body := g.fetch(t, http.MethodGet, "/readyz", nil); code != http.StatusOK {
				t.Errorf("/readyz: %d %s", code, body)
			}
			if n := g.countCommand("USER"); n != 2 {
				t.Errorf("/readyz logged in: USER sent %d times in all, want 2", n)
			}

			_, _, metrics := g.fetch(t, http.MethodGet, "/metrics", nil)
			for _, want := range []string{
				`ftpgw_basic_logins_refused_total{backend="` + string(g.ftpd.Kind) + `",reason="bad_credentials"} 1`,
				`ftpgw_user_pools_open{backend="` + string(g.ftpd.Kind) + `"} 1`,
			} {
				if !bytes.Contains(metrics, []byte(want)) {
					t.Errorf("metrics lack %s", want)
				}
			}
			for _, secret := range []string{password, wrong, user} {
				if bytes.Contains(metrics, []byte(secret)) {
					t.Errorf("metrics contain %q", secret)
				}
			}
			for _, line := range g.trace.sent() {
				if strings.Contains(line, password) || strings.Contains(line, wrong) {
					t.Errorf("the protocol trace carries a password: %q", line)
				}
			}
		})
	for _, secret := range []string{realftpd.TestPassword, wrong} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a password is in the gateway's log:\n%s", logs.String())
		}
	}
}

// TestBasicLoginLimits: past the failed logins allowed to a user, and to a
// client address, a login gets 429 with Retry-After and nothing reaches the
// FTP server; one user's success leaves another's count as it was, and a
// user whose pool is open passes whatever the count.
func TestBasicLoginLimits(t *testing.T) {
	t.Run("per user", func(t *testing.T) {
		t.Parallel()
		// The defaults: five failures of a user a minute.
		g := startGatewayOn(t, realftpd.ProFTPD, gatewayOptions{basic: &basicOptions{}})
		user, password := g.ftpd.User, g.ftpd.Password
		// A pool opened before the attack is not locked out by it.
		if code, _, body := g.fetch(t, http.MethodGet, "/files/", nil, basicAuth(user, password)...); code != http.StatusOK {
			t.Fatalf("right password: %d %s", code, body)
		}
		for i := range 5 {
			if code, _, body := g.fetch(t, http.MethodGet, "/files/", nil, basicAuth(user, "guess"+string(rune('a'+i)))...); code != http.StatusUnauthorized {
				t.Fatalf("wrong password %d: %d %s, want 401", i+1, code, body)
			}
		}
		before := g.logins(user)
		code, h, body := g.fetch(t, http.MethodGet, "/files/", nil, basicAuth(user, "guessf")...)
		if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
			t.Fatalf("6th wrong password: %d, Retry-After %q; want 429 with it; body %s", code, h.Get("Retry-After"), body)
		}
		problemOf(t, h, body)
		if n := g.logins(user); n != before {
			t.Errorf("the refused 6th attempt reached the server: %d logins, had %d", n, before)
		}
		if code, _, body := g.fetch(t, http.MethodGet, "/files/", nil, basicAuth(user, password)...); code != http.StatusOK {
			t.Errorf("right password with the user's pool open: %d %s, want 200", code, body)
		}
		_, _, metrics := g.fetch(t, http.MethodGet, "/metrics", nil)
		if want := `ftpgw_basic_logins_refused_total{backend="proftpd",reason="rate_limited_user"} 1`; !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	})
	t.Run("per address", func(t *testing.T) {
		t.Parallel()
		g := startGatewayOn(t, realftpd.ProFTPD, gatewayOptions{basic: &basicOptions{failuresPerUser: 2, perIP: 3}})
		user, password := g.ftpd.User, g.ftpd.Password
		for i, u := range []string{"nobody", "nobody", "someone"} {
			if code, _, body := g.fetch(t, http.MethodGet, "/files/", nil, basicAuth(u, "x")...); code != http.StatusUnauthorized {
				t.Fatalf("attempt %d (%s): %d %s, want 401", i+1, u, code, body)
			}
		}
		// nobody is at its user limit; the address too.
		code, h, _ := g.fetch(t, http.MethodGet, "/files/", nil, basicAuth("nobody", "x")...)
		if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
			t.Errorf("nobody's 3rd attempt: %d, want 429 with Retry-After", code)
		}
		if code, _, _ := g.fetch(t, http.MethodGet, "/files/", nil, basicAuth("third", "x")...); code != http.StatusTooManyRequests {
			t.Errorf("a new user from an address past its limit: %d, want 429", code)
		}
		if code, _, _ := g.fetch(t, http.MethodGet, "/files/", nil, basicAuth(user, password)...); code != http.StatusTooManyRequests {
			t.Errorf("the right password from an address past its limit, with no pool open: %d, want 429", code)
		}
		if n := g.countCommand("USER"); n != 3 {
			t.Errorf("%d logins reached the server, want the 3 allowed", n)
		}
	})
	t.Run("per address behind a trusted proxy", func(t *testing.T) {
		t.Parallel()
		for _, trusted := range []bool{true, false} {
			o := gatewayOptions{basic: &basicOptions{failuresPerUser: 10, perIP: 1}}
			if trusted {
				o.trustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			}
			g := startGatewayOn(t, realftpd.ProFTPD, o)
			from := func(client string) int {
				code, _, _ := g.fetch(t, http.MethodGet, "/files/", nil, append(basicAuth("nobody", "x"), "X-Forwarded-For", client)...)
				return code
			}
			if code := from("192.0.2.1"); code != http.StatusUnauthorized {
				t.Fatalf("trusted %v: first client's attempt: %d, want 401", trusted, code)
			}
			if code := from("192.0.2.1"); code != http.StatusTooManyRequests {
				t.Errorf("trusted %v: first client again: %d, want 429", trusted, code)
			}
			// Behind a trusted proxy another client has a count of its
			// own; otherwise the header is anyone's to send, and the
			// proxy's address is the one counted.
			want := http.StatusTooManyRequests
			if trusted {
				want = http.StatusUnauthorized
			}
			if code := from("192.0.2.2"); code != want {
				t.Errorf("trusted %v: another client: %d, want %d", trusted, code, want)
			}
		}
	})
	t.Run("a success resets no other count", func(t *testing.T) {
		t.Parallel()
		g := startGatewayOn(t, realftpd.ProFTPD, gatewayOptions{basic: &basicOptions{failuresPerUser: 1, perIP: 10}})
		if code, _, _ := g.fetch(t, http.MethodGet, "/files/", nil, basicAuth("nobody", "x")...); code != http.StatusUnauthorized {
			t.Fatalf("nobody: %d, want 401", code)
		}
		if code, _, _ := g.fetch(t, http.MethodGet, "/files/", nil, basicAuth(g.ftpd.User, g.ftpd.Password)...); code != http.StatusOK {
			t.Fatalf("right password: %d, want 200", code)
		}
		if code, _, _ := g.fetch(t, http.MethodGet, "/files/", nil, basicAuth("nobody", "x")...); code != http.StatusTooManyRequests {
			t.Errorf("nobody after another user's success: %d, want 429", code)
		}
	})
}

// TestBasicUserPools: the pools of Basic passthrough are bounded, the
// least recently used idle one closed for a new user (its session says
// QUIT), a new user with every pool busy is 503; an idle pool is closed.
func TestBasicUserPools(t *testing.T) {
	t.Run("bounded", func(t *testing.T) {
		t.Parallel()
		// vsftpd logs STOR as it arrives: the upload is seen under way.
		g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{basic: &basicOptions{users: pool.UsersConfig{MaxUsers: 1}}})
		user, password := g.ftpd.User, g.ftpd.Password

		// A PUT whose body is still coming holds the one pool.
		pr, pw := io.Pipe()
		defer pw.Close()
		done := make(chan int)
		go func() {
			req, _ := http.NewRequest(http.MethodPut, g.url("/files/slow.bin"), pr)
			h := basicAuth(user, password)
			req.Header.Set(h[0], h[1])
			resp, err := g.http.Client().Do(req)
			if err != nil {
				t.Error(err)
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		pw.Write([]byte("first part"))
		waitFor(t, "the upload's STOR", func() bool { return g.countCommand("STOR") == 1 })
		code, h, body := g.fetch(t, http.MethodGet, "/files/", nil, basicAuth("other", "x")...)
		// Busy as a pool is busy: Retry-After the time a request waits for
		// a session (the users' pools' acquire timeout, the default here).
		if want := strconv.Itoa(int(pool.DefaultAcquireTimeout / time.Second)); code != http.StatusServiceUnavailable || h.Get("Retry-After") != want {
			t.Errorf("a new user with the one pool busy: %d, Retry-After %q; want 503 with %s; %s", code, h.Get("Retry-After"), want, body)
		}
		if n := g.logins("other"); n != 0 {
			t.Errorf("the user with no room was logged in %d times", n)
		}
		pw.Close()
		if code := <-done; code != http.StatusCreated && code != http.StatusNoContent {
			t.Fatalf("the PUT: %d", code)
		}

		// Idle now: another user's login closes it first.
		quits := g.countCommand("QUIT")
		if code, _, _ := g.fetch(t, http.MethodGet, "/files/", nil, basicAuth("other", "x")...); code != http.StatusUnauthorized {
			t.Errorf("another user with a wrong password: %d, want 401", code)
		}
		waitFor(t, "the evicted pool's QUIT", func() bool { return g.countCommand("QUIT") > quits })
		if st := g.users.Stat(); st.Pools != 0 || st.ClosedEvicted != 1 {
			t.Errorf("pools %d, evicted %d; want 0 and 1", st.Pools, st.ClosedEvicted)
		}
	})
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		g := startGatewayOn(t, realftpd.ProFTPD, gatewayOptions{basic: &basicOptions{users: pool.UsersConfig{IdleTimeout: 200 * time.Millisecond}}})
		if code, _, _ := g.fetch(t, http.MethodGet, "/files/", nil, basicAuth(g.ftpd.User, g.ftpd.Password)...); code != http.StatusOK {
			t.Fatalf("right password: %d", code)
		}
		waitFor(t, "the idle pool's QUIT", func() bool { return g.countCommand("QUIT") == 1 })
		if st := g.users.Stat(); st.Pools != 0 || st.ClosedIdle != 1 {
			t.Errorf("pools %d, closed idle %d; want 0 and 1", st.Pools, st.ClosedIdle)
		}
	})
}

// TestBasicFailedUploadCleanedUp: a PUT cut at the size limit leaves no
// temporary file: it is deleted with the uploading user's pool.
func TestBasicFailedUploadCleanedUp(t *testing.T) {
	for _, kind := range []realftpd.Kind{realftpd.Vsftpd, realftpd.ProFTPD} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			g := startGatewayOn(t, kind, gatewayOptions{basic: &basicOptions{}, maxUpload: 1000})
			body := struct{ io.Reader }{bytes.NewReader(randomBytes(200<<10, 3))} // chunked: no length known
			code, _, b := g.fetch(t, http.MethodPut, "/files/big.bin", body, basicAuth(g.ftpd.User, g.ftpd.Password)...)
			if code != http.StatusRequestEntityTooLarge {
				t.Fatalf("PUT over the limit: %d %s, want 413", code, b)
			}
			if g.countCommand("STOR") != 1 {
				t.Fatalf("no upload was begun: commands %q", g.commands())
			}
			if left := tempFilesUnder(t, g.ftpd.Root); len(left) > 0 {
				t.Errorf("temporary files left behind: %q", left)
			}
		})
	}
}

// TestBasicReadyz: a backend of Basic passthrough, with no credentials of
// its own, is ready when the FTP server greets a connection, and logs in
// as nobody to say so.
func TestBasicReadyz(t *testing.T) {
	g := startGatewayOn(t, realftpd.ProFTPD, gatewayOptions{basic: &basicOptions{}})
	code, _, body := g.fetch(t, http.MethodGet, "/readyz", nil)
	if code != http.StatusOK || string(body) != "ready\n" {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	if n := g.countCommand("USER"); n != 0 {
		t.Errorf("/readyz logged in %d times", n)
	}
	g.ftpd.Kill(t)
	if code, _, body := g.fetch(t, http.MethodGet, "/readyz", nil); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the server down: %d %s, want 503", code, body)
	}
}

// TestBasicBesideAnotherBackend: Basic passthrough is one backend's
// setting: joined with a backend of a fixed login on the same server, each
// answers as its own, and /readyz asks both, each its own way.
func TestBasicBesideAnotherBackend(t *testing.T) {
	ftpd := realftpd.Start(t, realftpd.Vsftpd, realftpd.Options{})
	ftpd.WriteFile(t, "hello.txt", []byte("hello\n"))
	conn := ftpcore.Config{Addr: ftpd.Addr, User: ftpd.User, Password: ftpd.Password, CommandTimeout: 10 * time.Second}
	p, err := pool.New(pool.Config{Name: "fixed", MaxSessions: 2, Conn: conn})
	if err != nil {
		t.Fatal(err)
	}
	users, err := pool.NewUsers(pool.UsersConfig{Pool: pool.Config{Name: "people", Conn: conn}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	fixed := api.New(api.Config{Pool: p, Mount: "/fixed/", Registerer: reg})
	people := api.New(api.Config{Users: users, Mount: "/people/", Registerer: reg, LoginFailuresPerUser: 1})
	t.Cleanup(func() { fixed.Close(); people.Close(); p.Close(); users.Close() })
	ts := serveHandler(fixed, api.Join(fixed, people))
	t.Cleanup(ts.Close)
	mountsAt(t, ts.URL, "/fixed/", "/people/")
	get := func(path string, hdr ...string) int {
		t.Helper()
		code, _, _ := fetchURL(t, http.MethodGet, ts.URL+path, hdr...)
		return code
	}

	if code := get("/fixed/hello.txt"); code != http.StatusOK {
		t.Errorf("the fixed backend without credentials: %d, want 200", code)
	}
	if code := get("/people/hello.txt"); code != http.StatusUnauthorized {
		t.Errorf("the basic backend without credentials: %d, want 401", code)
	}
	if code := get("/people/hello.txt", basicAuth(ftpd.User, "wrong")...); code != http.StatusUnauthorized {
		t.Errorf("the basic backend, wrong password: %d, want 401", code)
	}
	if code := get("/people/hello.txt", basicAuth(ftpd.User, "wrong")...); code != http.StatusTooManyRequests {
		t.Errorf("the basic backend past its limit: %d, want 429", code)
	}
	if code := get("/fixed/hello.txt", basicAuth(ftpd.User, "wrong")...); code != http.StatusOK {
		t.Errorf("the fixed backend, whatever the Authorization: %d, want 200", code)
	}
	code, _, body := fetchURL(t, http.MethodGet, ts.URL+"/readyz")
	if code != http.StatusOK || string(body) != "fixed: ready\npeople: ready\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
}
