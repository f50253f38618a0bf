package main

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// writeConfigFile writes a config file and returns its name.
func writeConfigFile(t *testing.T, text string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestConfigFileBackends: two real FTP servers, each a backend at its
// mount with its own tokens and its password from the environment or a
// file, served by one gateway: each mount reaches its own server, a
// token of one backend opens nothing of the other, and /readyz and
// /metrics tell the backends apart.
func TestConfigFileBackends(t *testing.T) {
	vs := realftpd.Start(t, realftpd.Vsftpd, realftpd.Options{})
	pro := realftpd.Start(t, realftpd.ProFTPD, realftpd.Options{})
	for _, s := range []*realftpd.Server{vs, pro} {
		if err := os.WriteFile(s.Path("which.txt"), []byte(string(s.Kind)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const mediaToken, archiveToken = "media-token-0123456789abcdef0123", "archive-token-0123456789abcdef01"
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(pro.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := writeConfigFile(t, `# two backends
max-sessions: 3
tokens-file: `+writeTokensFile(t, tokenLine(t, mediaToken, auth.All))+`
backends:
  - name: media
    mount: /media/
    upstream: ftp://`+vs.User+`@`+vs.Addr+`/
    upstream-password-env: MEDIA_FTP_PASSWORD
    links: follow
  - name: archive
    mount: /archive/v1/
    upstream: ftp://`+pro.User+`@`+pro.Addr+`/
    upstream-password-file: `+pwFile+`
    tokens-file: `+writeTokensFile(t, tokenLine(t, archiveToken, auth.Read))+`
    max-sessions: 2
`)
	cfg, err := loadConfig([]string{"--config", file}, envFrom(map[string]string{"MEDIA_FTP_PASSWORD": vs.Password}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Backends) != 1 || cfg.MaxSessions != 3 || cfg.Backends[0].MaxSessions != 2 || cfg.Listen != defaultListen {
		t.Fatalf("backends %d, max sessions %d and %d, listen %q; want 2 backends, 3 and 2, %q",
			len(cfg.Backends)+1, cfg.MaxSessions, cfg.Backends[0].MaxSessions, cfg.Listen, defaultListen)
	}
	base, stop := startGatewayEnv(t, []string{"--config", file}, map[string]string{"MEDIA_FTP_PASSWORD": vs.Password})
	get := func(p, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+p, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		path, token string
		code        int
		body        string
	}{
		{"/media/which.txt", mediaToken, 200, "vsftpd\n"},
		{"/archive/v1/which.txt", archiveToken, 200, "proftpd\n"},
		{"/archive/v1/which.txt", mediaToken, 401, ""},
		{"/media/which.txt", archiveToken, 401, ""},
		{"/media/which.txt", "", 401, ""},
		{"/files/which.txt", mediaToken, 404, ""},
	} {
		code, body := get(c.path, c.token)
		if code != c.code || (c.body != "" && body != c.body) {
			t.Errorf("GET %s = %d %q, want %d %q", c.path, code, body, c.code, c.body)
		}
	}
	if code, body := get("/readyz", ""); code != 200 || body != "media: ready\narchive: ready\n" {
		t.Errorf("/readyz = %d %q, want both backends ready", code, body)
	}
	_, metrics := get("/metrics", "")
	for _, want := range []string{`ftpgw_pool_max_sessions{backend="media"} 3`, `ftpgw_pool_max_sessions{backend="archive"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	logs := stop()
	for _, secret := range []string{vs.Password, pro.Password, mediaToken, archiveToken} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret %q", secret)
		}
	}
	if !strings.Contains(logs, `"backend":"archive"`) || !strings.Contains(logs, `"mount":"/archive/v1/"`) {
		t.Errorf("the startup log does not describe the second backend:\n%s", logs)
	}
}

// TestConfigFileDrainPause: drain-pause is the gateway's: at the top level
// it is taken, in a backend's entry refused.
func TestConfigFileDrainPause(t *testing.T) {
	cfg, err := loadConfig([]string{"--config", writeConfigFile(t, `
drain-pause: 2s
backends:
  - name: one
    upstream: ftp://u:p@127.0.0.1:21/
`)}, envFrom(nil), io.Discard)
	if err != nil || cfg.DrainPause != 2*time.Second {
		t.Fatalf("loadConfig: %v, drain pause %v; want 2s", err, cfg.DrainPause)
	}
	_, err = loadConfig([]string{"--config", writeConfigFile(t, `
backends:
  - name: one
    upstream: ftp://u:p@127.0.0.1:21/
    drain-pause: 2s
`)}, envFrom(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "drain-pause is the gateway's") {
		t.Errorf("drain-pause in a backend's entry: %v, want it refused", err)
	}
}

// TestConfigFileOrder: the top level, then the backend's entry, then the
// environment, then the command line.
func TestConfigFileOrder(t *testing.T) {
	file := writeConfigFile(t, `
max-sessions: 4
min-sessions: 0
acquire-timeout: 3s
auth: none
backends:
  - name: one
    upstream: ftp://u:p@127.0.0.1:21/
    max-sessions: 6
    acquire-timeout: 4s
`)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want int32
	}{
		{"entry over top level", nil, nil, 6},
		{"environment over entry", nil, map[string]string{"FTPGW_MAX_SESSIONS": "7"}, 7},
		{"flag over environment", []string{"--max-sessions", "8"}, map[string]string{"FTPGW_MAX_SESSIONS": "7"}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(append([]string{"--config", file}, tc.args...), envFrom(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MaxSessions != tc.want || cfg.AcquireTimeout.String() != "4s" || cfg.Name != "one" || cfg.Mount != "/files/" {
				t.Errorf("max sessions %d, acquire timeout %v, name %q, mount %q; want %d, 4s, one, /files/",
					cfg.MaxSessions, cfg.AcquireTimeout, cfg.Name, cfg.Mount, tc.want)
			}
			if cfg.Listen != loopbackListen {
				t.Errorf("listen %q with auth none, want %q", cfg.Listen, loopbackListen)
			}
		})
	}
}

// TestConfigFileLists: a list flag's value is a YAML list, and every
// flag a backend has is a key of its entry.
func TestConfigFileLists(t *testing.T) {
	file := writeConfigFile(t, `
auth: none
backends:
  - name: web
    upstream: ftp://u:p@127.0.0.1:21/
    cors-origins:
      - https://app.example.com
      - https://*.example.net
    cors-credentials: true
    max-sessions: 6
    max-transfers: 4
    max-client-transfers: 2
    trusted-proxies: [10.0.0.0/8, 192.0.2.7]
    max-ranges: 3
`)
	cfg, err := loadConfig([]string{"--config", file}, envFrom(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CORS == nil || strings.Join(cfg.CORS.AllowedOrigins, " ") != "https://app.example.com https://*.example.net" || !cfg.CORS.AllowCredentials {
		t.Errorf("CORS %+v, want the two origins with credentials", cfg.CORS)
	}
	if cfg.MaxTransfers != 4 || cfg.MaxClientTransfers != 2 || len(cfg.TrustedProxies) != 2 {
		t.Errorf("transfers %d, per client %d, proxies %v; want 4, 2, two", cfg.MaxTransfers, cfg.MaxClientTransfers, cfg.TrustedProxies)
	}
	if cfg.MaxRanges != 3 {
		t.Errorf("max-ranges %d, want 3", cfg.MaxRanges)
	}
	file = writeConfigFile(t, "auth: none\nbackends:\n  - name: web\n    upstream: ftp://u:p@h/\n    cors-origins: [\"https://a.example, https://b.example\"]\n")
	if _, err := loadConfig([]string{"--config", file}, envFrom(nil), io.Discard); err == nil || !strings.Contains(err.Error(), ":5: backends[0]: cors-origins: each item must be a single value") {
		t.Errorf("an item with a comma: %v, want it refused at line 5", err)
	}
}

// TestConfigFileErrors: every mistake is refused at start, with the file,
// the line and what is wrong; no error quotes a password.
func TestConfigFileErrors(t *testing.T) {
	tokens := writeTokensFile(t, tokenLine(t, testToken, auth.Read))
	one := "backends:\n  - name: a\n    upstream: ftp://u:p@127.0.0.1:21/\n"
	for _, tc := range []struct {
		name, file string
		args       []string
		env        map[string]string
		wantErr    string
	}{
		{name: "empty", file: "", wantErr: "is empty"},
		{name: "not YAML", file: "backends: [\n", wantErr: "--config"},
		{name: "a list at the top", file: "- a\n", wantErr: ":1: the top level must be a mapping"},
		{name: "no backends", file: "max-sessions: 2\n", wantErr: "no backends"},
		{name: "backends not a list", file: "backends:\n  a: 1\n", wantErr: ":2: backends must be a list"},
		{name: "unknown key at the top", file: "max-sesions: 2\n" + one, wantErr: `:1: backends[0]: unknown setting "max-sesions"`},
		{name: "unknown key in a backend", file: one + "    colour: blue\n", wantErr: `:4: backends[0]: unknown setting "colour"`},
		{name: "bad value", file: one + "    max-sessions: lots\n", wantErr: `:4: backends[0]: max-sessions: parse error`},
		{name: "invalid value", file: one + "    max-sessions: 0\n", wantErr: "backends[0] (a): --max-sessions must be at least 1"},
		{name: "a mapping as a value", file: one + "    links:\n      x: 1\n", wantErr: ":5: backends[0]: links must be a value or a list"},
		{name: "key twice", file: one + "    links: follow\n    links: inside\n", wantErr: ":5: backends[0]: links given twice (first on line 4)"},
		{name: "upstream at the top", file: "upstream: ftp://h/\n" + one, wantErr: ":1: upstream belongs to a backend"},
		{name: "listen in a backend", file: one + "    listen: :9000\n", wantErr: ":4: backends[0]: listen is the gateway's"},
		{name: "demo in the file", file: "demo: true\n" + one, wantErr: ":1: demo cannot be set in the config file"},
		{name: "no name", file: "backends:\n  - upstream: ftp://u:p@h/\n", wantErr: `:2: backends[0]: name "" must be`},
		{name: "bad name", file: "backends:\n  - name: Media Files\n    upstream: ftp://u:p@h/\n", wantErr: `name "Media Files" must be`},
		{name: "same name twice", file: one + "    mount: /a/\n  - name: a\n    mount: /b/\n    upstream: ftp://u:p@h/\n", wantErr: `:5: backends[1]: a second backend named "a"`},
		{name: "two backends without mounts", file: one + "  - name: b\n    upstream: ftp://u:p@h/\n", wantErr: "backends[0] (a): no mount; with several backends, each needs one"},
		{name: "same mount twice", file: one + "    mount: /x/\n  - name: b\n    mount: /x/\n    upstream: ftp://u:p@h/\n", wantErr: "backends[1] (b): mount /x/ is backend a's already"},
		{name: "bad mount", file: one + "    mount: /x y/\n", wantErr: `backends[0] (a): mount "/x y/"`},
		{name: "mount on the gateway's own", file: one + "    mount: /metrics/\n", wantErr: "within the gateway's own /metrics"},
		{name: "no upstream", file: "backends:\n  - name: a\n", wantErr: "backends[0] (a): no upstream"},
		{name: "two passwords", file: "backends:\n  - name: a\n    upstream: ftp://u@h/\n    upstream-password: x\n    upstream-password-env: PW\n", env: map[string]string{"PW": "y"}, wantErr: "give one of upstream-password"},
		{name: "password in the URL too", file: "backends:\n  - name: a\n    upstream: ftp://u:secret1@h/\n    upstream-password: secret2\n", wantErr: "a password in the upstream URL and in upstream-password: give one"},
		{name: "password variable unset", file: "backends:\n  - name: a\n    upstream: ftp://u@h/\n    upstream-password-env: NOPE\n", wantErr: "upstream-password-env: NOPE is not set"},
		{name: "password with a newline", file: "backends:\n  - name: a\n    upstream: ftp://u@h/\n    upstream-password: \"a\\nb\"\n", wantErr: "upstream-password contains CR, LF or NUL"},
		{name: "--upstream beside --config", file: one, args: []string{"--upstream", "ftp://h/"}, wantErr: "--upstream with --config"},
		{name: "FTPGW_UPSTREAM beside --config", file: one, env: map[string]string{"FTPGW_UPSTREAM": "ftp://h/"}, wantErr: "FTPGW_UPSTREAM is set, and --config declares the backends"},
		{name: "--demo beside --config", file: one, args: []string{"--demo"}, wantErr: "--demo cannot be used with --config"},
		{name: "open backend beyond loopback", file: "listen: :8080\n" + one, wantErr: "serves beyond this machine with no authentication"},
		{name: "open backend beyond loopback beside a closed one", file: "listen: :8080\n" + one + "    mount: /a/\n    tokens-file: " + tokens + "\n  - name: b\n    mount: /b/\n    upstream: ftp://u:p@h/\n", wantErr: "backends[1] (b): --listen \":8080\" serves beyond this machine"},
		{name: "basic with upstream-password", file: "backends:\n  - name: a\n    upstream: ftp://h/\n    auth: basic\n    upstream-password: secret1\n", wantErr: "backends[0] (a): auth basic logs in as each request's user: no upstream-password"},
		{name: "basic with a user in the URL", file: "backends:\n  - name: a\n    upstream: ftp://u:secret1@h/\n    auth: basic\n", wantErr: "leave the user and password out of --upstream"},
		{name: "basic flag on a token backend", file: "backends:\n  - name: a\n    upstream: ftp://u:p@h/\n    tokens-file: " + tokens + "\n    basic-max-users: 3\n", wantErr: "--basic-max-users applies to --auth basic only"},
		{name: "missing file", wantErr: "--config: open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "missing.yaml")
			if tc.name != "missing file" {
				name = writeConfigFile(t, tc.file)
			}
			_, err := loadConfig(append([]string{"--config", name}, tc.args...), envFrom(tc.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			for _, secret := range []string{"secret1", "secret2"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error quotes a password: %v", err)
				}
			}
		})
	}
}

// TestConfigFileOneOpenBackend: with no --listen, one backend without
// authentication keeps the whole gateway on loopback.
func TestConfigFileOneOpenBackend(t *testing.T) {
	tokens := writeTokensFile(t, tokenLine(t, testToken, auth.Read))
	file := writeConfigFile(t, "backends:\n  - name: closed\n    mount: /c/\n    upstream: ftp://u:p@h/\n    tokens-file: "+tokens+
		"\n  - name: open\n    mount: /o/\n    upstream: ftp://u:p@h/\n")
	cfg, err := loadConfig([]string{"--config", file}, envFrom(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != loopbackListen || cfg.Auth.Mode != authToken || cfg.Backends[0].Auth.Mode != authNone {
		t.Errorf("listen %q, auth %v and %v; want %q, token and none", cfg.Listen, cfg.Auth.Mode, cfg.Backends[0].Auth.Mode, loopbackListen)
	}
}

// TestCheck: --check says where each backend is served, without its
// password.
func TestCheck(t *testing.T) {
	file := writeConfigFile(t, "auth: none\nbackends:\n  - name: media\n    mount: /media/\n    upstream: ftp://gw@ftp.example.com/pub\n    upstream-password-env: PW\n"+
		"  - name: archive\n    mount: /archive/\n    upstream: ftpes://ro:pass-in-url@archive.example.com/\n")
	cfg, err := loadConfig([]string{"--config", file, "--check"}, envFrom(map[string]string{"PW": "s3cret-pw"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Check {
		t.Fatal("--check not set")
	}
	var out strings.Builder
	printCheck(&out, cfg)
	want := "configuration ok: listening on 127.0.0.1:8080\n" +
		"  /media/ -> ftp://gw:****@ftp.example.com:21/pub (backend media, auth none)\n" +
		"  /archive/ -> ftpes://ro:****@archive.example.com:21 (backend archive, auth none)\n"
	if out.String() != want {
		t.Errorf("--check printed\n%s\nwant\n%s", out.String(), want)
	}
}

// TestPasswordInArgsWarned: a password in --upstream on the command line
// is warned about at start, as the process list shows it; one in the
// environment or a file is not.
func TestPasswordInArgsWarned(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		warn bool
	}{
		{"in the arguments", []string{"--upstream", "ftp://u:hunter2@127.0.0.1/"}, nil, true},
		{"in the arguments with =", []string{"--upstream=ftp://u:hunter2@127.0.0.1/"}, nil, true},
		{"in the arguments, a file beside", []string{"--upstream", "ftp://u:hunter2@127.0.0.1/", "--upstream-password-file", pwFile}, nil, true},
		{"in the environment", nil, map[string]string{"FTPGW_UPSTREAM": "ftp://u:hunter2@127.0.0.1/"}, false},
		{"no password", []string{"--upstream", "ftp://u@127.0.0.1/", "--upstream-password-file", pwFile}, nil, false},
		{"anonymous", []string{"--upstream", "ftp://127.0.0.1/"}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(tc.args, envFrom(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			logStart(slog.New(slog.NewJSONHandler(&out, nil)), cfg)
			if got := strings.Contains(out.String(), "process list"); got != tc.warn {
				t.Errorf("warned %v, want %v:\n%s", got, tc.warn, out.String())
			}
			if strings.Contains(out.String(), "hunter2") {
				t.Errorf("the log holds the password:\n%s", out.String())
			}
		})
	}
}
