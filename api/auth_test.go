package api_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// The tokens of the auth tests: made here as an operator makes them, kept
// by the gateway only as hashes.
const (
	tokAll    = "all-0123456789abcdefghijklmnop"
	tokReader = "reader-0123456789abcdefghijklmn"
	tokPub    = "pub-0123456789abcdefghijklmnopq"
	tokWrong  = "wrong-0123456789abcdefghijklmno"
)

func authTokens(t *testing.T) *auth.Tokens {
	t.Helper()
	var ts []auth.Token
	for _, tk := range []struct {
		secret, name string
		scopes       auth.Scope
		prefix       string
	}{
		{tokAll, "all", auth.All, "/"},
		{tokReader, "reader", auth.Read, "/"},
		{tokPub, "pub", auth.All, "/pub"},
	} {
		tok, err := auth.NewToken(tk.secret, tk.name, tk.scopes, tk.prefix)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tok)
	}
	return auth.Static(ts...)
}

const (
	challenge        = `Bearer realm="ftpgw"`
	challengeInvalid = `Bearer realm="ftpgw", error="invalid_token"`
)

func scopeChallenge(scope string) string {
	return `Bearer realm="ftpgw", error="insufficient_scope", scope="` + scope + `"`
}

// TestTokens: with tokens configured, /files/ answers a request with no
// token, or one it does not know, 401 with RFC 6750's challenge; a token
// whose scopes or prefix do not allow the method or path 403; and nothing
// of a refused request reaches the FTP server. On main before tokens,
// every one of these requests was served.
func TestTokens(t *testing.T) {
	forEachServerWith(t, gatewayOptions{tokens: authTokens(t)}, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "secret.txt", []byte("secret"))
		g.ftpd.WriteFile(t, "pub/a.txt", []byte("public"))
		g.ftpd.WriteFile(t, "pubx/b.txt", []byte("next door"))
		bearer := func(tok string) string { return "Bearer " + tok }
		for _, row := range []struct {
			name, method, path, auth, body string
			status                         int
			challenge, detail              string
		}{
			{"no token GET", "GET", "/files/secret.txt", "", "", 401, challenge, "a bearer token is required"},
			{"no token HEAD", "HEAD", "/files/secret.txt", "", "", 401, challenge, ""},
			{"no token listing", "GET", "/files/", "", "", 401, challenge, "a bearer token is required"},
			{"no token PUT", "PUT", "/files/new.txt", "", "x", 401, challenge, "a bearer token is required"},
			{"no token DELETE", "DELETE", "/files/secret.txt", "", "", 401, challenge, "a bearer token is required"},
			{"Basic is no token", "GET", "/files/secret.txt", "Basic dXNlcjpwYXNz", "", 401, challenge, "a bearer token is required"},
			{"wrong token", "GET", "/files/secret.txt", bearer(tokWrong), "", 401, challengeInvalid, "the bearer token is not valid"},
			{"empty token", "GET", "/files/secret.txt", "Bearer ", "", 401, challengeInvalid, "the bearer token is not valid"},
			{"wrong token PUT", "PUT", "/files/new.txt", bearer(tokWrong), "x", 401, challengeInvalid, "the bearer token is not valid"},
			{"hash as token", "GET", "/files/secret.txt", bearer(strings.Fields(mustToken(t, tokAll).Line())[0]), "", 401, challengeInvalid, "the bearer token is not valid"},
			{"reader GET", "GET", "/files/secret.txt", bearer(tokReader), "", 200, "", ""},
			{"reader lower-case scheme", "GET", "/files/secret.txt", "bearer " + tokReader, "", 200, "", ""},
			{"reader HEAD", "HEAD", "/files/secret.txt", bearer(tokReader), "", 200, "", ""},
			{"reader listing", "GET", "/files/pub/", bearer(tokReader), "", 200, "", ""},
			{"reader PUT", "PUT", "/files/new.txt", bearer(tokReader), "x", 403, scopeChallenge("write"), "the token's scopes do not include write"},
			{"reader DELETE", "DELETE", "/files/secret.txt", bearer(tokReader), "", 403, scopeChallenge("delete"), "the token's scopes do not include delete"},
			{"reader DELETE dir", "DELETE", "/files/pubx/", bearer(tokReader), "", 403, scopeChallenge("delete"), "the token's scopes do not include delete"},
			{"pub GET inside", "GET", "/files/pub/a.txt", bearer(tokPub), "", 200, "", ""},
			{"pub GET dot segments", "GET", "/files/pub/./a.txt", bearer(tokPub), "", 200, "", ""},
			{"pub listing of its prefix", "GET", "/files/pub/", bearer(tokPub), "", 200, "", ""},
			{"pub GET next door", "GET", "/files/pubx/b.txt", bearer(tokPub), "", 403, scopeChallenge("read"), "the token does not reach this path"},
			{"pub GET outside", "GET", "/files/secret.txt", bearer(tokPub), "", 403, scopeChallenge("read"), "the token does not reach this path"},
			{"pub listing of the root", "GET", "/files/", bearer(tokPub), "", 403, scopeChallenge("read"), "the token does not reach this path"},
			{"pub double slash outside", "GET", "/files//secret.txt", bearer(tokPub), "", 403, scopeChallenge("read"), "the token does not reach this path"},
			{"pub PUT next door", "PUT", "/files/pubx/c.txt", bearer(tokPub), "x", 403, scopeChallenge("write"), "the token does not reach this path"},
			{"pub DELETE outside", "DELETE", "/files/secret.txt", bearer(tokPub), "", 403, scopeChallenge("delete"), "the token does not reach this path"},
			{"pub PUT inside", "PUT", "/files/pub/new.txt", bearer(tokPub), "new", 201, "", ""},
			{"pub DELETE inside", "DELETE", "/files/pub/new.txt", bearer(tokPub), "", 204, "", ""},
			{"all PUT", "PUT", "/files/new.txt", bearer(tokAll), "all", 201, "", ""},
			{"all DELETE", "DELETE", "/files/new.txt", bearer(tokAll), "", 204, "", ""},
		} {
			before := len(g.commands())
			var hdr []string
			if row.auth != "" {
				hdr = []string{"Authorization", row.auth}
			}
			var body io.Reader
			if row.body != "" {
				body = strings.NewReader(row.body)
			}
			status, h, b := g.fetch(t, row.method, row.path, body, hdr...)
			if status != row.status {
				t.Errorf("%s: %d, want %d; body %.200q", row.name, status, row.status, b)
				continue
			}
			if got := h.Get("WWW-Authenticate"); got != row.challenge {
				t.Errorf("%s: WWW-Authenticate %q, want %q", row.name, got, row.challenge)
			}
			if status < 400 {
				continue
			}
			if ct := h.Get("Content-Type"); ct != ctProblem {
				t.Errorf("%s: Content-Type %q", row.name, ct)
			}
			if row.method != "HEAD" {
				checkProblem(t, string(b), row.status, row.detail)
			}
			if bytes.Contains(b, []byte("0123456789")) {
				t.Errorf("%s: the problem body quotes the token: %s", row.name, b)
			}
			if msg := reachNothing.check(g.commands()[before:]); msg != "" {
				t.Errorf("%s: %s", row.name, msg)
			}
		}
		if _, err := os.Stat(g.ftpd.Path("pubx/c.txt")); err == nil {
			t.Error("a refused PUT stored pubx/c.txt")
		}
		if _, err := os.Stat(g.ftpd.Path("secret.txt")); err != nil {
			t.Errorf("a refused DELETE removed secret.txt: %v", err)
		}
		// Probes and the scraper need no token.
		for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
			if status, _, b := g.fetch(t, "GET", p, nil); status != 200 {
				t.Errorf("%s without a token: %d %.200q", p, status, b)
			}
		}
	})
}

func mustToken(t *testing.T, secret string) auth.Token {
	t.Helper()
	tok, err := auth.NewToken(secret, "", auth.All, "/")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// logRecords is a slog.Handler that keeps every record's text.
type logRecords struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return nil
}

func (l *logRecords) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// TestTokensFileReload: a token taken out of the tokens file stops
// working, and one put in starts, within the poll interval, with no
// restart; a file that does not parse leaves the tokens as they were and
// is logged, naming no token or hash.
func TestTokensFileReload(t *testing.T) {
	const interval = 20 * time.Millisecond
	file := filepath.Join(t.TempDir(), "tokens")
	write := func(content string) {
		t.Helper()
		// Written aside and renamed, as a mounted secret changes: the
		// watcher never reads half a file.
		tmp := file + ".new"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	oldTok, err := auth.NewToken(tokAll, "old", auth.All, "/")
	if err != nil {
		t.Fatal(err)
	}
	newTok, err := auth.NewToken(tokReader, "new", auth.Read, "/")
	if err != nil {
		t.Fatal(err)
	}
	write("# first\n" + oldTok.Line() + "\n")
	logs := &logRecords{}
	tokens, err := auth.Load(file, nil, interval, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tokens.Close)
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{tokens: tokens, apiLog: logs})
	g.ftpd.WriteFile(t, "f.txt", []byte("file"))
	status := func(tok string) int {
		s, _, _ := g.fetch(t, "GET", "/files/f.txt", nil, "Authorization", "Bearer "+tok)
		return s
	}
	if s := status(tokAll); s != 200 {
		t.Fatalf("the file's token: %d", s)
	}
	if s := status(tokReader); s != 401 {
		t.Fatalf("a token not in the file: %d", s)
	}
	if !strings.Contains(logs.text(), "token_name=old") {
		t.Errorf("the request log does not name the token: %s", logs.text())
	}

	write(newTok.Line() + "\n")
	waitStatus := func(tok string, want int) {
		t.Helper()
		deadline := time.Now().Add(50 * interval)
		for status(tok) != want {
			if time.Now().After(deadline) {
				t.Fatalf("token %.6s… still not %d %v after the file changed", tok, want, 50*interval)
			}
			time.Sleep(interval / 4)
		}
	}
	waitStatus(tokReader, 200)
	if s := status(tokAll); s != 401 {
		t.Errorf("the token taken out of the file: %d", s)
	}
	if s, _, _ := g.fetch(t, "PUT", "/files/g.txt", strings.NewReader("x"), "Authorization", "Bearer "+tokReader); s != 403 {
		t.Errorf("PUT with the new read-only token: %d", s)
	}

	// A scope that does not exist: the whole file is refused.
	write(newTok.Line() + "\n" + strings.Replace(oldTok.Line(), "scopes=read", "scopes=admin,read", 1) + "\n")
	deadline := time.Now().Add(50 * interval)
	for !strings.Contains(logs.text(), "tokens file not reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("a broken tokens file was not logged: %s", logs.text())
		}
		time.Sleep(interval / 4)
	}
	time.Sleep(3 * interval)
	if s := status(tokReader); s != 200 {
		t.Errorf("the token loaded before the broken file: %d", s)
	}
	if s := status(tokAll); s != 401 {
		t.Errorf("a token of the broken file: %d", s)
	}
	text := logs.text()
	for _, secret := range []string{tokAll, tokReader, strings.Fields(oldTok.Line())[0][7:], strings.Fields(newTok.Line())[0][7:]} {
		if strings.Contains(text, secret) {
			t.Errorf("the log holds a token or hash %.12s…:\n%s", secret, text)
		}
	}
	if strings.Count(text, "tokens file not reloaded") != 1 {
		t.Errorf("the broken file logged more than once:\n%s", text)
	}
}
