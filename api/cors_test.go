package api_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/contract"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/pool"
)

// The origins of the CORS tests: appOrigin's pages may call the gateway,
// and so may any host under example.org; evilOrigin's may not.
const (
	appOrigin  = "https://app.example.com"
	evilOrigin = "https://evil.example.net"
	varyCORS   = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
)

func corsPolicy() *api.CORS {
	return &api.CORS{AllowedOrigins: []string{appOrigin, "https://*.example.org"}}
}

// noRedirects is an HTTP client that shows a redirect instead of
// following it.
var noRedirects = &http.Client{
	Transport:     contract.Transport{Next: &http.Transport{}},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// corsFetch runs a request on url (following no redirect) and returns
// status, headers and the whole body.
func corsFetch(t *testing.T, method, url string, body io.Reader, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirects.Do(withTest(t, req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, b
}

// preflight sends a browser's preflight for method with the request
// headers reqHeaders (as a browser lists them: lower case, sorted).
func preflight(t *testing.T, url, origin, method, reqHeaders string) (int, http.Header) {
	t.Helper()
	hdr := []string{"Origin", origin, "Access-Control-Request-Method", method}
	if reqHeaders != "" {
		hdr = append(hdr, "Access-Control-Request-Headers", reqHeaders)
	}
	status, h, body := corsFetch(t, "OPTIONS", url, nil, hdr...)
	if len(body) != 0 {
		t.Errorf("preflight %s %s: a body %q", method, url, body)
	}
	return status, h
}

// corsHeaderNames are the headers of the CORS protocol a response may
// carry.
var corsHeaderNames = []string{
	"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
	"Access-Control-Max-Age", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers",
}

// noCORS says which CORS headers h has; "" if none.
func noCORS(h http.Header) string {
	var got []string
	for _, k := range corsHeaderNames {
		if v := h.Values(k); len(v) > 0 {
			got = append(got, k+": "+strings.Join(v, ", "))
		}
	}
	return strings.Join(got, "; ")
}

// listHas reports whether the comma-separated list headers of h hold
// every name of want, without regard to case.
func listHas(h http.Header, key string, want ...string) bool {
	var have []string
	for _, v := range h.Values(key) {
		for item := range strings.SplitSeq(v, ",") {
			have = append(have, strings.ToLower(strings.TrimSpace(item)))
		}
	}
	for _, w := range want {
		if !slices.Contains(have, strings.ToLower(w)) {
			return false
		}
	}
	return true
}

// TestCORSPreflight: with tokens required, a browser's preflights for a
// ranged GET, a PUT and a DELETE are answered 204 without a token, with
// the origin echoed, the methods, the requested headers that are allowed
// (and not one that is not), Max-Age and Vary; an origin not allowed (a
// look-alike host, another scheme or port) gets no CORS header and no
// challenge either. Nothing reaches the FTP server. Before CORS, every
// one of these preflights got 405.
func TestCORSPreflight(t *testing.T) {
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{tokens: authTokens(t), cors: corsPolicy()})
	for _, row := range []struct {
		name, path, origin, method, reqHeaders string
		allowHeaders                           string // "" for none; else exactly
		allowed                                bool
	}{
		{"GET with Range", "/files/f.bin", appOrigin, "GET", "authorization,range", "authorization, range", true},
		{"PUT", "/files/dir/new.txt", appOrigin, "PUT", "authorization,content-type,if-match", "authorization, content-type, if-match", true},
		{"DELETE", "/files/f.bin", appOrigin, "DELETE", "authorization", "authorization", true},
		{"resumable upload", "/files/big.bin", appOrigin, "POST", "upload-complete,upload-draft-interop-version", "upload-complete, upload-draft-interop-version", true},
		{"no request headers", "/files/f.bin", appOrigin, "GET", "", "", true},
		{"a header not allowed", "/files/f.bin", appOrigin, "GET", "range,x-secret", "range", true},
		{"only headers not allowed", "/files/f.bin", appOrigin, "PUT", "cookie,x-secret", "", true},
		{"the mount itself", "/files", appOrigin, "GET", "authorization", "authorization", true},
		{"a directory", "/files/dir/", appOrigin, "GET", "authorization", "authorization", true},
		{"pattern", "/files/f.bin", "https://a.example.org", "PUT", "authorization", "authorization", true},
		{"pattern, two labels", "/files/f.bin", "https://a.b.example.org", "DELETE", "authorization", "authorization", true},
		{"disallowed origin", "/files/f.bin", evilOrigin, "DELETE", "authorization", "", false},
		{"look-alike suffix", "/files/f.bin", "https://evil.example.org.attacker.net", "PUT", "authorization", "", false},
		{"look-alike prefix", "/files/f.bin", "https://app.example.com.attacker.net", "PUT", "authorization", "", false},
		{"pattern's bare domain", "/files/f.bin", "https://example.org", "PUT", "authorization", "", false},
		{"http, not https", "/files/f.bin", "http://app.example.com", "PUT", "authorization", "", false},
		{"pattern over http", "/files/f.bin", "http://a.example.org", "PUT", "authorization", "", false},
		{"another port", "/files/f.bin", "https://app.example.com:8443", "PUT", "authorization", "", false},
		{"null origin", "/files/f.bin", "null", "PUT", "authorization", "", false},
	} {
		before := len(g.commands())
		status, h := preflight(t, g.url(row.path), row.origin, row.method, row.reqHeaders)
		if status != http.StatusNoContent {
			t.Errorf("%s: %d, want 204", row.name, status)
			continue
		}
		if c := h.Get("WWW-Authenticate"); c != "" {
			t.Errorf("%s: a challenge %q: a preflight carries no token", row.name, c)
		}
		if v := h.Get("Vary"); v != varyCORS {
			t.Errorf("%s: Vary %q, want %q", row.name, v, varyCORS)
		}
		if msg := reachNothing.check(g.commands()[before:]); msg != "" {
			t.Errorf("%s: %s", row.name, msg)
		}
		if !row.allowed {
			if got := noCORS(h); got != "" {
				t.Errorf("%s: CORS headers for an origin not allowed: %s", row.name, got)
			}
			continue
		}
		if o := h.Values("Access-Control-Allow-Origin"); len(o) != 1 || o[0] != row.origin {
			t.Errorf("%s: Access-Control-Allow-Origin %q, want %q", row.name, o, row.origin)
		}
		if m := h.Get("Access-Control-Allow-Methods"); m != "GET, HEAD, PUT, DELETE, POST, PATCH, OPTIONS, MKCOL, MOVE" {
			t.Errorf("%s: Access-Control-Allow-Methods %q", row.name, m)
		}
		if got := h.Get("Access-Control-Allow-Headers"); got != row.allowHeaders {
			t.Errorf("%s: Access-Control-Allow-Headers %q, want %q", row.name, got, row.allowHeaders)
		}
		if a := h.Get("Access-Control-Max-Age"); a != "600" {
			t.Errorf("%s: Access-Control-Max-Age %q, want 600", row.name, a)
		}
		if c := h.Get("Access-Control-Allow-Credentials"); c != "" {
			t.Errorf("%s: Access-Control-Allow-Credentials %q without credentials", row.name, c)
		}
		if e := h.Get("Access-Control-Expose-Headers"); e != "" {
			t.Errorf("%s: a preflight exposes %q", row.name, e)
		}
	}
}

// corsRow is a request of TestCORSEveryStatus.
type corsRow struct {
	name, method, path, body string
	hdr                      []string
	status                   int
}

// TestCORSEveryStatus: with tokens required, every answer under the mount
// (2xx, the redirect, 304, the token check's 401 and 403, the handlers'
// 4xx, the framing check's 400 and a 5xx) carries, for an allowed origin,
// the origin, the exposed headers (WWW-Authenticate and Content-Range
// among them) and Vary: Origin; for an origin not allowed, and for none,
// Vary: Origin alone, the request being served all the same. /healthz
// and /metrics are not the backend's and have none.
func TestCORSEveryStatus(t *testing.T) {
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{tokens: authTokens(t), cors: corsPolicy()})
	g.ftpd.WriteFile(t, "f.txt", []byte("0123456789"))
	g.ftpd.WriteFile(t, "dir/g.txt", []byte("g"))
	bearer := []string{"Authorization", "Bearer " + tokAll}
	_, h, _ := g.fetch(t, "HEAD", "/files/f.txt", nil, bearer...)
	etag := h.Get("ETag")
	if etag == "" {
		g.settle(t, "f.txt")
		_, h, _ = g.fetch(t, "HEAD", "/files/f.txt", nil, bearer...)
		if etag = h.Get("ETag"); etag == "" {
			t.Fatal("f.txt has no ETag")
		}
	}
	with := func(kv ...string) []string { return append(slices.Clone(bearer), kv...) }
	rows := []corsRow{
		{"GET", "GET", "/files/f.txt", "", bearer, 200},
		{"HEAD", "HEAD", "/files/f.txt", "", bearer, 200},
		{"range", "GET", "/files/f.txt", "", with("Range", "bytes=2-4"), 206},
		{"not modified", "GET", "/files/f.txt", "", with("If-None-Match", etag), 304},
		{"listing", "GET", "/files/dir/", "", bearer, 200},
		{"the mount redirects", "GET", "/files", "", bearer, 301},
		{"PUT", "PUT", "/files/dir/new.txt", "new", bearer, 201},
		{"DELETE", "DELETE", "/files/dir/new.txt", "", bearer, 204},
		{"OPTIONS", "OPTIONS", "/files/f.txt", "", nil, 204},
		{"no token", "GET", "/files/f.txt", "", nil, 401},
		{"no token PUT", "PUT", "/files/x.txt", "x", nil, 401},
		{"wrong token", "GET", "/files/f.txt", "", []string{"Authorization", "Bearer " + tokWrong}, 401},
		{"scope", "DELETE", "/files/f.txt", "", []string{"Authorization", "Bearer " + tokReader}, 403},
		{"missing", "GET", "/files/nope.txt", "", bearer, 404},
		{"bad path", "GET", "/files/a%00b", "", bearer, 400},
		{"method", "PATCH", "/files/f.txt", "x", bearer, 405},
		{"precondition", "PUT", "/files/f.txt", "x", with("If-Match", `"nope"`), 412},
		{"range not satisfiable", "GET", "/files/f.txt", "", with("Range", "bytes=100-"), 416},
	}
	for _, origin := range []string{appOrigin, "https://x.example.org", evilOrigin, ""} {
		for _, row := range rows {
			hdr := row.hdr
			if origin != "" {
				hdr = append(slices.Clone(hdr), "Origin", origin)
			}
			var body io.Reader
			if row.body != "" {
				body = strings.NewReader(row.body)
			}
			status, h, b := corsFetch(t, row.method, g.url(row.path), body, hdr...)
			name := row.name + " from " + origin
			if status != row.status {
				t.Errorf("%s: %d, want %d; %.200q", name, status, row.status, b)
				continue
			}
			checkCORSActual(t, name, h, origin, origin == appOrigin || origin == "https://x.example.org")
			checkContract(t, row.method, g.url(row.path), status, h, b)
		}
	}

	// The framing check's 400, before the router.
	resps, _, _ := pipeline(t, g.http.Listener.Addr().String(), "PUT /files/f.txt HTTP/1.1\r\nHost: x\r\nOrigin: "+appOrigin+
		"\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode != 400 {
		t.Fatalf("a request framed two ways: %v", resps)
	}
	checkCORSActual(t, "framing", resps[0].Header, appOrigin, true)

	// A listing varies by Accept too.
	_, h, _ = corsFetch(t, "GET", g.url("/files/dir/"), nil, with("Origin", appOrigin)...)
	if !listHas(h, "Vary", "Origin", "Accept") {
		t.Errorf("listing: Vary %q, want Origin and Accept", h.Values("Vary"))
	}

	// The gateway's own paths are not the backend's.
	for _, p := range []string{"/healthz", "/metrics", "/nowhere"} {
		_, h, _ := corsFetch(t, "GET", g.url(p), nil, "Origin", appOrigin)
		if got := noCORS(h); got != "" || listHas(h, "Vary", "Origin") {
			t.Errorf("%s: %s, Vary %q", p, got, h.Values("Vary"))
		}
	}

	// A 5xx: the FTP server is gone.
	g.ftpd.Kill(t)
	status, h, b := corsFetch(t, "GET", g.url("/files/f.txt"), nil, with("Origin", appOrigin)...)
	if status < 500 {
		t.Fatalf("GET with the FTP server down: %d %.200q", status, b)
	}
	checkCORSActual(t, "5xx", h, appOrigin, true)
	checkContract(t, "GET", g.url("/files/f.txt"), status, h, b)
}

// checkCORSActual checks the CORS headers of the answer h to an actual
// request from origin ("" for none).
func checkCORSActual(t *testing.T, name string, h http.Header, origin string, allowed bool) {
	t.Helper()
	if !listHas(h, "Vary", "Origin") {
		t.Errorf("%s: Vary %q, want Origin", name, h.Values("Vary"))
	}
	if !allowed {
		if got := noCORS(h); got != "" {
			t.Errorf("%s: %s", name, got)
		}
		return
	}
	if o := h.Values("Access-Control-Allow-Origin"); len(o) != 1 || o[0] != origin {
		t.Errorf("%s: Access-Control-Allow-Origin %q, want %q", name, o, origin)
	}
	if !listHas(h, "Access-Control-Expose-Headers", "WWW-Authenticate", "Content-Range", "ETag", "Content-Disposition", "Location", "Retry-After", "X-Request-Id", "Upload-Offset", "Tus-Resumable") {
		t.Errorf("%s: Access-Control-Expose-Headers %q", name, h.Values("Access-Control-Expose-Headers"))
	}
	for _, k := range []string{"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age"} {
		if v := h.Values(k); len(v) > 0 {
			t.Errorf("%s: %s %q on an actual request", name, k, v)
		}
	}
}

// TestCORSCredentials: with credentials allowed, preflights and actual
// requests say so, and the origin is echoed, for a pattern too; a policy
// of any origin answers *, and says nothing of credentials.
func TestCORSCredentials(t *testing.T) {
	cred := corsPolicy()
	cred.AllowCredentials = true
	cred.MaxAge = 90 * time.Second
	cred.AllowedHeaders = []string{"X-Client-Version"}
	cred.ExposedHeaders = []string{"X-Served-By"}
	anyOrigin := &api.CORS{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET", "HEAD"}, MaxAge: -1}
	ftpd := realftpd.Start(t, realftpd.Vsftpd, realftpd.Options{})
	ftpd.WriteFile(t, "f.txt", []byte("f"))
	for _, tc := range []struct {
		name            string
		cors            *api.CORS
		origin, allow   string
		cred            string
		methods, maxAge string
		reqHeaders      string
	}{
		{"credentials", cred, appOrigin, appOrigin, "true", "GET, HEAD, PUT, DELETE, POST, PATCH, OPTIONS, MKCOL, MOVE", "90", "authorization, x-client-version"},
		{"credentials, pattern", cred, "https://a.example.org", "https://a.example.org", "true", "GET, HEAD, PUT, DELETE, POST, PATCH, OPTIONS, MKCOL, MOVE", "90", "authorization, x-client-version"},
		{"any origin", anyOrigin, evilOrigin, "*", "", "GET, HEAD", "0", "authorization"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := serveBackend(t, ftpd, api.Config{CORS: tc.cors}) + "/files/f.txt"
			status, h := preflight(t, url, tc.origin, "GET", "authorization,x-client-version")
			if status != 204 || h.Get("Access-Control-Allow-Origin") != tc.allow || h.Get("Access-Control-Allow-Credentials") != tc.cred ||
				h.Get("Access-Control-Allow-Methods") != tc.methods || h.Get("Access-Control-Max-Age") != tc.maxAge ||
				h.Get("Access-Control-Allow-Headers") != tc.reqHeaders {
				t.Errorf("preflight: %d, %s", status, noCORS(h))
			}
			status, h, _ = corsFetch(t, "GET", url, nil, "Origin", tc.origin)
			if status != 200 || h.Get("Access-Control-Allow-Origin") != tc.allow || h.Get("Access-Control-Allow-Credentials") != tc.cred {
				t.Errorf("GET: %d, %s", status, noCORS(h))
			}
			if (tc.cors == cred) != listHas(h, "Access-Control-Expose-Headers", "X-Served-By", "WWW-Authenticate") {
				t.Errorf("GET: Access-Control-Expose-Headers %q", h.Values("Access-Control-Expose-Headers"))
			}
		})
	}
}

// serveBackend serves the files of ftpd with cfg (its Pool made here)
// and returns the base URL.
func serveBackend(t *testing.T, ftpd *realftpd.Server, cfg api.Config) string {
	t.Helper()
	cfg.Pool = newTestPool(t, ftpd)
	h := api.New(cfg)
	ts := serveGateway(h)
	t.Cleanup(func() {
		ts.Close()
		h.Close()
	})
	return ts.URL
}

// newTestPool is a pool of sessions to ftpd, closed at the end of t.
func newTestPool(t *testing.T, ftpd *realftpd.Server) *pool.Pool {
	t.Helper()
	p, err := pool.New(pool.Config{Name: string(ftpd.Kind), MaxSessions: 2, Conn: ftpcore.Config{
		Addr: ftpd.Addr, User: ftpd.User, Password: ftpd.Password,
		CommandTimeout: 10 * time.Second, DataTimeout: 20 * time.Second, Logger: slog.New(slog.DiscardHandler),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// TestCORSPerBackend: two backends joined on one handler, at /a/ and /b/,
// each answer with their own policy; a path of neither, and the
// gateway's own, with none.
func TestCORSPerBackend(t *testing.T) {
	ftpd := realftpd.Start(t, realftpd.Vsftpd, realftpd.Options{})
	ftpd.WriteFile(t, "f.txt", []byte("f"))
	const originA, originB = "https://a.example", "http://localhost:3000"
	a := api.New(api.Config{Pool: newTestPool(t, ftpd), Mount: "/a/", CORS: &api.CORS{AllowedOrigins: []string{originA}, AllowCredentials: true}})
	b := api.New(api.Config{Pool: newTestPool(t, ftpd), Mount: "/b/", CORS: &api.CORS{AllowedOrigins: []string{originB}, MaxAge: time.Minute}})
	c := api.New(api.Config{Pool: newTestPool(t, ftpd), Mount: "/c/"})
	ts := httptest.NewServer(api.Join(a, b, c))
	mountsAt(t, ts.URL, "/a/", "/b/", "/c/")
	t.Cleanup(func() {
		ts.Close()
		a.Close()
		b.Close()
		c.Close()
	})
	for _, tc := range []struct {
		path, origin string
		allowed      bool
		cred, maxAge string
	}{
		{"/a/f.txt", originA, true, "true", "600"},
		{"/a/f.txt", originB, false, "", ""},
		{"/b/f.txt", originB, true, "", "60"},
		{"/b/f.txt", originA, false, "", ""},
		{"/c/f.txt", originA, false, "", ""},
		{"/c/f.txt", originB, false, "", ""},
	} {
		name := tc.path + " from " + tc.origin
		status, h := preflight(t, ts.URL+tc.path, tc.origin, "PUT", "authorization")
		if status != 204 {
			t.Errorf("%s: preflight %d", name, status)
		}
		if !tc.allowed {
			if got := noCORS(h); got != "" {
				t.Errorf("%s: preflight: %s", name, got)
			}
		} else if h.Get("Access-Control-Allow-Origin") != tc.origin || h.Get("Access-Control-Allow-Credentials") != tc.cred || h.Get("Access-Control-Max-Age") != tc.maxAge {
			t.Errorf("%s: preflight: %s", name, noCORS(h))
		}
		status, h, _ = corsFetch(t, "GET", ts.URL+tc.path, nil, "Origin", tc.origin)
		if status != 200 {
			t.Errorf("%s: GET %d", name, status)
		}
		if strings.HasPrefix(tc.path, "/c/") {
			if got := noCORS(h); got != "" || len(h.Values("Vary")) > 0 {
				t.Errorf("%s: a backend without CORS: %s, Vary %q", name, got, h.Values("Vary"))
			}
			continue
		}
		checkCORSActual(t, name, h, tc.origin, tc.allowed)
		if h.Get("Access-Control-Allow-Credentials") != tc.cred {
			t.Errorf("%s: GET: Access-Control-Allow-Credentials %q", name, h.Get("Access-Control-Allow-Credentials"))
		}
	}
	for _, p := range []string{"/healthz", "/nowhere"} {
		_, h, _ := corsFetch(t, "GET", ts.URL+p, nil, "Origin", originA)
		if got := noCORS(h); got != "" || len(h.Values("Vary")) > 0 {
			t.Errorf("%s: %s, Vary %q", p, got, h.Values("Vary"))
		}
	}
}

// TestCORSOff: without a policy, no response has a CORS header, nor
// Vary: Origin; OPTIONS on the mount, a preflight too, is 204 with Allow,
// where it was 405 before; the 405 of another method lists OPTIONS.
func TestCORSOff(t *testing.T) {
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{tokens: authTokens(t)})
	g.ftpd.WriteFile(t, "f.txt", []byte("f"))
	for p, allow := range map[string]string{"/files/f.txt": "GET, HEAD, PUT, POST, DELETE, MKCOL, MOVE, OPTIONS",
		"/files/": "GET, HEAD, POST, OPTIONS", "/files": "GET, HEAD, POST, OPTIONS"} {
		before := len(g.commands())
		status, h, _ := corsFetch(t, "OPTIONS", g.url(p), nil)
		if status != 204 || h.Get("Allow") != allow || h.Get("WWW-Authenticate") != "" {
			t.Errorf("OPTIONS %s: %d, Allow %q, WWW-Authenticate %q", p, status, h.Get("Allow"), h.Get("WWW-Authenticate"))
		}
		if msg := reachNothing.check(g.commands()[before:]); msg != "" {
			t.Errorf("OPTIONS %s: %s", p, msg)
		}
		status, h = preflight(t, g.url(p), appOrigin, "PUT", "authorization")
		if status != 204 || noCORS(h) != "" || len(h.Values("Vary")) > 0 {
			t.Errorf("preflight %s: %d, %s, Vary %q", p, status, noCORS(h), h.Values("Vary"))
		}
	}
	status, h, _ := corsFetch(t, "GET", g.url("/files/f.txt"), nil, "Origin", appOrigin, "Authorization", "Bearer "+tokAll)
	if status != 200 || noCORS(h) != "" || len(h.Values("Vary")) > 0 {
		t.Errorf("GET: %d, %s, Vary %q", status, noCORS(h), h.Values("Vary"))
	}
	status, h, _ = corsFetch(t, "PATCH", g.url("/files/f.txt"), nil, "Authorization", "Bearer "+tokAll)
	if status != 405 || h.Get("Allow") != "GET, HEAD, PUT, POST, DELETE, MKCOL, MOVE, OPTIONS" {
		t.Errorf("PATCH: %d, Allow %q", status, h.Get("Allow"))
	}
}

// TestCORSUploadFlow is what a page does on every server of the matrix:
// preflight and PUT, GET back, preflight and DELETE, each answer readable
// by the page.
func TestCORSUploadFlow(t *testing.T) {
	forEachServerWith(t, gatewayOptions{cors: corsPolicy()}, func(t *testing.T, g *gateway) {
		const p = "/files/from-page.txt"
		steps := []struct {
			method, body string
			hdr          []string
			status       int
			want         string
		}{
			{"PUT", "from a page", []string{"Content-Type", "text/plain"}, 201, ""},
			{"GET", "", []string{"Range", "bytes=5-"}, 206, "a page"},
			{"DELETE", "", nil, 204, ""},
			{"GET", "", nil, 404, ""},
		}
		for _, s := range steps {
			if status, h := preflight(t, g.url(p), appOrigin, s.method, "content-type,range"); status != 204 ||
				h.Get("Access-Control-Allow-Origin") != appOrigin || !listHas(h, "Access-Control-Allow-Methods", s.method) {
				t.Fatalf("preflight %s: %d, %s", s.method, status, noCORS(h))
			}
			var body io.Reader
			if s.body != "" {
				body = strings.NewReader(s.body)
			}
			status, h, b := corsFetch(t, s.method, g.url(p), body, append(slices.Clone(s.hdr), "Origin", appOrigin)...)
			if status != s.status || (s.want != "" && string(b) != s.want) {
				t.Fatalf("%s: %d %q, want %d %q", s.method, status, b, s.status, s.want)
			}
			checkCORSActual(t, s.method, h, appOrigin, true)
		}
	})
}
