package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/pool"
)

// The signing keys of the tests, as an operator's file has them.
var (
	signKey1 = base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte("k1-secret-"), 4))
	signKey2 = base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte("k2-secret-"), 4))
)

func testSigner(t *testing.T, file string) *auth.Signer {
	t.Helper()
	ks, err := auth.ParseKeyFile(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewSigner(ks)
}

// reachDeleted is a DELETE's reach, which ftpReach has not: the test
// looks at the disk instead.
const reachDeleted ftpReach = -1

// signed is the URL of path p (as the client sends it) with the query
// of u.
func signed(p string, u auth.SignedURL) string { return p + "?" + u.Query() }

// TestSignedURLs: a URL signed for a method and a path lets a request
// with no token do that and nothing else. Valid GET, HEAD, PUT and DELETE
// URLs reach the FTP server; an expired one, one with any field changed,
// one used for another method or another path, and one of an unknown key
// are 403, name the class of failure, and send nothing to the FTP server;
// neither the signature nor a key is in a problem body or a log line. On
// main before signed URLs, each of these requests was 401.
func TestSignedURLs(t *testing.T) {
	logs := &logRecords{}
	s := testSigner(t, "k1 "+signKey1+"\n")
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{tokens: authTokens(t), signer: s, apiLog: logs, signedMax: 24 * time.Hour})
	g.ftpd.WriteFile(t, "secret.txt", []byte("secret"))
	g.ftpd.WriteFile(t, "pub/a.txt", []byte("public"))
	g.ftpd.WriteFile(t, "pub/page.html", []byte("<p>hi</p>"))
	g.ftpd.WriteFile(t, "gone.txt", []byte("to delete"))
	now := time.Now()
	hour := now.Add(time.Hour)
	getA := s.Sign("GET", "/files/pub/a.txt", hour)
	putNew := s.Sign("PUT", "/files/pub/new.txt", hour)
	other := testSigner(t, "k2 "+signKey2+"\n").Sign("GET", "/files/pub/a.txt", hour)
	// flip changes the last but one character for another of its kind
	// (a digit for a digit, base64url for base64url), so that the URL
	// still parses and only the signature can refuse it.
	flip := func(v string) string {
		b := []byte(v)
		if c := b[len(b)-2]; c >= '0' && c <= '9' {
			b[len(b)-2] = '0' + (c-'0'+1)%10
		} else {
			b[len(b)-2] = map[bool]byte{true: 'B', false: 'A'}[c == 'A']
		}
		return string(b)
	}
	// The last of the signature's 43 characters has 2 padding bits: a
	// spelling that differs in one of them is malformed, not the same
	// signature.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	padded := getA
	padded.Signature = getA.Signature[:42] + string(alphabet[strings.IndexByte(alphabet, getA.Signature[42])^1])
	change := func(u auth.SignedURL, f func(*auth.SignedURL)) auth.SignedURL {
		f(&u)
		return u
	}
	const (
		noMatch   = "the signature does not match the URL's path, method, expiry and key"
		malformed = "the signed URL's ftpgw- parameters are missing, repeated or malformed"
	)
	var signatures []string
	for _, row := range []struct {
		name, method, target, body string
		hdr                        []string
		status                     int
		detail                     string
		reach                      ftpReach
	}{
		{"GET", "GET", signed("/files/pub/a.txt", getA), "", nil, 200, "", reachRetr},
		{"HEAD with a GET URL", "HEAD", signed("/files/pub/a.txt", getA), "", nil, 200, "", reachMeta},
		{"HEAD URL", "HEAD", signed("/files/pub/a.txt", s.Sign("HEAD", "/files/pub/a.txt", hour)), "", nil, 200, "", reachMeta},
		{"GET %2F for a slash", "GET", signed("/files/pub%2Fa.txt", getA), "", nil, 200, "", reachRetr},
		{"GET %61 for a", "GET", signed("/files/pub/%61.txt", getA), "", nil, 200, "", reachRetr},
		{"GET doubled slash and dot", "GET", signed("/files//pub/./a.txt", getA), "", nil, 200, "", reachRetr},
		{"GET download=1 unsigned", "GET", signed("/files/pub/a.txt", getA) + "&download=1", "", nil, 200, "", reachRetr},
		{"PUT", "PUT", signed("/files/pub/new.txt", putNew), "uploaded", nil, 201, "", reachStored},
		{"DELETE", "DELETE", signed("/files/gone.txt", s.Sign("DELETE", "/files/gone.txt", hour)), "", nil, 204, "", reachDeleted},
		{"listing of a signed directory", "GET", signed("/files/pub/", s.Sign("GET", "/files/pub", hour)), "", nil, 200, "", reachList},
		{"listing of the root", "GET", signed("/files/", s.Sign("GET", "/files", hour)), "", nil, 200, "", reachList},

		{"expired", "GET", signed("/files/pub/a.txt", s.Sign("GET", "/files/pub/a.txt", now.Add(-time.Second))), "", nil, 403, "the signed URL has expired", reachNothing},
		{"expiry too far ahead", "GET", signed("/files/pub/a.txt", s.Sign("GET", "/files/pub/a.txt", now.Add(48*time.Hour))), "", nil, 403,
			"the signed URL expires further ahead than the gateway allows (24h0m0s)", reachNothing},
		{"method changed", "PUT", signed("/files/pub/a.txt", change(getA, func(u *auth.SignedURL) { u.Method = "PUT" })), "x", nil, 403, noMatch, reachNothing},
		{"expiry changed", "GET", signed("/files/pub/a.txt", change(getA, func(u *auth.SignedURL) { u.Expires = flip(u.Expires) })), "", nil, 403, noMatch, reachNothing},
		{"key changed", "GET", signed("/files/pub/a.txt", change(getA, func(u *auth.SignedURL) { u.KeyID = "k2" })), "", nil, 403,
			"the signed URL's key is not one the gateway has (it may have been retired)", reachNothing},
		{"signature changed", "GET", signed("/files/pub/a.txt", change(getA, func(u *auth.SignedURL) { u.Signature = flip(u.Signature) })), "", nil, 403, noMatch, reachNothing},
		{"signature's padding bit changed", "GET", signed("/files/pub/a.txt", padded), "", nil, 403, malformed, reachNothing},
		{"unknown key", "GET", signed("/files/pub/a.txt", other), "", nil, 403, "the signed URL's key is not one the gateway has (it may have been retired)", reachNothing},
		{"GET URL for PUT", "PUT", signed("/files/pub/a.txt", getA), "overwritten", nil, 403, "the signed URL is for GET, not PUT", reachNothing},
		{"GET URL for DELETE", "DELETE", signed("/files/pub/a.txt", getA), "", nil, 403, "the signed URL is for GET, not DELETE", reachNothing},
		{"PUT URL for GET", "GET", signed("/files/pub/new.txt", putNew), "", nil, 403, "the signed URL is for PUT, not GET", reachNothing},
		{"other file", "GET", signed("/files/secret.txt", getA), "", nil, 403, noMatch, reachNothing},
		{"next door", "GET", signed("/files/pub/a.txtx", getA), "", nil, 403, noMatch, reachNothing},
		{"file URL for its directory", "GET", signed("/files/pub/", getA), "", nil, 403, noMatch, reachNothing},
		{"dot-dot", "GET", signed("/files/pub/../secret.txt", s.Sign("GET", "/files/secret.txt", hour)), "", nil, 403, noMatch, reachNothing},
		{"encoded dot-dot", "GET", signed("/files/pub/%2e%2e/secret.txt", s.Sign("GET", "/files/secret.txt", hour)), "", nil, 403, noMatch, reachNothing},
		{"encoded slash dot-dot", "GET", signed("/files/pub%2F..%2Fsecret.txt", s.Sign("GET", "/files/secret.txt", hour)), "", nil, 403, noMatch, reachNothing},
		{"signature twice", "GET", signed("/files/pub/a.txt", getA) + "&ftpgw-signature=" + getA.Signature, "", nil, 403, malformed, reachNothing},
		{"no signature", "GET", "/files/pub/a.txt?ftpgw-method=GET&ftpgw-expires=" + getA.Expires + "&ftpgw-key=k1", "", nil, 403, malformed, reachNothing},
		{"unknown ftpgw- parameter", "GET", signed("/files/pub/a.txt", getA) + "&ftpgw-scope=all", "", nil, 403, malformed, reachNothing},
		{"another parameter", "GET", signed("/files/pub/a.txt", getA) + "&list=1", "", nil, 400,
			"a signed URL has no query parameters but its ftpgw- ones, download and format", reachNothing},
		{"a token beside", "GET", signed("/files/pub/a.txt", getA), "", []string{"Authorization", "Bearer " + tokAll}, 400,
			"the request has both an Authorization header and a signed URL; send one", reachNothing},
		{"neither", "GET", "/files/pub/a.txt", "", nil, 401, "a bearer token is required", reachNothing},
	} {
		signatures = append(signatures, row.target[strings.LastIndex(row.target, "=")+1:])
		before := len(g.commands())
		var body io.Reader
		if row.body != "" {
			body = strings.NewReader(row.body)
		}
		status, h, b := g.fetch(t, row.method, row.target, body, row.hdr...)
		if status != row.status {
			t.Errorf("%s: %d, want %d; body %.300q", row.name, status, row.status, b)
			continue
		}
		if row.reach != reachDeleted {
			if msg := row.reach.check(g.commands()[before:]); msg != "" {
				t.Errorf("%s: %s", row.name, msg)
			}
		}
		if status < 400 {
			continue
		}
		if ct := h.Get("Content-Type"); ct != ctProblem {
			t.Errorf("%s: Content-Type %q", row.name, ct)
		}
		checkProblem(t, string(b), row.status, row.detail)
		if strings.Contains(string(b), "ftpgw-signature=") || strings.Contains(string(b), getA.Signature) {
			t.Errorf("%s: the problem body quotes the signed URL: %s", row.name, b)
		}
	}
	if got, err := os.ReadFile(g.ftpd.Path("pub/new.txt")); err != nil || string(got) != "uploaded" {
		t.Errorf("the signed PUT stored %q, %v", got, err)
	}
	if got, err := os.ReadFile(g.ftpd.Path("pub/a.txt")); err != nil || string(got) != "public" {
		t.Errorf("a GET URL used for PUT or DELETE changed the file: %q, %v", got, err)
	}
	if _, err := os.Stat(g.ftpd.Path("gone.txt")); !os.IsNotExist(err) {
		t.Errorf("the signed DELETE left gone.txt: %v", err)
	}
	text := logs.text()
	if !strings.Contains(text, "signed_key=k1") {
		t.Errorf("the request log does not name the key: %s", text)
	}
	for _, secret := range append(signatures, signKey1, signKey2) {
		if len(secret) >= 40 && strings.Contains(text, secret) {
			t.Errorf("the log holds a signature or a key %.8s…:\n%s", secret, text)
		}
	}
	if strings.Contains(text, "ftpgw-") {
		t.Errorf("the log holds a signed URL's query:\n%s", text)
	}
}

// TestSignedURLsAcrossServers: on each server of the matrix, a browser's
// flow (PUT a file with a signed URL, then GET it with another) works
// with no token, and the GET URL cannot overwrite it.
func TestSignedURLsAcrossServers(t *testing.T) {
	s := testSigner(t, "k1 "+signKey1+"\n")
	forEachServerWith(t, gatewayOptions{tokens: authTokens(t), signer: s}, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "up/.keep", nil)
		exp := time.Now().Add(10 * time.Minute)
		put := signed("/files/up/report%20one.txt", s.Sign("PUT", "/files/up/report one.txt", exp))
		if status, _, b := g.fetch(t, "PUT", put, strings.NewReader("report")); status != 201 {
			t.Fatalf("signed PUT: %d %.300q", status, b)
		}
		get := signed("/files/up/report%20one.txt", s.Sign("GET", "/files/up/report one.txt", exp))
		if status, _, b := g.fetch(t, "GET", get, nil); status != 200 || string(b) != "report" {
			t.Errorf("signed GET: %d %.300q", status, b)
		}
		before := len(g.commands())
		if status, _, _ := g.fetch(t, "PUT", get, strings.NewReader("overwritten")); status != 403 {
			t.Errorf("the GET URL used for PUT: %d", status)
		}
		if msg := reachNothing.check(g.commands()[before:]); msg != "" {
			t.Error(msg)
		}
		if got, err := os.ReadFile(g.ftpd.Path("up/report one.txt")); err != nil || string(got) != "report" {
			t.Errorf("the file is %q, %v", got, err)
		}
	})
}

// TestSignedURLRotation: a URL signed with the old key verifies while the
// old key is in the keys file, beside the new one that now signs, and is
// refused once the old key is taken out of the file and it is reloaded.
func TestSignedURLRotation(t *testing.T) {
	const interval = 20 * time.Millisecond
	file := filepath.Join(t.TempDir(), "keys")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(file+".new", []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".new", file); err != nil {
			t.Fatal(err)
		}
	}
	write("k1 " + signKey1 + "\n")
	logs := &logRecords{}
	s, err := auth.LoadSigner(file, interval, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{tokens: authTokens(t), signer: s})
	g.ftpd.WriteFile(t, "f.txt", []byte("file"))
	old := signed("/files/f.txt", s.Sign("GET", "/files/f.txt", time.Now().Add(time.Hour)))
	waitKeys := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(100 * interval); strings.Join(s.KeyIDs(), ",") != want; time.Sleep(interval / 4) {
			if time.Now().After(deadline) {
				t.Fatalf("keys %v, want %s", s.KeyIDs(), want)
			}
		}
	}
	write("k2 " + signKey2 + "\nk1 " + signKey1 + "\n")
	waitKeys("k2,k1")
	if status, _, b := g.fetch(t, "GET", old, nil); status != 200 {
		t.Errorf("the old key's URL beside the new key: %d %.200q", status, b)
	}
	fresh := s.Sign("GET", "/files/f.txt", time.Now().Add(time.Hour))
	if fresh.KeyID != "k2" {
		t.Errorf("signed with %s after the rotation", fresh.KeyID)
	}
	if status, _, _ := g.fetch(t, "GET", signed("/files/f.txt", fresh), nil); status != 200 {
		t.Errorf("the new key's URL: %d", status)
	}
	write("k2 " + signKey2 + "\n")
	waitKeys("k2")
	status, _, b := g.fetch(t, "GET", old, nil)
	if status != 403 {
		t.Fatalf("the old key's URL after the old key left the file: %d %.200q", status, b)
	}
	checkProblem(t, string(b), 403, "the signed URL's key is not one the gateway has (it may have been retired)")
	if text := logs.text(); strings.Contains(text, signKey1) || strings.Contains(text, signKey2) || !strings.Contains(text, "key_ids=k2") {
		t.Errorf("the reload's log lines: %s", text)
	}
}

// postSign asks the gateway to sign a URL with the token tok ("" for
// none) and returns the status and the answer or problem.
func postSign(t *testing.T, g *gateway, tok, body string) (int, http.Header, []byte) {
	t.Helper()
	var hdr []string
	if tok != "" {
		hdr = []string{"Authorization", "Bearer " + tok}
	}
	return g.fetch(t, "POST", "/signed-urls", strings.NewReader(body), hdr...)
}

// TestSignEndpoint: POST /signed-urls signs for a token whose scopes and
// prefix allow the method on the path, and the URL it answers works
// with no token; a token that could not do it itself cannot have it
// signed; bad requests are 400 with a problem that says why.
func TestSignEndpoint(t *testing.T) {
	s := testSigner(t, "k1 "+signKey1+"\n")
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{tokens: authTokens(t), signer: s, signedMax: time.Hour})
	g.ftpd.WriteFile(t, "pub/a.txt", []byte("public"))
	status, h, b := postSign(t, g, tokPub, `{"method":"PUT","path":"/files/pub/new%20file.txt","expires_in":"10m"}`)
	if status != 201 {
		t.Fatalf("signing a PUT: %d %s", status, b)
	}
	if cc := h.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	var resp struct{ URL, Method, Expires string }
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	exp, err := time.Parse(time.RFC3339, resp.Expires)
	if d := time.Until(exp); err != nil || d < 9*time.Minute || d > 10*time.Minute {
		t.Errorf("expires %q (%v)", resp.Expires, err)
	}
	if !strings.HasPrefix(resp.URL, "/files/pub/new%20file.txt?ftpgw-method=PUT&ftpgw-expires=") || resp.Method != "PUT" {
		t.Errorf("answer %s", b)
	}
	if status, _, b := g.fetch(t, "PUT", resp.URL, strings.NewReader("signed")); status != 201 {
		t.Fatalf("PUT of the signed URL: %d %.200q", status, b)
	}
	if got, err := os.ReadFile(g.ftpd.Path("pub/new file.txt")); err != nil || string(got) != "signed" {
		t.Errorf("stored %q, %v", got, err)
	}
	// A directory's GET URL keeps its final slash: its listing, with no
	// redirect.
	if status, _, b := postSign(t, g, tokReader, `{"method":"GET","path":"/files/pub/"}`); status != 201 || !bytes.Contains(b, []byte(`"url":"/files/pub/?ftpgw-method=GET&`)) {
		t.Errorf("signing a listing: %d %s", status, b)
	} else if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	} else if status, _, b := g.fetch(t, "GET", resp.URL, nil, "Accept", "application/json"); status != 200 || !bytes.Contains(b, []byte(`"a.txt"`)) {
		t.Errorf("the signed listing: %d %.300q", status, b)
	}

	for _, row := range []struct {
		name, tok, body string
		status          int
		detail          string
	}{
		{"no token", "", `{"method":"GET","path":"/files/pub/a.txt"}`, 401, "a bearer token is required"},
		{"unknown token", tokWrong, `{"method":"GET","path":"/files/pub/a.txt"}`, 401, "the bearer token is not valid"},
		{"reader signs PUT", tokReader, `{"method":"PUT","path":"/files/pub/b.txt"}`, 403, "the token's scopes do not include write"},
		{"reader signs DELETE", tokReader, `{"method":"DELETE","path":"/files/pub/a.txt"}`, 403, "the token's scopes do not include delete"},
		{"prefix token outside its prefix", tokPub, `{"method":"GET","path":"/files/secret.txt"}`, 403, "the token does not reach this path"},
		{"prefix token next door", tokPub, `{"method":"GET","path":"/files/pubx/a.txt"}`, 403, "the token does not reach this path"},
		{"prefix token, escaped way out", tokPub, `{"method":"GET","path":"/files/pub%2F..%2Fsecret.txt"}`, 400, ""},
		{"not JSON", tokAll, `method=GET`, 400, `the body must be a JSON object of "method", "path" and "expires_in"`},
		{"unknown field", tokAll, `{"method":"GET","path":"/files/a","scope":"all"}`, 400, `the body must be a JSON object of "method", "path" and "expires_in"`},
		{"two objects", tokAll, `{"method":"GET","path":"/files/a"}{}`, 400, "the body must hold one JSON object and nothing after it"},
		{"unknown method", tokAll, `{"method":"POST","path":"/files/a"}`, 400, `"method" must be GET, HEAD, PUT or DELETE`},
		{"lower-case method", tokAll, `{"method":"get","path":"/files/a"}`, 400, `"method" must be GET, HEAD, PUT or DELETE`},
		{"relative path", tokAll, `{"method":"GET","path":"files/a"}`, 400, `"path" must be a URL path starting with /, percent-escaped as in a URL`},
		{"bad escape", tokAll, `{"method":"GET","path":"/files/%zz"}`, 400, `"path" must be a URL path starting with /, percent-escaped as in a URL`},
		{"outside every mount", tokAll, `{"method":"GET","path":"/other/a"}`, 400, `"path" is in no mount of this gateway (/files/)`},
		{"expiry too long", tokAll, `{"method":"GET","path":"/files/a","expires_in":"61m"}`, 400, `"expires_in" is longer than the 1h0m0s a signed URL of this backend may be valid`},
		{"expiry not a duration", tokAll, `{"method":"GET","path":"/files/a","expires_in":"tomorrow"}`, 400, `"expires_in" must be a duration of a second or more, such as 15m or 2h`},
		{"negative expiry", tokAll, `{"method":"GET","path":"/files/a","expires_in":"-5m"}`, 400, `"expires_in" must be a duration of a second or more, such as 15m or 2h`},
	} {
		status, _, b := postSign(t, g, row.tok, row.body)
		if status != row.status {
			t.Errorf("%s: %d, want %d; %s", row.name, status, row.status, b)
			continue
		}
		checkProblem(t, string(b), row.status, row.detail)
		if bytes.Contains(b, []byte("ftpgw-signature=")) {
			t.Errorf("%s: the problem has a signed URL: %s", row.name, b)
		}
	}
	status, h, _ = g.fetch(t, "GET", "/signed-urls", nil, "Authorization", "Bearer "+tokAll)
	if status != 405 || h.Get("Allow") != "POST" {
		t.Errorf("GET /signed-urls: %d, Allow %q", status, h.Get("Allow"))
	}
}

// TestSignedURLsPerBackend: two backends on one handler (Join), sharing a
// signer, in front of the same FTP tree. A URL signed for one mount does
// not work under the other, though it names the same file; POST
// /signed-urls finds the backend by the path's mount and keeps to that
// backend's SignedURLMaxExpiry; a backend without tokens signs nothing,
// though it has the signer (its requests need no signature anyway).
func TestSignedURLsPerBackend(t *testing.T) {
	s := testSigner(t, "k1 "+signKey1+"\n")
	ftpd := realftpd.Start(t, realftpd.Vsftpd, realftpd.Options{})
	ftpd.WriteFile(t, "f.txt", []byte("shared"))
	var servers []*api.Server
	for _, b := range []struct {
		mount  string
		max    time.Duration
		tokens *auth.Tokens
	}{{"/a/", 0, authTokens(t)}, {"/b/", time.Hour, authTokens(t)}, {"/open/", 0, nil}} {
		p, err := pool.New(pool.Config{Name: strings.Trim(b.mount, "/"), Conn: ftpcore.Config{Addr: ftpd.Addr, User: ftpd.User, Password: ftpd.Password}, MaxSessions: 2})
		if err != nil {
			t.Fatal(err)
		}
		h := api.New(api.Config{Pool: p, Mount: b.mount, Tokens: b.tokens, Signer: s, SignedURLMaxExpiry: b.max})
		t.Cleanup(func() {
			h.Close()
			p.Close()
		})
		servers = append(servers, h)
	}
	ts := httptest.NewServer(api.Join(servers...))
	t.Cleanup(ts.Close)
	holdToContract(ts)
	g := &gateway{ftpd: ftpd, http: ts, mounts: []string{"/a/", "/b/", "/open/"}}
	mountsAt(t, ts.URL, g.mounts...)
	forA := s.Sign("GET", "/a/f.txt", time.Now().Add(time.Hour))
	if status, _, b := g.fetch(t, "GET", signed("/a/f.txt", forA), nil); status != 200 || string(b) != "shared" {
		t.Errorf("under its mount: %d %.200q", status, b)
	}
	if status, _, b := g.fetch(t, "GET", signed("/b/f.txt", forA), nil); status != 403 {
		t.Errorf("under the other mount: %d %.200q", status, b)
	}
	for _, row := range []struct {
		name, body string
		status     int
		detail     string
	}{
		{"a: 2h", `{"method":"GET","path":"/a/f.txt","expires_in":"2h"}`, 201, ""},
		{"b: 2h", `{"method":"GET","path":"/b/f.txt","expires_in":"2h"}`, 400, `"expires_in" is longer than the 1h0m0s a signed URL of this backend may be valid`},
		{"b: 30m", `{"method":"GET","path":"/b/f.txt","expires_in":"30m"}`, 201, ""},
		{"no mount", `{"method":"GET","path":"/c/f.txt"}`, 400, `"path" is in no mount of this gateway (/a/, /b/, /open/)`},
		{"the mount's own path", `{"method":"GET","path":"/files/f.txt"}`, 400, `"path" is in no mount of this gateway (/a/, /b/, /open/)`},
		{"a backend without tokens", `{"method":"PUT","path":"/open/f.txt"}`, 400, "the backend mounted at /open/ accepts no signed URLs"},
	} {
		status, _, b := postSign(t, g, tokAll, row.body)
		if status != row.status {
			t.Errorf("%s: %d, want %d: %s", row.name, status, row.status, b)
			continue
		}
		if status != 201 {
			checkProblem(t, string(b), status, row.detail)
			continue
		}
		var resp struct{ URL string }
		if err := json.Unmarshal(b, &resp); err != nil {
			t.Fatal(err)
		}
		if status, _, got := g.fetch(t, "GET", resp.URL, nil); status != 200 || string(got) != "shared" {
			t.Errorf("%s: the URL %s: %d %.200q", row.name, resp.URL, status, got)
		}
	}
}

// TestSignedURLFromAPage: what a page of an allowed origin does with a
// signed upload URL: the browser's preflight of the PUT is answered
// without a token, and the PUT itself, with no Authorization and the
// page's Origin, is stored and readable by the page.
func TestSignedURLFromAPage(t *testing.T) {
	s := testSigner(t, "k1 "+signKey1+"\n")
	const origin = "https://app.example.com"
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{tokens: authTokens(t), signer: s, cors: &api.CORS{AllowedOrigins: []string{origin}}})
	put := signed("/files/from-page.txt", s.Sign("PUT", "/files/from-page.txt", time.Now().Add(time.Minute)))
	status, h, _ := g.fetch(t, "OPTIONS", put, nil, "Origin", origin, "Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "content-type")
	if status != 204 || h.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("preflight: %d, Access-Control-Allow-Origin %q", status, h.Get("Access-Control-Allow-Origin"))
	}
	status, h, b := g.fetch(t, "PUT", put, strings.NewReader("from a page"), "Origin", origin, "Content-Type", "text/plain")
	if status != 201 || h.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("PUT: %d, Access-Control-Allow-Origin %q: %.200q", status, h.Get("Access-Control-Allow-Origin"), b)
	}
	if got, err := os.ReadFile(g.ftpd.Path("from-page.txt")); err != nil || string(got) != "from a page" {
		t.Errorf("stored %q, %v", got, err)
	}
	status, h, _ = g.fetch(t, "PUT", put+"x", strings.NewReader("tampered"), "Origin", origin)
	if status != 403 || h.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("a tampered URL: %d, Access-Control-Allow-Origin %q (the page must be able to read why)", status, h.Get("Access-Control-Allow-Origin"))
	}
}
