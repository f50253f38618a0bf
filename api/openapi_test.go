package api_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw"
	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/contract"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/pool"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"
)

// checkContract checks the response to method on rawURL, of a gateway
// whose backends have mounts (api.DefaultMount if none are given),
// against openapi.yaml (contract.Check): for tests that fetch with
// helpers of their own.
func checkContract(t *testing.T, method, rawURL string, status int, h http.Header, body []byte, mounts ...string) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) == 0 {
		mounts = []string{api.DefaultMount}
	}
	contract.Check(t, contract.MountOf(mounts, req.URL.Path), req, status, h, body, true)
}

// specDoc is openapi.yaml, loaded, or t fails.
func specDoc(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := contract.Doc()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestOpenAPIRoutes walks the router of a Server with every feature on
// (tokens, signed URLs, CORS, metrics): every route and method it serves
// is in openapi.yaml, and every path and method there is served. A route
// for every method (the mount's redirect) is documented by its GET, HEAD
// and OPTIONS.
func TestOpenAPIRoutes(t *testing.T) {
	doc := specDoc(t)
	p, err := pool.New(pool.Config{Name: "walk", Conn: ftpcore.Config{Addr: "127.0.0.1:1", User: "u", Password: "p"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := api.New(api.Config{Pool: p, Tokens: authTokens(t), Signer: testSigner(t, "k1 "+signKey1+"\n"), CORS: corsPolicy(),
		Metrics: http.NotFoundHandler()})
	defer s.Close()

	served := map[string][]string{} // spec path: methods
	err = chi.Walk(api.Router(s), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		paths := []string{route}
		if route == api.DefaultMount+"*" {
			paths = contract.MountPaths[1:]
		} else if route+"/" == api.DefaultMount {
			paths = contract.MountPaths[:1]
		}
		for _, p := range paths {
			served[p] = append(served[p], method)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, methods := range served {
		item := doc.Paths.Value(p)
		if item == nil {
			t.Errorf("%s %v: not in the spec", p, methods)
			continue
		}
		if slices.Contains(methods, http.MethodTrace) && slices.Contains(methods, http.MethodConnect) {
			// Every method: a catch-all.
			methods = []string{http.MethodGet, http.MethodHead, http.MethodOptions}
		}
		for _, m := range methods {
			if item.GetOperation(m) == nil {
				t.Errorf("%s %s: served, not in the spec", m, p)
			}
		}
		for m := range item.Operations() {
			if !slices.Contains(methods, m) {
				t.Errorf("%s %s: in the spec, not served", m, p)
			}
		}
	}
	for p := range doc.Paths.Map() {
		if served[p] == nil {
			t.Errorf("%s: in the spec, not served", p)
		}
	}
}

// contractClient sends requests to a gateway at base, whose backends
// have mounts, and checks every response against openapi.yaml.
type contractClient struct {
	t    *testing.T
	base string
}

func newContractClient(t *testing.T, base string, mounts ...string) *contractClient {
	mountsAt(t, base, mounts...)
	return &contractClient{t: t, base: base}
}

// fetch sends the request (following no redirect), checks the response
// against the contract (corsFetch's transport does) and that its status
// is want, and returns headers and body.
func (cc *contractClient) fetch(want int, method, p string, body []byte, hdr ...string) (http.Header, []byte) {
	t := cc.t
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	status, h, b := corsFetch(t, method, cc.base+p, rd, hdr...)
	if status != want {
		t.Errorf("%s %s: status %d, want %d; body %s", method, p, status, want, b)
	}
	return h, b
}

// TestOpenAPIContract runs requests of every route and every status that
// is cheap to bring about, with tokens, signed URLs and CORS on, on every
// server of the matrix (FTPS included), and checks each response against
// openapi.yaml: status, headers both ways, body.
func TestOpenAPIContract(t *testing.T) {
	signer := testSigner(t, "k1 "+signKey1+"\n")
	forEachServerWith(t, gatewayOptions{tokens: authTokens(t), signer: signer, cors: corsPolicy(), maxUpload: 1 << 10}, func(t *testing.T, g *gateway) {
		contractRequests(t, g, signer)
	})
}

// contractRequests are TestOpenAPIContract's requests, on g.
func contractRequests(t *testing.T, g *gateway, signer *auth.Signer) {
	g.ftpd.WriteFile(t, "pub/a.bin", randomBytes(5000, 1))
	g.settle(t, "pub/a.bin")
	g.ftpd.WriteFile(t, "pub/page.html", []byte("<p>hi</p>"))
	g.ftpd.WriteFile(t, "docs/notes.txt", []byte("notes"))
	for _, d := range []string{"empty", "readonly"} {
		if err := os.Mkdir(g.ftpd.Path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	chownTestUser(t, g.ftpd.Path("empty")) // readonly stays root's
	cc := newContractClient(t, g.http.URL, api.DefaultMount)
	all, reader := "Bearer "+tokAll, "Bearer "+tokReader
	origin := "Origin"

	// The gateway's own paths.
	_, b := cc.fetch(200, "GET", "/openapi.yaml", nil)
	if string(b) != ftpgw.OpenAPI() {
		t.Error("GET /openapi.yaml is not openapi.yaml")
	}
	cc.fetch(200, "GET", "/healthz", nil)
	if h, _ := cc.fetch(405, "HEAD", "/healthz", nil); h.Get("Allow") != "GET" {
		t.Errorf("HEAD /healthz: Allow %q, want GET", h.Get("Allow"))
	}
	cc.fetch(405, "POST", "/openapi.yaml", nil)
	cc.fetch(200, "GET", "/readyz", nil)
	cc.fetch(200, "GET", "/metrics", nil)
	cc.fetch(404, "GET", "/nowhere", nil)

	// The mount and its root.
	cc.fetch(301, "GET", "/files", nil, origin, appOrigin)
	cc.fetch(301, "HEAD", "/files", nil)
	cc.fetch(204, "OPTIONS", "/files", nil, origin, appOrigin, "Access-Control-Request-Method", "PUT")
	cc.fetch(200, "GET", "/files/", nil, "Authorization", all, origin, appOrigin)
	cc.fetch(200, "GET", "/files/", nil, "Authorization", all, "Accept", "text/html")
	cc.fetch(200, "HEAD", "/files/", nil, "Authorization", all)
	cc.fetch(405, "PUT", "/files/", []byte("x"), "Authorization", all)
	cc.fetch(405, "DELETE", "/files/", nil, "Authorization", all, origin, appOrigin)
	cc.fetch(204, "OPTIONS", "/files/", nil)

	// Directories.
	cc.fetch(301, "GET", "/files/docs", nil, "Authorization", all)
	cc.fetch(200, "GET", "/files/docs/", nil, "Authorization", all, origin, appOrigin)
	cc.fetch(200, "HEAD", "/files/docs/", nil, "Authorization", all)
	cc.fetch(301, "GET", "/files/pub/a.bin/", nil, "Authorization", all)
	cc.fetch(404, "GET", "/files/nodir/", nil, "Authorization", all)
	cc.fetch(400, "PUT", "/files/docs/", []byte("x"), "Authorization", all)
	cc.fetch(204, "PUT", "/files/docs/", nil, "Authorization", all, origin, appOrigin)
	cc.fetch(201, "PUT", "/files/made/", nil, "Authorization", all)
	cc.fetch(412, "PUT", "/files/made/", nil, "Authorization", all, "If-None-Match", "*")
	cc.fetch(409, "PUT", "/files/pub/a.bin/", nil, "Authorization", all)
	cc.fetch(403, "PUT", "/files/readonly/sub/", nil, "Authorization", all)
	cc.fetch(201, "MKCOL", "/files/col/", nil, "Authorization", all, origin, appOrigin)
	cc.fetch(201, "MKCOL", "/files/col/a/b?parents=1", nil, "Authorization", all)
	cc.fetch(405, "MKCOL", "/files/col/", nil, "Authorization", all)
	cc.fetch(405, "MKCOL", "/files/", nil, "Authorization", all)
	cc.fetch(409, "MKCOL", "/files/nodir/x/", nil, "Authorization", all)
	cc.fetch(412, "MKCOL", "/files/col/", nil, "Authorization", all, "If-None-Match", "*")
	cc.fetch(415, "MKCOL", "/files/col2/", []byte("<x/>"), "Authorization", all)
	cc.fetch(400, "MKCOL", "/files/col2/?parents=2", nil, "Authorization", all)
	cc.fetch(403, "MKCOL", "/files/col2/", nil, "Authorization", reader)
	cc.fetch(401, "MKCOL", "/files/col2/", nil)
	cc.fetch(403, "MOVE", "/files/", nil, "Authorization", all, "Destination", "/files/x")
	cc.fetch(403, "MOVE", "/files/docs/", nil, "Authorization", all, "Destination", "/files/docs/x/")
	cc.fetch(403, "MOVE", "/files/docs/", nil, "Authorization", all, "Destination", "/files/")
	if h, _ := cc.fetch(201, "MOVE", "/files/col/", nil, "Authorization", all, "Destination", "/files/col3", origin, appOrigin); h.Get("Location") != "/files/col3/" {
		t.Errorf("MOVE of a directory: Location %q", h.Get("Location"))
	}
	cc.fetch(409, "MOVE", "/files/col3/", nil, "Authorization", all, "Destination", "/files/docs/")
	cc.fetch(412, "MOVE", "/files/col3/", nil, "Authorization", all, "Destination", "/files/pub/a.bin", "Overwrite", "F")
	cc.fetch(404, "MOVE", "/files/pub/a.bin/", nil, "Authorization", all, "Destination", "/files/x/")
	cc.fetch(201, "MOVE", "/files/col3", nil, "Authorization", all, "Destination", "/files/col/")
	cc.fetch(400, "MOVE", "/files/docs/", nil, "Authorization", all)
	cc.fetch(409, "DELETE", "/files/docs/", nil, "Authorization", all)
	cc.fetch(204, "DELETE", "/files/empty/", nil, "Authorization", all)
	cc.fetch(204, "OPTIONS", "/files/docs/", nil, origin, appOrigin, "Access-Control-Request-Method", "DELETE",
		"Access-Control-Request-Headers", "authorization")

	// Files.
	h, _ := cc.fetch(200, "GET", "/files/pub/a.bin", nil, "Authorization", all, origin, appOrigin)
	etag := h.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on a settled file")
	}
	cc.fetch(200, "HEAD", "/files/pub/a.bin", nil, "Authorization", all)
	cc.fetch(200, "GET", "/files/pub/page.html", nil, "Authorization", all)
	cc.fetch(200, "GET", "/files/pub/a.bin?download=1", nil, "Authorization", all)
	cc.fetch(206, "GET", "/files/pub/a.bin", nil, "Authorization", all, "Range", "bytes=10-19", origin, appOrigin)
	cc.fetch(206, "HEAD", "/files/pub/a.bin", nil, "Authorization", all, "Range", "bytes=-10")
	cc.fetch(304, "GET", "/files/pub/a.bin", nil, "Authorization", all, "If-None-Match", etag)
	cc.fetch(304, "HEAD", "/files/pub/a.bin", nil, "Authorization", all, "If-None-Match", etag, origin, appOrigin)
	cc.fetch(412, "GET", "/files/pub/a.bin", nil, "Authorization", all, "If-Match", `"0-0"`)
	cc.fetch(416, "GET", "/files/pub/a.bin", nil, "Authorization", all, "Range", "bytes=9000-", origin, appOrigin)
	cc.fetch(416, "HEAD", "/files/pub/a.bin", nil, "Authorization", all, "Range", "bytes=9000-")
	cc.fetch(400, "GET", "/files/pub/a.bin?download=2", nil, "Authorization", all)
	cc.fetch(400, "HEAD", "/files/pub/a.bin?download=2", nil, "Authorization", all)
	cc.fetch(404, "GET", "/files/pub/missing", nil, "Authorization", all, origin, appOrigin)
	cc.fetch(404, "HEAD", "/files/pub/missing", nil, "Authorization", all)
	cc.fetch(405, "PATCH", "/files/pub/a.bin", nil, "Authorization", all, origin, appOrigin)
	cc.fetch(412, "POST", "/files/pub/a.bin", nil, "Authorization", all, origin, appOrigin)
	cc.fetch(204, "OPTIONS", "/files/pub/a.bin", nil)

	// Uploads and deletions.
	h, _ = cc.fetch(201, "PUT", "/files/pub/new.txt", []byte("new"), "Authorization", all, origin, appOrigin)
	if h.Get("Location") != "/files/pub/new.txt" {
		t.Errorf("PUT: Location %q", h.Get("Location"))
	}
	cc.fetch(204, "PUT", "/files/pub/new.txt", []byte("newer"), "Authorization", all)
	cc.fetch(412, "PUT", "/files/pub/new.txt", []byte("x"), "Authorization", all, "If-None-Match", "*")
	cc.fetch(409, "PUT", "/files/nodir/x.txt", []byte("x"), "Authorization", all)
	cc.fetch(400, "PUT", "/files/pub/.ftpgw-upload-x", []byte("x"), "Authorization", all)
	cc.fetch(400, "PUT", "/files/pub/new.txt", []byte("x"), "Authorization", all, "Content-Range", "bytes 0-0/1")
	cc.fetch(413, "PUT", "/files/pub/big.txt", make([]byte, 2<<10), "Authorization", all, origin, appOrigin)
	cc.fetch(204, "DELETE", "/files/pub/new.txt", nil, "Authorization", all, origin, appOrigin)
	cc.fetch(404, "DELETE", "/files/pub/new.txt", nil, "Authorization", all)
	cc.fetch(412, "DELETE", "/files/pub/a.bin", nil, "Authorization", all, "If-Match", `"0-0"`)

	// Moves.
	cc.fetch(201, "PUT", "/files/pub/m.txt", []byte("m"), "Authorization", all)
	h, _ = cc.fetch(201, "MOVE", "/files/pub/m.txt", nil, "Authorization", all, "Destination", "/files/docs/m.txt", origin, appOrigin)
	if h.Get("Location") != "/files/docs/m.txt" {
		t.Errorf("MOVE: Location %q", h.Get("Location"))
	}
	cc.fetch(201, "PUT", "/files/pub/m.txt", []byte("m2"), "Authorization", all)
	cc.fetch(412, "MOVE", "/files/pub/m.txt", nil, "Authorization", all, "Destination", "/files/docs/m.txt", "Overwrite", "F")
	cc.fetch(204, "MOVE", "/files/pub/m.txt", nil, "Authorization", all, "Destination", cc.base+"/files/docs/m.txt")
	cc.fetch(404, "MOVE", "/files/pub/m.txt", nil, "Authorization", all, "Destination", "/files/docs/n.txt")
	cc.fetch(409, "MOVE", "/files/docs/m.txt", nil, "Authorization", all, "Destination", "/files/nodir/m.txt")
	cc.fetch(409, "MOVE", "/files/docs/m.txt", nil, "Authorization", all, "Destination", "/files/pub")
	cc.fetch(412, "MOVE", "/files/docs/m.txt", nil, "Authorization", all, "Destination", "/files/pub/m.txt", "If-Match", `"0-0"`)
	cc.fetch(403, "MOVE", "/files/docs/m.txt", nil, "Authorization", all, "Destination", "/files/docs/m.txt")
	cc.fetch(403, "MOVE", "/files/docs/m.txt", nil, "Authorization", all, "Destination", "/elsewhere/m.txt")
	cc.fetch(400, "MOVE", "/files/docs/m.txt", nil, "Authorization", all, "Destination", "/files/docs/")
	cc.fetch(400, "MOVE", "/files/docs/m.txt", nil, "Authorization", all, "Destination", "/files/docs/m.txt", "Overwrite", "maybe")
	cc.fetch(403, "MOVE", "/files/docs/m.txt", nil, "Authorization", reader, "Destination", "/files/pub/m.txt")
	cc.fetch(403, "MOVE", "/files/pub/a.bin", nil, "Authorization", "Bearer "+tokPub, "Destination", "/files/docs/a.bin")
	cc.fetch(403, "MOVE", "/files/pub/a.bin?"+signer.Sign("PUT", "/files/pub/a.bin", time.Now().Add(time.Hour)).Query(), nil,
		"Destination", "/files/pub/b.bin")
	cc.fetch(204, "OPTIONS", "/files/pub/a.bin", nil, origin, appOrigin, "Access-Control-Request-Method", "MOVE",
		"Access-Control-Request-Headers", "authorization, destination, overwrite")

	// Tokens and signed URLs.
	cc.fetch(401, "GET", "/files/pub/a.bin", nil, origin, appOrigin)
	cc.fetch(401, "HEAD", "/files/pub/a.bin", nil, "Authorization", "Bearer nonsense-0123456789abcdefghij")
	cc.fetch(403, "PUT", "/files/pub/a.bin", []byte("x"), "Authorization", reader, origin, appOrigin)
	cc.fetch(403, "DELETE", "/files/docs/", nil, "Authorization", reader)
	cc.fetch(403, "HEAD", "/files/docs/notes.txt", nil, "Authorization", "Bearer "+tokPub)
	cc.fetch(403, "PUT", "/files/readonly/x.txt", []byte("x"), "Authorization", all)
	u := signer.Sign("GET", "/files/pub/a.bin", time.Now().Add(time.Hour))
	cc.fetch(200, "GET", "/files/pub/a.bin?"+u.Query(), nil)
	cc.fetch(403, "PUT", "/files/pub/a.bin?"+u.Query(), []byte("x"))
	cc.fetch(400, "GET", "/files/pub/a.bin?"+u.Query()+"&x=1", nil)

	_, b = cc.fetch(201, "POST", "/signed-urls", []byte(`{"method":"GET","path":"/files/pub/a.bin"}`), "Authorization", all)
	if !strings.Contains(string(b), "ftpgw-signature=") {
		t.Errorf("POST /signed-urls: %s", b)
	}
	cc.fetch(400, "POST", "/signed-urls", []byte(`{"method":"PATCH","path":"/files/pub/a.bin"}`), "Authorization", all)
	cc.fetch(401, "POST", "/signed-urls", []byte(`{"method":"GET","path":"/files/pub/a.bin"}`))
	cc.fetch(403, "POST", "/signed-urls", []byte(`{"method":"PUT","path":"/files/pub/a.bin"}`), "Authorization", reader)
	cc.fetch(405, "GET", "/signed-urls", nil, "Authorization", all)

	// The transfers in flight (none here; TestOpenAPIContractBusy has one).
	cc.fetch(200, "GET", "/transfers", nil, "Authorization", reader)
	cc.fetch(200, "GET", "/transfers", nil, "Authorization", all, "Accept", "text/html")
	cc.fetch(401, "GET", "/transfers", nil)
	cc.fetch(405, "DELETE", "/transfers", nil, "Authorization", all)
}

// TestOpenAPIContractBusy checks the 429 and 503 of the transfer caps
// against openapi.yaml: one client holds the one transfer place, a second
// transfer of its gets 429 at once, and another client's 503 after the
// acquire timeout.
func TestOpenAPIContractBusy(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{maxTransfers: 1, maxClientTransfers: 1, trustedProxies: loopback,
		acquireTimeout: 300 * time.Millisecond, cors: corsPolicy()})
	writeRandomFile(t, g, "big.bin", 32<<20, 1)
	cc := newContractClient(t, g.http.URL, api.DefaultMount)
	held := holdDownload(t, g, "/files/big.bin", "X-Forwarded-For", "192.0.2.1")
	defer held.Body.Close()
	cc.fetch(429, "GET", "/files/big.bin", nil, "X-Forwarded-For", "192.0.2.1", "Origin", appOrigin)
	cc.fetch(429, "PUT", "/files/up.bin", []byte("x"), "X-Forwarded-For", "192.0.2.1")
	cc.fetch(503, "GET", "/files/big.bin", nil, "X-Forwarded-For", "192.0.2.2", "Origin", appOrigin)
	_, b := cc.fetch(200, "GET", "/transfers", nil)
	if !strings.Contains(string(b), `"/files/big.bin"`) {
		t.Errorf("GET /transfers: %s", b)
	}
}

// TestOpenAPIContractJoined checks against openapi.yaml the responses of
// two backends joined at mounts of their own, one of Basic passthrough
// (its 401 challenge, 400 and the 429 of failed logins), and the
// gateway's paths before them (/readyz of both).
func TestOpenAPIContractJoined(t *testing.T) {
	ftpd := realftpd.Start(t, realftpd.Vsftpd, realftpd.Options{})
	ftpd.WriteFile(t, "hello.txt", []byte("hello\n"))
	conn := ftpcore.Config{Addr: ftpd.Addr, User: ftpd.User, Password: ftpd.Password, CommandTimeout: 10 * time.Second}
	users, err := pool.NewUsers(pool.UsersConfig{Pool: pool.Config{Name: "people", Conn: conn}})
	if err != nil {
		t.Fatal(err)
	}
	fixed := api.New(api.Config{Pool: newTestPool(t, ftpd), Mount: "/fixed/", CORS: corsPolicy()})
	people := api.New(api.Config{Users: users, Mount: "/people/", LoginFailuresPerUser: 1})
	t.Cleanup(func() { fixed.Close(); people.Close(); users.Close() })
	ts := serveHandler(fixed, api.Join(fixed, people))
	t.Cleanup(ts.Close)
	cc := newContractClient(t, ts.URL, "/fixed/", "/people/")

	cc.fetch(200, "GET", "/readyz", nil)
	cc.fetch(200, "GET", "/transfers", nil, basicAuth("nobody", "wrong")...)
	cc.fetch(404, "GET", "/files/hello.txt", nil)
	cc.fetch(400, "POST", "/signed-urls", []byte(`{"method":"GET","path":"/fixed/hello.txt"}`), "Authorization", "Bearer "+tokAll)
	cc.fetch(301, "GET", "/fixed", nil)
	cc.fetch(200, "GET", "/fixed/", nil, "Origin", appOrigin)
	cc.fetch(200, "GET", "/fixed/hello.txt", nil)
	cc.fetch(200, "GET", "/people/hello.txt", nil, basicAuth(ftpd.User, ftpd.Password)...)
	cc.fetch(200, "HEAD", "/people/", nil, basicAuth(ftpd.User, ftpd.Password)...)
	cc.fetch(401, "GET", "/people/hello.txt", nil)
	cc.fetch(400, "GET", "/people/hello.txt", nil, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("u\xff:p")))
	cc.fetch(401, "GET", "/people/hello.txt", nil, basicAuth("nobody", "wrong")...)
	cc.fetch(429, "HEAD", "/people/hello.txt", nil, basicAuth("nobody", "wrong")...)
	cc.fetch(429, "GET", "/people/hello.txt", nil, basicAuth("nobody", "wrong")...)
}
