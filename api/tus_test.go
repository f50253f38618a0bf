package api_test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// tusHeaders are the headers of every tus request but OPTIONS.
var tusHeaders = []string{"Tus-Resumable", "1.0.0"}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// tusCreate POSTs a tus creation to dir (a directory's URL, the name in
// Upload-Metadata) or to a file's URL (name ""), with first as its first
// piece, and returns the upload's URL.
func tusCreate(t *testing.T, g *gateway, url, name string, length int64, first []byte, hdr ...string) string {
	t.Helper()
	h := append([]string{"Upload-Length", strconv.FormatInt(length, 10), "Content-Type", "application/offset+octet-stream"}, tusHeaders...)
	if name != "" {
		h = append(h, "Upload-Metadata", "filename "+b64(name)+",filetype "+b64("application/octet-stream")+",empty")
	}
	code, rh, body := g.fetch(t, http.MethodPost, url, bytes.NewReader(first), append(h, hdr...)...)
	if code != http.StatusCreated {
		t.Fatalf("tus creation: %d %s", code, body)
	}
	loc := rh.Get("Location")
	if !strings.Contains(loc, "?upload=") || rh.Get("Tus-Resumable") != "1.0.0" || rh.Get("Upload-Offset") != strconv.Itoa(len(first)) {
		t.Fatalf("tus creation: Location %q, Tus-Resumable %q, Upload-Offset %q", loc, rh.Get("Tus-Resumable"), rh.Get("Upload-Offset"))
	}
	return loc
}

// tusPatch PATCHes data at offset.
func tusPatch(t *testing.T, g *gateway, loc string, offset int64, data []byte, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	return g.fetch(t, http.MethodPatch, loc, bytes.NewReader(data), append(append([]string{
		"Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.FormatInt(offset, 10)}, tusHeaders...), hdr...)...)
}

// tusOffset is tus's HEAD: the offset, checking the headers tus asks for.
func tusOffset(t *testing.T, g *gateway, loc string, length int64) int64 {
	t.Helper()
	code, h, body := g.fetch(t, http.MethodHead, loc, nil, tusHeaders...)
	if code != http.StatusNoContent {
		t.Fatalf("HEAD %s: %d %s", loc, code, body)
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("Tus-Resumable") != "1.0.0" || h.Get("Upload-Length") != strconv.FormatInt(length, 10) {
		t.Errorf("HEAD: Cache-Control %q, Tus-Resumable %q, Upload-Length %q", h.Get("Cache-Control"), h.Get("Tus-Resumable"), h.Get("Upload-Length"))
	}
	n, err := strconv.ParseInt(h.Get("Upload-Offset"), 10, 64)
	if err != nil {
		t.Fatalf("HEAD: Upload-Offset %q", h.Get("Upload-Offset"))
	}
	return n
}

// tusCut sends a tus PATCH announcing twice data's length, writes data
// and resets the connection.
func tusCut(t *testing.T, g *gateway, loc string, offset int64, data []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "PATCH %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: %d\r\nContent-Length: %d\r\n\r\n",
		loc, offset, 2*len(data))
	w.Write(data)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	conn.(*net.TCPConn).SetLinger(0)
}

// TestTusUpload: OPTIONS tells tus's version, extensions and algorithms;
// a tus upload created at a directory's URL with its first piece, a
// PATCH at a wrong offset (409), a piece cut mid-body (the resume at the
// server's offset), a piece through a replica with the same key, and the
// last piece: the file is byte-identical, no temporary file is left, the
// upload is gone. Upload-Expires is the .part's time plus TempMaxAge.
func TestTusUpload(t *testing.T) {
	forEachServerWith(t, gatewayOptions{uploadKey: resumableKey, maxUpload: 1 << 30}, func(t *testing.T, g *gateway) {
		code, h, _ := g.fetch(t, http.MethodOptions, "/files/", nil)
		if code != http.StatusNoContent || h.Get("Tus-Resumable") != "1.0.0" || h.Get("Tus-Version") != "1.0.0" ||
			h.Get("Tus-Extension") != "creation,creation-with-upload,termination,expiration,checksum" ||
			h.Get("Tus-Checksum-Algorithm") != "sha1,sha256" || h.Get("Tus-Max-Size") != strconv.Itoa(1<<30) {
			t.Fatalf("OPTIONS: %d %v", code, h)
		}
		g.ftpd.WriteFile(t, "d/keep.txt", []byte("a directory"))
		data := randomBytes(2<<20+999, 11)
		n := int64(len(data))
		before := time.Now()
		loc := tusCreate(t, g, "/files/d/", "tus file.bin", n, data[:70000])
		if !strings.HasPrefix(loc, "/files/d/tus%20file.bin?upload=") {
			t.Fatalf("Location %q", loc)
		}
		_, h, _ = g.fetch(t, http.MethodHead, loc, nil, tusHeaders...)
		exp, err := http.ParseTime(h.Get("Upload-Expires"))
		if err != nil || exp.Before(before.Add(24*time.Hour-5*time.Minute)) || exp.After(time.Now().Add(24*time.Hour+5*time.Minute)) {
			t.Errorf("Upload-Expires %q (%v), want a day from now", h.Get("Upload-Expires"), err)
		}

		code, h, body := tusPatch(t, g, loc, 5, data[5:10])
		if code != http.StatusConflict || h.Get("Upload-Offset") != "70000" || h.Get("Tus-Resumable") != "1.0.0" {
			t.Fatalf("wrong offset: %d %v %s", code, h, body)
		}
		off := tusOffset(t, g, loc, n)
		tusCut(t, g, loc, off, data[off:off+1<<20])
		deadline := time.Now().Add(20 * time.Second)
		for {
			code, h, _ := g.fetch(t, http.MethodHead, loc, nil, tusHeaders...)
			if code == http.StatusNoContent {
				got, _ := strconv.ParseInt(h.Get("Upload-Offset"), 10, 64)
				if got < off || got > off+1<<20 {
					t.Fatalf("offset %d after sending [%d, %d)", got, off, off+1<<20)
				}
				off = got
				break
			}
			if code != http.StatusConflict || time.Now().After(deadline) {
				t.Fatalf("HEAD after the cut: %d", code)
			}
			time.Sleep(20 * time.Millisecond)
		}

		replica := api.New(api.Config{Pool: g.pool, UploadKey: resumableKey})
		rs := serveGateway(replica)
		defer func() { rs.Close(); replica.Close() }()
		r := &gateway{ftpd: g.ftpd, pool: g.pool, api: replica, http: rs}
		mid := off + (n-off)/2
		code, h, body = tusPatch(t, r, loc, off, data[off:mid])
		if code != http.StatusNoContent || h.Get("Upload-Offset") != strconv.FormatInt(mid, 10) || h.Get("Upload-Expires") == "" {
			t.Fatalf("replica's PATCH: %d %v %s", code, h, body)
		}
		code, h, body = tusPatch(t, g, loc, mid, data[mid:])
		if code != http.StatusNoContent || h.Get("Upload-Offset") != strconv.FormatInt(n, 10) {
			t.Fatalf("last PATCH: %d %v %s", code, h, body)
		}
		got, err := os.ReadFile(g.ftpd.Path("d/tus file.bin"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("file on the server: %d bytes (err %v), want the %d sent", len(got), err, len(data))
		}
		if left := tempFilesUnder(t, g.ftpd.Path("")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
		// tus's HEAD of a completed upload: its offset is its length.
		if code, h, _ := g.fetch(t, http.MethodHead, loc, nil, tusHeaders...); code != http.StatusNoContent || h.Get("Upload-Offset") != strconv.FormatInt(n, 10) || h.Get("Upload-Length") != strconv.FormatInt(n, 10) {
			t.Errorf("HEAD of the completed upload: %d %v, want 204 at offset %d", code, h, n)
		}
	})
}

// TestTusChecksum: a piece whose Upload-Checksum does not match gets 460
// and nothing is appended; sha1 and sha256 that match are appended; an
// unknown algorithm is 400, a piece over the checked size 413; a
// creation with its whole body and a checksum completes the file.
func TestTusChecksum(t *testing.T) {
	forEachServerWith(t, gatewayOptions{tusPiece: 16}, func(t *testing.T, g *gateway) {
		sum256 := func(s string) string {
			h := sha256.Sum256([]byte(s))
			return "sha256 " + base64.StdEncoding.EncodeToString(h[:])
		}
		sum1 := func(s string) string {
			h := sha1.Sum([]byte(s))
			return "sha1 " + base64.StdEncoding.EncodeToString(h[:])
		}
		loc := tusCreate(t, g, "/files/c.bin", "", 9, []byte("abc"))
		code, h, body := tusPatch(t, g, loc, 3, []byte("XYZ"), "Upload-Checksum", sum256("def"))
		if code != 460 || problemOf(t, h, body)["title"] != "Checksum Mismatch" {
			t.Fatalf("mismatching sha256: %d %s, want 460", code, body)
		}
		if off := tusOffset(t, g, loc, 9); off != 3 {
			t.Fatalf("offset after the mismatch: %d, want 3 (nothing appended)", off)
		}
		for _, c := range []struct {
			name, sum string
			data      string
			want      int
		}{
			{"unknown algorithm", "md4 AAAA", "def", http.StatusBadRequest},
			{"malformed digest", "sha256 !!", "def", http.StatusBadRequest},
			{"piece over the checked size", sum256("0123456789abcdefg"), "0123456789abcdefg", http.StatusRequestEntityTooLarge},
		} {
			if code, _, body := tusPatch(t, g, loc, 3, []byte(c.data), "Upload-Checksum", c.sum); code != c.want {
				t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
			}
		}
		if code, _, body := tusPatch(t, g, loc, 3, []byte("def"), "Upload-Checksum", sum1("def")); code != http.StatusNoContent {
			t.Fatalf("matching sha1: %d %s", code, body)
		}
		if code, _, body := tusPatch(t, g, loc, 6, []byte("ghi"), "Upload-Checksum", sum256("ghi")); code != http.StatusNoContent {
			t.Fatalf("matching sha256: %d %s", code, body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("c.bin")); string(got) != "abcdefghi" {
			t.Errorf("file %q", got)
		}
		tusCreate(t, g, "/files/", "whole.bin", 3, []byte("xyz"), "Upload-Checksum", sum256("xyz"))
		if got, _ := os.ReadFile(g.ftpd.Path("whole.bin")); string(got) != "xyz" {
			t.Errorf("file %q", got)
		}
		if left := tempFilesUnder(t, g.ftpd.Path("")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}

// TestTusRefusals: what tus refuses, before or without the FTP server:
// a wrong or missing Tus-Resumable (412 with Tus-Version), names that are
// not one segment, a missing Upload-Length, a deferred length, a body of
// another type, a length past the limit; termination deletes the upload;
// an empty upload completes at its creation.
func TestTusRefusals(t *testing.T) {
	forEachServerWith(t, gatewayOptions{maxUpload: 100}, func(t *testing.T, g *gateway) {
		loc := tusCreate(t, g, "/files/", "r.bin", 6, []byte("abc"))
		for _, c := range []struct {
			name, method, url string
			hdr               []string
		}{
			{"POST of tus's fields without Tus-Resumable", http.MethodPost, "/files/x.bin", []string{"Upload-Length", "3"}},
			{"POST of another version", http.MethodPost, "/files/x.bin", []string{"Upload-Length", "3", "Tus-Resumable", "0.2.2"}},
			{"HEAD of another version", http.MethodHead, loc, []string{"Tus-Resumable", "0.2.2"}},
			{"PATCH of tus's type without Tus-Resumable", http.MethodPatch, loc, []string{"Content-Type", "application/offset+octet-stream", "Upload-Offset", "3"}},
		} {
			code, h, _ := g.fetch(t, c.method, c.url, strings.NewReader(""), c.hdr...)
			if code != http.StatusPreconditionFailed || h.Get("Tus-Version") != "1.0.0" {
				t.Errorf("%s: %d, Tus-Version %q, want 412 with 1.0.0", c.name, code, h.Get("Tus-Version"))
			}
		}
		for _, c := range []struct {
			name string
			hdr  []string
			want int
		}{
			{"no filename", []string{"Upload-Length", "3"}, http.StatusBadRequest},
			{"filename ..", []string{"Upload-Length", "3", "Upload-Metadata", "filename " + b64("..")}, http.StatusBadRequest},
			{"filename with a slash", []string{"Upload-Length", "3", "Upload-Metadata", "filename " + b64("a/b")}, http.StatusBadRequest},
			{"filename with CR LF", []string{"Upload-Length", "3", "Upload-Metadata", "filename " + b64("a\r\nDELE x")}, http.StatusBadRequest},
			{"filename with NUL", []string{"Upload-Length", "3", "Upload-Metadata", "filename " + b64("a\x00b")}, http.StatusBadRequest},
			{"a temporary name", []string{"Upload-Length", "3", "Upload-Metadata", "filename " + b64(".ftpgw-upload-x")}, http.StatusBadRequest},
			{"filename not base64", []string{"Upload-Length", "3", "Upload-Metadata", "filename a!"}, http.StatusBadRequest},
			{"no Upload-Length", []string{"Upload-Metadata", "filename " + b64("a")}, http.StatusBadRequest},
			{"deferred length", []string{"Upload-Defer-Length", "1", "Upload-Metadata", "filename " + b64("a")}, http.StatusBadRequest},
			{"negative length", []string{"Upload-Length", "-1", "Upload-Metadata", "filename " + b64("a")}, http.StatusBadRequest},
			{"past the limit", []string{"Upload-Length", "101", "Upload-Metadata", "filename " + b64("a")}, http.StatusRequestEntityTooLarge},
		} {
			code, h, body := g.fetch(t, http.MethodPost, "/files/", nil, append(c.hdr, tusHeaders...)...)
			if code != c.want {
				t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
			} else {
				problemOf(t, h, body)
			}
		}
		if code, h, _ := g.fetch(t, http.MethodPost, "/files/x.bin", strings.NewReader("abc")); code != http.StatusPreconditionFailed || h.Get("Tus-Version") != "1.0.0" {
			t.Errorf("a POST that is not tus's: %d, Tus-Version %q, want 412 with 1.0.0 (POST is allowed here: tus's)", code, h.Get("Tus-Version"))
		}
		code, _, body := g.fetch(t, http.MethodPost, "/files/t.txt", strings.NewReader("abc"), append([]string{"Upload-Length", "3", "Content-Type", "text/plain"}, tusHeaders...)...)
		if code != http.StatusUnsupportedMediaType {
			t.Errorf("creation with a text/plain body: %d %s, want 415", code, body)
		}
		if code, _, body := tusPatch(t, g, loc, 3, []byte("defg")); code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge {
			t.Errorf("PATCH past the length: %d %s, want 400 or 413", code, body)
		}
		if off := tusOffset(t, g, loc, 6); off != 3 {
			t.Errorf("offset after the refusals: %d, want 3", off)
		}
		if code, h, body := g.fetch(t, http.MethodDelete, loc, nil, tusHeaders...); code != http.StatusNoContent || h.Get("Tus-Resumable") != "1.0.0" {
			t.Fatalf("termination: %d %s", code, body)
		}
		if code, _, _ := g.fetch(t, http.MethodHead, loc, nil, tusHeaders...); code != http.StatusNotFound {
			t.Errorf("HEAD after termination: %d, want 404", code)
		}
		tusCreate(t, g, "/files/empty.bin", "", 0, nil)
		if got, err := os.ReadFile(g.ftpd.Path("empty.bin")); err != nil || len(got) != 0 {
			t.Errorf("empty upload: %q, %v", got, err)
		}
		if left := tempFilesUnder(t, g.ftpd.Path("")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}

// TestTusAccess: every tus request needs the write scope on the file, or
// a signed PUT URL of it: a read-only token may neither create, nor learn
// the offset, nor append, nor terminate; a token whose prefix is /pub
// creates in /pub/ and nowhere else; a signed PUT URL creates at its
// file's URL (the Location carries the signature), never at a
// directory's; a checksum mismatch at creation leaves no file.
func TestTusAccess(t *testing.T) {
	s := testSigner(t, "k1 "+signKey1+"\n")
	forEachServerWith(t, gatewayOptions{tokens: authTokens(t), signer: s}, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "pub/keep.txt", []byte("a directory"))
		all := []string{"Authorization", "Bearer " + tokAll}
		loc := tusCreate(t, g, "/files/", "s.bin", 6, []byte("abc"), all...)
		reader := []string{"Authorization", "Bearer " + tokReader}
		for _, m := range []string{http.MethodHead, http.MethodPatch, http.MethodDelete} {
			code, _, _ := g.fetch(t, m, loc, strings.NewReader("def"), append(append([]string{
				"Content-Type", "application/offset+octet-stream", "Upload-Offset", "3"}, tusHeaders...), reader...)...)
			if code != http.StatusForbidden {
				t.Errorf("%s with a read-only token: %d, want 403", m, code)
			}
		}
		for _, c := range []struct {
			name, url, tok string
			want           int
		}{
			{"a read-only token", "/files/", tokReader, http.StatusForbidden},
			{"a token of /pub outside it", "/files/", tokPub, http.StatusForbidden},
			{"a token of /pub in it", "/files/pub/", tokPub, http.StatusCreated},
		} {
			code, _, body := g.fetch(t, http.MethodPost, c.url, nil, append([]string{"Upload-Length", "1", "Upload-Metadata", "filename " + b64("p.bin"),
				"Authorization", "Bearer " + c.tok}, tusHeaders...)...)
			if code != c.want {
				t.Errorf("creation with %s: %d %s, want %d", c.name, code, body, c.want)
			}
		}
		if code, _, body := tusPatch(t, g, loc, 3, []byte("def"), all...); code != http.StatusNoContent {
			t.Fatalf("PATCH with the write token: %d %s", code, body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("s.bin")); string(got) != "abcdef" {
			t.Errorf("file %q", got)
		}

		hour := time.Now().Add(time.Hour)
		put := s.Sign("PUT", "/files/sg.bin", hour)
		sloc := tusCreate(t, g, "/files/sg.bin?"+put.Query(), "", 6, []byte("abc"))
		if !strings.Contains(sloc, "ftpgw-signature=") {
			t.Fatalf("Location %q has no signature", sloc)
		}
		if off := tusOffset(t, g, sloc, 6); off != 3 {
			t.Fatalf("offset through the signed URL: %d", off)
		}
		if code, _, body := tusPatch(t, g, sloc, 3, []byte("def")); code != http.StatusNoContent {
			t.Fatalf("PATCH through the signed upload URL: %d %s", code, body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("sg.bin")); string(got) != "abcdef" {
			t.Errorf("file %q", got)
		}
		dir := s.Sign("PUT", "/files/pub/", hour)
		code, h, body := g.fetch(t, http.MethodPost, "/files/pub/?"+dir.Query(), nil, append([]string{"Upload-Length", "1", "Upload-Metadata", "filename " + b64("d.bin")}, tusHeaders...)...)
		if code != http.StatusForbidden {
			t.Errorf("creation at a directory's signed PUT URL: %d %s, want 403", code, body)
		} else {
			problemOf(t, h, body)
		}
		get := s.Sign("GET", "/files/g.bin", hour)
		if code, _, _ := g.fetch(t, http.MethodPost, "/files/g.bin?"+get.Query(), nil, append([]string{"Upload-Length", "1"}, tusHeaders...)...); code != http.StatusForbidden {
			t.Errorf("creation with a signed GET URL: %d, want 403", code)
		}
		sum := sha256.Sum256([]byte("xyz"))
		code, _, body = g.fetch(t, http.MethodPost, "/files/bad.bin", strings.NewReader("XYZ"), append(append([]string{"Upload-Length", "3",
			"Content-Type", "application/offset+octet-stream", "Upload-Checksum", "sha256 " + base64.StdEncoding.EncodeToString(sum[:])}, tusHeaders...), all...)...)
		if code != 460 {
			t.Errorf("creation with a mismatching checksum: %d %s, want 460", code, body)
		}
		if _, err := os.Stat(g.ftpd.Path("bad.bin")); !os.IsNotExist(err) {
			t.Errorf("bad.bin after the mismatch: %v", err)
		}
		if left := tempFilesUnder(t, g.ftpd.Path("")); len(left) > 1 {
			// /pub/p.bin's upload, of one byte, is still open.
			t.Errorf("temporary files left: %v", left)
		}
	})
}

// TestTusBasicAndJoin: under Basic passthrough a tus upload runs on the
// user's login; with several backends its id is its mount's.
func TestTusBasicAndJoin(t *testing.T) {
	t.Run("basic", func(t *testing.T) {
		forEachServerWith(t, gatewayOptions{basic: &basicOptions{}}, func(t *testing.T, g *gateway) {
			creds := basicAuth(g.ftpd.User, g.ftpd.Password)
			loc := tusCreate(t, g, "/files/", "b.bin", 6, []byte("abc"), creds...)
			if code, h, _ := g.fetch(t, http.MethodHead, loc, nil, tusHeaders...); code != http.StatusUnauthorized || h.Get("Tus-Resumable") != "1.0.0" {
				t.Errorf("HEAD without credentials: %d with Tus-Resumable %q, want 401 with 1.0.0", code, h.Get("Tus-Resumable"))
			}
			if code, _, body := tusPatch(t, g, loc, 3, []byte("def"), creds...); code != http.StatusNoContent {
				t.Fatalf("PATCH: %d %s", code, body)
			}
			if got, _ := os.ReadFile(g.ftpd.Path("b.bin")); string(got) != "abcdef" {
				t.Errorf("file %q", got)
			}
		})
	})
	t.Run("join", func(t *testing.T) {
		j := startJoined(t)
		req, _ := http.NewRequest(http.MethodPost, j.url+"/a/x.bin", strings.NewReader("abc"))
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Length", "6")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := http.DefaultClient.Do(withTest(t, req))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(loc, "/a/x.bin?upload=") {
			t.Fatalf("creation: %d, Location %q", resp.StatusCode, loc)
		}
		if code, _, _ := j.fetch(t, http.MethodHead, "/b/"+strings.TrimPrefix(loc, "/a/"), nil, tusHeaders...); code != http.StatusNotFound {
			t.Errorf("the upload under the other mount: %d, want 404", code)
		}
		if code, h, _ := j.fetch(t, http.MethodHead, loc, nil, tusHeaders...); code != http.StatusNoContent || h.Get("Upload-Offset") != "3" {
			t.Errorf("the upload under its mount: %d %v", code, h)
		}
	})
}

// TestTusCORS: a page of an allowed origin runs tus: the preflights of
// its POST and PATCH allow tus's request headers, and its responses
// expose Location, Upload-Offset, Upload-Expires and Tus-Resumable.
func TestTusCORS(t *testing.T) {
	forEachServerWith(t, gatewayOptions{cors: corsPolicy()}, func(t *testing.T, g *gateway) {
		for _, c := range []struct{ method, hdrs string }{
			{"POST", "content-type, tus-resumable, upload-length, upload-metadata, upload-checksum"},
			{"PATCH", "content-type, tus-resumable, upload-offset, upload-checksum"},
		} {
			code, h, _ := g.fetch(t, http.MethodOptions, "/files/", nil, "Origin", appOrigin, "Access-Control-Request-Method", c.method,
				"Access-Control-Request-Headers", c.hdrs)
			if code != http.StatusNoContent || !strings.Contains(h.Get("Access-Control-Allow-Methods"), c.method) || h.Get("Access-Control-Allow-Headers") != c.hdrs {
				t.Errorf("preflight of %s: %d, methods %q, headers %q", c.method, code, h.Get("Access-Control-Allow-Methods"), h.Get("Access-Control-Allow-Headers"))
			}
		}
		loc := tusCreate(t, g, "/files/", "cors.bin", 6, []byte("abc"), "Origin", appOrigin)
		code, h, body := tusPatch(t, g, loc, 3, []byte("de"), "Origin", appOrigin)
		if code != http.StatusNoContent {
			t.Fatalf("PATCH: %d %s", code, body)
		}
		checkExposed(t, h, "Location", "Upload-Offset", "Upload-Expires", "Tus-Resumable", "Upload-Length")
	})
}

// TestTusChecksumCaps: a checksummed piece is read under the transfer
// caps and while the upload is held: during its body, the .lock is there
// and a PUT beside it gets 429 with one transfer a client may have; then it is
// appended whole.
func TestTusChecksumCaps(t *testing.T) {
	forEachServerWith(t, gatewayOptions{maxClientTransfers: 1}, func(t *testing.T, g *gateway) {
		loc := tusCreate(t, g, "/files/", "cap.bin", 9, []byte("abc"))
		sum := sha256.Sum256([]byte("defghi"))
		pr, pw := io.Pipe()
		req, _ := http.NewRequest(http.MethodPatch, g.url(loc), pr)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		req.Header.Set("Upload-Offset", "3")
		req.Header.Set("Upload-Checksum", "sha256 "+base64.StdEncoding.EncodeToString(sum[:]))
		req.ContentLength = 6
		done := sendAsync(t, g, req)
		pw.Write([]byte("def"))
		waitHeld(t, g, 3)
		if code, _, body := g.fetch(t, http.MethodPut, "/files/other.bin", strings.NewReader("x")); code != http.StatusTooManyRequests {
			t.Errorf("PUT beside the PATCH: %d %s, want 429", code, body)
		}
		pw.Write([]byte("ghi"))
		pw.Close()
		if resp := <-done; resp == nil {
			t.Fatal("PATCH: no answer")
		} else if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PATCH: %d", resp.StatusCode)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("cap.bin")); string(got) != "abcdefghi" {
			t.Errorf("file %q", got)
		}
	})
}

// TestTusResumableEverywhere: every answer to a tus request has
// Tus-Resumable: 1.0.0, the refusals no tus handler writes included: the
// token check's 401 (no token, an unknown one) and 403 (a read-only token,
// one of another prefix, a signed URL of another method), a version the
// gateway does not speak (412), the router's 405 of a method no path
// takes and of a path of the gateway's own, its 404 of a path in no mount,
// the mount's redirect, and the preflight of an origin the policy
// refuses. A request that is not tus's gets none.
func TestTusResumableEverywhere(t *testing.T) {
	s := testSigner(t, "k1 "+signKey1+"\n")
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{tokens: authTokens(t), signer: s, cors: corsPolicy()})
	g.http.Client().CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	all := "Bearer " + tokAll
	loc := tusCreate(t, g, "/files/", "e.bin", 6, []byte("abc"), "Authorization", all)
	get := s.Sign("GET", "/files/e.bin", time.Now().Add(time.Hour))
	tus := func(hdr ...string) []string { return append(append([]string(nil), hdr...), tusHeaders...) }
	create := []string{"Upload-Length", "1", "Upload-Metadata", "filename " + b64("n.bin")}
	for _, c := range []struct {
		name, method, url string
		hdr               []string
		want              int
	}{
		{"no token", http.MethodPost, "/files/", tus(create...), http.StatusUnauthorized},
		{"an unknown token", http.MethodHead, loc, tus("Authorization", "Bearer "+tokWrong), http.StatusUnauthorized},
		{"a read-only token", http.MethodPatch, loc, tus("Authorization", "Bearer "+tokReader,
			"Content-Type", "application/offset+octet-stream", "Upload-Offset", "3"), http.StatusForbidden},
		{"a token of another prefix", http.MethodPost, "/files/", tus(append(create, "Authorization", "Bearer "+tokPub)...), http.StatusForbidden},
		{"a signed GET URL", http.MethodPost, "/files/e.bin?" + get.Query(), tus("Upload-Length", "1"), http.StatusForbidden},
		{"another version", http.MethodHead, loc, []string{"Tus-Resumable", "0.2.2", "Authorization", all}, http.StatusPreconditionFailed},
		{"a method no path takes", "PROPFIND", "/files/e.bin", tus("Authorization", all), http.StatusMethodNotAllowed},
		{"a path of the gateway's own", http.MethodPatch, "/healthz", tus(), http.StatusMethodNotAllowed},
		{"a path in no mount", http.MethodPost, "/uploads/", tus(create...), http.StatusNotFound},
		{"the mount's redirect", http.MethodPost, "/files", tus(append(create, "Authorization", all)...), http.StatusMovedPermanently},
		{"the preflight of a refused origin", http.MethodOptions, "/files/", []string{"Origin", "https://elsewhere.example",
			"Access-Control-Request-Method", "PATCH", "Access-Control-Request-Headers", "tus-resumable, upload-offset"}, http.StatusNoContent},
	} {
		code, h, body := g.fetch(t, c.method, c.url, nil, c.hdr...)
		if code != c.want || h.Get("Tus-Resumable") != "1.0.0" {
			t.Errorf("%s: %d with Tus-Resumable %q, want %d with 1.0.0 (%s)", c.name, code, h.Get("Tus-Resumable"), c.want, body)
		}
	}
	for _, p := range []string{"/files/e.bin", "/uploads/"} {
		if code, h, _ := g.fetch(t, http.MethodGet, p, nil); code/100 != 4 || h.Get("Tus-Resumable") != "" {
			t.Errorf("GET %s, not tus's: %d with Tus-Resumable %q, want a 4xx without", p, code, h.Get("Tus-Resumable"))
		}
	}
}

// TestTusChecksumCreationJudgedFirst: a tus creation with Upload-Checksum
// is refused for its target (a precondition that fails, a missing parent,
// a directory at the name) before any byte of its body is read: a body
// that never comes gets the refusal at once, not after the client's idle
// timeout; the file stays and no temporary file is left. On the code
// before, the piece was read whole first and the refusal waited for it.
func TestTusChecksumCreationJudgedFirst(t *testing.T) {
	forEachServerWith(t, gatewayOptions{}, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "kept.bin", []byte("kept"))
		g.ftpd.WriteFile(t, "d/keep.txt", []byte("a directory"))
		const announced = 4 << 20 // more than net/http drains after a handler
		sum := sha256.Sum256(make([]byte, announced))
		for _, c := range []struct {
			name, url string
			hdr       string
			want      int
		}{
			{"If-None-Match: * of a file that exists", "/files/kept.bin", "If-None-Match: *\r\n", http.StatusPreconditionFailed},
			{"If-Match of another version", "/files/kept.bin", "If-Match: \"nope\"\r\n", http.StatusPreconditionFailed},
			{"a missing parent", "/files/nodir/", "Upload-Metadata: filename " + b64("n.bin") + "\r\n", http.StatusConflict},
			{"a directory at the name", "/files/d", "", http.StatusConflict},
		} {
			conn, err := net.Dial("tcp", strings.TrimPrefix(g.http.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: %d\r\nContent-Type: application/offset+octet-stream\r\n"+
				"Upload-Checksum: sha256 %s\r\n%sContent-Length: %d\r\n\r\nthe start of a body that never ends",
				c.url, announced, base64.StdEncoding.EncodeToString(sum[:]), c.hdr, announced)
			start := time.Now()
			conn.SetReadDeadline(start.Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Errorf("%s: no answer after %v: %v", c.name, time.Since(start).Round(time.Millisecond), err)
			} else if resp.StatusCode != c.want || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s: %d %s, want %d with a problem body", c.name, resp.StatusCode, resp.Header.Get("Content-Type"), c.want)
			}
			conn.Close()
		}
		if got, _ := os.ReadFile(g.ftpd.Path("kept.bin")); string(got) != "kept" {
			t.Errorf("kept.bin %q", got)
		}
		if left := tempFilesUnder(t, g.ftpd.Path("")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}
