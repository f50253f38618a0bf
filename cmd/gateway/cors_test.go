package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
)

// TestCORSFlags: the --cors- flags (and their environment variables) make
// the api's CORS policy; a wrong entry is refused naming the flag and the
// entry, and so are a wildcard with credentials and CORS settings without
// origins.
func TestCORSFlags(t *testing.T) {
	up := []string{"--upstream", "ftp://host/"}
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    *api.CORS
		wantErr string
	}{
		{name: "none by default"},
		{name: "origins", args: []string{"--cors-origins", "https://app.example.com, http://localhost:3000,https://*.example.org,"},
			want: &api.CORS{AllowedOrigins: []string{"https://app.example.com", "http://localhost:3000", "https://*.example.org"}, MaxAge: 10 * time.Minute}},
		{name: "everything", args: []string{"--cors-origins", "https://app.example.com", "--cors-credentials", "--cors-max-age", "1h",
			"--cors-headers", "X-Client-Version", "--cors-expose-headers", "X-Served-By,X-Cache"},
			want: &api.CORS{AllowedOrigins: []string{"https://app.example.com"}, AllowCredentials: true, MaxAge: time.Hour,
				AllowedHeaders: []string{"X-Client-Version"}, ExposedHeaders: []string{"X-Served-By", "X-Cache"}}},
		{name: "from the environment", env: map[string]string{"FTPGW_CORS_ORIGINS": "*", "FTPGW_CORS_MAX_AGE": "0s"},
			want: &api.CORS{AllowedOrigins: []string{"*"}, MaxAge: -1}},
		{name: "any with credentials", args: []string{"--cors-origins", "*", "--cors-credentials"},
			wantErr: `--cors-origins: allowed origin "*" cannot be combined with credentials`},
		{name: "any with credentials from the environment", env: map[string]string{"FTPGW_CORS_ORIGINS": "*", "FTPGW_CORS_CREDENTIALS": "true"},
			wantErr: `--cors-origins: allowed origin "*" cannot be combined with credentials`},
		{name: "a path", args: []string{"--cors-origins", "https://ok.example,https://app.example.com/"},
			wantErr: `--cors-origins: allowed origin "https://app.example.com/": an origin has no path, query or fragment: write https://app.example.com`},
		{name: "no scheme", args: []string{"--cors-origins", "app.example.com"}, wantErr: `--cors-origins: allowed origin "app.example.com": an origin is scheme://host[:port]`},
		{name: "a bad pattern", args: []string{"--cors-origins", "https://app.*.example.com"}, wantErr: `--cors-origins: allowed origin "https://app.*.example.com": * may only be the whole first label`},
		{name: "a bad port", args: []string{"--cors-origins", "http://localhost:99999"}, wantErr: `--cors-origins: allowed origin "http://localhost:99999": port "99999"`},
		{name: "a bad header", args: []string{"--cors-origins", "*", "--cors-headers", "X-Ok,X Bad"}, wantErr: `--cors-headers: allowed header "X Bad" is not an HTTP field name`},
		{name: "a bad exposed header", args: []string{"--cors-origins", "*", "--cors-expose-headers", "X:Y"}, wantErr: `--cors-expose-headers: exposed header "X:Y" is not an HTTP field name`},
		{name: "only commas", args: []string{"--cors-origins", " , "}, wantErr: "--cors-origins: no allowed origin"},
		{name: "negative max age", args: []string{"--cors-origins", "*", "--cors-max-age", "-1s"}, wantErr: "--cors-max-age must not be negative"},
		{name: "credentials without origins", args: []string{"--cors-credentials", "--cors-max-age", "1m"},
			wantErr: "--cors-credentials, --cors-max-age: CORS settings without --cors-origins, where they would do nothing"},
		{name: "headers without origins", env: map[string]string{"FTPGW_CORS_HEADERS": "X-A"}, wantErr: "--cors-headers: CORS settings without --cors-origins"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(append(slices.Clone(up), tc.args...), envFrom(tc.env), io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := c.apiConfig(nil, nil, nil).CORS
			if (got == nil) != (tc.want == nil) || got != nil && !equalCORS(got, tc.want) {
				t.Errorf("CORS %+v, want %+v", got, tc.want)
			}
		})
	}
}

func equalCORS(a, b *api.CORS) bool {
	return slices.Equal(a.AllowedOrigins, b.AllowedOrigins) && slices.Equal(a.AllowedMethods, b.AllowedMethods) &&
		slices.Equal(a.AllowedHeaders, b.AllowedHeaders) && slices.Equal(a.ExposedHeaders, b.ExposedHeaders) &&
		a.MaxAge == b.MaxAge && a.AllowCredentials == b.AllowCredentials
}

// TestCORSLog: the startup line says what CORS allows, or that it is off.
func TestCORSLog(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, `"cors":"off"`},
		{[]string{"--cors-origins", "https://a.example,https://*.example.org", "--cors-credentials", "--cors-headers", "X-A"},
			`"cors":{"origins":"https://a.example,https://*.example.org","extra_headers":"X-A","max_age":"10m0s","credentials":true}`},
		{[]string{"--cors-origins", "*", "--cors-max-age", "0s"}, `"cors":{"origins":"*","max_age":"0s","credentials":false}`},
	} {
		c, err := loadConfig(append([]string{"--upstream", "ftp://host/"}, tc.args...), envFrom(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", c)
		if !strings.Contains(buf.String(), tc.want) {
			t.Errorf("%q: the startup line lacks %s:\n%s", tc.args, tc.want, buf.String())
		}
	}
}

// TestCORSEndToEnd runs the gateway with the flags of the README's
// example: a page of the allowed origin gets its preflight answered and
// can read a file, with credentials; another origin's page cannot.
func TestCORSEndToEnd(t *testing.T) {
	base, stop := startGateway(t, []string{"--demo", "--cors-origins", "https://app.example.com,https://*.example.org", "--cors-credentials"})
	defer stop()
	do := func(method, origin string, want int, hdr ...string) http.Header {
		t.Helper()
		req, err := http.NewRequest(method, base+"/files/hello.txt", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s from %s: %d, want %d", method, origin, resp.StatusCode, want)
		}
		return resp.Header
	}
	for _, origin := range []string{"https://app.example.com", "https://a.example.org"} {
		h := do("OPTIONS", origin, 204, "Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "content-type")
		if h.Get("Access-Control-Allow-Origin") != origin || h.Get("Access-Control-Allow-Credentials") != "true" ||
			h.Get("Access-Control-Allow-Headers") != "content-type" || h.Get("Access-Control-Max-Age") != "600" {
			t.Errorf("preflight from %s: %v", origin, h)
		}
		h = do("GET", origin, 206, "Range", "bytes=0-1")
		if h.Get("Access-Control-Allow-Origin") != origin || h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Vary") != "Origin" {
			t.Errorf("GET from %s: %v", origin, h)
		}
	}
	h := do("GET", "https://evil.example.net", 200)
	if h.Get("Access-Control-Allow-Origin") != "" || h.Get("Vary") != "Origin" {
		t.Errorf("GET from another origin: %v", h)
	}
}
