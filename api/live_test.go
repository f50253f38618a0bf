package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/pool"
)

// liveDoc is the answer of GET /transfers, as a client reads it.
type liveDoc struct {
	Transfers []liveEntry `json:"transfers"`
}

type liveEntry struct {
	ID, Method, Backend, Path, Client string
	Bytes, BytesPerSecond             int64
	Total, ETASeconds                 *int64
	Percent                           *float64
	Started                           time.Time
}

// UnmarshalJSON reads an entry by the names the README gives its fields.
func (e *liveEntry) UnmarshalJSON(b []byte) error {
	var f struct {
		ID      string    `json:"id"`
		Method  string    `json:"method"`
		Backend string    `json:"backend"`
		Path    string    `json:"path"`
		Client  string    `json:"client"`
		Bytes   int64     `json:"bytes"`
		Rate    int64     `json:"bytes_per_second"`
		Total   *int64    `json:"total"`
		ETA     *int64    `json:"eta_seconds"`
		Percent *float64  `json:"percent"`
		Started time.Time `json:"started"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return err
	}
	*e = liveEntry{f.ID, f.Method, f.Backend, f.Path, f.Client, f.Bytes, f.Rate, f.Total, f.ETA, f.Percent, f.Started}
	return nil
}

// liveTransfers reads GET /transfers of the gateway at base as JSON, with the request headers
// hdr; it fails the test on anything but 200.
func liveTransfers(t *testing.T, base string, hdr ...string) (liveDoc, []byte) {
	t.Helper()
	status, h, body := fetchURL(t, "GET", base+"/transfers", hdr...)
	if status != http.StatusOK || h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /transfers: %d %q %q %s", status, h.Get("Content-Type"), h.Get("Cache-Control"), body)
	}
	var doc liveDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("GET /transfers: %v: %s", err, body)
	}
	return doc, body
}

// entryOf is the transfer of request id in doc, or nil.
func entryOf(doc liveDoc, id string) *liveEntry {
	for i := range doc.Transfers {
		if doc.Transfers[i].ID == id {
			return &doc.Transfers[i]
		}
	}
	return nil
}

// waitGone waits until the transfer of request id has left /transfers.
func waitGone(t *testing.T, base, id string, hdr ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		doc, body := liveTransfers(t, base, hdr...)
		if entryOf(doc, id) == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the transfer %s is still listed after it ended: %s", id, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitMoving waits until the transfer of request id shows in /transfers
// with bytes moved.
func waitMoving(t *testing.T, base, id string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		doc, body := liveTransfers(t, base)
		if e := entryOf(doc, id); e != nil && e.Bytes > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the transfer %s never showed with bytes: %s", id, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// slowDownload starts a GET of url as request id, read 64 KiB every 15 ms
// (about 4 MiB/s) through a small receive buffer; the channel gets the
// body's length and error once it is read, and cancel drops the client.
func slowDownload(t *testing.T, url, id string, hdr ...string) (<-chan error, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request-Id", id)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	done := make(chan error, 1)
	go func() {
		resp, err := smallBufferClient().Do(req)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			done <- &statusError{resp.StatusCode}
			return
		}
		_, err = readPaced(resp.Body, 64<<10, 15*time.Millisecond)
		done <- err
	}()
	return done, cancel
}

type statusError struct{ code int }

func (e *statusError) Error() string { return "status " + strconv.Itoa(e.code) }

// watchTransfer polls /transfers until the transfer of request id has
// ended (done), and returns what it saw of it.
func watchTransfer(t *testing.T, base, id string, done <-chan error, hdr ...string) []liveEntry {
	t.Helper()
	var seen []liveEntry
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("transfer %s: %v", id, err)
			}
			waitGone(t, base, id, hdr...)
			return seen
		case <-time.After(150 * time.Millisecond):
		}
		doc, _ := liveTransfers(t, base, hdr...)
		if e := entryOf(doc, id); e != nil {
			seen = append(seen, *e)
		}
	}
}

// checkProgress checks what a watch saw of a transfer of total bytes:
// bytes that grow, a percent strictly between 0 and 100 at some point, a
// positive speed and a finite ETA.
func checkProgress(t *testing.T, seen []liveEntry, method, path string, total int64) {
	t.Helper()
	if len(seen) < 3 {
		t.Fatalf("the transfer was seen %d times in /transfers: %+v", len(seen), seen)
	}
	midway, grew := false, false
	for i, e := range seen {
		if e.Method != method || e.Path != path || e.Client != "127.0.0.1" || e.Started.IsZero() || time.Since(e.Started) > time.Minute {
			t.Errorf("entry %+v: want %s of %s from 127.0.0.1", e, method, path)
		}
		if e.Total == nil || *e.Total != total || e.Percent == nil || *e.Percent < 0 || *e.Percent > 100 || e.Bytes > total {
			t.Fatalf("entry %+v: want total %d and a percent of it", e, total)
		}
		if want := float64(e.Bytes*1000/total) / 10; *e.Percent != want {
			t.Errorf("percent %v of %d/%d, want %v", *e.Percent, e.Bytes, total, want)
		}
		if i > 0 && e.Bytes < seen[i-1].Bytes {
			t.Errorf("bytes went back from %d to %d", seen[i-1].Bytes, e.Bytes)
		}
		if i > 0 && e.Bytes > seen[i-1].Bytes {
			grew = true
		}
		if e.Bytes > 0 && e.Bytes < total {
			midway = true
			if e.BytesPerSecond <= 0 || e.ETASeconds == nil || *e.ETASeconds <= 0 || *e.ETASeconds > 60 {
				t.Errorf("entry %+v: want a positive speed and an ETA of a few seconds", e)
			}
		}
	}
	if !grew || !midway {
		t.Errorf("the bytes never grew midway: %+v", seen)
	}
}

// TestLiveDownload: a slow download shows in /transfers while it runs,
// its bytes growing towards the file's size (a range's length for a
// Range request), with a percent, a speed and an ETA, and leaves it when
// it ends. On every server of the matrix: over FTPS the bytes are counted
// on the copy, elsewhere on the splice.
func TestLiveDownload(t *testing.T) {
	const size = 12 << 20
	forEachServer(t, func(t *testing.T, g *gateway) {
		writeRandomFile(t, g, "big.bin", size, 11)
		t.Run("whole", func(t *testing.T) {
			done, _ := slowDownload(t, g.url("/files/big.bin"), "dl-whole")
			checkProgress(t, watchTransfer(t, g.http.URL, "dl-whole", done), "GET", "/files/big.bin", size)
		})
		if g.ftpd.Kind != realftpd.Vsftpd {
			return
		}
		t.Run("range", func(t *testing.T) {
			done, _ := slowDownload(t, g.url("/files/big.bin"), "dl-range", "Range", "bytes=1048576-9437183")
			checkProgress(t, watchTransfer(t, g.http.URL, "dl-range", done), "GET", "/files/big.bin", 8<<20)
		})
	})
}

// TestLiveClientGone: a download whose client goes away leaves
// /transfers.
func TestLiveClientGone(t *testing.T) {
	g := startGateway(t)
	writeRandomFile(t, g, "big.bin", 12<<20, 12)
	done, cancel := slowDownload(t, g.url("/files/big.bin"), "dl-gone")
	waitMoving(t, g.http.URL, "dl-gone")
	cancel()
	<-done
	waitGone(t, g.http.URL, "dl-gone")
}

// TestLiveUpload: an upload shows with its Content-Length as the total,
// or with no total, percent or ETA when its body is chunked, its bytes
// growing, and leaves /transfers when it ends.
func TestLiveUpload(t *testing.T) {
	g := startGateway(t)
	const size = 6 << 20
	data := randomBytes(size, 13)
	for _, tc := range []struct {
		name    string
		chunked bool
	}{{"content-length", false}, {"chunked", true}} {
		t.Run(tc.name, func(t *testing.T) {
			id := "up-" + tc.name
			var body io.Reader = &slowBody{data: data, chunk: 128 << 10, gap: 10 * time.Millisecond}
			req, err := http.NewRequest("PUT", g.url("/files/up-"+tc.name+".bin"), body)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = size
			if tc.chunked {
				req.ContentLength = -1
			}
			req.Header.Set("X-Request-Id", id)
			done := make(chan error, 1)
			go func() {
				resp, err := g.http.Client().Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						err = &statusError{resp.StatusCode}
					}
				}
				done <- err
			}()
			seen := watchTransfer(t, g.http.URL, id, done)
			if len(seen) < 3 {
				t.Fatalf("the upload was seen %d times: %+v", len(seen), seen)
			}
			grew := false
			for i, e := range seen {
				if e.Method != "PUT" || e.Path != "/files/up-"+tc.name+".bin" || e.Bytes > size {
					t.Errorf("entry %+v", e)
				}
				if tc.chunked && (e.Total != nil || e.Percent != nil || e.ETASeconds != nil) {
					t.Errorf("chunked upload: entry %+v, want no total, percent or ETA", e)
				}
				if !tc.chunked && (e.Total == nil || *e.Total != size || e.Percent == nil) {
					t.Errorf("upload of %d bytes: entry %+v, want that total", size, e)
				}
				if !tc.chunked && e.Bytes > 0 && e.Bytes < size && (e.ETASeconds == nil || e.BytesPerSecond <= 0) {
					t.Errorf("upload midway: entry %+v, want a speed and an ETA", e)
				}
				grew = grew || i > 0 && e.Bytes > seen[i-1].Bytes
			}
			if !grew {
				t.Errorf("the upload's bytes never grew: %+v", seen)
			}
		})
	}
}

const tokWrite = "write-0123456789abcdefghijklmn"

// TestLiveAccess: with tokens, /transfers needs one with the read scope,
// and a token sees only the transfers under its prefix; neither tokens
// nor query strings appear in it.
func TestLiveAccess(t *testing.T) {
	var list []auth.Token
	for _, tk := range []struct {
		secret string
		scopes auth.Scope
		prefix string
	}{
		{tokAll, auth.All, "/"}, {tokReader, auth.Read, "/"}, {tokPub, auth.All, "/pub"}, {tokWrite, auth.Write, "/"},
	} {
		tok, err := auth.NewToken(tk.secret, "", tk.scopes, tk.prefix)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, tok)
	}
	tokens := auth.Static(list...)
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{tokens: tokens})
	writeRandomFile(t, g, "pub/big.bin", 12<<20, 14)
	writeRandomFile(t, g, "other/big.bin", 12<<20, 15)
	pubDone, _ := slowDownload(t, g.url("/files/pub/big.bin?download=1"), "dl-pub", "Authorization", "Bearer "+tokAll)
	otherDone, _ := slowDownload(t, g.url("/files/other/big.bin"), "dl-other", "Authorization", "Bearer "+tokAll)

	status, h, body := g.fetch(t, "GET", "/transfers", nil)
	if status != http.StatusUnauthorized || h.Get("WWW-Authenticate") != challenge {
		t.Errorf("no token: %d %q %s", status, h.Get("WWW-Authenticate"), body)
	}
	problemOf(t, h, body)
	status, h, body = g.fetch(t, "GET", "/transfers", nil, "Authorization", "Bearer "+tokWrong)
	if status != http.StatusUnauthorized || h.Get("WWW-Authenticate") != challengeInvalid {
		t.Errorf("unknown token: %d %q %s", status, h.Get("WWW-Authenticate"), body)
	}
	status, h, body = g.fetch(t, "GET", "/transfers", nil, "Authorization", "Bearer "+tokWrite)
	if status != http.StatusForbidden || h.Get("WWW-Authenticate") != scopeChallenge("read") {
		t.Errorf("token without read: %d %q %s", status, h.Get("WWW-Authenticate"), body)
	}
	// Signed URLs are for files: one for /transfers is a query it
	// ignores, and it still wants a token.
	if status, _, _ = g.fetch(t, "GET", "/transfers?ftpgw-signature=x", nil); status != http.StatusUnauthorized {
		t.Errorf("a signature and no token: %d", status)
	}

	// Both downloads are listed for a reader of everything, only the one
	// under /pub for the token of /pub.
	deadline := time.Now().Add(5 * time.Second)
	for {
		doc, body := liveTransfers(t, g.http.URL, "Authorization", "Bearer "+tokReader)
		if entryOf(doc, "dl-pub") != nil && entryOf(doc, "dl-other") != nil {
			for _, secret := range []string{tokAll, tokReader, "download", "?"} {
				if bytes.Contains(body, []byte(secret)) {
					t.Errorf("/transfers shows %q: %s", secret, body)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reader does not see both downloads: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	doc, body := liveTransfers(t, g.http.URL, "Authorization", "Bearer "+tokPub)
	if entryOf(doc, "dl-pub") == nil || entryOf(doc, "dl-other") != nil || len(doc.Transfers) != 1 {
		t.Errorf("the token of /pub sees %s", body)
	}
	for _, done := range []<-chan error{pubDone, otherDone} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestLiveHTML: a browser gets a page that reloads itself, under the
// listing's CSP, with a hostile file name escaped.
func TestLiveHTML(t *testing.T) {
	g := startGateway(t)
	const name = `<script>alert(1)</script>&"x'.bin`
	writeRandomFile(t, g, name, 12<<20, 16)
	done, _ := slowDownload(t, g.url("/files/"+strings.NewReplacer("<", "%3C", ">", "%3E", `"`, "%22", "'", "%27").Replace(name)), "dl-html")
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, h, body := g.fetch(t, "GET", "/transfers", nil, "Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
		if status != http.StatusOK || h.Get("Content-Type") != "text/html; charset=utf-8" || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") || !strings.Contains(h.Get("Vary"), "Accept") {
			t.Fatalf("%d %v", status, h)
		}
		if !bytes.Contains(body, []byte(`<meta http-equiv="refresh" content="2">`)) {
			t.Fatalf("the page does not reload itself: %s", body)
		}
		if bytes.Contains(body, []byte("dl-html")) {
			if bytes.Contains(body, []byte("<script>")) || !bytes.Contains(body, []byte("&lt;script&gt;alert(1)&lt;/script&gt;&amp;&#34;x&#39;.bin")) {
				t.Errorf("the file name is not escaped: %s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the download never showed: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestLiveGzip: /transfers is gzipped for a client that takes it, JSON and
// HTML alike, with the compressed length and Vary: Accept,
// Accept-Encoding; gzip;q=0 gets it plain. A HEAD gets the headers its
// GET gets, the length included, and no body.
func TestLiveGzip(t *testing.T) {
	g := startGateway(t)
	writeRandomFile(t, g, "big.bin", 12<<20, 18)
	done, cancel := slowDownload(t, g.url("/files/big.bin"), "dl-gzip")
	waitMoving(t, g.http.URL, "dl-gzip")
	for _, accept := range []string{"application/json", "text/html"} {
		status, h, zipped := rawFetch(t, "GET", g.url("/transfers"), "Accept", accept, "Accept-Encoding", "br;q=1, gzip;q=0.5")
		if status != 200 || h.Get("Content-Encoding") != "gzip" || h.Get("Content-Length") != strconv.Itoa(len(zipped)) ||
			h.Get("Vary") != "Accept, Accept-Encoding" {
			t.Fatalf("%s with gzip: %d, Content-Encoding %q, Content-Length %q for %d bytes, Vary %q",
				accept, status, h.Get("Content-Encoding"), h.Get("Content-Length"), len(zipped), h.Get("Vary"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(zipped))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || !bytes.Contains(plain, []byte("dl-gzip")) {
			t.Fatalf("%s: the gzip body does not list the download (%v): %s", accept, err, plain)
		}
		if accept == "application/json" {
			var doc liveDoc
			if err := json.Unmarshal(plain, &doc); err != nil || entryOf(doc, "dl-gzip") == nil {
				t.Errorf("the gzip body is no list of the transfers (%v): %s", err, plain)
			}
		}
		status, h, b := rawFetch(t, "GET", g.url("/transfers"), "Accept", accept, "Accept-Encoding", "gzip;q=0, *")
		if status != 200 || h.Get("Content-Encoding") != "" || !bytes.Contains(b, []byte("dl-gzip")) {
			t.Errorf("%s with gzip;q=0: %d, Content-Encoding %q: %s", accept, status, h.Get("Content-Encoding"), b)
		}
	}
	cancel()
	<-done
	waitGone(t, g.http.URL, "dl-gzip")
	// Nothing in flight now: a GET and a HEAD see the same list.
	for _, enc := range []string{"gzip", "identity"} {
		_, gh, gb := rawFetch(t, "GET", g.url("/transfers"), "Accept-Encoding", enc)
		status, hh, hb := rawFetch(t, "HEAD", g.url("/transfers"), "Accept-Encoding", enc)
		if status != 200 || len(hb) != 0 || hh.Get("Content-Length") != strconv.Itoa(len(gb)) ||
			hh.Get("Content-Encoding") != gh.Get("Content-Encoding") || hh.Get("Vary") != gh.Get("Vary") ||
			hh.Get("Content-Type") != "application/json" {
			t.Errorf("HEAD with %s: %d %v, %d body bytes; the GET's body has %d bytes, headers %v", enc, status, hh, len(hb), len(gb), gh)
		}
	}
}

// TestLiveJoin: with several backends, the first one's /transfers lists
// the transfers of every backend, each named; /transfers is no mount, and
// takes GET and HEAD only.
func TestLiveJoin(t *testing.T) {
	j := startJoined(t)
	writeRandomFile(t, &gateway{ftpd: j.ftpd}, "b/big.bin", 12<<20, 17)
	done, _ := slowDownload(t, j.url+"/b/big.bin", "dl-b")
	seen := watchTransfer(t, j.url, "dl-b", done)
	if len(seen) == 0 || seen[0].Backend != "backend-b" || seen[0].Path != "/b/big.bin" {
		t.Errorf("the download of /b/ was seen as %+v", seen)
	}
	if status, h, body := j.fetch(t, "POST", "/transfers", nil); status != http.StatusMethodNotAllowed || h.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /transfers: %d, Allow %q, %s", status, h.Get("Allow"), body)
	}
	if err := api.ValidMount("/transfers/"); err == nil {
		t.Error("/transfers/ is a valid mount")
	}
}

// TestLiveBasic: in Basic passthrough a user sees the transfers of the
// credentials' open pool; no credentials are 401 with the challenge, and
// credentials of no open pool (a wrong password) see an empty list, as
// the gateway logs in to no FTP server to tell them apart from a user
// with nothing in flight.
func TestLiveBasic(t *testing.T) {
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{basic: &basicOptions{}})
	writeRandomFile(t, g, "big.bin", 12<<20, 18)
	creds := basicAuth(g.ftpd.User, g.ftpd.Password)
	done, _ := slowDownload(t, g.url("/files/big.bin"), "dl-basic", creds...)
	if status, h, body := g.fetch(t, "GET", "/transfers", nil); status != http.StatusUnauthorized || h.Get("WWW-Authenticate") != basicChallenge {
		t.Errorf("no credentials: %d %q %s", status, h.Get("WWW-Authenticate"), body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		doc, body := liveTransfers(t, g.http.URL, creds...)
		if entryOf(doc, "dl-basic") != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the user does not see the download: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	logins := g.logins(g.ftpd.User)
	if doc, body := liveTransfers(t, g.http.URL, basicAuth(g.ftpd.User, "wrong-Pa55word")...); len(doc.Transfers) != 0 {
		t.Errorf("a wrong password sees %s", body)
	}
	if n := g.logins(g.ftpd.User); n != logins {
		t.Errorf("/transfers logged in to the FTP server: %d logins, %d before", n, logins)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestLiveMixed: a gateway of a token backend and one of Basic
// passthrough challenges for both on /transfers, and each kind of
// credentials sees only the transfers of the backend that takes them.
func TestLiveMixed(t *testing.T) {
	ftpd := realftpd.Start(t, realftpd.Vsftpd, realftpd.Options{})
	g := &gateway{ftpd: ftpd}
	writeRandomFile(t, g, "big.bin", 12<<20, 19)
	users, err := pool.NewUsers(pool.UsersConfig{Pool: pool.Config{Name: "basic", Conn: ftpcore.Config{
		Addr: ftpd.Addr, CommandTimeout: 10 * time.Second, DataTimeout: 20 * time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	tokens := authTokens(t)
	tok := api.New(api.Config{Pool: newTestPool(t, ftpd), Mount: "/t/", Tokens: tokens})
	basic := api.New(api.Config{Users: users, Mount: "/u/"})
	ts := serveHandler(tok, api.Join(tok, basic))
	t.Cleanup(func() {
		ts.Close()
		tok.Close()
		basic.Close()
		users.Close()
	})

	status, h, body := fetchURL(t, "GET", ts.URL+"/transfers")
	if got := h.Values("WWW-Authenticate"); status != http.StatusUnauthorized || len(got) != 2 || got[0] != challenge || got[1] != basicChallenge {
		t.Errorf("no credentials: %d, WWW-Authenticate %q, %s", status, got, body)
	}
	creds := basicAuth(ftpd.User, ftpd.Password)
	uDone, _ := slowDownload(t, ts.URL+"/u/big.bin", "dl-u", creds...)
	tDone, _ := slowDownload(t, ts.URL+"/t/big.bin", "dl-t", "Authorization", "Bearer "+tokReader)
	deadline := time.Now().Add(5 * time.Second)
	for {
		byUser, ubody := liveTransfers(t, ts.URL, creds...)
		byToken, tbody := liveTransfers(t, ts.URL, "Authorization", "Bearer "+tokReader)
		if entryOf(byUser, "dl-t") != nil || entryOf(byToken, "dl-u") != nil {
			t.Fatalf("credentials see the other backend's transfer: user %s, token %s", ubody, tbody)
		}
		if entryOf(byUser, "dl-u") != nil && entryOf(byToken, "dl-t") != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("each does not see its own: user %s, token %s", ubody, tbody)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, done := range []<-chan error{uDone, tDone} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
