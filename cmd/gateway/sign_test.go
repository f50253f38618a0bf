package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

func writeKeysFile(t *testing.T, lines ...string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "signing-keys")
	if err := os.WriteFile(name, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func newKeyLine(t *testing.T, id string) string {
	t.Helper()
	line, err := auth.NewKeyLine(id)
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// TestSigningFlags: --signing-keys-file is read at start and needs token
// authentication; --signed-url-max-expiry is bounded by seven days; no
// error quotes a key.
func TestSigningFlags(t *testing.T) {
	tokens := writeTokensFile(t, tokenLine(t, testToken, auth.Read))
	keyLine := newKeyLine(t, "k1")
	keys := writeKeysFile(t, keyLine)
	dup := writeKeysFile(t, keyLine, keyLine)
	up := []string{"--upstream", "ftp://host/"}
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		max     time.Duration
	}{
		{name: "keys and tokens", args: []string{"--tokens-file", tokens, "--signing-keys-file", keys}, max: auth.MaxExpiry},
		{name: "from the environment", env: map[string]string{"FTPGW_TOKENS_FILE": tokens, "FTPGW_SIGNING_KEYS_FILE": keys, "FTPGW_SIGNED_URL_MAX_EXPIRY": "1h"}, max: time.Hour},
		{name: "none without keys", max: auth.MaxExpiry},
		{name: "keys without tokens", args: []string{"--signing-keys-file", keys}, wantErr: "--signing-keys-file needs --auth token"},
		{name: "keys with --auth none", args: []string{"--auth", "none", "--signing-keys-file", keys}, wantErr: "--signing-keys-file needs --auth token"},
		{name: "keys with --auth basic", args: []string{"--auth", "basic", "--signing-keys-file", keys}, wantErr: "--signing-keys-file needs --auth token"},
		{name: "missing keys file", args: []string{"--tokens-file", tokens, "--signing-keys-file", "/nonexistent/keys"}, wantErr: "--signing-keys-file: signing keys file: stat /nonexistent/keys"},
		{name: "duplicate key id", args: []string{"--tokens-file", tokens, "--signing-keys-file", dup}, wantErr: "line 2: key id k1 given on line 1 already"},
		{name: "max expiry too long", args: []string{"--signed-url-max-expiry", "169h"}, wantErr: "--signed-url-max-expiry must be between 1s and 168h0m0s"},
		{name: "max expiry zero", args: []string{"--signed-url-max-expiry", "0s"}, wantErr: "--signed-url-max-expiry must be between 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(append(append([]string(nil), up...), tc.args...), envFrom(tc.env), io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), strings.Fields(keyLine)[1]) {
					t.Errorf("the error quotes a key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Auth.SignedURLMaxExpiry != tc.max || c.apiConfig(nil, nil, nil).SignedURLMaxExpiry != tc.max {
				t.Errorf("max expiry %v, want %v", c.Auth.SignedURLMaxExpiry, tc.max)
			}
		})
	}
}

// TestSignSubcommand: sign writes a URL that verifies for its method and
// path, and refuses what it cannot sign; sign-key writes a line the keys
// file takes.
func TestSignSubcommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := signKey([]string{"--id", "k2"}, time.Now(), &out, &errOut); code != 0 {
		t.Fatalf("sign-key: exit %d: %s", code, errOut.String())
	}
	line := strings.TrimSpace(out.String())
	ks, err := auth.ParseKeyFile(strings.NewReader(line))
	if err != nil || strings.Join(ks.IDs(), ",") != "k2" {
		t.Fatalf("sign-key wrote %q: %v", line, err)
	}
	out.Reset()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if code := signKey(nil, now, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "k20261130-120000 ") {
		t.Errorf("sign-key with no id: exit %d, %q", code, out.String())
	}
	keys := writeKeysFile(t, line)
	signer := auth.NewSigner(ks)
	for _, tc := range []struct {
		name   string
		args   []string
		env    map[string]string
		url    string // the URL's path, or what comes before its query
		method string
		signed string // the path signed
	}{
		{"GET", []string{"--keys-file", keys, "/files/a b/c%2Fd.txt"}, nil, "/files/a%20b/c/d.txt", "GET", "/files/a b/c/d.txt"},
		{"PUT from env, base URL", []string{"--method", "PUT", "--base-url", "https://files.example.com/", "/files/x.txt"},
			map[string]string{"FTPGW_SIGNING_KEYS_FILE": keys}, "https://files.example.com/files/x.txt", "PUT", "/files/x.txt"},
		{"base URL with a path", []string{"--keys-file", keys, "--base-url", "http://h:8080/gw", "/files/x.txt"}, nil, "http://h:8080/gw/files/x.txt", "GET", "/files/x.txt"},
		{"directory", []string{"--keys-file", keys, "/files//pub/"}, nil, "/files/pub/", "GET", "/files/pub"},
		{"mount root", []string{"--keys-file", keys, "/files/"}, nil, "/files/", "GET", "/files"},
	} {
		out.Reset()
		errOut.Reset()
		if code := signURL(tc.args, envFrom(tc.env), now, &out, &errOut); code != 0 {
			t.Errorf("%s: exit %d: %s", tc.name, code, errOut.String())
			continue
		}
		u := strings.TrimSpace(out.String())
		before, query, _ := strings.Cut(u, "?")
		if before != tc.url {
			t.Errorf("%s: URL %q, want %q before the query", tc.name, u, tc.url)
		}
		var su auth.SignedURL
		for pair := range strings.SplitSeq(query, "&") {
			k, v, _ := strings.Cut(pair, "=")
			switch k {
			case auth.ParamMethod:
				su.Method = v
			case auth.ParamExpires:
				su.Expires = v
			case auth.ParamKey:
				su.KeyID = v
			case auth.ParamSignature:
				su.Signature = v
			}
		}
		if err := signer.Verify(su, tc.method, tc.signed, now.Add(14*time.Minute), auth.MaxExpiry); err != nil {
			t.Errorf("%s: %s does not verify: %v", tc.name, u, err)
		}
		if err := signer.Verify(su, tc.method, tc.signed, now.Add(15*time.Minute), auth.MaxExpiry); err == nil {
			t.Errorf("%s: valid beyond the default 15 minutes", tc.name)
		}
		if strings.Contains(u+errOut.String(), strings.Fields(line)[1]) {
			t.Errorf("%s: the key was written", tc.name)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"no keys file", []string{"/files/a"}, "--keys-file (or FTPGW_SIGNING_KEYS_FILE) names the signing keys file"},
		{"no path", []string{"--keys-file", keys}, "give one path"},
		{"two paths", []string{"--keys-file", keys, "/files/a", "/files/b"}, "give one path"},
		{"a key on the command line", []string{"--key", strings.Fields(line)[1], "/files/a"}, "flag provided but not defined: -key"},
		{"method", []string{"--keys-file", keys, "--method", "POST", "/files/a"}, `--method must be GET, HEAD, PUT or DELETE, got "POST"`},
		{"expiry too long", []string{"--keys-file", keys, "--expires", "169h", "/files/a"}, "--expires must be between 1s and 168h0m0s"},
		{"relative path", []string{"--keys-file", keys, "files/a"}, "the path must start with /"},
		{"dot-dot", []string{"--keys-file", keys, "/files/../a"}, `".." segment`},
		{"base URL with a query", []string{"--keys-file", keys, "--base-url", "http://h/?x=1", "/files/a"}, "--base-url must be http:// or https://"},
		{"missing keys file", []string{"--keys-file", "/nonexistent/keys", "/files/a"}, "signing keys file: stat /nonexistent/keys"},
	} {
		out.Reset()
		errOut.Reset()
		if code := signURL(tc.args, envFrom(nil), now, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.err) || out.Len() != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2 and %q", tc.name, code, out.String(), errOut.String(), tc.err)
		}
		if strings.Contains(errOut.String(), strings.Fields(line)[1]) {
			t.Errorf("%s: the key was written: %s", tc.name, errOut.String())
		}
	}
}

// buildGateway builds the gateway's binary for the test and returns its
// path.
func buildGateway(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gateway")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSignedURLEndToEnd builds the gateway, makes a key and signs URLs
// with its sign-key and sign subcommands, and uses them against a gateway
// run with the same keys file: they work with no token, a GET URL does
// not PUT, a token holder has URLs signed at /signed-urls, and neither
// the key nor a signature reaches the gateway's log.
func TestSignedURLEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildGateway(t)
	keyLine, err := exec.Command(bin, "sign-key", "--id", "e2e").Output()
	if err != nil {
		t.Fatal(err)
	}
	keys := writeKeysFile(t, strings.TrimSpace(string(keyLine)))
	tokens := writeTokensFile(t, tokenLine(t, testToken, auth.Read))
	base, stop := startGateway(t, []string{"--demo", "--tokens-file", tokens, "--signing-keys-file", keys})
	sign := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"sign", "--keys-file", keys, "--base-url", base}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sign %q: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	do := func(method, u, body string, hdr ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, u, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var signatures []string
	get := sign("/files/hello.txt")
	put := sign("--method", "PUT", "--expires", "2m", "/files/uploaded.txt")
	for _, u := range []string{get, put} {
		signatures = append(signatures, u[strings.LastIndex(u, "=")+1:])
	}
	if status, body := do("GET", get, ""); status != 200 || body == "" {
		t.Errorf("GET of the signed URL: %d %.200q", status, body)
	}
	if status, _ := do("GET", base+"/files/hello.txt", ""); status != 401 {
		t.Errorf("GET with neither token nor signature: %d", status)
	}
	if status, body := do("PUT", get, "overwritten"); status != 403 || !strings.Contains(body, "the signed URL is for GET, not PUT") {
		t.Errorf("PUT with the GET URL: %d %.200q", status, body)
	}
	if status, body := do("PUT", put, "from a browser"); status != 201 {
		t.Errorf("PUT of the signed URL: %d %.200q", status, body)
	}
	status, body := do("POST", base+"/signed-urls", `{"method":"GET","path":"/files/uploaded.txt","expires_in":"5m"}`, "Authorization", "Bearer "+testToken)
	var resp struct{ URL string }
	if err := json.Unmarshal([]byte(body), &resp); status != 201 || err != nil {
		t.Fatalf("POST /signed-urls: %d %s", status, body)
	}
	signatures = append(signatures, resp.URL[strings.LastIndex(resp.URL, "=")+1:])
	if status, body := do("GET", base+resp.URL, ""); status != 200 || body != "from a browser" {
		t.Errorf("GET of the URL /signed-urls signed: %d %.200q", status, body)
	}
	if status, _ := do("POST", base+"/signed-urls", `{"method":"PUT","path":"/files/x.txt"}`, "Authorization", "Bearer "+testToken); status != 403 {
		t.Errorf("a read token had a PUT signed: %d", status)
	}
	log := stop()
	if !strings.Contains(log, `"msg":"signed URLs accepted"`) || !strings.Contains(log, `"key_ids":"e2e"`) || !strings.Contains(log, `"signing_keys_file":"`+keys+`"`) {
		t.Errorf("the start does not log the keys file and ids:\n%s", log)
	}
	if !strings.Contains(log, `"signed_key":"e2e"`) {
		t.Errorf("the request log does not name the key:\n%s", log)
	}
	for _, secret := range append(signatures, strings.Fields(string(keyLine))[1]) {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds a key or signature %.8s…:\n%s", secret, log)
		}
	}
}

// TestSigningConfigFile: the signing keys file is the gateway's, at the
// config file's top level: every backend verifies with it, each keeps its
// own signed-url-max-expiry, a backend without tokens beside one with
// them is allowed (it ignores signatures), and a gateway with no tokens
// at all may not have keys.
func TestSigningConfigFile(t *testing.T) {
	vs := realftpd.Start(t, realftpd.Vsftpd, realftpd.Options{})
	if err := os.WriteFile(vs.Path("f.txt"), []byte("file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	keyLine := newKeyLine(t, "k1")
	keys := writeKeysFile(t, keyLine)
	tokens := writeTokensFile(t, tokenLine(t, testToken, auth.All))
	up := "ftp://" + vs.User + ":" + vs.Password + "@" + vs.Addr + "/"
	file := writeConfigFile(t, `signing-keys-file: `+keys+`
backends:
  - name: pub
    mount: /pub/
    upstream: `+up+`
    auth: none
  - name: priv
    mount: /priv/
    upstream: `+up+`
    tokens-file: `+tokens+`
    signed-url-max-expiry: 1h
`)
	cfg, err := loadConfig([]string{"--config", file}, envFrom(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	priv := cfg.Backends[0]
	if cfg.Auth.SigningKeysFile != keys || priv.Auth.SigningKeysFile != keys || priv.Auth.SignedURLMaxExpiry != time.Hour || cfg.Auth.SignedURLMaxExpiry != auth.MaxExpiry {
		t.Errorf("keys %q and %q, max expiry %v and %v", cfg.Auth.SigningKeysFile, priv.Auth.SigningKeysFile, cfg.Auth.SignedURLMaxExpiry, priv.Auth.SignedURLMaxExpiry)
	}
	base, stop := startGateway(t, []string{"--config", file})
	var out, errOut bytes.Buffer
	if code := signURL([]string{"--keys-file", keys, "--base-url", base, "/priv/f.txt"}, envFrom(nil), time.Now(), &out, &errOut); code != 0 {
		t.Fatalf("sign: %s", errOut.String())
	}
	for _, tc := range []struct {
		method, url, body string
		hdr               []string
		status            int
	}{
		{"GET", strings.TrimSpace(out.String()), "", nil, 200},
		{"GET", base + "/priv/f.txt", "", nil, 401},
		{"POST", base + "/signed-urls", `{"method":"GET","path":"/priv/f.txt","expires_in":"2h"}`, []string{"Authorization", "Bearer " + testToken}, 400},
		{"POST", base + "/signed-urls", `{"method":"GET","path":"/priv/f.txt","expires_in":"1h"}`, []string{"Authorization", "Bearer " + testToken}, 201},
	} {
		req, err := http.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(tc.hdr); i += 2 {
			req.Header.Set(tc.hdr[i], tc.hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d: %.200q", tc.method, tc.url, resp.StatusCode, tc.status, b)
		}
	}
	if log := stop(); strings.Contains(log, strings.Fields(keyLine)[1]) {
		t.Errorf("the log holds the key:\n%s", log)
	}

	for _, tc := range []struct{ name, text, err string }{
		{"in a backend", "backends:\n  - name: a\n    upstream: " + up + "\n    tokens-file: " + tokens + "\n    signing-keys-file: " + keys + "\n", "signing-keys-file"},
		{"no tokens anywhere", "signing-keys-file: " + keys + "\nauth: none\nbackends:\n  - name: a\n    upstream: " + up + "\n", "--signing-keys-file needs --auth token"},
	} {
		_, err := loadConfig([]string{"--config", writeConfigFile(t, tc.text)}, envFrom(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.err)
		}
	}
}
