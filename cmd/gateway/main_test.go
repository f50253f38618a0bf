package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/logbuf"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
	"github.com/ftpgw/ftpgw/internal/testpki"
	"github.com/prometheus/client_golang/prometheus"
)

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestDemo runs the gateway in --demo mode in-process, as `go run
// ./cmd/gateway --demo` would, exercises every route over real sockets,
// then cancels it and expects a prompt, clean return.
func TestDemo(t *testing.T) {
	cfg, err := loadConfig([]string{"--demo", "--listen", "127.0.0.1:0", "--drain-pause", "0s", "--shutdown-timeout", "5s"}, envFrom(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	listening := make(chan net.Addr, 1)
	cfg.onListening = func(a net.Addr) { listening <- a }

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr logbuf.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &stderr) }()

	var base string
	select {
	case a := <-listening:
		base = "http://" + a.String()
		registerContract(t, base, cfg)
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
	caFile := newTestPKI(t).writeCA(t)
	emptyFile := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(t.TempDir(), "der.crt")
	if err := os.WriteFile(notPEM, []byte("\x30\x82\x01\x0a not a PEM block"), 0o600); err != nil {
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
				// No authentication: loopback only.
				if c.Listen != "127.0.0.1:8080" || c.MaxSessions != 8 || c.MaxSessionLifetime != 30*time.Minute ||
					c.MaxSessionIdle != 5*time.Minute || c.AcquireTimeout != 10*time.Second || c.BudgetQuietPeriod != time.Minute ||
					c.DialTimeout != 10*time.Second || c.CommandTimeout != 30*time.Second ||
					c.DataTimeout != 60*time.Second || c.ClientIdleTimeout != 60*time.Second ||
					c.DrainPause != 5*time.Second || c.ShutdownTimeout != 30*time.Second || c.LogLevel != slog.LevelInfo || c.UsePASVAddress || c.Demo ||
					c.AbortTimeout != 5*time.Second || c.MaxUploadSize != 5<<30 || c.TusMaxChecksumPiece != 8<<20 ||
					c.MinClientRate != 512 || c.MinClientRateWindow != 30*time.Second || c.MaxTransferTime != 12*time.Hour ||
					c.MaxClockSkew != 2*time.Hour || c.TempMaxAge != 24*time.Hour || c.TempSweepInterval != time.Hour ||
					c.Links != api.LinksInside || c.Auth.Mode != authNone || c.Auth.ReloadInterval != 5*time.Second {
					t.Errorf("defaults wrong: %+v", c)
				}
				if c.Upstream != (upstream{Addr: "host:21", User: "u", Password: "p", Root: "pub"}) {
					t.Errorf("upstream = %+v", c.Upstream)
				}
			},
		},
		{
			name: "tus checksum piece",
			args: []string{"--upstream", "ftp://h/", "--tus-max-checksum-piece", "1MiB"},
			check: func(t *testing.T, c *config) {
				if c.TusMaxChecksumPiece != 1<<20 {
					t.Errorf("TusMaxChecksumPiece %d", c.TusMaxChecksumPiece)
				}
			},
		},
		{
			name:    "tus checksum piece of nothing",
			args:    []string{"--upstream", "ftp://h/", "--tus-max-checksum-piece", "0"},
			wantErr: "--tus-max-checksum-piece must be a positive size",
		},
		{
			name: "upload size and abort timeout",
			args: []string{"--upstream", "ftp://h/", "--max-upload-size", "512MiB", "--abort-timeout", "2s"},
			check: func(t *testing.T, c *config) {
				if c.MaxUploadSize != 512<<20 || c.AbortTimeout != 2*time.Second {
					t.Errorf("MaxUploadSize %d, AbortTimeout %v", c.MaxUploadSize, c.AbortTimeout)
				}
			},
		},
		{
			name: "upload size in plain bytes, and no limit",
			args: []string{"--upstream", "ftp://h/", "--max-upload-size", "1048577"},
			env:  map[string]string{"FTPGW_ABORT_TIMEOUT": "1s"},
			check: func(t *testing.T, c *config) {
				if c.MaxUploadSize != 1048577 || c.AbortTimeout != time.Second {
					t.Errorf("MaxUploadSize %d, AbortTimeout %v", c.MaxUploadSize, c.AbortTimeout)
				}
			},
		},
		{
			name: "budget quiet period from env, to the pool",
			args: []string{"--upstream", "ftp://h/"},
			env:  map[string]string{"FTPGW_BUDGET_QUIET_PERIOD": "5s"},
			check: func(t *testing.T, c *config) {
				if got := c.poolConfig(slog.New(slog.DiscardHandler)).BudgetQuietPeriod; c.BudgetQuietPeriod != 5*time.Second || got != 5*time.Second {
					t.Errorf("BudgetQuietPeriod %v, pool's %v, want 5s", c.BudgetQuietPeriod, got)
				}
			},
		},
		{
			name: "links",
			args: []string{"--upstream", "ftp://h/", "--links", "refuse"},
			check: func(t *testing.T, c *config) {
				if c.Links != api.LinksRefuse {
					t.Errorf("Links %v", c.Links)
				}
			},
		},
		{
			name: "links from the environment",
			args: []string{"--upstream", "ftp://h/"},
			env:  map[string]string{"FTPGW_LINKS": "follow"},
			check: func(t *testing.T, c *config) {
				if c.Links != api.LinksFollow {
					t.Errorf("Links %v", c.Links)
				}
			},
		},
		{
			name: "trusted content",
			args: []string{"--upstream", "ftp://h/", "--trusted-content"},
			check: func(t *testing.T, c *config) {
				if !c.TrustedContent {
					t.Error("TrustedContent false")
				}
			},
		},
		{
			name: "trusted content from the environment",
			args: []string{"--upstream", "ftp://h/"},
			env:  map[string]string{"FTPGW_TRUSTED_CONTENT": "true"},
			check: func(t *testing.T, c *config) {
				if !c.TrustedContent {
					t.Error("TrustedContent false")
				}
			},
		},
		{
			name: "no upload limit",
			args: []string{"--upstream", "ftp://h/", "--max-upload-size", "-1"},
			check: func(t *testing.T, c *config) {
				if c.MaxUploadSize != -1 {
					t.Errorf("MaxUploadSize %d", c.MaxUploadSize)
				}
			},
		},
		{
			name: "slow-client limits",
			args: []string{"--upstream", "ftp://h/", "--min-client-rate", "2KiB", "--min-client-rate-window", "10s", "--max-transfer-time", "1h"},
			check: func(t *testing.T, c *config) {
				if c.MinClientRate != 2048 || c.MinClientRateWindow != 10*time.Second || c.MaxTransferTime != time.Hour {
					t.Errorf("MinClientRate %d, window %v, MaxTransferTime %v", c.MinClientRate, c.MinClientRateWindow, c.MaxTransferTime)
				}
			},
		},
		{
			name: "slow-client limits off",
			args: []string{"--upstream", "ftp://h/", "--min-client-rate", "-1", "--max-transfer-time", "-1s"},
			check: func(t *testing.T, c *config) {
				if c.MinClientRate != -1 || c.MaxTransferTime != -time.Second {
					t.Errorf("MinClientRate %d, MaxTransferTime %v", c.MinClientRate, c.MaxTransferTime)
				}
			},
		},
		{name: "min client rate zero", args: []string{"--upstream", "ftp://h/", "--min-client-rate", "0"}, wantErr: "--min-client-rate must be bytes a second"},
		{name: "min client rate window zero", args: []string{"--upstream", "ftp://h/", "--min-client-rate-window", "0s"}, wantErr: "--min-client-rate-window must be positive"},
		{name: "max clock skew zero", args: []string{"--upstream", "ftp://h/", "--max-clock-skew", "0s"}, wantErr: "--max-clock-skew must be positive"},
		{
			name: "max clock skew",
			args: []string{"--upstream", "ftp://h/", "--max-clock-skew", "10m"},
			check: func(t *testing.T, c *config) {
				if ac := c.apiConfig(nil, prometheus.NewRegistry(), nil); ac.MaxClockSkew != 10*time.Minute {
					t.Errorf("api MaxClockSkew %v", ac.MaxClockSkew)
				}
			},
		},
		{name: "max transfer time zero", args: []string{"--upstream", "ftp://h/", "--max-transfer-time", "0s"}, wantErr: "--max-transfer-time must not be zero"},
		{
			name: "temporary files",
			args: []string{"--upstream", "ftp://h/", "--temp-max-age", "2h", "--temp-sweep-interval", "10m"},
			check: func(t *testing.T, c *config) {
				if c.TempMaxAge != 2*time.Hour || c.TempSweepInterval != 10*time.Minute {
					t.Errorf("TempMaxAge %v, TempSweepInterval %v", c.TempMaxAge, c.TempSweepInterval)
				}
			},
		},
		{
			name: "temporary files never deleted for their age, no sweep",
			args: []string{"--upstream", "ftp://h/", "--temp-max-age", "-1s"},
			env:  map[string]string{"FTPGW_TEMP_SWEEP_INTERVAL": "-1s"},
			check: func(t *testing.T, c *config) {
				if c.TempMaxAge != -time.Second || c.TempSweepInterval != -time.Second {
					t.Errorf("TempMaxAge %v, TempSweepInterval %v", c.TempMaxAge, c.TempSweepInterval)
				}
			},
		},
		{name: "temp max age zero", args: []string{"--upstream", "ftp://h/", "--temp-max-age", "0s"}, wantErr: "--temp-max-age must not be zero"},
		{name: "temp max age short", args: []string{"--upstream", "ftp://h/", "--temp-max-age", "59m"}, wantErr: "--temp-max-age must be at least 1h"},
		{
			name:    "temp max age within the client idle timeout",
			args:    []string{"--upstream", "ftp://h/", "--temp-max-age", "2h", "--client-idle-timeout", "2h"},
			wantErr: "--temp-max-age 2h0m0s must be longer than --client-idle-timeout (2h0m0s)",
		},
		{
			name:    "temp max age within the data timeout",
			args:    []string{"--upstream", "ftp://h/", "--temp-max-age", "1h", "--data-timeout", "3h"},
			wantErr: "and --data-timeout (3h0m0s)",
		},
		{name: "temp sweep interval zero", args: []string{"--upstream", "ftp://h/", "--temp-sweep-interval", "0s"}, wantErr: "--temp-sweep-interval must not be zero"},
		{name: "temp sweep interval short", args: []string{"--upstream", "ftp://h/", "--temp-sweep-interval", "30s"}, wantErr: "--temp-sweep-interval must be at least 1m"},
		{
			name: "transfer caps and trusted proxies",
			args: []string{"--upstream", "ftp://h/", "--max-sessions", "6", "--max-transfers", "4", "--max-client-transfers", "2",
				"--trusted-proxies", " 10.0.0.0/8, 192.0.2.7,2001:db8::/32 ,::ffff:198.51.100.1"},
			check: func(t *testing.T, c *config) {
				want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
					netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("198.51.100.1/32")}
				if c.MaxTransfers != 4 || c.MaxClientTransfers != 2 || !slices.Equal(c.TrustedProxies, want) {
					t.Errorf("MaxTransfers %d, MaxClientTransfers %d, TrustedProxies %v", c.MaxTransfers, c.MaxClientTransfers, c.TrustedProxies)
				}
			},
		},
		{
			name: "transfer caps from the environment",
			args: []string{"--upstream", "ftp://h/"},
			env:  map[string]string{"FTPGW_MAX_TRANSFERS": "8", "FTPGW_MAX_CLIENT_TRANSFERS": "1", "FTPGW_TRUSTED_PROXIES": "127.0.0.1"},
			check: func(t *testing.T, c *config) {
				if c.MaxTransfers != 8 || c.MaxClientTransfers != 1 || len(c.TrustedProxies) != 1 || c.TrustedProxies[0] != netip.MustParsePrefix("127.0.0.1/32") {
					t.Errorf("MaxTransfers %d, MaxClientTransfers %d, TrustedProxies %v", c.MaxTransfers, c.MaxClientTransfers, c.TrustedProxies)
				}
			},
		},
		{
			name: "no transfer caps by default",
			args: []string{"--upstream", "ftp://h/"},
			check: func(t *testing.T, c *config) {
				if c.MaxTransfers != 0 || c.MaxClientTransfers != 0 || c.TrustedProxies != nil {
					t.Errorf("MaxTransfers %d, MaxClientTransfers %d, TrustedProxies %v", c.MaxTransfers, c.MaxClientTransfers, c.TrustedProxies)
				}
			},
		},
		{
			name: "max ranges",
			args: []string{"--upstream", "ftp://h/", "--max-ranges", "4"},
			env:  map[string]string{"FTPGW_MAX_RANGES": "9"},
			check: func(t *testing.T, c *config) {
				if c.MaxRanges != 4 {
					t.Errorf("MaxRanges %d, want 4 (the flag over the environment)", c.MaxRanges)
				}
			},
		},
		{
			name: "max ranges from the environment, and its default",
			args: []string{"--upstream", "ftp://h/"},
			env:  map[string]string{"FTPGW_MAX_RANGES": "1"},
			check: func(t *testing.T, c *config) {
				if c.MaxRanges != 1 {
					t.Errorf("MaxRanges %d, want 1", c.MaxRanges)
				}
				if d, err := loadConfig([]string{"--upstream", "ftp://h/"}, envFrom(nil), io.Discard); err != nil || d.MaxRanges != api.DefaultMaxRanges {
					t.Errorf("default MaxRanges %v (%v), want %d", d, err, api.DefaultMaxRanges)
				}
			},
		},
		{
			name: "max client uploads from the environment, 0 for none, and its default",
			args: []string{"--upstream", "ftp://h/"},
			env:  map[string]string{"FTPGW_MAX_CLIENT_UPLOADS": "0"},
			check: func(t *testing.T, c *config) {
				if c.MaxClientUploads != 0 {
					t.Errorf("MaxClientUploads %d, want 0", c.MaxClientUploads)
				}
				if d, err := loadConfig([]string{"--upstream", "ftp://h/"}, envFrom(nil), io.Discard); err != nil || d.MaxClientUploads != api.DefaultMaxClientUploads {
					t.Errorf("default MaxClientUploads %v (%v), want %d", d, err, api.DefaultMaxClientUploads)
				}
			},
		},
		{name: "max client uploads negative", args: []string{"--upstream", "ftp://h/", "--max-client-uploads", "-1"}, wantErr: "--max-client-uploads must be 0 (no cap) or more, got -1"},
		{name: "max ranges zero", args: []string{"--upstream", "ftp://h/", "--max-ranges", "0"}, wantErr: "--max-ranges must be 1 (single ranges only) or more, got 0"},
		{name: "max ranges over 1000", args: []string{"--upstream", "ftp://h/", "--max-ranges", "1001"}, wantErr: "--max-ranges must be 1000 or less, got 1001"},
		{name: "max ranges over 1000 from the environment", args: []string{"--upstream", "ftp://h/"}, env: map[string]string{"FTPGW_MAX_RANGES": "100000"},
			wantErr: "--max-ranges must be 1000 or less, got 100000"},
		{
			name: "max ranges 1000",
			args: []string{"--upstream", "ftp://h/", "--max-ranges", "1000"},
			check: func(t *testing.T, c *config) {
				if c.MaxRanges != 1000 {
					t.Errorf("MaxRanges %d, want 1000", c.MaxRanges)
				}
			},
		},
		{name: "transfers negative", args: []string{"--upstream", "ftp://h/", "--max-transfers", "-1"}, wantErr: "--max-transfers must be 0 (no cap) or more, got -1"},
		{name: "transfers over sessions", args: []string{"--upstream", "ftp://h/", "--max-transfers", "9"}, wantErr: "--max-transfers 9 is more than --max-sessions (8)"},
		{name: "client transfers negative", args: []string{"--upstream", "ftp://h/", "--max-client-transfers", "-2"}, wantErr: "--max-client-transfers must be 0 (no cap) or more, got -2"},
		{name: "client transfers over transfers", args: []string{"--upstream", "ftp://h/", "--max-transfers", "2", "--max-client-transfers", "3"}, wantErr: "--max-client-transfers 3 is more than --max-transfers (2)"},
		{name: "client transfers over sessions", args: []string{"--upstream", "ftp://h/", "--max-client-transfers", "9"}, wantErr: "--max-client-transfers 9 is more than --max-sessions (8)"},
		{name: "trusted proxy a name", args: []string{"--upstream", "ftp://h/", "--trusted-proxies", "10.0.0.0/8,proxy.internal"}, wantErr: `--trusted-proxies: "proxy.internal" is not an IP address or a CIDR prefix`},
		{name: "trusted proxy bad prefix", args: []string{"--upstream", "ftp://h/", "--trusted-proxies", "10.0.0.0/33"}, wantErr: `--trusted-proxies: "10.0.0.0/33" is not an IP address or a CIDR prefix`},
		{name: "trusted proxy host bits", args: []string{"--upstream", "ftp://h/", "--trusted-proxies", "10.1.2.3/8"}, wantErr: `--trusted-proxies: "10.1.2.3/8" has bits set beyond its /8; did you mean 10.0.0.0/8?`},
		{name: "trusted proxy empty item", args: []string{"--upstream", "ftp://h/", "--trusted-proxies", "10.0.0.0/8,,"}, wantErr: `--trusted-proxies: "" is not an IP address`},
		{name: "trusted proxy with a zone", args: []string{"--upstream", "ftp://h/", "--trusted-proxies", "fe80::1%eth0"}, wantErr: `--trusted-proxies: "fe80::1%eth0" is not an IP address`},
		{name: "upload size zero", args: []string{"--upstream", "ftp://h/", "--max-upload-size", "0"}, wantErr: "--max-upload-size must be a size"},
		{name: "upload size not a number", args: []string{"--upstream", "ftp://h/", "--max-upload-size", "5GB"}, wantErr: "--max-upload-size must be a size"},
		{name: "upload size too large", args: []string{"--upstream", "ftp://h/", "--max-upload-size", "9000000TiB"}, wantErr: "--max-upload-size must be a size"},
		{name: "links unknown", args: []string{"--upstream", "ftp://h/", "--links", "none"}, wantErr: `--links must be inside, follow or refuse, got "none"`},
		{name: "links in capitals", args: []string{"--upstream", "ftp://h/", "--links", "Inside"}, wantErr: "--links must be"},
		{name: "abort timeout zero", args: []string{"--upstream", "ftp://h/", "--abort-timeout", "0s"}, wantErr: "--abort-timeout must be positive"},
		{
			name: "env over default",
			env: map[string]string{
				"FTPGW_UPSTREAM": "ftp://u:p@envhost/", "FTPGW_LISTEN": ":9000", "FTPGW_MAX_SESSIONS": "3",
				"FTPGW_LOG_LEVEL": "debug", "FTPGW_USE_PASV_ADDRESS": "true", "FTPGW_DATA_TIMEOUT": "2m",
				"FTPGW_AUTH": "none",
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
			args: []string{"--listen", ":7000", "--max-sessions", "2", "--upstream", "ftp://flaghost/", "--auth", "none"},
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
				// Its server shows no links: inside could not tell them.
				// Nothing balances its load: no drain pause.
				if !c.Demo || c.Listen != "127.0.0.1:8080" || c.Links != api.LinksFollow || c.DrainPause != 0 {
					t.Errorf("demo config: %+v", c)
				}
			},
		},
		{
			name: "demo with a link policy",
			args: []string{"--demo", "--links", "inside", "--drain-pause", "2s"},
			check: func(t *testing.T, c *config) {
				if c.Links != api.LinksInside || c.DrainPause != 2*time.Second {
					t.Errorf("demo with --links inside --drain-pause 2s: %v, %v", c.Links, c.DrainPause)
				}
			},
		},
		{
			name: "demo on all interfaces when asked",
			args: []string{"--demo", "--listen", ":8080", "--auth", "none"},
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
				if !c.Demo || !slices.Equal(c.demoIgnored, []string{"--upstream"}) || c.DemoDir != "/tmp/x" {
					t.Errorf("demo config: %+v", c)
				}
			},
		},
		{
			name: "demo ignores TLS and active mode",
			args: []string{"--demo", "--active", "--tls-ca-file", "/nonexistent"},
			env:  map[string]string{"FTPGW_UPSTREAM": "ftps://host/", "FTPGW_TLS_MIN_VERSION": "1.3"},
			check: func(t *testing.T, c *config) {
				want := []string{"--upstream", "--active", "--tls-ca-file", "--tls-min-version"}
				if !slices.Equal(c.demoIgnored, want) {
					t.Errorf("demoIgnored = %q, want %q", c.demoIgnored, want)
				}
				if c.Active || c.TLS != (tlsSettings{}) || c.Upstream != (upstream{}) {
					t.Errorf("demo config kept upstream settings: %+v", c)
				}
			},
		},
		{
			name: "ftps with every TLS flag",
			args: []string{"--upstream", "ftps://u:p@ftp.example.net/", "--tls-ca-file", caFile,
				"--tls-server-name", "cert.example.net", "--tls-min-version", "1.3", "--tls-insecure-skip-verify"},
			check: func(t *testing.T, c *config) {
				if c.Upstream.TLS != ftpcore.TLSImplicit || c.Upstream.Addr != "ftp.example.net:990" {
					t.Errorf("upstream = %+v", c.Upstream)
				}
				if c.TLS.CAFile != caFile || c.TLS.RootCAs == nil || c.TLS.ServerName != "cert.example.net" ||
					c.TLS.MinVersion != tls.VersionTLS13 || !c.TLS.InsecureSkipVerify {
					t.Errorf("TLS settings = %+v", c.TLS)
				}
			},
		},
		{
			name: "ftpes TLS defaults",
			args: []string{"--upstream", "ftpes://u:p@ftp.example.net/"},
			check: func(t *testing.T, c *config) {
				if c.Upstream.TLS != ftpcore.TLSExplicit || c.Upstream.Addr != "ftp.example.net:21" {
					t.Errorf("upstream = %+v", c.Upstream)
				}
				if c.TLS != (tlsSettings{ServerName: "ftp.example.net", MinVersion: tls.VersionTLS12}) {
					t.Errorf("TLS settings = %+v", c.TLS)
				}
			},
		},
		{
			name: "server name of an IPv6 upstream",
			args: []string{"--upstream", "ftps://[2001:db8::1]:2990/"},
			check: func(t *testing.T, c *config) {
				if c.TLS.ServerName != "2001:db8::1" {
					t.Errorf("ServerName = %q, want 2001:db8::1", c.TLS.ServerName)
				}
			},
		},
		{
			name: "TLS flags from env",
			env: map[string]string{
				"FTPGW_UPSTREAM": "ftpes://host/", "FTPGW_TLS_CA_FILE": caFile, "FTPGW_TLS_SERVER_NAME": "n.example",
				"FTPGW_TLS_MIN_VERSION": "1.3", "FTPGW_TLS_INSECURE_SKIP_VERIFY": "true",
			},
			check: func(t *testing.T, c *config) {
				if c.TLS.RootCAs == nil || c.TLS.ServerName != "n.example" || c.TLS.MinVersion != tls.VersionTLS13 || !c.TLS.InsecureSkipVerify {
					t.Errorf("TLS settings = %+v", c.TLS)
				}
			},
		},
		{
			name: "active mode",
			args: []string{"--upstream", "ftp://host/", "--active", "--active-addr", "192.0.2.10", "--active-ports", "50000-50100"},
			check: func(t *testing.T, c *config) {
				if !c.Active || c.ActiveAddr != "192.0.2.10" || c.ActivePortMin != 50000 || c.ActivePortMax != 50100 {
					t.Errorf("active settings: %+v", c)
				}
			},
		},
		{
			name: "active mode from env, defaults",
			env:  map[string]string{"FTPGW_UPSTREAM": "ftp://host/", "FTPGW_ACTIVE": "1"},
			check: func(t *testing.T, c *config) {
				if !c.Active || c.ActiveAddr != "" || c.ActivePortMin != 0 || c.ActivePortMax != 0 {
					t.Errorf("active settings: %+v", c)
				}
			},
		},
		{
			name: "active IPv6 address",
			args: []string{"--upstream", "ftp://host/", "--active", "--active-addr", "2001:db8::2"},
			check: func(t *testing.T, c *config) {
				if c.ActiveAddr != "2001:db8::2" {
					t.Errorf("ActiveAddr = %q", c.ActiveAddr)
				}
			},
		},
		{name: "no upstream", wantErr: "no upstream: set --upstream or FTPGW_UPSTREAM (or use --demo)"},
		{name: "CA file with ftp", args: []string{"--upstream", "ftp://host/", "--tls-ca-file", caFile}, wantErr: "--tls-ca-file: TLS settings for a plain ftp:// upstream"},
		{name: "server name with ftp", args: []string{"--upstream", "ftp://host/", "--tls-server-name", "host"}, wantErr: "--tls-server-name: TLS settings for a plain ftp:// upstream"},
		{name: "min version with ftp", args: []string{"--upstream", "ftp://host/", "--tls-min-version", "1.2"}, wantErr: "--tls-min-version: TLS settings"},
		{name: "skip verify with ftp", args: []string{"--upstream", "ftp://host/", "--tls-insecure-skip-verify"}, wantErr: "--tls-insecure-skip-verify: TLS settings"},
		{
			name:    "TLS env with ftp",
			env:     map[string]string{"FTPGW_UPSTREAM": "ftp://host/", "FTPGW_TLS_CA_FILE": caFile, "FTPGW_TLS_INSECURE_SKIP_VERIFY": "1"},
			wantErr: "--tls-ca-file, --tls-insecure-skip-verify: TLS settings for a plain ftp:// upstream",
		},
		{name: "missing CA file", args: []string{"--upstream", "ftps://host/", "--tls-ca-file", "/nonexistent/ca.pem"}, wantErr: "--tls-ca-file: ftpcore: CA file: open /nonexistent/ca.pem"},
		{name: "empty CA file", args: []string{"--upstream", "ftpes://host/", "--tls-ca-file", emptyFile}, wantErr: "no PEM certificate"},
		{name: "CA file not PEM", args: []string{"--upstream", "ftpes://host/", "--tls-ca-file", notPEM}, wantErr: "no PEM certificate"},
		{name: "CA file is a directory", args: []string{"--upstream", "ftpes://host/", "--tls-ca-file", t.TempDir()}, wantErr: "--tls-ca-file"},
		{name: "TLS 1.1", args: []string{"--upstream", "ftps://host/", "--tls-min-version", "1.1"}, wantErr: `--tls-min-version must be 1.2 or 1.3, got "1.1"`},
		{name: "TLS version spelled otherwise", args: []string{"--upstream", "ftps://host/", "--tls-min-version", "TLS1.3"}, wantErr: "--tls-min-version"},
		{name: "bad active port range", args: []string{"--upstream", "ftp://host/", "--active", "--active-ports", "50100-50000"}, wantErr: "--active-ports"},
		{name: "active address not an IP", args: []string{"--upstream", "ftp://host/", "--active", "--active-addr", "gw.example.net"}, wantErr: "--active-addr must be an IP address"},
		{name: "active address unspecified", args: []string{"--upstream", "ftp://host/", "--active", "--active-addr", "0.0.0.0"}, wantErr: "cannot be announced"},
		{name: "active address without --active", args: []string{"--upstream", "ftp://host/", "--active-addr", "192.0.2.1"}, wantErr: "add --active"},
		{name: "active ports without --active", env: map[string]string{"FTPGW_UPSTREAM": "ftp://host/", "FTPGW_ACTIVE_PORTS": "1-2"}, wantErr: "add --active"},
		{name: "active with PASV address", args: []string{"--upstream", "ftp://host/", "--active", "--use-pasv-address"}, wantErr: "--use-pasv-address applies to passive mode only"},
		{name: "bad upstream", args: []string{"--upstream", "sftp://host/"}, wantErr: `scheme "sftp" is not supported`},
		{name: "missing password file", args: []string{"--upstream", "ftp://u@host/", "--upstream-password-file", "/nonexistent/pw"}, wantErr: "password file"},
		{name: "multi-line password file", args: []string{"--upstream", "ftp://u@host/", "--upstream-password-file", twoLines}, wantErr: "CR, LF or NUL"},
		{name: "bad env value", env: map[string]string{"FTPGW_MAX_SESSIONS": "many"}, wantErr: "FTPGW_MAX_SESSIONS"},
		{name: "bad flag value", args: []string{"--dial-timeout", "soon"}, wantErr: "invalid value"},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "not defined"},
		{name: "zero sessions", args: []string{"--demo", "--max-sessions", "0"}, wantErr: "--max-sessions"},
		{name: "min above max", args: []string{"--demo", "--max-sessions", "2", "--min-sessions", "3"}, wantErr: "--min-sessions"},
		{name: "negative min", args: []string{"--demo", "--min-sessions", "-1"}, wantErr: "--min-sessions"},
		{name: "negative timeout", args: []string{"--demo", "--acquire-timeout", "-1s"}, wantErr: "--acquire-timeout must be positive"},
		{name: "zero quiet period", args: []string{"--demo", "--budget-quiet-period", "0s"}, wantErr: "--budget-quiet-period must be positive"},
		{name: "negative drain pause", args: []string{"--demo", "--drain-pause", "-1s"}, wantErr: "--drain-pause must be 0 or more"},
		{name: "no drain pause", args: []string{"--demo", "--drain-pause", "0s"}, check: func(t *testing.T, c *config) {
			if c.DrainPause != 0 {
				t.Errorf("drain pause %v, want 0", c.DrainPause)
			}
		}},
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

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in      string
		lo, hi  int
		wantErr string
	}{
		{in: "", lo: 0, hi: 0},
		{in: "50000-50100", lo: 50000, hi: 50100},
		{in: "1-65535", lo: 1, hi: 65535},
		{in: "6000-6000", lo: 6000, hi: 6000},
		{in: "50000", wantErr: "no range"},
		{in: "0-100", wantErr: "port 0 is outside 1-65535"},
		{in: "1-65536", wantErr: "port 65536 is outside 1-65535"},
		{in: "100-99", wantErr: "the first port is above the last"},
		{in: "-100", wantErr: `"" is not a port number`},
		{in: "100-", wantErr: `"" is not a port number`},
		{in: "a-b", wantErr: "not a port number"},
		{in: "1-2-3", wantErr: "not a port number"},
		{in: "-1-5", wantErr: "not a port number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			lo, hi, err := parsePortRange(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parsePortRange(%q) = %d, %d, %v; want an error containing %q", tt.in, lo, hi, err, tt.wantErr)
				}
				return
			}
			if err != nil || lo != tt.lo || hi != tt.hi {
				t.Fatalf("parsePortRange(%q) = %d, %d, %v; want %d, %d", tt.in, lo, hi, err, tt.lo, tt.hi)
			}
		})
	}
}

// ftpConfig hands every setting to ftpcore; a TLS config only for FTPS,
// without a session cache (the pool adds one per backend).
func TestFTPConfig(t *testing.T) {
	pki := newTestPKI(t)
	caFile := pki.writeCA(t)
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, fc ftpcore.Config)
	}{
		{
			name: "plain",
			args: []string{"--upstream", "ftp://u:p@host:2121/pub", "--dial-timeout", "3s", "--command-timeout", "4s",
				"--data-timeout", "5s", "--use-pasv-address"},
			check: func(t *testing.T, fc ftpcore.Config) {
				if fc.Addr != "host:2121" || fc.User != "u" || fc.Password != "p" || fc.DialTimeout != 3*time.Second ||
					fc.CommandTimeout != 4*time.Second || fc.DataTimeout != 5*time.Second || !fc.UsePASVAddress {
					t.Errorf("config = %+v", fc)
				}
				if fc.TLS != ftpcore.TLSOff || fc.TLSConfig != nil {
					t.Errorf("plain upstream: TLS %v, TLSConfig %+v", fc.TLS, fc.TLSConfig)
				}
				if fc.Active || fc.ActiveAddr != "" || fc.ActivePortMin != 0 || fc.ActivePortMax != 0 {
					t.Errorf("passive upstream has active settings: %+v", fc)
				}
			},
		},
		{
			name: "active",
			args: []string{"--upstream", "ftp://host/", "--active", "--active-addr", "192.0.2.7", "--active-ports", "40000-40009"},
			check: func(t *testing.T, fc ftpcore.Config) {
				if !fc.Active || fc.ActiveAddr != "192.0.2.7" || fc.ActivePortMin != 40000 || fc.ActivePortMax != 40009 {
					t.Errorf("active settings: %+v", fc)
				}
			},
		},
		{
			name: "implicit with defaults",
			args: []string{"--upstream", "ftps://ftp.example.net/"},
			check: func(t *testing.T, fc ftpcore.Config) {
				if fc.TLS != ftpcore.TLSImplicit || fc.Addr != "ftp.example.net:990" {
					t.Errorf("TLS %v, Addr %s", fc.TLS, fc.Addr)
				}
				tc := fc.TLSConfig
				if tc == nil {
					t.Fatal("no TLSConfig")
				}
				if tc.RootCAs != nil || tc.ServerName != "ftp.example.net" || tc.MinVersion != tls.VersionTLS12 ||
					tc.InsecureSkipVerify || tc.ClientSessionCache != nil {
					t.Errorf("TLSConfig: RootCAs %v, ServerName %q, MinVersion %x, InsecureSkipVerify %v, ClientSessionCache %v",
						tc.RootCAs, tc.ServerName, tc.MinVersion, tc.InsecureSkipVerify, tc.ClientSessionCache)
				}
			},
		},
		{
			name: "explicit with every TLS flag",
			args: []string{"--upstream", "ftpes://10.0.0.5/", "--tls-ca-file", caFile, "--tls-server-name", "ftp.internal",
				"--tls-min-version", "1.3", "--tls-insecure-skip-verify", "--active"},
			check: func(t *testing.T, fc ftpcore.Config) {
				if fc.TLS != ftpcore.TLSExplicit || fc.Addr != "10.0.0.5:21" || !fc.Active {
					t.Errorf("TLS %v, Addr %s, Active %v", fc.TLS, fc.Addr, fc.Active)
				}
				tc := fc.TLSConfig
				if tc == nil {
					t.Fatal("no TLSConfig")
				}
				if tc.RootCAs == nil || !tc.RootCAs.Equal(pki.roots) {
					t.Errorf("RootCAs is not the pool of %s", caFile)
				}
				if tc.ServerName != "ftp.internal" || tc.MinVersion != tls.VersionTLS13 || !tc.InsecureSkipVerify {
					t.Errorf("TLSConfig: ServerName %q, MinVersion %x, InsecureSkipVerify %v", tc.ServerName, tc.MinVersion, tc.InsecureSkipVerify)
				}
			},
		},
	}
	logger := slog.New(slog.DiscardHandler)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(tt.args, envFrom(nil), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			fc := c.ftpConfig(logger)
			if fc.Logger != logger {
				t.Error("logger not passed on")
			}
			tt.check(t, fc)
		})
	}
}

// The startup log shows the scheme, the TLS and active settings, and
// never the password.
func TestConfigLogTLS(t *testing.T) {
	caFile := newTestPKI(t).writeCA(t)
	c, err := loadConfig([]string{"--upstream", "ftpes://u:topsecret@host/", "--tls-ca-file", caFile,
		"--tls-min-version", "1.3", "--active", "--active-ports", "5000-5009"}, envFrom(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", c)
	out := buf.String()
	if strings.Contains(out, "topsecret") {
		t.Fatalf("config log leaks the password: %s", out)
	}
	for _, want := range []string{
		`"scheme":"ftpes"`, `"active":true`, `"active_ports":"5000-5009"`,
		`"tls":{"ca_file":"` + caFile + `","server_name":"host","min_version":"1.3","insecure_skip_verify":false}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config log lacks %s: %s", want, out)
		}
	}
}

// testPKI is a CA and a server certificate it signed for 127.0.0.1 and
// localhost.
type testPKI struct {
	caPEM []byte
	roots *x509.CertPool
	cert  tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p, err := testpki.New("ftpgw test CA")
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{caPEM: p.CAPEM, roots: p.Roots, cert: p.Cert}
}

// writeCA writes the CA certificate to a PEM file and returns its name.
func (p *testPKI) writeCA(t *testing.T) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(name, p.caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// startGateway runs the gateway with args (plus --listen 127.0.0.1:0) and
// returns its base URL and a function that stops it, checks that it
// returned nil, and returns what it wrote to stderr.
func startGateway(t *testing.T, args []string) (base string, stop func() string) {
	t.Helper()
	return startGatewayEnv(t, args, nil)
}

// startGatewayEnv is startGateway with the environment env.
func startGatewayEnv(t *testing.T, args []string, env map[string]string) (base string, stop func() string) {
	t.Helper()
	cfg, err := loadConfig(append([]string{"--listen", "127.0.0.1:0", "--drain-pause", "0s", "--shutdown-timeout", "5s"}, args...), envFrom(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	listening := make(chan net.Addr, 1)
	cfg.onListening = func(a net.Addr) { listening <- a }
	ctx, cancel := context.WithCancel(t.Context())
	stderr := &logbuf.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, stderr) }()
	select {
	case a := <-listening:
		base = "http://" + a.String()
		registerContract(t, base, cfg)
	case err := <-done:
		cancel()
		t.Fatalf("run returned before listening: %v\n%s", err, stderr.String())
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("gateway not listening after 10s\n%s", stderr.String())
	}
	return base, func() string {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run = %v, want nil after cancel\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("run did not return within 10s of cancel\n%s", stderr.String())
		}
		return stderr.String()
	}
}

// The gateway against an FTPS server (ftptest, which demands TLS before
// USER and a resumed session on every data connection, as vsftpd can):
// explicit and implicit, passive and active, trusting a CA file written
// here. A CA that did not sign the server's certificate fails the
// request; --tls-insecure-skip-verify lets it through and warns.
func TestFTPSEndToEnd(t *testing.T) {
	pki := newTestPKI(t)
	caFile := pki.writeCA(t)
	otherCA := newTestPKI(t).writeCA(t)
	const content = "hello over FTPS\n"

	tests := []struct {
		name       string
		implicit   bool
		args       []string // after --upstream
		wantStatus int
		wantCmds   []string // command verbs the server must have seen
		wantLog    string
	}{
		{name: "explicit passive", args: []string{"--tls-ca-file", caFile}, wantStatus: 200, wantCmds: []string{"AUTH", "PBSZ", "PROT", "EPSV"}},
		{name: "implicit passive", implicit: true, args: []string{"--tls-ca-file", caFile}, wantStatus: 200, wantCmds: []string{"PBSZ", "PROT", "EPSV"}},
		{name: "explicit active", args: []string{"--tls-ca-file", caFile, "--active"}, wantStatus: 200, wantCmds: []string{"AUTH", "EPRT"}},
		{
			name:       "implicit active with address and ports",
			implicit:   true,
			args:       []string{"--tls-ca-file", caFile, "--tls-min-version", "1.3", "--active", "--active-addr", "127.0.0.1", "--active-ports", "42000-42199"},
			wantStatus: 200,
			wantCmds:   []string{"EPRT"},
		},
		{name: "server name", args: []string{"--tls-ca-file", caFile, "--tls-server-name", "localhost"}, wantStatus: 200, wantCmds: []string{"AUTH"}},
		{
			name:       "server name not in the certificate",
			args:       []string{"--tls-ca-file", caFile, "--tls-server-name", "elsewhere.example"},
			wantStatus: 502,
			wantLog:    "AUTH TLS handshake: tls: failed to verify certificate: x509: certificate is valid for localhost, not elsewhere.example",
		},
		{
			name:       "wrong CA",
			args:       []string{"--tls-ca-file", otherCA},
			wantStatus: 502,
			wantLog:    "AUTH TLS handshake: tls: failed to verify certificate: x509: certificate signed by unknown authority",
		},
		{
			name:       "system roots",
			implicit:   true,
			wantStatus: 502,
			wantLog:    "implicit TLS handshake: tls: failed to verify certificate: x509: certificate signed by unknown authority",
		},
		{
			name:       "insecure skip verify",
			args:       []string{"--tls-insecure-skip-verify"},
			wantStatus: 200,
			wantLog:    `"level":"WARN","msg":"--tls-insecure-skip-verify is set`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []ftptest.Option{ftptest.WithTLSRequired(), ftptest.WithTLSSessionReuse()}
			scheme := "ftpes"
			if tt.implicit {
				scheme = "ftps"
				opts = append(opts, ftptest.WithImplicitTLS(pki.serverConfig()))
			} else {
				opts = append(opts, ftptest.WithExplicitTLS(pki.serverConfig()))
			}
			s := ftptest.NewServer(t, opts...)
			s.PutFile("/pub/hello.txt", []byte(content), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

			base, stop := startGateway(t, append([]string{"--upstream", scheme + "://user:pass@" + s.Addr + "/pub"}, tt.args...))
			tr := &http.Transport{}
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			resp, err := client.Get(base + "/files/hello.txt")
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			tr.CloseIdleConnections()
			logs := stop()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("GET = %d, want %d; body: %s\n%s", resp.StatusCode, tt.wantStatus, body, logs)
			}
			if tt.wantStatus == 200 && string(body) != content {
				t.Errorf("body = %q, want %q", body, content)
			}

			cmds := s.Commands()
			verbs := map[string]bool{}
			for _, c := range cmds {
				verb, _, _ := strings.Cut(c, " ")
				verbs[strings.ToUpper(verb)] = true
			}
			for _, v := range tt.wantCmds {
				if !verbs[v] {
					t.Errorf("server never saw %s: %q", v, cmds)
				}
			}
			if tt.wantStatus == 200 {
				if total, resumed := s.TLSDataConns(); total == 0 || resumed != total {
					t.Errorf("TLS data connections: %d, %d resumed; want all of at least one", total, resumed)
				}
			} else if s.Logins() != 0 {
				t.Errorf("logged in %d times through an unverified connection", s.Logins())
			}
			for _, c := range cmds {
				if port, ok := strings.CutPrefix(c, "EPRT |1|127.0.0.1|"); ok && slices.Contains(tt.args, "--active-ports") {
					if n, _ := strconv.Atoi(strings.TrimSuffix(port, "|")); n < 42000 || n > 42199 {
						t.Errorf("%q: port outside --active-ports", c)
					}
				}
			}
			if tt.wantLog != "" && !strings.Contains(logs, tt.wantLog) {
				t.Errorf("logs lack %s:\n%s", tt.wantLog, logs)
			}
			if !slices.Contains(tt.args, "--tls-insecure-skip-verify") && strings.Contains(logs, "insecure-skip-verify is set") {
				t.Errorf("insecure warning without the flag:\n%s", logs)
			}
			if !strings.Contains(logs, `"scheme":"`+scheme+`"`) {
				t.Errorf("startup log lacks the scheme:\n%s", logs)
			}
		})
	}
}

// serverConfig is the server side: one *tls.Config for the server, so its
// session tickets resume on every connection.
func (p *testPKI) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.cert}}
}

// The limits given as flags reach the packages that keep them.
func TestLimitsPassedOn(t *testing.T) {
	c, err := loadConfig([]string{"--upstream", "ftp://h/", "--max-upload-size", "3KiB", "--abort-timeout", "3s", "--links", "follow", "--trusted-content",
		"--max-transfers", "3", "--max-client-transfers", "2", "--trusted-proxies", "10.0.0.0/8", "--max-ranges", "5", "--max-client-uploads", "7"}, envFrom(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if fc := c.ftpConfig(slog.New(slog.DiscardHandler)); fc.AbortTimeout != 3*time.Second {
		t.Errorf("ftpcore AbortTimeout = %v", fc.AbortTimeout)
	}
	if ac := c.apiConfig(nil, prometheus.NewRegistry(), nil); ac.MaxUploadSize != 3<<10 || ac.MinClientRate != 512 ||
		ac.MinClientRateWindow != 30*time.Second || ac.MaxTransferTime != 12*time.Hour ||
		ac.TempMaxAge != 24*time.Hour || ac.TempSweepInterval != time.Hour || ac.Links != api.LinksFollow || !ac.TrustedContent {
		t.Errorf("api config: MaxUploadSize %d, MinClientRate %d, window %v, MaxTransferTime %v, TempMaxAge %v, TempSweepInterval %v, Links %v, TrustedContent %v",
			ac.MaxUploadSize, ac.MinClientRate, ac.MinClientRateWindow, ac.MaxTransferTime, ac.TempMaxAge, ac.TempSweepInterval, ac.Links, ac.TrustedContent)
	}
	if ac := c.apiConfig(nil, prometheus.NewRegistry(), nil); ac.MaxTransfers != 3 || ac.MaxClientTransfers != 2 ||
		!slices.Equal(ac.TrustedProxies, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}) {
		t.Errorf("api config: MaxTransfers %d, MaxClientTransfers %d, TrustedProxies %v", ac.MaxTransfers, ac.MaxClientTransfers, ac.TrustedProxies)
	}
	if ac := c.apiConfig(nil, prometheus.NewRegistry(), nil); ac.MaxRanges != 5 || ac.MaxClientUploads != 7 {
		t.Errorf("api config: MaxRanges %d, MaxClientUploads %d, want 5 and 7", ac.MaxRanges, ac.MaxClientUploads)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", c)
	if !strings.Contains(buf.String(), `"max_transfers":3,"max_client_transfers":2,"trusted_proxies":["10.0.0.0/8"],"max_ranges":5,"max_client_uploads":7`) {
		t.Errorf("startup log lacks the transfer caps: %s", buf.String())
	}
}
