package api_test

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
)

// fileCSP is the policy every file response carries (api/safe.go).
const fileCSP = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"

// writeSettled writes body to rel under the FTP root, owned by the test
// user and dated past the clock skew, so that it has a strong ETag.
func writeSettled(t *testing.T, g *gateway, rel, body string) {
	t.Helper()
	p := g.ftpd.Path(rel)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	chownTestUser(t, p)
	g.settle(t, rel)
}

// fileURL is the /files/ URL of a name, escaped as a browser would.
func fileURL(name string) string { return "/files/" + url.PathEscape(name) }

// checkSafety checks the headers that decide what a browser does with a
// file response: nosniff, the sandboxing policy, and the disposition
// (wantDisp "" for none).
func checkSafety(t *testing.T, what string, h http.Header, wantDisp string) {
	t.Helper()
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", what, got)
	}
	if got := h.Values("Content-Security-Policy"); len(got) != 1 || got[0] != fileCSP {
		t.Errorf("%s: Content-Security-Policy %q, want %q", what, got, fileCSP)
	}
	if got := h.Values("Content-Disposition"); wantDisp == "" && len(got) != 0 || wantDisp != "" && (len(got) != 1 || got[0] != wantDisp) {
		t.Errorf("%s: Content-Disposition %q, want %q", what, got, wantDisp)
	}
}

// safeRow is a file and how the gateway must serve it.
type safeRow struct {
	name  string // on the FTP server
	ctype string // the Content-Type served
	disp  string // the Content-Disposition served by default, "" for none
}

// safeRows are types Go knows whatever the machine's mime.types says.
var safeRows = []safeRow{
	// Active types: a browser would run script from them.
	{"page.html", "text/html; charset=utf-8", `attachment; filename="page.html"`},
	{"PAGE.HTM", "text/html; charset=utf-8", `attachment; filename="PAGE.HTM"`},
	{"pic.svg", "image/svg+xml", `attachment; filename="pic.svg"`},
	{"data.xml", "text/xml; charset=utf-8", `attachment; filename="data.xml"`},
	{"app.js", "text/javascript; charset=utf-8", `attachment; filename="app.js"`},
	{"mod.mjs", "text/javascript; charset=utf-8", `attachment; filename="mod.mjs"`},
	{"paper.pdf", "application/pdf", `attachment; filename="paper.pdf"`},
	// Names that need the fallback and filename*.
	{`say "hi".html`, "text/html; charset=utf-8", `attachment; filename="say _hi_.html"; filename*=UTF-8''say%20%22hi%22.html`},
	{"a b;c=d.html", "text/html; charset=utf-8", `attachment; filename="a b;c=d.html"`},
	{"café.svg", "image/svg+xml", `attachment; filename="caf_.svg"; filename*=UTF-8''caf%C3%A9.svg`},
	{"100%.xml", "text/xml; charset=utf-8", `attachment; filename="100_.xml"; filename*=UTF-8''100%25.xml`},
	{"日本語.pdf", "application/pdf", `attachment; filename="___.pdf"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.pdf`},
	// Inactive types: displayed, never run.
	{"style.css", "text/css; charset=utf-8", ""},
	{"photo.png", "image/png", ""},
	{"data.json", "application/json", ""},
	{"blob.bin", "application/octet-stream", ""},
	{"noext", "application/octet-stream", ""},
}

// TestUploadedContentServedSafely: an uploaded page cannot run script on
// the gateway's origin. Before it, page.html came back inline as
// text/html with no Content-Security-Policy, and a browser ran its script.
func TestUploadedContentServedSafely(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		const body = "<script>fetch('/files/x',{method:'DELETE'})</script>"
		for _, row := range safeRows {
			writeSettled(t, g, row.name, body)
		}
		for _, row := range safeRows {
			t.Run(row.name, func(t *testing.T) {
				u := fileURL(row.name)
				status, h, got := g.fetch(t, http.MethodGet, u, nil)
				if status != http.StatusOK || string(got) != body || h.Get("Content-Type") != row.ctype {
					t.Fatalf("GET: %d %q %q", status, h.Get("Content-Type"), got)
				}
				checkSafety(t, "GET", h, row.disp)
				etag := h.Get("ETag")

				status, h, _ = g.fetch(t, http.MethodHead, u, nil)
				if status != http.StatusOK {
					t.Fatalf("HEAD: %d", status)
				}
				checkSafety(t, "HEAD", h, row.disp)

				status, h, got = g.fetch(t, http.MethodGet, u, nil, "Range", "bytes=1-7")
				if status != http.StatusPartialContent || string(got) != body[1:8] {
					t.Fatalf("ranged GET: %d %q", status, got)
				}
				checkSafety(t, "206", h, row.disp)

				if etag == "" {
					t.Fatal("no ETag")
				}
				status, h, _ = g.fetch(t, http.MethodGet, u, nil, "If-None-Match", etag)
				if status != http.StatusNotModified {
					t.Fatalf("conditional GET: %d", status)
				}
				checkSafety(t, "304", h, row.disp)

				// ?download=1 makes every type an attachment; 0 leaves
				// it to the type.
				wantDown := row.disp
				if wantDown == "" {
					wantDown = `attachment; filename="` + row.name + `"`
				}
				for _, q := range []string{"?download=1", "?x=y&download=1", "?%64ownload=%31", "?bad=%zz&download=1"} {
					status, h, _ = g.fetch(t, http.MethodGet, u+q, nil)
					if status != http.StatusOK {
						t.Fatalf("GET %s: %d", q, status)
					}
					checkSafety(t, "GET "+q, h, wantDown)
				}
				status, h, _ = g.fetch(t, http.MethodHead, u+"?download=1", nil, "Range", "bytes=0-0")
				if status != http.StatusPartialContent {
					t.Fatalf("HEAD ?download=1 with a range: %d", status)
				}
				checkSafety(t, "HEAD 206 ?download=1", h, wantDown)
				status, h, _ = g.fetch(t, http.MethodGet, u+"?download=0", nil)
				if status != http.StatusOK {
					t.Fatalf("GET ?download=0: %d", status)
				}
				checkSafety(t, "GET ?download=0", h, row.disp)

				// A problem document keeps its own headers.
				status, h, got = g.fetch(t, http.MethodGet, u, nil, "Range", "bytes=999-")
				if status != http.StatusRequestedRangeNotSatisfiable {
					t.Fatalf("unsatisfiable range: %d", status)
				}
				problemOf(t, h, got)
				checkSafety(t, "416", h, "")
			})
		}
		t.Run("bad download parameter", func(t *testing.T) {
			for _, q := range []string{"?download=2", "?download=", "?download", "?download=true", "?download=%zz", "?x&download=1&download=1", "?download=0&download=1", "?%64ownload=%32"} {
				status, h, got := g.fetch(t, http.MethodGet, "/files/page.html"+q, nil)
				if status != http.StatusBadRequest {
					t.Fatalf("%s: %d %s", q, status, got)
				}
				if d := problemOf(t, h, got)["detail"]; !strings.Contains(d.(string), "download parameter") {
					t.Errorf("%s: detail %q", q, d)
				}
				checkSafety(t, q, h, "")
			}
		})
		// Problem documents of the download's file: a name with a control
		// character is refused before it could reach a header.
		for _, pr := range []struct {
			p      string
			status int
		}{{"/files/a%09b.html?download=1", http.StatusBadRequest}, {"/files/gone.html?download=1", http.StatusNotFound}} {
			status, h, got := g.fetch(t, http.MethodGet, pr.p, nil)
			if status != pr.status {
				t.Fatalf("%s: %d %s", pr.p, status, got)
			}
			problemOf(t, h, got)
			checkSafety(t, pr.p, h, "")
		}
	})
}

// TestTrustedContentInline: a backend whose content is trusted has its
// pages displayed, still sandboxed, and ?download=1 still saves them.
func TestTrustedContentInline(t *testing.T) {
	forEachServerWith(t, gatewayOptions{trusted: true}, func(t *testing.T, g *gateway) {
		for _, row := range safeRows {
			writeSettled(t, g, row.name, "<p>trusted</p>")
		}
		for _, row := range safeRows {
			u := fileURL(row.name)
			status, h, _ := g.fetch(t, http.MethodGet, u, nil)
			if status != http.StatusOK || h.Get("Content-Type") != row.ctype {
				t.Fatalf("%s: %d %q", row.name, status, h.Get("Content-Type"))
			}
			checkSafety(t, row.name, h, "")
			status, h, _ = g.fetch(t, http.MethodGet, u+"?download=1", nil)
			want := row.disp
			if want == "" {
				want = `attachment; filename="` + row.name + `"`
			}
			if status != http.StatusOK {
				t.Fatalf("%s?download=1: %d", row.name, status)
			}
			checkSafety(t, row.name+"?download=1", h, want)
		}
	})
}

// TestListingEscapesHostileNames: names a user can give an upload reach
// the HTML listing as text and as links to themselves, never as markup,
// and the listing may run no script.
func TestListingEscapesHostileNames(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		names := []string{`<img src=x onerror=alert(1)>.html`, `"><script>alert(1)<`, `' onmouseover='alert(1)`, "javascript:alert(1)", "a&amp;b"}
		for _, n := range names {
			writeSettled(t, g, n, "x")
		}
		status, h, body := g.fetch(t, http.MethodGet, "/files/", nil, "Accept", "text/html")
		if status != http.StatusOK || h.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("%d %q: %s", status, h.Get("Content-Type"), body)
		}
		const listingCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'"
		if got := h.Get("Content-Security-Policy"); got != listingCSP {
			t.Errorf("listing Content-Security-Policy %q", got)
		}
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("listing X-Content-Type-Options %q", got)
		}
		for _, bad := range []string{"<img", "<script", "onmouseover='", `href="javascript`, "a&amp;b<"} {
			if strings.Contains(string(body), bad) {
				t.Errorf("the listing holds %q:\n%s", bad, body)
			}
		}
		for _, want := range []string{
			"&lt;img src=x onerror=alert(1)&gt;.html", `href="./%3Cimg%20src=x%20onerror=alert%281%29%3E.html"`,
			"&#34;&gt;&lt;script&gt;alert(1)&lt;", "&#39; onmouseover=&#39;alert(1)",
			`href="./javascript:alert%281%29"`, "a&amp;amp;b",
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("the listing lacks %q:\n%s", want, body)
			}
		}
		// Each link leads back to its file.
		for _, n := range names {
			status, _, got := g.fetch(t, http.MethodGet, fileURL(n), nil)
			if status != http.StatusOK || string(got) != "x" {
				t.Errorf("GET %q: %d %q", n, status, got)
			}
		}
	})
}
