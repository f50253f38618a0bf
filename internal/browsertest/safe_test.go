package browsertest

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/ftpgw/ftpgw/api"
)

// The uploaded pages' script, were it to run, marks the document's title
// and deletes victim.txt, the file beside it, through the gateway on the
// gateway's own origin: the harm a file could do to whoever opens it. The
// DELETE is a synchronous XMLHttpRequest, so that it has reached the
// gateway before the load event Navigate waits for, and no test has to
// wait longer to know that it was never sent.
const (
	evilScript = `document.title = 'ran';
var x = new XMLHttpRequest();
x.open('DELETE', 'victim.txt', false);
x.send();`
	evilHTML = `<!DOCTYPE html><html><head><title>static</title></head><body><p>evil</p><script>` + evilScript + `</script></body></html>`
	evilXML  = `<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>static</title></head><body><p>evil</p><script>` + evilScript + `</script></body></html>`
	evilSVG  = `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><title>static</title><script>` + evilScript + `</script><rect width="10" height="10"/></svg>`
)

const victim = "victim.txt"

// put uploads data to path on g and fails t unless the gateway took it.
func (g *gateway) put(t *testing.T, path string, data []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, g.origin+api.DefaultMount+path, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := g.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT %s: %s", path, resp.Status)
	}
}

// get fetches url, which must answer 200, and returns the body.
func (g *gateway) get(t *testing.T, url string) string {
	t.Helper()
	resp, err := g.http.Client().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	return string(body)
}

// url is the gateway's URL of the file path (already escaped).
func (g *gateway) url(path string) string { return g.origin + api.DefaultMount + path }

// victimUntouched fails t if victim.txt is gone or a DELE reached the FTP
// server.
func (g *gateway) victimUntouched(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(g.ftpd.Path(victim)); err != nil {
		t.Errorf("%s on the FTP server: %v", victim, err)
	}
	if dele := g.deletes(); len(dele) != 0 {
		t.Errorf("DELE reached the FTP server: %q", dele)
	}
}

// evilGateway starts a gateway with no tokens, as --auth none serves on
// loopback (so that the evil script's DELETE, were it sent, would be
// served), with victim.txt and the evil files uploaded through it.
func evilGateway(t *testing.T, cfg api.Config) *gateway {
	t.Helper()
	g := startGateway(t, cfg)
	g.put(t, victim, []byte("keep me"))
	g.put(t, "evil.html", []byte(evilHTML))
	g.put(t, "evil.svg", []byte(evilSVG))
	g.put(t, "evil.txt", []byte(evilHTML))
	g.put(t, "evil.xml", []byte(evilXML))
	return g
}

// TestEvilPageScriptRuns is the control of the tests below: served as
// any web server serves a page, the evil page's script runs in Chromium
// and its DELETE arrives before the load event. So when they see no
// DELETE, it is the gateway's doing.
func TestEvilPageScriptRuns(t *testing.T) {
	var deletes atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			deletes.Add(1)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, evilHTML)
	}))
	defer ts.Close()
	ctx := newTab(t)
	navigate(t, ctx, ts.URL+"/evil.html")
	if title := eval[string](t, ctx, `document.title`); title != "ran" {
		t.Errorf("title %q, want ran", title)
	}
	if n := deletes.Load(); n != 1 {
		t.Errorf("%d DELETE requests before the load event, want 1", n)
	}
}

// TestUploadedFilesRunNoScript: an HTML or SVG file uploaded through the
// gateway and opened in the browser on the gateway's origin, as a link
// would open it, runs no script; nor does an XML file holding a page. By default it is saved, not displayed
// (an attachment), ?download=0 or not; a .txt holding the same markup is
// displayed as text (nosniff); and where the operator marks the content
// trusted (Config.TrustedContent) the page and the SVG are displayed, but
// under the CSP sandbox, still with no script.
func TestUploadedFilesRunNoScript(t *testing.T) {
	xmlType, _, _ := strings.Cut(mime.TypeByExtension(".xml"), ";")
	for _, trusted := range []bool{false, true} {
		name := "untrusted"
		if trusted {
			name = "trusted"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := evilGateway(t, api.Config{TrustedContent: trusted})
			for _, row := range []struct {
				path     string
				data     string
				saved    bool   // downloaded, not displayed
				shownAs  string // else document.contentType
				filename string
			}{
				{"evil.html", evilHTML, !trusted, "text/html", "evil.html"},
				{"evil.html?download=0", evilHTML, !trusted, "text/html", "evil.html"},
				{"evil.svg", evilSVG, !trusted, "image/svg+xml", "evil.svg"},
				{"evil.svg?download=0", evilSVG, !trusted, "image/svg+xml", "evil.svg"},
				{"evil.txt", evilHTML, false, "text/plain", ""},
				// An XML document whose elements are XHTML's runs its
				// script as a page does; .xml is text/xml or
				// application/xml, as the machine's MIME table says.
				{"evil.xml", evilXML, !trusted, xmlType, "evil.xml"},
				{"evil.html?download=1", evilHTML, true, "", "evil.html"},
			} {
				t.Run(row.path, func(t *testing.T) {
					ctx := newTab(t)
					u := g.url(row.path)
					if row.saved {
						d := expectDownload(t, ctx, u, chromedp.Navigate(u))
						if d.SuggestedFilename != row.filename || string(d.Data) != row.data {
							t.Errorf("saved %q holding %q, want %q holding %q", d.SuggestedFilename, d.Data, row.filename, row.data)
						}
						// The tab stayed on its blank page.
						if loc := eval[string](t, ctx, `location.href`); loc != "about:blank" {
							t.Errorf("tab at %s after the download, want about:blank", loc)
						}
					} else {
						navigate(t, ctx, u)
						if ct := eval[string](t, ctx, `document.contentType`); ct != row.shownAs {
							t.Errorf("displayed as %s, want %s", ct, row.shownAs)
						}
						if title := eval[string](t, ctx, `document.title`); title == "ran" {
							t.Error("the file's script ran: document.title is ran")
						}
					}
					g.victimUntouched(t)
				})
			}
		})
	}
}

// pngImage is a 3x2 PNG.
func pngImage(t *testing.T) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for i := range img.Pix {
		img.Pix[i] = 0x80
	}
	img.Set(0, 0, color.NRGBA{R: 0xff, A: 0xff})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestImagesDisplay: the CSP that keeps script off the gateway's files
// lets an image display: opened on its own (as an image document),
// embedded by a page of another origin, and embedded by a trusted HTML
// file beside it on the gateway (which needs the policy's img-src 'self').
func TestImagesDisplay(t *testing.T) {
	g := startGateway(t, api.Config{TrustedContent: true})
	g.put(t, "pic.png", pngImage(t))
	g.put(t, "page.html", []byte(`<!DOCTYPE html><title>page</title><img src="pic.png">`))
	other := serveOrigin(t, `<!DOCTYPE html><title>other</title><img src="`+g.url("pic.png")+`">`)
	const width = `(document.images.length === 1 && document.images[0].complete) ? document.images[0].naturalWidth : -1`
	for _, row := range []struct{ name, url string }{
		{"opened", g.url("pic.png")},
		{"embedded by another origin", other},
		{"embedded by a file", g.url("page.html")},
	} {
		t.Run(row.name, func(t *testing.T) {
			ctx := newTab(t)
			navigate(t, ctx, row.url)
			if w := eval[int](t, ctx, width); w != 3 {
				t.Errorf("image width %d, want 3", w)
			}
		})
	}
}

// TestListingLinks: the HTML listing of a directory runs no script, not
// even one a file's name smuggles in, and its links lead to the files: an
// HTML file's to its download.
func TestListingLinks(t *testing.T) {
	g := evilGateway(t, api.Config{})
	const markupName = `<img src=x onerror="document.title='ran'">.txt`
	g.ftpd.WriteFile(t, markupName, []byte("markup in a name"))
	ctx := newTab(t)
	navigate(t, ctx, g.url(""))
	if ct := eval[string](t, ctx, `document.contentType`); ct != "text/html" {
		t.Fatalf("listing displayed as %s, want text/html", ct)
	}
	if n := eval[int](t, ctx, `document.images.length + document.scripts.length`); n != 0 {
		t.Errorf("the listing has %d images and scripts, want none", n)
	}
	if title := eval[string](t, ctx, `document.title`); title == "ran" {
		t.Error("a script ran in the listing: document.title is ran")
	}
	links := eval[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll('a')].map(a => [a.textContent, a.href]))`)
	for _, name := range []string{"evil.html", "evil.svg", victim, markupName} {
		if want := g.url(url.PathEscape(name)); links[name] != want {
			t.Errorf("link %q to %q, want %q", name, links[name], want)
		}
	}
	if body := g.get(t, links[markupName]); body != "markup in a name" {
		t.Errorf("link %q led to %q, want the file's content", markupName, body)
	}
	d := expectDownload(t, ctx, g.url("evil.html"), chromedp.Evaluate[chromedp.Void](`document.querySelector('a[href="./evil.html"]').click()`))
	if string(d.Data) != evilHTML {
		t.Errorf("the link saved %q, want %q", d.Data, evilHTML)
	}
	g.victimUntouched(t)
}
