package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpgw/ftpgw/auth"
)

const (
	testToken  = "tok-0123456789abcdefghijklmnop"
	otherToken = "env-0123456789abcdefghijklmnop"
)

func writeTokensFile(t *testing.T, lines ...string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(name, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func tokenLine(t *testing.T, secret string, scopes auth.Scope) string {
	t.Helper()
	tok, err := auth.NewToken(secret, "test", scopes, "/")
	if err != nil {
		t.Fatal(err)
	}
	return tok.Line()
}

// TestAuthAndListen: with no authentication the gateway listens on
// loopback only, unless --auth none says otherwise; with tokens it
// listens on every interface by default; contradictory or weak settings
// are refused at start, and no error quotes a token.
func TestAuthAndListen(t *testing.T) {
	good := writeTokensFile(t, tokenLine(t, testToken, auth.Read))
	bad := writeTokensFile(t, testToken+" scopes=read")
	up := []string{"--upstream", "ftp://host/"}
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		listen  string
		mode    authMode
		wantErr string
	}{
		{name: "none: loopback by default", listen: "127.0.0.1:8080"},
		{name: "none: localhost", args: []string{"--listen", "localhost:9000"}, listen: "localhost:9000"},
		{name: "none: another loopback address", args: []string{"--listen", "127.0.0.2:9000"}, listen: "127.0.0.2:9000"},
		{name: "none: IPv6 loopback", args: []string{"--listen", "[::1]:9000"}, listen: "[::1]:9000"},
		{name: "none: all interfaces refused", args: []string{"--listen", ":8080"}, wantErr: `--listen ":8080" serves beyond this machine with no authentication`},
		{name: "none: 0.0.0.0 refused", args: []string{"--listen", "0.0.0.0:8080"}, wantErr: "serves beyond this machine"},
		{name: "none: [::] refused", args: []string{"--listen", "[::]:8080"}, wantErr: "serves beyond this machine"},
		{name: "none: an address refused", args: []string{"--listen", "192.0.2.1:8080"}, wantErr: "serves beyond this machine"},
		{name: "none: a name refused", args: []string{"--listen", "gw.example.net:8080"}, wantErr: "serves beyond this machine"},
		{name: "none: env listen refused", env: map[string]string{"FTPGW_LISTEN": ":8080"}, wantErr: "serves beyond this machine"},
		{name: "explicit none: all interfaces", args: []string{"--auth", "none", "--listen", ":8080"}, listen: ":8080"},
		{name: "explicit none from env", env: map[string]string{"FTPGW_AUTH": "none", "FTPGW_LISTEN": ":8080"}, listen: ":8080"},
		{name: "explicit none: loopback by default", args: []string{"--auth", "none"}, listen: "127.0.0.1:8080"},
		{name: "demo: all interfaces refused", args: []string{"--demo", "--listen", ":8080"}, wantErr: "serves beyond this machine"},
		{name: "tokens file: all interfaces", args: []string{"--tokens-file", good}, listen: ":8080", mode: authToken},
		{name: "tokens file from env", env: map[string]string{"FTPGW_TOKENS_FILE": good}, listen: ":8080", mode: authToken},
		{name: "env token", env: map[string]string{"FTPGW_TOKEN": otherToken}, args: []string{"--listen", ":9000"}, listen: ":9000", mode: authToken},
		{name: "explicit token", args: []string{"--auth", "token", "--tokens-file", good}, listen: ":8080", mode: authToken},
		{name: "demo with tokens stays on loopback", args: []string{"--demo", "--tokens-file", good}, listen: "127.0.0.1:8080", mode: authToken},
		{name: "token without tokens", args: []string{"--auth", "token"}, wantErr: "--auth token needs --tokens-file or FTPGW_TOKEN"},
		{name: "none with tokens", args: []string{"--auth", "none", "--tokens-file", good}, wantErr: "--auth none, and yet tokens are given"},
		{name: "none with env token", args: []string{"--auth", "none"}, env: map[string]string{"FTPGW_TOKEN": otherToken}, wantErr: "--auth none, and yet tokens are given"},
		{name: "unknown mode", args: []string{"--auth", "kerberos"}, wantErr: `--auth must be token, basic or none, got "kerberos"`},
		{name: "basic: all interfaces", args: []string{"--auth", "basic"}, listen: ":8080", mode: authBasic},
		{name: "basic from env, with its flags", env: map[string]string{"FTPGW_AUTH": "basic", "FTPGW_BASIC_MAX_USERS": "2"}, args: []string{"--login-failures-per-user", "3"}, listen: ":8080", mode: authBasic},
		{name: "demo with basic stays on loopback", args: []string{"--demo", "--auth", "basic"}, listen: "127.0.0.1:8080", mode: authBasic},
		{name: "basic with tokens", args: []string{"--auth", "basic", "--tokens-file", good}, wantErr: "--auth basic, and yet tokens are given"},
		{name: "basic with a user in the upstream", args: []string{"--auth", "basic", "--upstream", "ftp://alice:secret@host/"}, wantErr: "--auth basic logs in as each request's user: leave the user and password out of --upstream"},
		{name: "basic with anonymous in the upstream", args: []string{"--auth", "basic", "--upstream", "ftp://anonymous@host/"}, wantErr: "leave the user and password out of --upstream"},
		{name: "basic with a password file", args: []string{"--auth", "basic", "--upstream-password-file", "/dev/null"}, wantErr: "leave the user and password out of --upstream"},
		{name: "basic with --max-sessions", args: []string{"--auth", "basic", "--max-sessions", "4"}, wantErr: "--max-sessions sizes the one pool of a fixed login"},
		{name: "basic flag without basic", args: []string{"--auth", "none", "--basic-max-users", "4"}, wantErr: "--basic-max-users applies to --auth basic only"},
		{name: "basic: zero users", args: []string{"--auth", "basic", "--basic-max-users", "0"}, wantErr: "--basic-max-users must be at least 1"},
		{name: "basic: zero window", args: []string{"--auth", "basic", "--login-failure-window", "0s"}, wantErr: "--login-failure-window must be positive"},
		{name: "weak env token", env: map[string]string{"FTPGW_TOKEN": "letmein"}, wantErr: "FTPGW_TOKEN: the token is shorter than 22 characters"},
		{name: "missing tokens file", args: []string{"--tokens-file", "/nonexistent/tokens"}, wantErr: "--tokens-file: tokens file: stat /nonexistent/tokens"},
		{name: "malformed tokens file", args: []string{"--tokens-file", bad}, wantErr: "line 1: does not start with sha256:"},
		{name: "zero reload interval", args: []string{"--tokens-file", good, "--tokens-reload-interval", "0s"}, wantErr: "--tokens-reload-interval must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !strings.Contains(strings.Join(args, " "), "--demo") {
				args = append(append([]string(nil), up...), args...)
			}
			c, err := loadConfig(args, envFrom(tc.env), io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				for _, secret := range []string{testToken, otherToken, "letmein"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("the error quotes a token: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Listen != tc.listen || c.Auth.Mode != tc.mode {
				t.Errorf("listen %q, auth %v; want %q, %v", c.Listen, c.Auth.Mode, tc.listen, tc.mode)
			}
		})
	}
}

// TestTokensEndToEnd runs the gateway with a tokens file and FTPGW_TOKEN:
// /files/ wants a token (either), the probes do not, and neither token
// reaches the log.
func TestTokensEndToEnd(t *testing.T) {
	file := writeTokensFile(t, tokenLine(t, testToken, auth.Read))
	base, stop := startGatewayEnv(t, []string{"--demo", "--tokens-file", file, "--log-level", "debug"},
		map[string]string{"FTPGW_TOKEN": otherToken})
	for _, tc := range []struct {
		method, path, token string
		status              int
	}{
		{"GET", "/files/hello.txt", "", 401},
		{"GET", "/files/hello.txt", "wrong-0123456789abcdefghijkl", 401},
		{"GET", "/files/hello.txt", testToken, 200},
		{"PUT", "/files/new.txt", testToken, 403},
		{"GET", "/files/hello.txt", otherToken, 200},
		{"PUT", "/files/new.txt", otherToken, 201},
		{"DELETE", "/files/new.txt", otherToken, 204},
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
		{"GET", "/metrics", "", 200},
	} {
		req, err := http.NewRequest(tc.method, base+tc.path, bytes.NewReader([]byte("x")))
		if err != nil {
			t.Fatal(err)
		}
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s with %.4q: %d, want %d", tc.method, tc.path, tc.token, resp.StatusCode, tc.status)
		}
	}
	log := stop()
	if !strings.Contains(log, "Every /files/ request needs a token: add -H 'Authorization: Bearer <token>'.") {
		t.Errorf("the demo's instructions do not say a token is needed:\n%s", log)
	}
	for _, secret := range []string{testToken, otherToken} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds a token:\n%s", log)
		}
	}
	if !strings.Contains(log, `"env_token":true`) || !strings.Contains(log, `"token_name":"env"`) {
		t.Errorf("the log does not say an env token is set and used:\n%s", log)
	}
}

// TestHashToken: the subcommand reads the token from stdin, writes a line
// the tokens file takes, and refuses a token on the command line.
func TestHashToken(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := hashToken([]string{"--scopes", "read,write", "--prefix", "/pub", "--name", "ci"}, strings.NewReader(testToken+"\n"), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	set, err := auth.ParseFile(&out)
	if err != nil {
		t.Fatal(err)
	}
	tok, ok := set.Lookup(testToken)
	if !ok || tok.Scopes != auth.Read|auth.Write || tok.Prefix != "/pub" || tok.Name != "ci" {
		t.Errorf("the line's token: %+v %v", tok, ok)
	}

	out.Reset()
	if code := hashToken([]string{"--new"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("--new: exit %d: %s", code, errOut.String())
	}
	secret, line, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
	set, err = auth.ParseFile(strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	if tok, ok := set.Lookup(secret); !ok || tok.Scopes != auth.Read || len(secret) < 43 {
		t.Errorf("--new made %q and %q", secret, line)
	}

	for _, tc := range []struct {
		args  []string
		stdin string
		err   string
	}{
		{[]string{testToken}, "", "never from the command line"},
		{nil, "short\n", "shorter than 22 characters"},
		{nil, "", "shorter than 22 characters"},
		{[]string{"--scopes", "admin"}, testToken, `--scopes: scope "admin"`},
		{[]string{"--prefix", "pub/"}, testToken, "is not a clean absolute path"},
	} {
		out.Reset()
		errOut.Reset()
		if code := hashToken(tc.args, strings.NewReader(tc.stdin), &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.err) || out.Len() != 0 {
			t.Errorf("%q < %q: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, tc.stdin, code, out.String(), errOut.String(), tc.err)
		}
	}
}
