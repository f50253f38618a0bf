package api_test

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestResumableDigests: RFC 9530 on resumable uploads, on every server.
// A Repr-Digest given at creation is checked when the upload completes
// (read back from the FTP server), and answered; a wrong one, or a wrong
// Content-Digest of a piece too big to check before it is appended,
// discards the upload: 400, the target untouched, no temporary file, the
// upload's URL 404. A smaller piece with a wrong Content-Digest is 400
// with nothing appended. Want-Repr-Digest
// at creation is answered at completion; the digest is kept for later
// GETs where the server gives versions a unique fact. A Repr-Digest that
// contradicts the creation's, or a malformed field, is 400 with nothing
// appended.
func TestResumableDigests(t *testing.T) {
	// Pieces of up to 64 KiB are checked before they are appended.
	forEachServerWith(t, gatewayOptions{tusPiece: 1 << 16}, func(t *testing.T, g *gateway) {
		data := randomBytes(300_000, 7)
		a, b := data[:100_000], data[100_000:200_000]
		old := []byte("the old version\n")
		g.ftpd.WriteFile(t, "d.bin", old)
		untouched := func(when string) {
			t.Helper()
			if got, _ := os.ReadFile(g.ftpd.Path("d.bin")); !bytes.Equal(got, old) {
				t.Fatalf("%s: the target has %d bytes, want its old %d", when, len(got), len(old))
			}
			if left := tempFilesUnder(t, g.ftpd.Path("")); len(left) > 0 {
				t.Fatalf("%s: temporary files left: %v", when, left)
			}
		}
		gone := func(loc string) {
			t.Helper()
			if code, _, _ := g.fetch(t, http.MethodHead, loc, nil); code != http.StatusNotFound {
				t.Fatalf("HEAD of a discarded upload: %d, want 404", code)
			}
		}

		// A right Repr-Digest at creation, a right Content-Digest on a
		// piece: completed, and answered with the checked digest.
		loc := createUpload(t, g, "d.bin", a, "Repr-Digest", sha256Field(data))
		if code, _, body := appendPiece(t, g, loc, 100_000, b, false, "Content-Digest", sha512Field(b)); code != http.StatusNoContent {
			t.Fatalf("a piece with its Content-Digest: %d %s", code, body)
		}
		code, h, body := appendPiece(t, g, loc, 200_000, data[200_000:], true)
		if code != http.StatusNoContent || h.Get("Repr-Digest") != sha256Field(data) {
			t.Fatalf("completion: %d, Repr-Digest %q %s, want 204 and the file's", code, h.Get("Repr-Digest"), body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("d.bin")); !bytes.Equal(got, data) {
			t.Fatalf("the target has %d bytes, not the upload", len(got))
		}
		if storesDigests(g.ftpd.Kind) {
			settled(t, g, "/files/d.bin")
			if _, h, _ := g.fetch(t, http.MethodHead, "/files/d.bin", nil, "Want-Repr-Digest", "sha-256=1"); h.Get("Repr-Digest") != sha256Field(data) {
				t.Errorf("HEAD after the upload: Repr-Digest %q, want the upload's", h.Get("Repr-Digest"))
			}
		}
		g.ftpd.WriteFile(t, "d.bin", old)

		// A wrong Repr-Digest at creation: every piece is taken, and
		// the completion discards the upload.
		wrong := sha256Field([]byte("something else"))
		loc = createUpload(t, g, "d.bin", a, "Repr-Digest", wrong)
		appendPiece(t, g, loc, 100_000, b, false)
		code, _, body = appendPiece(t, g, loc, 200_000, data[200_000:], true)
		if code != http.StatusBadRequest || !strings.Contains(string(body), "Repr-Digest") || !strings.Contains(string(body), "discarded") {
			t.Fatalf("completion against a wrong Repr-Digest: %d %s, want 400 naming it", code, body)
		}
		untouched("a wrong Repr-Digest")
		gone(loc)

		// A wrong Content-Digest on a small piece: refused before it is
		// appended, the upload as it was; a right one appended.
		loc = createUpload(t, g, "d.bin", a)
		small := b[:1000]
		code, _, body = appendPiece(t, g, loc, 100_000, small, false, "Content-Digest", sha256Field(a))
		if code != http.StatusBadRequest || !strings.Contains(string(body), "Content-Digest") || strings.Contains(string(body), "discarded") {
			t.Fatalf("a small piece against a wrong Content-Digest: %d %s, want 400 with the upload kept", code, body)
		}
		if n := uploadOffset(t, g, loc); n != 100_000 {
			t.Fatalf("after a small piece with a wrong Content-Digest the offset is %d, want 100000", n)
		}
		if code, _, body := appendPiece(t, g, loc, 100_000, small, false, "Content-Digest", sha256Field(small)); code != http.StatusNoContent {
			t.Fatalf("a small piece with its Content-Digest: %d %s", code, body)
		}
		// On a piece too big to hold (over 64 KiB): appended as it
		// streams, and the upload discarded.
		code, _, body = appendPiece(t, g, loc, 101_000, b[1000:], false, "Content-Digest", sha256Field(a))
		if code != http.StatusBadRequest || !strings.Contains(string(body), "Content-Digest") {
			t.Fatalf("a piece against a wrong Content-Digest: %d %s, want 400", code, body)
		}
		untouched("a wrong Content-Digest")
		gone(loc)

		// Repr-Digest on the completing request only, in SHA-512; and
		// Want-Repr-Digest at creation asks for SHA-512 in the answer.
		loc = createUpload(t, g, "d.bin", a, "Want-Repr-Digest", "sha-512=9")
		appendPiece(t, g, loc, 100_000, b, false)
		code, _, body = appendPiece(t, g, loc, 200_000, data[200_000:], true, "Repr-Digest", sha512Field(a))
		if code != http.StatusBadRequest {
			t.Fatalf("completion with a wrong Repr-Digest of its own: %d %s, want 400", code, body)
		}
		untouched("a wrong Repr-Digest on the completing request")
		loc = createUpload(t, g, "d.bin", a, "Want-Repr-Digest", "sha-512=9")
		appendPiece(t, g, loc, 100_000, b, false)
		code, h, body = appendPiece(t, g, loc, 200_000, data[200_000:], true)
		if code != http.StatusNoContent || h.Get("Repr-Digest") != sha512Field(data) {
			t.Fatalf("completion of an upload created with Want-Repr-Digest: %d, Repr-Digest %q %s", code, h.Get("Repr-Digest"), body)
		}
		g.ftpd.WriteFile(t, "d.bin", old)

		// Refused before anything is appended: a Repr-Digest that
		// contradicts the creation's, a malformed Content-Digest.
		loc = createUpload(t, g, "d.bin", a, "Repr-Digest", sha256Field(data))
		for _, hdr := range [][]string{
			{"Repr-Digest", wrong},
			{"Content-Digest", "sha-256=:bm90IGEgZGlnZXN0:"},
			{"Content-Digest", "not a dictionary ("},
		} {
			if code, _, body := appendPiece(t, g, loc, 100_000, b, false, hdr...); code != http.StatusBadRequest {
				t.Fatalf("a piece with %s %q: %d %s, want 400", hdr[0], hdr[1], code, body)
			}
			if n := uploadOffset(t, g, loc); n != 100_000 {
				t.Fatalf("after a refused piece the offset is %d, want 100000", n)
			}
		}
		if code, _, body := g.fetch(t, http.MethodDelete, loc, nil); code != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", code, body)
		}

		// A completion its preconditions refuse (a create-only upload
		// whose file appeared meanwhile) reads nothing back, however
		// often it is repeated: 412, the upload kept.
		os.Remove(g.ftpd.Path("new.bin"))
		loc = createUpload(t, g, "new.bin", a, "If-None-Match", "*", "Repr-Digest", sha256Field(data))
		appendPiece(t, g, loc, 100_000, data[100_000:], false)
		g.ftpd.WriteFile(t, "new.bin", old)
		before := retrs(g)
		for range 3 {
			if code, _, body := appendPiece(t, g, loc, int64(len(data)), nil, true, "Want-Repr-Digest", "sha-512=1"); code != http.StatusPreconditionFailed {
				t.Fatalf("completion of a create-only upload whose file appeared: %d %s, want 412", code, body)
			}
		}
		if n := retrs(g) - before; n != 0 {
			t.Errorf("refused completions read the upload back %d times, want none", n)
		}
		os.Remove(g.ftpd.Path("new.bin"))
		if code, h, body := appendPiece(t, g, loc, int64(len(data)), nil, true); code != http.StatusCreated || h.Get("Repr-Digest") != sha256Field(data) {
			t.Fatalf("the completion once the file is gone: %d, Repr-Digest %q %s", code, h.Get("Repr-Digest"), body)
		}
		if n := retrs(g) - before; n != 1 {
			t.Errorf("the completion read the upload back %d times, want once", n)
		}

		// One request carrying the whole upload is a PUT: checked as it
		// streams, answered with its SHA-256.
		code, _, body = g.fetch(t, http.MethodPut, "/files/d.bin", bytes.NewReader(data), "Upload-Complete", "?1", "Content-Digest", wrong)
		if code != http.StatusBadRequest {
			t.Fatalf("a whole upload against a wrong Content-Digest: %d %s", code, body)
		}
		untouched("a whole upload with a wrong Content-Digest")
		code, h, body = g.fetch(t, http.MethodPut, "/files/d.bin", bytes.NewReader(data), "Upload-Complete", "?1", "Repr-Digest", sha256Field(data))
		if code != http.StatusNoContent || h.Get("Repr-Digest") != sha256Field(data) {
			t.Fatalf("a whole upload with its Repr-Digest: %d, Repr-Digest %q %s", code, h.Get("Repr-Digest"), body)
		}

		// tus: the same fields on its requests.
		g.ftpd.WriteFile(t, "d.bin", old)
		loc = tusCreate(t, g, "/files/d.bin", "", int64(len(data)), a, "Repr-Digest", wrong)
		tusPatch(t, g, loc, 100_000, b)
		if code, _, body := tusPatch(t, g, loc, 200_000, data[200_000:]); code != http.StatusBadRequest {
			t.Fatalf("tus completion against a wrong Repr-Digest: %d %s", code, body)
		}
		untouched("a tus upload with a wrong Repr-Digest")
		loc = tusCreate(t, g, "/files/d.bin", "", int64(len(data)), a, "Repr-Digest", sha256Field(data))
		tusPatch(t, g, loc, 100_000, b)
		if code, h, body := tusPatch(t, g, loc, 200_000, data[200_000:]); code != http.StatusNoContent || h.Get("Repr-Digest") != sha256Field(data) {
			t.Fatalf("tus completion with its Repr-Digest: %d, Repr-Digest %q %s", code, h.Get("Repr-Digest"), body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("d.bin")); !bytes.Equal(got, data) {
			t.Fatalf("after the tus upload the target has %d bytes, not the upload", len(got))
		}
	})
}

// retrs counts the RETR commands the gateway sent.
func retrs(g *gateway) int {
	n := 0
	for _, c := range g.commands() {
		if verb, _, _ := strings.Cut(c, " "); strings.EqualFold(verb, "RETR") {
			n++
		}
	}
	return n
}
