package api_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw"
	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/internal/contract"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// listedEntry is an entry of a JSON listing, as a client reads it.
type listedEntry struct {
	Name              string     `json:"name"`
	Type              string     `json:"type"`
	Size              *int64     `json:"size"`
	Modified          *time.Time `json:"modified"`
	ModifiedPrecision string     `json:"modified_precision"`
	Target            string     `json:"target"`
}

// listJSON fetches the JSON listing of the directory p.
func listJSON(t *testing.T, g *gateway, p string) []listedEntry {
	t.Helper()
	status, _, b := g.fetch(t, "GET", p, nil, "Accept", "application/json")
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", p, status, b)
	}
	var doc struct {
		Entries []listedEntry `json:"entries"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("listing %s: %v", b, err)
	}
	return doc.Entries
}

// TestListingAgreesWithHead: the size and modification time a listing
// gives an entry are what a HEAD of it says, on every server of the matrix
// and under the follow and inside link policies; a time the server gave
// to the minute or the day only says so (modified_precision) and agrees
// to that precision. vsftpd's LIST has minutes (days for a file older than
// six months) where its MDTM has seconds, and a symbolic link's LIST line
// has the link's own size, where a GET sends the target's; proftpd's MLST
// of a link gave HEAD the link's own time.
func TestListingAgreesWithHead(t *testing.T) {
	for _, kind := range realftpd.Matrix {
		for _, policy := range []api.LinkPolicy{api.LinksFollow, api.LinksInside} {
			t.Run(string(kind)+"/"+policy.String(), func(t *testing.T) {
				t.Parallel()
				g := startGatewayOn(t, kind, gatewayOptions{links: policy})
				g.ftpd.WriteFile(t, "d/recent.txt", []byte("recent, to the second"))
				g.ftpd.WriteFile(t, "d/old.bin", randomBytes(3000, 2))
				g.ftpd.WriteFile(t, "d/sub/x", []byte("x"))
				recent := time.Now().Add(-time.Hour).Truncate(time.Second).Add(17 * time.Second)
				old := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
				for rel, when := range map[string]time.Time{"d/recent.txt": recent, "d/old.bin": old} {
					if err := os.Chtimes(g.ftpd.Path(rel), when, when); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Symlink("old.bin", g.ftpd.Path("d/link")); err != nil {
					t.Fatal(err)
				}
				entries := listJSON(t, g, "/files/d/")
				seen := 0
				for _, e := range entries {
					if e.Type == "dir" {
						continue
					}
					status, h, _ := g.fetch(t, "HEAD", "/files/d/"+e.Name, nil)
					if status != http.StatusOK {
						t.Errorf("%s: HEAD %d", e.Name, status)
						continue
					}
					seen++
					if e.Size != nil && strconv.FormatInt(*e.Size, 10) != h.Get("Content-Length") {
						t.Errorf("%s (%s): listed size %d, HEAD Content-Length %s", e.Name, e.Type, *e.Size, h.Get("Content-Length"))
					}
					if e.Modified == nil {
						continue
					}
					lm, err := http.ParseTime(h.Get("Last-Modified"))
					if err != nil {
						t.Errorf("%s: Last-Modified %q", e.Name, h.Get("Last-Modified"))
						continue
					}
					listed := *e.Modified
					switch e.ModifiedPrecision {
					case "":
					case "minute":
						lm = lm.Truncate(time.Minute)
					case "day":
						lm = lm.Truncate(24 * time.Hour)
					default:
						t.Errorf("%s: modified_precision %q", e.Name, e.ModifiedPrecision)
					}
					if !listed.Equal(lm) {
						t.Errorf("%s (%s): listed modified %v (precision %q), HEAD Last-Modified %v", e.Name, e.Type, listed, e.ModifiedPrecision, lm)
					}
				}
				if seen != 3 {
					t.Errorf("compared %d entries, want 3: %+v", seen, entries)
				}
				// A GET of the link sends the target's bytes: a HEAD
				// gives the target's time (proftpd's MLST gave the
				// link's own, with SIZE's size of the target).
				_, h, _ := g.fetch(t, "HEAD", "/files/d/link", nil)
				if lm := h.Get("Last-Modified"); lm != old.Format(http.TimeFormat) {
					t.Errorf("HEAD of the link: Last-Modified %q, want the target's %q", lm, old.Format(http.TimeFormat))
				}
			})
		}
	}
}

// TestListingPreciseUpToCap: on a server whose listing is imprecise
// (vsftpd's LIST), the first entries get the times MDTM gives, to the
// second, and those past the cap keep the listing's minutes and say so;
// the listing takes one round trip for them, not one per entry.
func TestListingPreciseUpToCap(t *testing.T) {
	g := startGatewayOn(t, realftpd.Vsftpd)
	n := api.ListingFactsCap + 20
	when := time.Now().Add(-time.Hour).Truncate(time.Minute).Add(42 * time.Second)
	for i := range n {
		rel := fmt.Sprintf("many/f%04d.txt", i)
		g.ftpd.WriteFile(t, rel, []byte("x"))
		if err := os.Chtimes(g.ftpd.Path(rel), when, when); err != nil {
			t.Fatal(err)
		}
	}
	entries := listJSON(t, g, "/files/many/")
	if len(entries) != n {
		t.Fatalf("%d entries, want %d", len(entries), n)
	}
	precise := 0
	for _, e := range entries {
		switch {
		case e.Modified == nil:
			t.Errorf("%s: no modified", e.Name)
		case e.ModifiedPrecision == "" && e.Modified.Equal(when):
			precise++
		case e.ModifiedPrecision == "minute" && e.Modified.Equal(when.Truncate(time.Minute)):
		default:
			t.Errorf("%s: modified %v precision %q; the file's time is %v", e.Name, e.Modified, e.ModifiedPrecision, when)
		}
	}
	if precise != api.ListingFactsCap {
		t.Errorf("%d entries to the second, want the cap, %d", precise, api.ListingFactsCap)
	}
}

// rawClient checks responses against openapi.yaml but leaves their
// encoding as the gateway sent it.
var rawClient = &http.Client{
	Transport:     contract.Transport{Next: &http.Transport{DisableCompression: true}},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// rawFetch is corsFetch through rawClient.
func rawFetch(t *testing.T, method, url string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := rawClient.Do(withTest(t, req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestListingFormatAndGzip: ?format= chooses the listing's form whatever
// Accept says; without it the listing is HTML unless Accept asks for JSON
// explicitly; a client that takes gzip gets the listing gzipped, with
// the compressed length, a HEAD the same headers; files are never
// encoded, ranges included (their bytes are spliced).
func TestListingFormatAndGzip(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		for i := range 40 {
			g.ftpd.WriteFile(t, fmt.Sprintf("z/file-%02d.txt", i), []byte(strings.Repeat("x", i)))
		}
		for _, tc := range []struct {
			query, accept, ctype string
			status               int
		}{
			{"?format=html", "application/json", "text/html; charset=utf-8", 200},
			{"?format=json", "text/html", "application/json", 200},
			{"", "text/html", "text/html; charset=utf-8", 200},
			// HTML unless JSON is asked for: no Accept, or curl's, wget's
			// and fetch's */*, is HTML.
			{"", "", "text/html; charset=utf-8", 200},
			{"", "*/*", "text/html; charset=utf-8", 200},
			{"", "application/json", "application/json", 200},
			{"", "application/json, */*", "application/json", 200},
			{"", "text/html, application/json", "text/html; charset=utf-8", 200},
			{"?format=xml", "", "application/problem+json", 400},
			{"?format=json&format=html", "", "application/problem+json", 400},
		} {
			status, h, b := g.fetch(t, "GET", "/files/z/"+tc.query, nil, "Accept", tc.accept)
			if status != tc.status || h.Get("Content-Type") != tc.ctype {
				t.Errorf("GET %q Accept %q: %d %q, want %d %q: %.80s", tc.query, tc.accept, status, h.Get("Content-Type"), tc.status, tc.ctype, b)
			}
		}
		for _, format := range []string{"json", "html"} {
			u := g.url("/files/z/?format=" + format)
			_, plainH, plain := rawFetch(t, "GET", u)
			if plainH.Get("Content-Encoding") != "" {
				t.Errorf("%s without Accept-Encoding: Content-Encoding %q", format, plainH.Get("Content-Encoding"))
			}
			status, h, zipped := rawFetch(t, "GET", u, "Accept-Encoding", "br;q=1, gzip;q=0.5")
			if status != 200 || h.Get("Content-Encoding") != "gzip" || h.Get("Content-Length") != strconv.Itoa(len(zipped)) {
				t.Fatalf("%s with gzip: %d, Content-Encoding %q, Content-Length %q for %d bytes", format, status, h.Get("Content-Encoding"), h.Get("Content-Length"), len(zipped))
			}
			if !strings.Contains(h.Get("Vary"), "Accept-Encoding") {
				t.Errorf("Vary %q", h.Get("Vary"))
			}
			zr, err := gzip.NewReader(bytes.NewReader(zipped))
			if err != nil {
				t.Fatal(err)
			}
			unzipped, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(unzipped, plain) || len(zipped) >= len(plain) {
				t.Errorf("%s: gzip body of %d bytes is not the %d-byte listing compressed (%v)", format, len(zipped), len(plain), err)
			}
			_, hh, hb := rawFetch(t, "HEAD", u, "Accept-Encoding", "gzip")
			if hh.Get("Content-Encoding") != "gzip" || len(hb) != 0 {
				t.Errorf("HEAD with gzip: Content-Encoding %q, %d body bytes", hh.Get("Content-Encoding"), len(hb))
			}
			if _, h, _ := rawFetch(t, "GET", u, "Accept-Encoding", "gzip;q=0, *"); h.Get("Content-Encoding") != "" {
				t.Errorf("gzip;q=0: Content-Encoding %q", h.Get("Content-Encoding"))
			}
		}
		for _, rng := range []string{"", "bytes=0-5"} {
			_, h, b := rawFetch(t, "GET", g.url("/files/z/file-39.txt"), "Accept-Encoding", "gzip", "Range", rng)
			if h.Get("Content-Encoding") != "" || !strings.HasPrefix(strings.Repeat("x", 39), string(b)) || len(b) == 0 {
				t.Errorf("file with Range %q: Content-Encoding %q, body %q", rng, h.Get("Content-Encoding"), b)
			}
		}
	})
}

// TestListingHTML: the HTML listing has breadcrumbs to each directory on
// the way, sizes in binary units with the bytes in a title, and times in
// UTC in <time> elements, the precision the listing knows; and no script
// or form, which its Content-Security-Policy would refuse.
func TestListingHTML(t *testing.T) {
	g := startGatewayOn(t, realftpd.Vsftpd)
	g.ftpd.WriteFile(t, "a b/c/big.bin", randomBytes(3000, 1))
	when := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := os.Chtimes(g.ftpd.Path("a b/c/big.bin"), when, when); err != nil {
		t.Fatal(err)
	}
	status, h, b := g.fetch(t, "GET", "/files/a%20b/c/?format=html", nil)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %q", status, h.Get("Content-Type"))
	}
	page := string(b)
	for _, want := range []string{
		`<a href="/files/">/files/</a><a href="/files/a%20b/">a b/</a><a href="/files/a%20b/c/">c/</a>`,
		`<td class="n" title="3000 bytes">2.9 KiB</td>`,
		`<time datetime="2021-03-04T05:06:07Z">2021-03-04 05:06:07 UTC</time>`,
		`<a href="./big.bin">big.bin</a>`,
		// Whoever may write here gets the upload form, which posts to
		// the directory itself (formupload.go).
		`<form method="post" enctype="multipart/form-data" action="./">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script") || strings.Count(page, "<form") != 1 {
		t.Errorf("page has a script, or another form:\n%s", page)
	}
}

// TestOpenAPIGzip: /openapi.yaml, compressible text, is gzipped for a
// client that takes it.
func TestOpenAPIGzip(t *testing.T) {
	g := startGatewayOn(t, realftpd.Vsftpd)
	status, h, b := rawFetch(t, "GET", g.url("/openapi.yaml"), "Accept-Encoding", "gzip")
	if status != 200 || h.Get("Content-Encoding") != "gzip" || h.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("%d, Content-Encoding %q, Vary %q", status, h.Get("Content-Encoding"), h.Get("Vary"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if doc, err := io.ReadAll(zr); err != nil || string(doc) != ftpgw.OpenAPI() {
		t.Errorf("the gzipped document is not openapi.yaml (%v)", err)
	}
	if _, h, b := rawFetch(t, "GET", g.url("/openapi.yaml")); h.Get("Content-Encoding") != "" || string(b) != ftpgw.OpenAPI() {
		t.Errorf("without Accept-Encoding: Content-Encoding %q", h.Get("Content-Encoding"))
	}
}

// TestListingFormatSigned: a URL signed for a directory's GET may carry
// format, which grants nothing more; a bad value is still 400.
func TestListingFormatSigned(t *testing.T) {
	signer := testSigner(t, "k1 "+signKey1+"\n")
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{tokens: authTokens(t), signer: signer})
	g.ftpd.WriteFile(t, "pub/a.txt", []byte("a"))
	q := signer.Sign("GET", "/files/pub", time.Now().Add(time.Hour)).Query()
	for _, tc := range []struct {
		query, ctype string
		status       int
	}{
		{"&format=html", "text/html; charset=utf-8", 200},
		{"&format=json", "application/json", 200},
		{"&format=xml", "application/problem+json", 400},
	} {
		status, h, b := g.fetch(t, "GET", "/files/pub/?"+q+tc.query, nil)
		if status != tc.status || h.Get("Content-Type") != tc.ctype {
			t.Errorf("%s: %d %q, want %d %q: %.80s", tc.query, status, h.Get("Content-Type"), tc.status, tc.ctype, b)
		}
	}
}
