package api_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// resumableKey is the upload key the replicas of these tests share.
var resumableKey = bytes.Repeat([]byte("k"), 32)

// createUpload starts a resumable upload of rel with PUT and
// Upload-Complete: ?0 and the first piece, and returns the upload's URL
// (a path with its query), checking that 104 announced it first.
func createUpload(t *testing.T, g *gateway, rel string, first []byte, hdr ...string) string {
	t.Helper()
	var interim []string
	req, err := http.NewRequest(http.MethodPut, g.url("/files/"+rel), bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Upload-Complete", "?0")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		if code == 104 {
			interim = append(interim, h.Get("Location"))
			if v := h.Get("Upload-Draft-Interop-Version"); v != "8" {
				t.Errorf("104: Upload-Draft-Interop-Version = %q, want 8", v)
			}
		}
		return nil
	}}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := g.http.Client().Do(withTest(t, req))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("creation: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if len(interim) != 1 || interim[0] != loc {
		t.Fatalf("104 Locations %q, final Location %q: want the same one, once", interim, loc)
	}
	if got := resp.Header.Get("Upload-Offset"); got != strconv.Itoa(len(first)) {
		t.Errorf("creation: Upload-Offset = %q, want %d", got, len(first))
	}
	if !strings.Contains(loc, "?upload=") {
		t.Fatalf("Location %q names no upload", loc)
	}
	return loc
}

// uploadOffset is HEAD on the upload: its Upload-Offset.
func uploadOffset(t *testing.T, g *gateway, loc string) int64 {
	t.Helper()
	code, h, body := g.fetch(t, http.MethodHead, loc, nil)
	if code != http.StatusNoContent {
		t.Fatalf("HEAD %s: %d %s", loc, code, body)
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("Upload-Complete") != "?0" {
		t.Errorf("HEAD: Cache-Control %q, Upload-Complete %q", h.Get("Cache-Control"), h.Get("Upload-Complete"))
	}
	n, err := strconv.ParseInt(h.Get("Upload-Offset"), 10, 64)
	if err != nil {
		t.Fatalf("HEAD: Upload-Offset %q", h.Get("Upload-Offset"))
	}
	return n
}

// appendPiece PATCHes data at offset, complete saying whether it is the
// last piece.
func appendPiece(t *testing.T, g *gateway, loc string, offset int64, data []byte, complete bool, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	uc := "?0"
	if complete {
		uc = "?1"
	}
	return g.fetch(t, http.MethodPatch, loc, bytes.NewReader(data), append([]string{
		"Content-Type", "application/partial-upload", "Upload-Offset", strconv.FormatInt(offset, 10), "Upload-Complete", uc}, hdr...)...)
}

// cutPatch sends a PATCH of data at offset that announces twice its
// length, writes data, and closes the connection: a client whose
// connection broke mid-body (reset), or that was killed (its kernel closes
// the connection: a FIN).
func cutPatch(t *testing.T, g *gateway, loc string, offset int64, data []byte, reset bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "PATCH %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/partial-upload\r\nUpload-Offset: %d\r\nUpload-Complete: ?1\r\nContent-Length: %d\r\n\r\n",
		loc, offset, 2*len(data))
	w.Write(data)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	// Let the gateway take the bytes before the connection goes.
	time.Sleep(200 * time.Millisecond)
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		tc.SetLinger(0) // a reset, not a polite close
	}
}

// waitOffset polls HEAD until the upload is no longer held by the request
// that was cut, and returns its offset.
func waitOffset(t *testing.T, g *gateway, loc string) int64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, h, _ := g.fetch(t, http.MethodHead, loc, nil)
		if code == http.StatusNoContent {
			n, _ := strconv.ParseInt(h.Get("Upload-Offset"), 10, 64)
			return n
		}
		if code != http.StatusConflict || time.Now().After(deadline) {
			t.Fatalf("HEAD %s: %d", loc, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestResumableUpload: an upload created with its first piece, a PATCH at
// a wrong offset (409 with the draft's problem), pieces cut twice mid-body
// (each resume at the server's offset, what it kept a prefix of what was
// sent), a piece through a second gateway with the same key (a replica,
// or this one restarted), and the last piece: the file is byte-identical,
// no temporary file is left, and the upload is gone.
func TestResumableUpload(t *testing.T) {
	forEachServerWith(t, gatewayOptions{uploadKey: resumableKey}, func(t *testing.T, g *gateway) {
		data := randomBytes(3<<20+12345, 7)
		loc := createUpload(t, g, "big.bin", data[:100000])

		code, h, body := appendPiece(t, g, loc, 5, data[5:10], false)
		if code != http.StatusConflict {
			t.Fatalf("wrong offset: %d %s", code, body)
		}
		p := problemOf(t, h, body)
		if p["type"] != "https://iana.org/assignments/http-problem-types#mismatching-upload-offset" ||
			p["expected-offset"] != float64(100000) || p["provided-offset"] != float64(5) || h.Get("Upload-Offset") != "100000" {
			t.Errorf("wrong offset: %v, Upload-Offset %q", p, h.Get("Upload-Offset"))
		}

		off := uploadOffset(t, g, loc)
		for cut := range 2 {
			cutPatch(t, g, loc, off, data[off:off+1<<20], cut == 0)
			got := waitOffset(t, g, loc)
			if got < off || got > off+1<<20 {
				t.Fatalf("cut %d: offset %d after sending [%d, %d)", cut, got, off, off+1<<20)
			}
			off = got
		}

		replica := api.New(api.Config{Pool: g.pool, UploadKey: resumableKey})
		rs := serveGateway(replica)
		defer func() { rs.Close(); replica.Close() }()
		r := &gateway{ftpd: g.ftpd, pool: g.pool, api: replica, http: rs}
		if got := uploadOffset(t, r, loc); got != off {
			t.Fatalf("the replica says offset %d, the first gateway %d", got, off)
		}
		mid := off + (int64(len(data))-off)/2
		if code, h, body := appendPiece(t, r, loc, off, data[off:mid], false); code != http.StatusNoContent || h.Get("Upload-Offset") != strconv.FormatInt(mid, 10) {
			t.Fatalf("replica's PATCH: %d %v %s", code, h, body)
		}
		code, h, body = appendPiece(t, g, loc, mid, data[mid:], true)
		if code != http.StatusCreated || h.Get("Upload-Complete") != "?1" || h.Get("Location") != "/files/big.bin" {
			t.Fatalf("last PATCH: %d %v %s", code, h, body)
		}
		got, err := os.ReadFile(g.ftpd.Path("big.bin"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("file on the server: %d bytes (err %v), want the %d sent", len(got), err, len(data))
		}
		if left := tempFilesUnder(t, g.ftpd.Path("")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
		// The replica that completed the upload answers for it as a
		// completed upload; another knows nothing of it.
		n := strconv.Itoa(len(data))
		if code, h, _ := g.fetch(t, http.MethodHead, loc, nil); code != http.StatusNoContent || h.Get("Upload-Complete") != "?1" || h.Get("Upload-Offset") != n || h.Get("Upload-Length") != n {
			t.Errorf("HEAD of the completed upload: %d %v, want 204, complete at %s", code, h, n)
		}
		for _, m := range []string{http.MethodPatch, http.MethodDelete} {
			req := []string{"Content-Type", "application/partial-upload", "Upload-Offset", n, "Upload-Complete", "?1"}
			if code, _, body := g.fetch(t, m, loc, strings.NewReader(""), req...); code != http.StatusBadRequest || !strings.Contains(string(body), "#completed-upload") {
				t.Errorf("%s of the completed upload: %d %s, want 400 completed-upload", m, code, body)
			}
		}
		if got, _ := os.ReadFile(g.ftpd.Path("big.bin")); !bytes.Equal(got, data) {
			t.Errorf("the PATCH and DELETE of the completed upload changed its file: %d bytes", len(got))
		}
		if code, _, _ := r.fetch(t, http.MethodHead, loc, nil); code != http.StatusNotFound {
			t.Errorf("HEAD of the completed upload on the replica that did not complete it: %d, want 404", code)
		}
	})
}

// TestResumableConcurrentAppend: while one PATCH holds the upload, a
// second through another replica gets 409 and the file has only the
// first's bytes; that replica's HEAD says 409 too, as the offset is
// moving. (Through the same replica the second takes the upload over:
// TestResumableTakeOver.)
func TestResumableConcurrentAppend(t *testing.T) {
	forEachServerWith(t, gatewayOptions{uploadKey: resumableKey}, func(t *testing.T, g *gateway) {
		replica := api.New(api.Config{Pool: g.pool, UploadKey: resumableKey})
		rs := serveGateway(replica)
		defer func() { rs.Close(); replica.Close() }()
		r := &gateway{ftpd: g.ftpd, pool: g.pool, api: replica, http: rs}
		loc := createUpload(t, g, "c.bin", []byte("0123456789"))
		pw, done := silentPatch(t, g, loc, 10, 6, []byte("abc"),
			"Content-Type", "application/partial-upload", "Upload-Complete", "?1")
		// The first holds the upload: the other replica cannot ask it to
		// stop.
		if code, _, _ := r.fetch(t, http.MethodHead, loc, nil); code != http.StatusConflict {
			t.Fatalf("the replica's HEAD during the first PATCH: %d, want 409", code)
		}
		if code, _, body := appendPiece(t, r, loc, 13, []byte("XYZ"), true); code != http.StatusConflict {
			t.Fatalf("the replica's PATCH: %d %s, want 409", code, body)
		}
		pw.Write([]byte("def"))
		pw.Close()
		resp := <-done
		if resp == nil {
			t.Fatal("first PATCH: no answer")
		}
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("first PATCH: %d", resp.StatusCode)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("c.bin")); string(got) != "0123456789abcdef" {
			t.Errorf("file %q", got)
		}
	})
}

// TestResumableBadIDs: a forged ID, one of another file, one with its
// MAC changed, and requests to a cancelled upload get 404 with a problem
// body and touch no file; DELETE removes the upload's file.
func TestResumableBadIDs(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "other.txt", []byte("other"))
		loc := createUpload(t, g, "a.txt", []byte("abc"))
		id := loc[strings.Index(loc, "=")+1:]
		flipped := "0"
		if strings.HasSuffix(id, "0") {
			flipped = "1"
		}
		bad := []string{
			"/files/other.txt?upload=" + id,
			"/files/a.txt?upload=" + id[:len(id)-1] + flipped,
			"/files/a.txt?upload=0123456789abcdef0123456789abcdef...00",
			"/files/a.txt?upload=" + strings.Replace(id, "..", ".3.", 1), // a length added
			"/files/a.txt?upload=..%2F..%2Fother.txt",
		}
		for _, u := range bad {
			for _, m := range []string{http.MethodHead, http.MethodPatch, http.MethodDelete} {
				code, h, body := g.fetch(t, m, u, strings.NewReader("zz"),
					"Content-Type", "application/partial-upload", "Upload-Offset", "3", "Upload-Complete", "?1")
				if code != http.StatusNotFound {
					t.Errorf("%s %s: %d %s, want 404", m, u, code, body)
				} else if m != http.MethodHead {
					problemOf(t, h, body)
				}
			}
		}
		if got, _ := os.ReadFile(g.ftpd.Path("other.txt")); string(got) != "other" {
			t.Errorf("other.txt is %q", got)
		}
		if code, _, body := g.fetch(t, http.MethodDelete, loc, nil); code != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", code, body)
		}
		if left := tempFilesUnder(t, g.ftpd.Path("")); len(left) > 0 {
			t.Errorf("temporary files left after DELETE: %v", left)
		}
		if code, _, _ := appendPiece(t, g, loc, 3, []byte("d"), true); code != http.StatusNotFound {
			t.Errorf("PATCH after DELETE: %d, want 404", code)
		}
		if _, err := os.Stat(g.ftpd.Path("a.txt")); err == nil {
			t.Error("a.txt exists after a cancelled upload")
		}
	})
}

// TestResumableScopes: every request to an upload resource needs the
// write scope on the file's path, whatever its method: a read-only token
// may neither learn the offset nor append nor cancel, a token of another
// prefix neither; a token that may write does all three.
func TestResumableScopes(t *testing.T) {
	forEachServerWith(t, gatewayOptions{tokens: authTokens(t)}, func(t *testing.T, g *gateway) {
		all := []string{"Authorization", "Bearer " + tokAll}
		loc := createUpload(t, g, "s.bin", []byte("abc"), all...)
		for _, tok := range []string{tokReader, tokPub} {
			h := []string{"Authorization", "Bearer " + tok}
			for _, m := range []string{http.MethodHead, http.MethodPatch, http.MethodDelete} {
				code, _, _ := g.fetch(t, m, loc, strings.NewReader("d"), append([]string{
					"Content-Type", "application/partial-upload", "Upload-Offset", "3", "Upload-Complete", "?1"}, h...)...)
				if code != http.StatusForbidden {
					t.Errorf("%s with token %.6s: %d, want 403", m, tok, code)
				}
			}
			code, _, _ := g.fetch(t, http.MethodPut, "/files/s2.bin", strings.NewReader("x"), append([]string{"Upload-Complete", "?0"}, h...)...)
			if code != http.StatusForbidden {
				t.Errorf("creation with token %.6s: %d, want 403", tok, code)
			}
		}
		if code, h, body := g.fetch(t, http.MethodHead, loc, nil, all...); code != http.StatusNoContent || h.Get("Upload-Offset") != "3" {
			t.Fatalf("HEAD with the write token: %d %v %s", code, h, body)
		}
		if code, _, body := appendPiece(t, g, loc, 3, []byte("def"), true, all...); code != http.StatusCreated {
			t.Fatalf("PATCH with the write token: %d %s", code, body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("s.bin")); string(got) != "abcdef" {
			t.Errorf("file %q", got)
		}
	})
}

// TestResumableBasic: under Basic passthrough the upload runs on the
// user's own FTP login, from creation to completion.
func TestResumableBasic(t *testing.T) {
	forEachServerWith(t, gatewayOptions{basic: &basicOptions{}}, func(t *testing.T, g *gateway) {
		creds := basicAuth(g.ftpd.User, g.ftpd.Password)
		loc := createUpload(t, g, "b.bin", []byte("abc"), creds...)
		if code, _, _ := g.fetch(t, http.MethodHead, loc, nil); code != http.StatusUnauthorized {
			t.Errorf("HEAD without credentials: %d, want 401", code)
		}
		other := basicAuth(g.ftpd.User, "wrong password")
		if code, _, _ := g.fetch(t, http.MethodHead, loc, nil, other...); code != http.StatusUnauthorized {
			t.Errorf("HEAD with a wrong password: %d, want 401", code)
		}
		if code, _, body := appendPiece(t, g, loc, 3, []byte("def"), true, creds...); code != http.StatusCreated {
			t.Fatalf("PATCH: %d %s", code, body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("b.bin")); string(got) != "abcdef" {
			t.Errorf("file %q", got)
		}
	})
}

// TestResumableStaleLock: an upload left held by a request that died (a
// .lock not written for hours) is taken back by the next PATCH; one
// written a moment ago is another request's, and the PATCH gets 409.
func TestResumableStaleLock(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		loc := createUpload(t, g, "l.bin", []byte("abc"))
		parts := tempFilesUnder(t, g.ftpd.Path(""))
		if len(parts) != 1 || !strings.HasSuffix(parts[0], ".part") {
			t.Fatalf("temporary files %v, want one .part", parts)
		}
		lock := strings.TrimSuffix(parts[0], ".part") + ".lock"
		if err := os.Rename(parts[0], lock); err != nil {
			t.Fatal(err)
		}
		if code, _, body := appendPiece(t, g, loc, 3, []byte("def"), false); code != http.StatusConflict {
			t.Fatalf("PATCH of an upload held a moment ago: %d %s, want 409", code, body)
		}
		old := time.Now().Add(-3 * time.Hour)
		if err := os.Chtimes(lock, old, old); err != nil {
			t.Fatal(err)
		}
		if code, _, body := appendPiece(t, g, loc, 3, []byte("def"), true); code != http.StatusCreated {
			t.Fatalf("PATCH of an upload held by a dead request: %d %s, want 201", code, body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("l.bin")); string(got) != "abcdef" {
			t.Errorf("file %q", got)
		}
		if left := tempFilesUnder(t, g.ftpd.Path("")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}

// TestResumableLimits: an upload whose declared length passes the upload
// limit is refused at creation with 413 and Upload-Limit; a PATCH that
// would take the upload past it is 413 and leaves the offset; OPTIONS
// advertises Accept-Patch and Upload-Limit.
func TestResumableLimits(t *testing.T) {
	forEachServerWith(t, gatewayOptions{maxUpload: 10}, func(t *testing.T, g *gateway) {
		code, h, body := g.fetch(t, http.MethodPut, "/files/m.bin", strings.NewReader("abc"), "Upload-Complete", "?0", "Upload-Length", "11")
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(h.Get("Upload-Limit"), "max-size=10") {
			t.Fatalf("creation of 11 bytes: %d, Upload-Limit %q; %s", code, h.Get("Upload-Limit"), body)
		}
		code, h, body = g.fetch(t, http.MethodPut, "/files/m.bin", strings.NewReader("0123456789a"), "Upload-Complete", "?1")
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(h.Get("Upload-Limit"), "max-size=10") {
			t.Fatalf("creation with 11 bytes of content: %d, Upload-Limit %q; %s", code, h.Get("Upload-Limit"), body)
		}
		loc := createUpload(t, g, "m.bin", []byte("abcdef"))
		if code, h, body := appendPiece(t, g, loc, 6, []byte("ghijk"), true); code != http.StatusRequestEntityTooLarge || !strings.Contains(h.Get("Upload-Limit"), "max-size=10") {
			t.Fatalf("PATCH past the limit: %d, Upload-Limit %q; %s, want 413 with the limit", code, h.Get("Upload-Limit"), body)
		}
		if off := uploadOffset(t, g, loc); off != 6 {
			t.Errorf("offset after the refused PATCH: %d, want 6", off)
		}
		code, h, _ = g.fetch(t, http.MethodOptions, "/files/m.bin", nil)
		if code != http.StatusNoContent || h.Get("Accept-Patch") != "application/partial-upload" || !strings.Contains(h.Get("Upload-Limit"), "max-size=10") {
			t.Errorf("OPTIONS: %d, Accept-Patch %q, Upload-Limit %q", code, h.Get("Accept-Patch"), h.Get("Upload-Limit"))
		}
	})
}

// TestResumableJoin: with several backends, an upload's ID is bound to
// its mount: the same path under another backend does not know it.
func TestResumableJoin(t *testing.T) {
	j := startJoined(t)
	req, _ := http.NewRequest(http.MethodPut, j.url+"/a/x.bin", strings.NewReader("abc"))
	req.Header.Set("Upload-Complete", "?0")
	resp, err := http.DefaultClient.Do(withTest(t, req))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(loc, "/a/x.bin?upload=") {
		t.Fatalf("creation: %d, Location %q", resp.StatusCode, loc)
	}
	if code, _, _ := j.fetch(t, http.MethodHead, "/b/"+strings.TrimPrefix(loc, "/a/"), nil); code != http.StatusNotFound {
		t.Errorf("the upload under the other mount: %d, want 404", code)
	}
	if code, _, _ := j.fetch(t, http.MethodHead, loc, nil); code != http.StatusNoContent {
		t.Errorf("the upload under its mount: %d, want 204", code)
	}
}

// TestResumableCreationCut: the optimistic creation of the draft (§4.2):
// a PUT of the whole file with Upload-Complete: ?1 and Expect:
// 100-continue gets 104 with the upload's URL, then 100 Continue; its
// body is cut halfway by a reset; HEAD tells what the server kept (with
// the length the PUT declared), and a PATCH of the rest completes the
// file, byte-identical.
func TestResumableCreationCut(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		data := randomBytes(2<<20, 11)
		conn, err := net.Dial("tcp", strings.TrimPrefix(g.http.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "PUT /files/o.bin HTTP/1.1\r\nHost: x\r\nUpload-Complete: ?1\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(data))
		br := bufio.NewReader(conn)
		var codes []int
		loc := ""
		for len(codes) < 2 {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("after %v: %v", codes, err)
			}
			codes = append(codes, resp.StatusCode)
			if resp.StatusCode == 104 {
				loc = resp.Header.Get("Location")
			}
			if resp.StatusCode >= 200 {
				t.Fatalf("final response %d before the body", resp.StatusCode)
			}
		}
		if codes[0] != 104 || codes[1] != http.StatusContinue || !strings.HasPrefix(loc, "/files/o.bin?upload=") {
			t.Fatalf("interim responses %v, Location %q: want 104 with the upload, then 100", codes, loc)
		}
		if _, err := conn.Write(data[:1<<20]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()

		off := waitOffset(t, g, loc)
		if off > 1<<20 {
			t.Fatalf("offset %d after 1 MiB sent", off)
		}
		if _, h, _ := g.fetch(t, http.MethodHead, loc, nil); h.Get("Upload-Length") != strconv.Itoa(len(data)) {
			t.Errorf("Upload-Length %q, want the PUT's %d", h.Get("Upload-Length"), len(data))
		}
		if code, h, body := appendPiece(t, g, loc, off, data[off:], true); code != http.StatusCreated || h.Get("Upload-Complete") != "?1" {
			t.Fatalf("PATCH of the rest: %d %v %s", code, h, body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("o.bin")); !bytes.Equal(got, data) {
			t.Fatalf("the file has %d bytes, not the %d sent", len(got), len(data))
		}
	})
}

// TestResumablePreconditions: the creating PUT's preconditions hold at
// the completing PATCH, as a PUT's hold at its rename: a create-only
// upload (If-None-Match: *) whose file appeared meanwhile is refused 412,
// the file and the upload untouched; one whose If-Match still holds
// replaces the file. A precondition that fails at creation is 412 at
// once, with no upload made.
func TestResumablePreconditions(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		loc := createUpload(t, g, "p.txt", []byte("abc"), "If-None-Match", "*")
		g.ftpd.WriteFile(t, "p.txt", []byte("someone else's"))
		if code, _, body := appendPiece(t, g, loc, 3, []byte("def"), true); code != http.StatusPreconditionFailed {
			t.Fatalf("completing a create-only upload over a new file: %d %s, want 412", code, body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("p.txt")); string(got) != "someone else's" {
			t.Errorf("the file is %q", got)
		}
		if off := uploadOffset(t, g, loc); off != 6 {
			t.Errorf("the refused upload's offset %d, want 6", off)
		}
		g.settle(t, "p.txt")
		_, h, _ := g.fetch(t, http.MethodHead, "/files/p.txt", nil)
		etag := h.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		code, _, _ := g.fetch(t, http.MethodPut, "/files/p.txt", strings.NewReader("x"), "Upload-Complete", "?0", "If-Match", `"nope"`)
		if code != http.StatusPreconditionFailed {
			t.Errorf("creation with a failing If-Match: %d, want 412", code)
		}
		loc2 := createUpload(t, g, "p.txt", []byte("new "), "If-Match", etag)
		if code, _, body := appendPiece(t, g, loc2, 4, []byte("text"), true); code != http.StatusNoContent {
			t.Fatalf("completing an If-Match upload: %d %s, want 204", code, body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("p.txt")); string(got) != "new text" {
			t.Errorf("the file is %q", got)
		}
		if code, _, _ := g.fetch(t, http.MethodDelete, loc, nil); code != http.StatusNoContent {
			t.Errorf("DELETE of the refused upload: %d", code)
		}
		if left := tempFilesUnder(t, g.ftpd.Path("")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}

// TestResumableSigned: a signed PUT URL may create a resumable upload,
// and the upload's URL carries its signature, so that a client with no
// token goes on with it (HEAD, PATCH) while the signed URL is valid; a
// signed GET URL of the file does not reach the upload (403), nor does a
// signed PUT URL of another file (its id is of this file: 404).
func TestResumableSigned(t *testing.T) {
	s := testSigner(t, "k1 "+signKey1+"\n")
	forEachServerWith(t, gatewayOptions{tokens: authTokens(t), signer: s}, func(t *testing.T, g *gateway) {
		hour := time.Now().Add(time.Hour)
		put := s.Sign("PUT", "/files/sg.bin", hour)
		loc := createUpload(t, g, "sg.bin?"+put.Query(), []byte("abc"))
		if !strings.Contains(loc, "ftpgw-signature=") {
			t.Fatalf("Location %q has no signature", loc)
		}
		if off := uploadOffset(t, g, loc); off != 3 {
			t.Fatalf("offset %d", off)
		}
		id := loc[strings.Index(loc, "upload=")+len("upload=") : strings.Index(loc, "&")]
		get := s.Sign("GET", "/files/sg.bin", hour)
		if code, _, _ := g.fetch(t, http.MethodHead, "/files/sg.bin?upload="+id+"&"+get.Query(), nil); code != http.StatusForbidden {
			t.Errorf("HEAD with a signed GET URL: %d, want 403", code)
		}
		other := s.Sign("PUT", "/files/other.bin", hour)
		if code, _, _ := g.fetch(t, http.MethodHead, "/files/other.bin?upload="+id+"&"+other.Query(), nil); code != http.StatusNotFound {
			t.Errorf("the id under another file's signed PUT URL: %d, want 404", code)
		}
		if code, _, _ := g.fetch(t, http.MethodHead, "/files/sg.bin?upload="+id, nil); code != http.StatusUnauthorized {
			t.Errorf("the id with neither signature nor token: %d, want 401", code)
		}
		if code, _, body := appendPiece(t, g, loc, 3, []byte("def"), true); code != http.StatusCreated {
			t.Fatalf("PATCH through the signed upload URL: %d %s", code, body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("sg.bin")); string(got) != "abcdef" {
			t.Errorf("file %q", got)
		}
	})
}

// TestResumableCORS: a page of an allowed origin may run a resumable
// upload: the preflight of its PATCH allows the method and the draft's
// request headers, and its responses expose Location and the Upload-
// headers.
func TestResumableCORS(t *testing.T) {
	forEachServerWith(t, gatewayOptions{cors: corsPolicy()}, func(t *testing.T, g *gateway) {
		loc := createUpload(t, g, "cors.bin", []byte("abc"), "Origin", appOrigin)
		code, h, _ := g.fetch(t, http.MethodOptions, loc, nil, "Origin", appOrigin, "Access-Control-Request-Method", "PATCH",
			"Access-Control-Request-Headers", "content-type, upload-offset, upload-complete, upload-length")
		if code != http.StatusNoContent || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "PATCH") ||
			h.Get("Access-Control-Allow-Headers") != "content-type, upload-offset, upload-complete, upload-length" {
			t.Fatalf("preflight of the PATCH: %d, methods %q, headers %q", code, h.Get("Access-Control-Allow-Methods"), h.Get("Access-Control-Allow-Headers"))
		}
		code, h, body := appendPiece(t, g, loc, 3, []byte("def"), false, "Origin", appOrigin)
		if code != http.StatusNoContent {
			t.Fatalf("PATCH: %d %s", code, body)
		}
		checkExposed(t, h, "Location", "Upload-Offset", "Upload-Complete", "Upload-Limit", "Upload-Length")
	})
}

// TestResumableExpires: an upload left alone for TempMaxAge (a day) has
// expired: the sweep deletes its file, held or not, and its URL is 404; a
// younger one stays.
func TestResumableExpires(t *testing.T) {
	const sweep = 200 * time.Millisecond
	forEachServerWith(t, gatewayOptions{tempSweep: sweep}, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "e/keep.txt", []byte("a directory to upload to"))
		oldLoc := createUpload(t, g, "e/old.bin", []byte("abc"))
		heldLoc := createUpload(t, g, "e/held.bin", []byte("abc"))
		youngLoc := createUpload(t, g, "e/young.bin", []byte("abc"))
		files := map[string]string{}
		for _, p := range tempFilesUnder(t, g.ftpd.Path("e")) {
			files[p] = p
		}
		if len(files) != 3 {
			t.Fatalf("temporary files %v, want 3", files)
		}
		// Which file is which upload: the nonce starts each id.
		fileOf := func(loc string) string {
			nonce := loc[strings.Index(loc, "upload=")+len("upload=") : strings.Index(loc, "upload=")+len("upload=")+32]
			return g.ftpd.Path("e/.ftpgw-upload-" + nonce + ".part")
		}
		held := strings.TrimSuffix(fileOf(heldLoc), ".part") + ".lock"
		if err := os.Rename(fileOf(heldLoc), held); err != nil {
			t.Fatal(err)
		}
		age(t, fileOf(oldLoc), 2*24*time.Hour)
		age(t, held, 2*24*time.Hour)
		waitFor(t, "the sweep of e/", func() bool { return !exists(fileOf(oldLoc)) && !exists(held) })
		for _, loc := range []string{oldLoc, heldLoc} {
			if code, _, _ := g.fetch(t, http.MethodHead, loc, nil); code != http.StatusNotFound {
				t.Errorf("HEAD of an expired upload: %d, want 404", code)
			}
		}
		time.Sleep(3 * sweep)
		if off := uploadOffset(t, g, youngLoc); off != 3 {
			t.Errorf("the young upload's offset %d, want 3", off)
		}
	})
}

// TestResumableCaps: a PATCH is a transfer under the caps, as a PUT is:
// with one transfer a client may have, a PUT while its PATCH runs gets
// 429, and HEAD of another upload, which is no transfer, is not held.
func TestResumableCaps(t *testing.T) {
	forEachServerWith(t, gatewayOptions{maxClientTransfers: 1}, func(t *testing.T, g *gateway) {
		loc := createUpload(t, g, "cap.bin", []byte("abc"))
		other := createUpload(t, g, "cap2.bin", []byte("x"))
		pr, pw := io.Pipe()
		req, _ := http.NewRequest(http.MethodPatch, g.url(loc), pr)
		req.Header.Set("Content-Type", "application/partial-upload")
		req.Header.Set("Upload-Offset", "3")
		req.Header.Set("Upload-Complete", "?1")
		req.ContentLength = 6
		done := sendAsync(t, g, req)
		pw.Write([]byte("def"))
		waitHeld(t, g, 6)
		if off := uploadOffset(t, g, other); off != 1 {
			t.Errorf("HEAD of another upload during the PATCH: offset %d, want 1", off)
		}
		if code, _, body := g.fetch(t, http.MethodPut, "/files/other.bin", strings.NewReader("x")); code != http.StatusTooManyRequests {
			t.Errorf("PUT beside the PATCH: %d %s, want 429", code, body)
		}
		pw.Write([]byte("ghi"))
		pw.Close()
		if resp := <-done; resp == nil {
			t.Fatal("PATCH: no answer")
		} else if resp.StatusCode != http.StatusCreated {
			t.Fatalf("PATCH: %d", resp.StatusCode)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("cap.bin")); string(got) != "abcdefghi" {
			t.Errorf("file %q", got)
		}
	})
}

// TestResumableParentsAndDirs: a resumable creation with ?parents=1 makes
// the missing directories, as a PUT does; without it a missing parent is
// 409 and no upload is made; a PUT of a directory's path makes the
// directory, Upload-Complete or not.
func TestResumableParentsAndDirs(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		if code, _, body := g.fetch(t, http.MethodPut, "/files/x/y/z.bin", strings.NewReader("abc"), "Upload-Complete", "?0"); code != http.StatusConflict {
			t.Fatalf("creation under a missing parent: %d %s, want 409", code, body)
		}
		loc := createUpload(t, g, "x/y/z.bin?parents=1", []byte("abc"))
		if !strings.HasPrefix(loc, "/files/x/y/z.bin?upload=") {
			t.Fatalf("Location %q", loc)
		}
		if code, _, body := appendPiece(t, g, loc, 3, []byte("def"), true); code != http.StatusCreated {
			t.Fatalf("PATCH: %d %s", code, body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("x/y/z.bin")); string(got) != "abcdef" {
			t.Errorf("file %q", got)
		}
		if code, _, body := g.fetch(t, http.MethodPut, "/files/d/", nil, "Upload-Complete", "?1"); code != http.StatusCreated {
			t.Fatalf("PUT of a directory's path with Upload-Complete: %d %s, want 201", code, body)
		}
		if st, err := os.Stat(g.ftpd.Path("d")); err != nil || !st.IsDir() {
			t.Errorf("d is not a directory: %v", err)
		}
	})
}

// TestResumableEmptyPieces: the careful creation of the draft (an empty
// PUT with Upload-Complete: ?0, §4.2) makes an upload at offset 0; an
// empty PATCH with ?1 completes an upload whose bytes all came before;
// an empty file can be uploaded so.
func TestResumableEmptyPieces(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		loc := createUpload(t, g, "careful.bin", nil)
		if off := uploadOffset(t, g, loc); off != 0 {
			t.Fatalf("offset %d, want 0", off)
		}
		if code, _, body := appendPiece(t, g, loc, 0, []byte("all of it"), false); code != http.StatusNoContent {
			t.Fatalf("PATCH: %d %s", code, body)
		}
		if code, _, body := appendPiece(t, g, loc, 9, nil, true); code != http.StatusCreated {
			t.Fatalf("empty PATCH with ?1: %d %s", code, body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("careful.bin")); string(got) != "all of it" {
			t.Errorf("file %q", got)
		}
		empty := createUpload(t, g, "empty.bin", nil)
		if code, _, body := appendPiece(t, g, empty, 0, nil, true); code != http.StatusCreated {
			t.Fatalf("empty file: %d %s", code, body)
		}
		if st, err := os.Stat(g.ftpd.Path("empty.bin")); err != nil || st.Size() != 0 {
			t.Errorf("empty.bin: %v", err)
		}
		if left := tempFilesUnder(t, g.ftpd.Path("")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}

// TestResumableSizeFailsAfterTake: a PATCH that has taken the upload
// (RNFR/RNTO to .lock) and then cannot read its SIZE (a 451 of the fake
// server) gives the upload back at once: the next PATCH, on a server
// answering again, is not turned away as if another request held it.
func TestResumableSizeFailsAfterTake(t *testing.T) {
	srv := ftptest.NewServer(t)
	ts := fakeGateway(t, srv, nil)
	req, _ := http.NewRequest(http.MethodPut, ts.URL+"/files/f.bin", strings.NewReader("abc"))
	req.Header.Set("Upload-Complete", "?0")
	resp, err := testClient.Do(withTest(t, req))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || loc == "" {
		t.Fatalf("creation: %d, Location %q", resp.StatusCode, loc)
	}
	srv.Handle("SIZE", func(c *ftptest.Conn, arg string) {
		if strings.HasSuffix(arg, ".lock") {
			c.Reply(451, "Requested action aborted: local error in processing")
			return
		}
		c.Default("SIZE", arg)
	})
	patch := func() int {
		req, _ := http.NewRequest(http.MethodPatch, ts.URL+loc, strings.NewReader("def"))
		req.Header.Set("Content-Type", "application/partial-upload")
		req.Header.Set("Upload-Offset", "3")
		req.Header.Set("Upload-Complete", "?1")
		resp, err := testClient.Do(withTest(t, req))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := patch(); code < 500 {
		t.Fatalf("PATCH with SIZE failing: %d, want a 5xx", code)
	}
	var held []string
	for _, name := range srv.List("/") {
		if strings.HasSuffix(name, ".lock") {
			held = append(held, name)
		}
	}
	if len(held) > 0 {
		t.Errorf("the upload is left held: %v", held)
	}
	srv.Handle("SIZE", nil)
	if code := patch(); code != http.StatusCreated {
		t.Fatalf("PATCH on a server answering again: %d, want 201", code)
	}
	if got, _ := srv.File("/f.bin"); string(got) != "abcdef" {
		t.Errorf("file %q", got)
	}
}

// checkExposed checks that h is an answer to a page of appOrigin that may
// read the headers names.
func checkExposed(t *testing.T, h http.Header, names ...string) {
	t.Helper()
	exposed := h.Get("Access-Control-Expose-Headers")
	for _, name := range names {
		if !strings.Contains(exposed, name) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, name)
		}
	}
	if h.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Errorf("Access-Control-Allow-Origin %q", h.Get("Access-Control-Allow-Origin"))
	}
}

// TestResumableClientUploads: with two open uploads a client may have, a
// third creation (the draft's or tus's) gets 429 with Retry-After and a
// problem body, and leaves nothing on the FTP server; completing one of
// the two frees a place, and so does cancelling one, or a digest mismatch
// that discards one.
func TestResumableClientUploads(t *testing.T) {
	// Pieces over 2 bytes are checked against their Content-Digest once
	// appended: one that does not match discards its upload.
	forEachServerWith(t, gatewayOptions{maxClientUploads: 2, tusPiece: 2}, func(t *testing.T, g *gateway) {
		full := func(what string) {
			t.Helper()
			before := tempFilesUnder(t, g.ftpd.Path(""))
			code, h, body := g.fetch(t, http.MethodPut, "/files/third.bin", strings.NewReader("abc"), "Upload-Complete", "?0")
			if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
				t.Fatalf("%s: the draft's creation %d (Retry-After %q) %s, want 429", what, code, h.Get("Retry-After"), body)
			}
			problemOf(t, h, body)
			code, h, body = g.fetch(t, http.MethodPost, "/files/third.bin", strings.NewReader("abc"), append([]string{
				"Upload-Length", "3", "Content-Type", "application/offset+octet-stream"}, tusHeaders...)...)
			if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
				t.Fatalf("%s: tus's creation %d (Retry-After %q) %s, want 429", what, code, h.Get("Retry-After"), body)
			}
			problemOf(t, h, body)
			if after := tempFilesUnder(t, g.ftpd.Path("")); len(after) != len(before) {
				t.Errorf("%s: temporary files %v, then %v after the refusals", what, before, after)
			}
		}
		a := createUpload(t, g, "a.bin", []byte("abc"))
		b := tusCreate(t, g, "/files/", "b.bin", 6, []byte("abc"))
		full("two open")
		if code, _, body := appendPiece(t, g, a, 3, []byte("def"), true); code != http.StatusCreated {
			t.Fatalf("completing a: %d %s", code, body)
		}
		c := createUpload(t, g, "c.bin", []byte("abc"))
		full("a completed, c created")
		if code, _, body := g.fetch(t, http.MethodDelete, c, nil); code != http.StatusNoContent {
			t.Fatalf("cancelling c: %d %s", code, body)
		}
		tusCreate(t, g, "/files/", "d.bin", 3, nil)
		full("c cancelled, d created")
		if code, _, body := tusPatch(t, g, b, 3, []byte("def")); code != http.StatusNoContent {
			t.Fatalf("completing b: %d %s", code, body)
		}
		e := createUpload(t, g, "e.bin", []byte("abc"))
		full("b completed, e created")
		if code, _, body := appendPiece(t, g, e, 3, []byte("def"), false, "Content-Digest", sha256Field([]byte("xyz"))); code != http.StatusBadRequest {
			t.Fatalf("a piece of e against a wrong Content-Digest: %d %s, want 400", code, body)
		}
		createUpload(t, g, "f.bin", []byte("abc"))
		full("e discarded, f created")
	})
}
