package browsertest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/auth"
)

// appPage is the page of the origins that call the gateway: what a web
// app does with it, with fetch(). Each function resolves to what the page
// could read of the answer, or to the error fetch() rejected with. Bytes
// travel as base64.
const appPage = `<!DOCTYPE html><html><head><title>app</title><script>
async function call(url, init) {
	try {
		const r = await fetch(url, init);
		const b = new Uint8Array(await r.arrayBuffer());
		let bin = '';
		for (const c of b) bin += String.fromCharCode(c);
		return {
			status: r.status,
			body: btoa(bin),
			contentRange: r.headers.get('Content-Range'),
			etag: r.headers.get('ETag'),
			challenge: r.headers.get('WWW-Authenticate'),
		};
	} catch (e) {
		return {error: e.name};
	}
}
function bytes(b64) {
	return Uint8Array.from(atob(b64), c => c.charCodeAt(0));
}
</script></head><body>app</body></html>`

// answer is what the page read of a response, or the name of the error
// fetch() rejected with.
type answer struct {
	Status       int    `json:"status"`
	Body         []byte `json:"body"` // base64 in JSON
	ContentRange string `json:"contentRange"`
	ETag         string `json:"etag"`
	Challenge    string `json:"challenge"`
	Error        string `json:"error"`
}

// js renders v as a JavaScript literal.
func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const corsToken = "browser-0123456789abcdefghijkl"

// TestCrossOriginPage: a page of an origin the backend's CORS policy
// allows reads a range of a file (206, the bytes, and the Content-Range
// and ETag headers it may read), uploads a file and deletes it, with a
// bearer token, so every request but the plain GET is preflighted; one
// with no token can read the 401 and its challenge. A page of an origin
// the policy does not name gets a TypeError for each of the same
// requests, and the gateway sees only their preflights: nothing of them
// reaches the FTP server.
func TestCrossOriginPage(t *testing.T) {
	allowed := serveOrigin(t, appPage)
	other := serveOrigin(t, appPage)
	tok, err := auth.NewToken(corsToken, "browser", auth.All, "/")
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, api.Config{
		Tokens: auth.Static(tok),
		CORS:   &api.CORS{AllowedOrigins: []string{allowed}},
	})
	content := make([]byte, 64<<10)
	rand.NewChaCha8([32]byte{1}).Read(content)
	g.ftpd.WriteFile(t, "data.bin", content)
	// Modified three hours ago, past api.DefaultMaxClockSkew: settled, so
	// it has a strong ETag.
	old := time.Now().Add(-3 * time.Hour)
	if err := os.Chtimes(g.ftpd.Path("data.bin"), old, old); err != nil {
		t.Fatal(err)
	}
	upload := make([]byte, 100<<10)
	rand.NewChaCha8([32]byte{2}).Read(upload)
	bearer := map[string]string{"Authorization": "Bearer " + corsToken}

	// What the gateway says of data.bin to a client that is not a browser.
	req, _ := http.NewRequest(http.MethodHead, g.url("data.bin"), nil)
	req.Header.Set("Authorization", "Bearer "+corsToken)
	resp, err := g.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("HEAD data.bin: no ETag")
	}

	t.Run("allowed origin", func(t *testing.T) {
		ctx := newTab(t)
		navigate(t, ctx, allowed+"/app.html")
		call := func(url string, init map[string]any) answer {
			t.Helper()
			return eval[answer](t, ctx, fmt.Sprintf(`call(%s, %s)`, js(t, url), js(t, init)))
		}

		got := call(g.url("data.bin"), map[string]any{"headers": map[string]string{
			"Authorization": "Bearer " + corsToken, "Range": "bytes=1000-1999",
		}})
		want := fmt.Sprintf("bytes 1000-1999/%d", len(content))
		if got.Status != http.StatusPartialContent || !bytes.Equal(got.Body, content[1000:2000]) || got.ContentRange != want || got.ETag != etag {
			t.Errorf("range: status %d, %d bytes (equal: %v), Content-Range %q, ETag %q (error %q); want 206, the 1000 bytes, %q, %q",
				got.Status, len(got.Body), bytes.Equal(got.Body, content[1000:2000]), got.ContentRange, got.ETag, got.Error, want, etag)
		}

		put := fmt.Sprintf(`call(%s, {method: 'PUT', headers: %s, body: bytes(%s)})`,
			js(t, g.url("up.bin")), js(t, bearer), js(t, base64.StdEncoding.EncodeToString(upload)))
		if got := eval[answer](t, ctx, put); got.Status != http.StatusCreated {
			t.Errorf("PUT: status %d (error %q), want 201", got.Status, got.Error)
		}
		if onDisk, err := os.ReadFile(g.ftpd.Path("up.bin")); err != nil || !bytes.Equal(onDisk, upload) {
			t.Errorf("up.bin on the FTP server: %d bytes, equal %v, %v; want the %d uploaded", len(onDisk), bytes.Equal(onDisk, upload), err, len(upload))
		}

		if got := call(g.url("up.bin"), map[string]any{"method": "DELETE", "headers": bearer}); got.Status != http.StatusNoContent {
			t.Errorf("DELETE: status %d (error %q), want 204", got.Status, got.Error)
		}
		if _, err := os.Stat(g.ftpd.Path("up.bin")); !os.IsNotExist(err) {
			t.Errorf("up.bin after DELETE: %v, want it gone", err)
		}

		if got := call(g.url("data.bin"), nil); got.Status != http.StatusUnauthorized || !strings.HasPrefix(got.Challenge, "Bearer") {
			t.Errorf("no token: status %d, WWW-Authenticate %q (error %q); want 401 and a Bearer challenge", got.Status, got.Challenge, got.Error)
		}

		// The ranged GET (for its Authorization) and the PUT were asked
		// about first; the DELETE may go on the PUT's answer, which the
		// browser keeps for the URL.
		log := g.requestLog()
		for _, p := range []string{"data.bin", "up.bin"} {
			if !slices.Contains(log, "OPTIONS "+api.DefaultMount+p+" "+allowed) {
				t.Errorf("no preflight for %s; the gateway had %q", p, log)
			}
		}
	})

	t.Run("other origin", func(t *testing.T) {
		ctx := newTab(t)
		navigate(t, ctx, other+"/app.html")
		before := len(g.ftpd.Commands())
		for _, row := range []struct{ name, call string }{
			{"range", fmt.Sprintf(`call(%s, {headers: %s})`, js(t, g.url("data.bin")),
				js(t, map[string]string{"Authorization": "Bearer " + corsToken, "Range": "bytes=0-9"}))},
			{"PUT", fmt.Sprintf(`call(%s, {method: 'PUT', headers: %s, body: 'not here'})`, js(t, g.url("other.bin")), js(t, bearer))},
			{"DELETE", fmt.Sprintf(`call(%s, {method: 'DELETE', headers: %s})`, js(t, g.url("data.bin")), js(t, bearer))},
		} {
			if got := eval[answer](t, ctx, row.call); got.Error != "TypeError" {
				t.Errorf("%s: %+v, want a TypeError", row.name, got)
			}
		}
		if _, err := os.Stat(g.ftpd.Path("other.bin")); !os.IsNotExist(err) {
			t.Errorf("other.bin on the FTP server: %v, want none", err)
		}
		if _, err := os.Stat(g.ftpd.Path("data.bin")); err != nil {
			t.Errorf("data.bin on the FTP server: %v", err)
		}
		if cmds := g.ftpd.Commands(); len(cmds) != before {
			t.Errorf("the FTP server had %q from the other origin's requests, want nothing", cmds[before:])
		}
		for _, r := range g.requestLog() {
			if strings.HasSuffix(r, " "+other) && !strings.HasPrefix(r, "OPTIONS ") {
				t.Errorf("the gateway had %q, want only preflights from %s", r, other)
			}
		}
	})
}

// TestCORSPerBackend: the CORS policy is one backend's. With two backends
// on one gateway, /a/ allowing the page's origin and /b/ with no policy,
// the page reads a file through /a/, and gets a TypeError for the same
// file through /b/, whose upload is never sent.
func TestCORSPerBackend(t *testing.T) {
	app := serveOrigin(t, appPage)
	g := startGateway(t,
		api.Config{Mount: "/a/", CORS: &api.CORS{AllowedOrigins: []string{app}}},
		api.Config{Mount: "/b/"},
	)
	g.ftpd.WriteFile(t, "data.txt", []byte("both"))
	ctx := newTab(t)
	navigate(t, ctx, app+"/app.html")
	get := func(mount string) answer {
		return eval[answer](t, ctx, fmt.Sprintf(`call(%s)`, js(t, g.origin+mount+"data.txt")))
	}
	if got := get("/a/"); got.Status != http.StatusOK || string(got.Body) != "both" {
		t.Errorf("GET /a/data.txt: %+v, want 200 and the file", got)
	}
	if got := get("/b/"); got.Error != "TypeError" {
		t.Errorf("GET /b/data.txt: %+v, want a TypeError", got)
	}
	put := fmt.Sprintf(`call(%s, {method: 'PUT', body: 'not here'})`, js(t, g.origin+"/b/new.txt"))
	if got := eval[answer](t, ctx, put); got.Error != "TypeError" {
		t.Errorf("PUT /b/new.txt: %+v, want a TypeError", got)
	}
	if _, err := os.Stat(g.ftpd.Path("new.txt")); !os.IsNotExist(err) {
		t.Errorf("new.txt on the FTP server: %v, want none", err)
	}
	if log := g.requestLog(); slices.Contains(log, "PUT /b/new.txt "+app) {
		t.Errorf("the PUT reached the gateway: %q", log)
	}
}
