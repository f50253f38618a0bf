package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer that run's logger and the test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestDemo runs the gateway in --demo mode in-process, as `go run
// ./cmd/gateway --demo` would, exercises every route over real sockets,
// then cancels it and expects a prompt, clean return.
func TestDemo(t *testing.T) {
	cfg, err := loadConfig([]string{"--demo", "--listen", "127.0.0.1:0", "--shutdown-timeout", "5s"}, envFrom(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	listening := make(chan net.Addr, 1)
	cfg.onListening = func(a net.Addr) { listening <- a }

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &stderr) }()

	var base string
	select {
	case a := <-listening:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("run returned before listening: %v\n%s", err, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("gateway not listening after 10s\n%s", stderr.String())
	}

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	do := func(method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: reading body: %v", method, path, err)
		}
		return resp, b
	}
	expect := func(method, path string, resp *http.Response, body []byte, status int) {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("%s %s = %d, want %d; body: %s", method, path, resp.StatusCode, status, body)
		}
	}

	t.Run("GET file", func(t *testing.T) {
		resp, body := do("GET", "/files/hello.txt", nil)
		expect("GET", "/files/hello.txt", resp, body, http.StatusOK)
		if string(body) != demoHello {
			t.Errorf("body = %q, want %q", body, demoHello)
		}
		if resp.Header.Get("ETag") == "" {
			t.Error("no ETag")
		}
	})

	t.Run("GET range", func(t *testing.T) {
		resp, body := do("GET", "/files/sample.bin", nil, "Range", "bytes=1000-1099")
		expect("GET", "/files/sample.bin", resp, body, http.StatusPartialContent)
		if want := demoSample()[1000:1100]; !bytes.Equal(body, want) {
			t.Errorf("range body differs from sample.bin[1000:1100]")
		}
		if got, want := resp.Header.Get("Content-Range"), fmt.Sprintf("bytes 1000-1099/%d", demoSampleSize); got != want {
			t.Errorf("Content-Range = %q, want %q", got, want)
		}
	})

	t.Run("HEAD and conditional GET", func(t *testing.T) {
		resp, body := do("HEAD", "/files/sample.bin", nil)
		expect("HEAD", "/files/sample.bin", resp, body, http.StatusOK)
		if resp.ContentLength != demoSampleSize {
			t.Errorf("Content-Length = %d, want %d", resp.ContentLength, demoSampleSize)
		}
		etag := resp.Header.Get("ETag")
		resp, body = do("GET", "/files/sample.bin", nil, "If-None-Match", etag)
		expect("GET", "/files/sample.bin", resp, body, http.StatusNotModified)
	})

	t.Run("listing", func(t *testing.T) {
		resp, body := do("GET", "/files/", nil, "Accept", "application/json")
		expect("GET", "/files/", resp, body, http.StatusOK)
		var doc struct {
			Path    string
			Entries []struct {
				Name string
				Type string
				Size *int64
			}
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("listing is not JSON: %v\n%s", err, body)
		}
		got := map[string]string{}
		for _, e := range doc.Entries {
			got[e.Name] = e.Type
			if e.Name == "sample.bin" && (e.Size == nil || *e.Size != demoSampleSize) {
				t.Errorf("sample.bin size = %v, want %d", e.Size, demoSampleSize)
			}
		}
		for name, typ := range map[string]string{"hello.txt": "file", "sample.bin": "file", "docs": "dir"} {
			if got[name] != typ {
				t.Errorf("listing: %s has type %q, want %q (listing: %s)", name, got[name], typ, body)
			}
		}
	})

	t.Run("PUT, GET back, DELETE", func(t *testing.T) {
		const content = "uploaded through ftpgw\n"
		resp, body := do("PUT", "/files/docs/new.txt", strings.NewReader(content))
		expect("PUT", "/files/docs/new.txt", resp, body, http.StatusCreated)
		resp, body = do("GET", "/files/docs/new.txt", nil)
		expect("GET", "/files/docs/new.txt", resp, body, http.StatusOK)
		if string(body) != content {
			t.Errorf("GET after PUT = %q, want %q", body, content)
		}
		resp, body = do("PUT", "/files/docs/new.txt", strings.NewReader("v2"))
		expect("PUT", "/files/docs/new.txt", resp, body, http.StatusNoContent)
		resp, body = do("DELETE", "/files/docs/new.txt", nil)
		expect("DELETE", "/files/docs/new.txt", resp, body, http.StatusNoContent)
		resp, body = do("GET", "/files/docs/new.txt", nil)
		expect("GET", "/files/docs/new.txt", resp, body, http.StatusNotFound)
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("404 Content-Type = %q, want application/problem+json", ct)
		}
	})

	t.Run("healthz and readyz", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz"} {
			resp, body := do("GET", p, nil)
			expect("GET", p, resp, body, http.StatusOK)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, body := do("GET", "/metrics", nil)
		expect("GET", "/metrics", resp, body, http.StatusOK)
		for _, name := range []string{"ftpgw_pool_sessions", "ftpgw_http_requests_total", "ftpgw_transfer_bytes_total", "go_goroutines"} {
			if !bytes.Contains(body, []byte(name)) {
				t.Errorf("/metrics lacks %s", name)
			}
		}
	})

	tr.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run = %v, want nil after cancel\n%s", err, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("run did not return within 5s of cancel\n%s", stderr.String())
	}

	out := stderr.String()
	m := regexp.MustCompile(`ftpgw demo: serving (\S+) through an embedded FTP server at 127\.0\.0\.1:\d+`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no demo banner in output:\n%s", out)
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("demo directory %s still there after exit (stat: %v)", m[1], err)
	}
	port := strings.TrimPrefix(base, "http://127.0.0.1:")
	for _, want := range []string{
		"curl http://127.0.0.1:" + port + "/files/",
		"curl -T ./local.txt http://127.0.0.1:" + port + "/files/uploaded.txt",
		"curl -X DELETE http://127.0.0.1:" + port + "/files/uploaded.txt",
		`"password":"****"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// A demo directory given with --demo-dir is seeded when empty and kept.
func TestDemoDirSeeded(t *testing.T) {
	dir := t.TempDir()
	d, err := startDemo(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	for name, size := range map[string]int64{"hello.txt": int64(len(demoHello)), "sample.bin": demoSampleSize, "docs/readme.md": int64(len(demoReadme))} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if fi.Size() != size {
			t.Errorf("%s has %d bytes, want %d", name, fi.Size(), size)
		}
	}

	// A directory that has something in it is left as it is.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "mine.txt"), []byte("x"), 0o644)
	d, err = startDemo(other, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if ents, _ := os.ReadDir(other); len(ents) != 1 {
		t.Errorf("non-empty demo dir was seeded: %v", ents)
	}
}

func TestLoadConfig(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	twoLines := filepath.Join(t.TempDir(), "pw2")
	if err := os.WriteFile(twoLines, []byte("a\nb\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c *config)
		wantErr string
	}{
		{
			name: "defaults",
			args: []string{"--upstream", "ftp://u:p@host/pub"},
			check: func(t *testing.T, c *config) {
				if c.Listen != ":8080" || c.MaxSessions != 8 || c.MaxSessionLifetime != 30*time.Minute ||
					c.MaxSessionIdle != 5*time.Minute || c.AcquireTimeout != 10*time.Second ||
					c.DialTimeout != 10*time.Second || c.CommandTimeout != 30*time.Second ||
					c.DataTimeout != 60*time.Second || c.ClientIdleTimeout != 60*time.Second ||
					c.ShutdownTimeout != 30*time.Second || c.LogLevel != slog.LevelInfo || c.UsePASVAddress || c.Demo {
					t.Errorf("defaults wrong: %+v", c)
				}
				if c.Upstream != (upstream{Addr: "host:21", User: "u", Password: "p", Root: "pub"}) {
					t.Errorf("upstream = %+v", c.Upstream)
				}
			},
		},
		{
			name: "env over default",
			env: map[string]string{
				"FTPGW_UPSTREAM": "ftp://u:p@envhost/", "FTPGW_LISTEN": ":9000", "FTPGW_MAX_SESSIONS": "3",
				"FTPGW_LOG_LEVEL": "debug", "FTPGW_USE_PASV_ADDRESS": "true", "FTPGW_DATA_TIMEOUT": "2m",
			},
			check: func(t *testing.T, c *config) {
				if c.Listen != ":9000" || c.MaxSessions != 3 || c.LogLevel != slog.LevelDebug ||
					!c.UsePASVAddress || c.DataTimeout != 2*time.Minute || c.Upstream.Addr != "envhost:21" {
					t.Errorf("env not applied: %+v", c)
				}
			},
		},
		{
			name: "flag over env",
			args: []string{"--listen", ":7000", "--max-sessions", "2", "--upstream", "ftp://flaghost/"},
			env:  map[string]string{"FTPGW_UPSTREAM": "ftp://envhost/", "FTPGW_LISTEN": ":9000", "FTPGW_MAX_SESSIONS": "3"},
			check: func(t *testing.T, c *config) {
				if c.Listen != ":7000" || c.MaxSessions != 2 || c.Upstream.Addr != "flaghost:21" {
					t.Errorf("flags did not win: %+v", c)
				}
			},
		},
		{
			name: "password file wins over URL",
			args: []string{"--upstream", "ftp://u:inurl@host/", "--upstream-password-file", pwFile},
			check: func(t *testing.T, c *config) {
				if c.Upstream.Password != "from-file" {
					t.Errorf("password = %q, want from-file", c.Upstream.Password)
				}
			},
		},
		{
			name: "password file from env",
			env:  map[string]string{"FTPGW_UPSTREAM": "ftp://u@host/", "FTPGW_UPSTREAM_PASSWORD_FILE": pwFile},
			check: func(t *testing.T, c *config) {
				if c.Upstream.Password != "from-file" {
					t.Errorf("password = %q, want from-file", c.Upstream.Password)
				}
			},
		},
		{
			name: "demo needs no upstream",
			env:  map[string]string{"FTPGW_DEMO": "1"},
			check: func(t *testing.T, c *config) {
				if !c.Demo || c.Listen != "127.0.0.1:8080" {
					t.Errorf("demo config: %+v", c)
				}
			},
		},
		{
			name: "demo on all interfaces when asked",
			args: []string{"--demo", "--listen", ":8080"},
			check: func(t *testing.T, c *config) {
				if c.Listen != ":8080" {
					t.Errorf("demo with --listen: %q", c.Listen)
				}
			},
		},
		{
			name: "demo ignores an upstream",
			args: []string{"--demo", "--demo-dir", "/tmp/x"},
			env:  map[string]string{"FTPGW_UPSTREAM": "ftp://host/"},
			check: func(t *testing.T, c *config) {
				if !c.Demo || !c.upstreamIgnored || c.DemoDir != "/tmp/x" {
					t.Errorf("demo config: %+v", c)
				}
			},
		},
		{name: "no upstream", wantErr: "no upstream: set --upstream or FTPGW_UPSTREAM (or use --demo)"},
		{name: "bad upstream", args: []string{"--upstream", "ftps://host/"}, wantErr: "ftps:// is not supported yet"},
		{name: "missing password file", args: []string{"--upstream", "ftp://u@host/", "--upstream-password-file", "/nonexistent/pw"}, wantErr: "password file"},
		{name: "multi-line password file", args: []string{"--upstream", "ftp://u@host/", "--upstream-password-file", twoLines}, wantErr: "CR, LF or NUL"},
		{name: "bad env value", env: map[string]string{"FTPGW_MAX_SESSIONS": "many"}, wantErr: "FTPGW_MAX_SESSIONS"},
		{name: "bad flag value", args: []string{"--dial-timeout", "soon"}, wantErr: "invalid value"},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "not defined"},
		{name: "zero sessions", args: []string{"--demo", "--max-sessions", "0"}, wantErr: "--max-sessions"},
		{name: "negative timeout", args: []string{"--demo", "--acquire-timeout", "-1s"}, wantErr: "--acquire-timeout must be positive"},
		{name: "bad log level", args: []string{"--demo", "--log-level", "verbose"}, wantErr: "--log-level"},
		{name: "bad listen", args: []string{"--demo", "--listen", "8080"}, wantErr: "--listen"},
		{name: "stray argument", args: []string{"--demo", "extra"}, wantErr: "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(tt.args, envFrom(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadConfig error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadConfigHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := loadConfig([]string{"-h"}, envFrom(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("loadConfig(-h) = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-upstream", "[FTPGW_UPSTREAM]", "-demo", "[FTPGW_DEMO]", `(default ":8080")`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}

// The startup log line carries the configuration but never the password.
func TestConfigLogRedacts(t *testing.T) {
	c, err := loadConfig([]string{"--upstream", "ftp://u:topsecret@host/"}, envFrom(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", c)
	if strings.Contains(buf.String(), "topsecret") {
		t.Fatalf("config log leaks the password: %s", buf.String())
	}
	if !strings.Contains(buf.String(), `"max_session_lifetime":"30m0s"`) {
		t.Errorf("config log lacks settings: %s", buf.String())
	}
}

func TestBrowseHost(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"0.0.0.0:8080", "localhost:8080"},
		{"[::]:8080", "localhost:8080"},
		{"127.0.0.1:9", "127.0.0.1:9"},
		{"[::1]:9", "[::1]:9"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a, err := net.ResolveTCPAddr("tcp", tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			if got := browseHost(a); got != tt.want {
				t.Errorf("browseHost(%s) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}
