package api_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// sha256Field and sha512Field are the digest-field members of b's digests.
func sha256Field(b []byte) string {
	s := sha256.Sum256(b)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(s[:]) + ":"
}

func sha512Field(b []byte) string {
	s := sha512.Sum512(b)
	return "sha-512=:" + base64.StdEncoding.EncodeToString(s[:]) + ":"
}

// storesDigests reports whether the gateway keeps the digests of its
// uploads on the server kind: where MLST gives each file a unique fact.
func storesDigests(kind realftpd.Kind) bool {
	return kind == realftpd.PureFTPd || kind == realftpd.ProFTPD
}

// hashes counts the digest commands that reached the FTP server.
func (g *gateway) hashes() int {
	n := 0
	for _, c := range g.commands() {
		verb, _, _ := strings.Cut(c, " ")
		switch strings.ToUpper(verb) {
		case "HASH", "XSHA256", "XSHA512", "OPTS_HASH":
			n++
		}
	}
	return n
}

// TestPutDigests: an upload's Content-Digest and Repr-Digest are checked
// against its body before the rename. A mismatch is 400 naming the field
// and the algorithm, leaves the old file as it was and no temporary file;
// a malformed field is 400 before anything is stored; an unknown
// algorithm is ignored. Every upload is answered with the body's
// Repr-Digest, SHA-256 unless Want-Repr-Digest or Want-Content-Digest
// prefers SHA-512. On main before digests, every mismatch was stored
// (201/204).
func TestPutDigests(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		old := []byte("the old version\n")
		g.ftpd.WriteFile(t, "d.txt", old)
		body := randomBytes(300_000, 7)
		other := randomBytes(300_000, 8)

		for _, tc := range []struct {
			name   string
			hdr    []string
			detail string // of the 400; "" for a success
		}{
			{"Content-Digest sha-256 mismatch", []string{"Content-Digest", sha256Field(other)},
				"the body does not match its Content-Digest (sha-256); nothing was stored"},
			{"Repr-Digest sha-512 mismatch", []string{"Repr-Digest", sha512Field(other)},
				"the body does not match its Repr-Digest (sha-512); nothing was stored"},
			{"one of two mismatches", []string{"Repr-Digest", sha256Field(body) + ", " + sha512Field(other)},
				"the body does not match its Repr-Digest (sha-512); nothing was stored"},
			{"Content-Digest right, Repr-Digest wrong", []string{"Content-Digest", sha256Field(body), "Repr-Digest", sha256Field(other)},
				"the body does not match its Repr-Digest (sha-256); nothing was stored"},
			{"not a dictionary", []string{"Content-Digest", "sha-256=:" + strings.Repeat("A", 5000)},
				"the Content-Digest field is not a structured-field dictionary (RFC 8941)"},
			{"a trailing comma", []string{"Repr-Digest", sha256Field(body) + ","},
				"the Repr-Digest field is not a structured-field dictionary (RFC 8941)"},
			{"sha-256 of the wrong length", []string{"Content-Digest", "sha-256=:AAAA:"},
				"the Content-Digest field gives sha-256 as no byte sequence of its length"},
			{"sha-512 as a token", []string{"Repr-Digest", "sha-512=abc"},
				"the Repr-Digest field gives sha-512 as no byte sequence of its length"},
		} {
			code, h, resp := g.fetch(t, http.MethodPut, "/files/d.txt", bytes.NewReader(body), tc.hdr...)
			if code != http.StatusBadRequest {
				t.Fatalf("%s: %d, want 400; body %s", tc.name, code, resp)
			}
			if p := problemOf(t, h, resp); p["detail"] != tc.detail {
				t.Errorf("%s: detail %q, want %q", tc.name, p["detail"], tc.detail)
			}
			if len(resp) > 1024 {
				t.Errorf("%s: a problem body of %d bytes", tc.name, len(resp))
			}
			if h.Get("Repr-Digest") != "" {
				t.Errorf("%s: the 400 has Repr-Digest %q", tc.name, h.Get("Repr-Digest"))
			}
			if got := readFTPFile(t, g, "d.txt"); !bytes.Equal(got, old) {
				t.Fatalf("%s: the target changed (%d bytes)", tc.name, len(got))
			}
		}
		waitFor(t, "no temporary file", func() bool { return len(tempFilesUnder(t, g.ftpd.Root)) == 0 })

		for _, tc := range []struct {
			name   string
			hdr    []string
			status int
			answer string
		}{
			{"no digest", nil, 204, sha256Field(body)},
			{"both fields right", []string{"Content-Digest", sha256Field(body), "Repr-Digest", sha512Field(body)}, 204, sha256Field(body)},
			{"an unknown algorithm", []string{"Content-Digest", "md5=:" + base64.StdEncoding.EncodeToString(make([]byte, 16)) + ":, id-sha-256=?0"},
				204, sha256Field(body)},
			{"parameters and an inner list", []string{"Repr-Digest", sha256Field(body) + ";p=1, x=(1 \"two\" three);q=?1"}, 204, sha256Field(body)},
			{"sha-512 preferred", []string{"Want-Repr-Digest", "sha-256=1, sha-512=10"}, 204, sha512Field(body)},
			{"sha-512 preferred as content", []string{"Want-Content-Digest", "sha-512=3"}, 204, sha512Field(body)},
			{"neither accepted", []string{"Want-Repr-Digest", "sha-256=0, md5=9"}, 204, ""},
			{"a malformed preference", []string{"Want-Repr-Digest", "sha-512=high"}, 204, sha256Field(body)},
			{"a new file", nil, 201, sha256Field(body)},
		} {
			p := "/files/d.txt"
			if tc.status == 201 {
				p = "/files/new.txt"
			}
			code, h, resp := g.fetch(t, http.MethodPut, p, bytes.NewReader(body), tc.hdr...)
			if code != tc.status || h.Get("Repr-Digest") != tc.answer {
				t.Fatalf("%s: %d, Repr-Digest %q; want %d, %q; body %s", tc.name, code, h.Get("Repr-Digest"), tc.status, tc.answer, resp)
			}
		}
		if got := readFTPFile(t, g, "d.txt"); !bytes.Equal(got, body) {
			t.Errorf("the file is not the body (%d bytes)", len(got))
		}
		if n := g.hashes(); n != 0 {
			t.Errorf("uploads sent %d digest commands to the FTP server", n)
		}
	})
}

// TestPutDigestMismatchOfCutBody: a chunked body whose digest does not
// match is refused as one whose digest does not match, whatever its
// length, and the temporary file goes.
func TestPutDigestEmptyBody(t *testing.T) {
	g := startGatewayOn(t, realftpd.Vsftpd)
	empty := sha256.Sum256(nil)
	code, h, resp := g.fetch(t, http.MethodPut, "/files/e.txt", http.NoBody, "Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(empty[:])+":")
	if code != http.StatusCreated || h.Get("Repr-Digest") != sha256Field(nil) {
		t.Fatalf("empty body: %d, Repr-Digest %q; body %s", code, h.Get("Repr-Digest"), resp)
	}
	code, _, resp = g.fetch(t, http.MethodPut, "/files/e2.txt", http.NoBody, "Content-Digest", sha256Field([]byte("x")))
	if code != http.StatusBadRequest {
		t.Fatalf("empty body, digest of another: %d; body %s", code, resp)
	}
	if _, err := os.Stat(g.ftpd.Path("e2.txt")); !os.IsNotExist(err) {
		t.Errorf("a refused upload created its target: %v", err)
	}
	waitFor(t, "no temporary file", func() bool { return len(tempFilesUnder(t, g.ftpd.Root)) == 0 })
}

// settled waits until a HEAD of p has an ETag: the server's clock has left
// the second of its last write.
func settled(t *testing.T, g *gateway, p string, hdr ...string) {
	t.Helper()
	deadline := time.Now().Add(6 * time.Second)
	for {
		code, h, _ := g.fetch(t, http.MethodHead, p, nil, hdr...)
		if code == http.StatusOK && h.Get("ETag") != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("HEAD %s: %d, no ETag after 6 s", p, code)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestGetReprDigest: a GET or HEAD that asks with Want-Repr-Digest gets
// the file's Repr-Digest where a source that cannot be stale has it. On
// pure-ftpd and proftpd, the digest the gateway computed of an upload,
// kept by the version's ETag (the unique fact MLST gives tells versions
// of one size and second apart); on vsftpd, which has no unique fact and
// no HASH, none. On proftpd, HASH of a file quiet for 32 s, for SHA-256
// and SHA-512, for a range too. Never the digest of a version replaced
// since; no digest command without Want-Repr-Digest.
func TestGetReprDigest(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		kind := g.ftpd.Kind
		v1 := randomBytes(100_000, 1)
		if code, _, b := g.fetch(t, http.MethodPut, "/files/up.bin", bytes.NewReader(v1)); code != 201 {
			t.Fatalf("PUT: %d %s", code, b)
		}
		settled(t, g, "/files/up.bin")
		want := ""
		if storesDigests(kind) {
			want = sha256Field(v1)
		}
		for _, m := range []string{http.MethodHead, http.MethodGet} {
			code, h, b := g.fetch(t, m, "/files/up.bin", nil, "Want-Repr-Digest", "sha-512=5, sha-256=1")
			if code != 200 || h.Get("Repr-Digest") != want {
				t.Fatalf("%s of an upload: %d, Repr-Digest %q, want %q", m, code, h.Get("Repr-Digest"), want)
			}
			if m == http.MethodGet && !bytes.Equal(b, v1) {
				t.Fatalf("GET: %d bytes, not the file", len(b))
			}
		}
		// Only SHA-512 accepted: the upload kept SHA-256 only, and the
		// file is too recent for proftpd's HASH.
		if code, h, _ := g.fetch(t, http.MethodHead, "/files/up.bin", nil, "Want-Repr-Digest", "sha-512=5"); code != 200 || h.Get("Repr-Digest") != "" {
			t.Fatalf("sha-512 of an upload: %d, Repr-Digest %q", code, h.Get("Repr-Digest"))
		}
		// A new version of the same size: never the old one's digest.
		v2 := randomBytes(100_000, 2)
		if code, _, b := g.fetch(t, http.MethodPut, "/files/up.bin", bytes.NewReader(v2), "Want-Repr-Digest", "sha-512=1"); code != 204 {
			t.Fatalf("PUT v2: %d %s", code, b)
		}
		settled(t, g, "/files/up.bin")
		code, h, _ := g.fetch(t, http.MethodHead, "/files/up.bin", nil, "Want-Repr-Digest", "sha-256=1, sha-512=1")
		if want := map[bool]string{true: sha256Field(v2)}[storesDigests(kind)]; code != 200 || h.Get("Repr-Digest") != want {
			t.Fatalf("HEAD of v2: %d, Repr-Digest %q, want %q", code, h.Get("Repr-Digest"), want)
		}
		if n := g.hashes(); n != 0 {
			t.Errorf("%d digest commands for files modified within 32 s", n)
		}

		// A file written beside the gateway, long ago.
		old := randomBytes(200_000, 3)
		g.ftpd.WriteFile(t, "old.bin", old)
		g.settle(t, "old.bin")
		if code, h, _ := g.fetch(t, http.MethodGet, "/files/old.bin", nil); code != 200 || h.Get("Repr-Digest") != "" {
			t.Fatalf("GET without Want-Repr-Digest: %d, Repr-Digest %q", code, h.Get("Repr-Digest"))
		}
		if n := g.hashes(); n != 0 {
			t.Fatalf("a GET that asked for no digest sent %d digest commands", n)
		}
		hashing := kind == realftpd.ProFTPD
		for _, tc := range []struct {
			name, method string
			hdr          []string
			status       int
			want         string
		}{
			{"sha-256", http.MethodHead, []string{"Want-Repr-Digest", "sha-256=3"}, 200, sha256Field(old)},
			{"sha-512", http.MethodGet, []string{"Want-Repr-Digest", "sha-512=3, sha-256=1"}, 200, sha512Field(old)},
			{"a range", http.MethodGet, []string{"Want-Repr-Digest", "sha-256=3", "Range", "bytes=10-19"}, 206, sha256Field(old)},
			{"several ranges", http.MethodGet, []string{"Want-Repr-Digest", "sha-256=3", "Range", "bytes=0-9,100-109"}, 206, sha256Field(old)},
			{"content of the whole", http.MethodGet, []string{"Want-Content-Digest", "sha-256=3"}, 200, sha256Field(old)},
			{"content of a range", http.MethodGet, []string{"Want-Content-Digest", "sha-256=3", "Range", "bytes=10-19"}, 206, ""},
			{"nothing acceptable", http.MethodGet, []string{"Want-Repr-Digest", "sha-256=0, md5=4"}, 200, ""},
		} {
			if !hashing {
				tc.want = ""
			}
			code, h, b := g.fetch(t, tc.method, "/files/old.bin", nil, tc.hdr...)
			if code != tc.status || h.Get("Repr-Digest") != tc.want {
				t.Errorf("%s: %d, Repr-Digest %q; want %d, %q", tc.name, code, h.Get("Repr-Digest"), tc.status, tc.want)
			}
			if tc.status == 206 && tc.name != "several ranges" && !bytes.Equal(b, old[10:20]) || tc.method == http.MethodGet && tc.status == 200 && !bytes.Equal(b, old) {
				t.Errorf("%s: the body is not the file's", tc.name)
			}
		}
		// A name with spaces, which HASH takes whole.
		g.ftpd.WriteFile(t, "an old file.bin", old)
		g.settle(t, "an old file.bin")
		if code, h, _ := g.fetch(t, http.MethodHead, "/files/an%20old%20file.bin", nil, "Want-Repr-Digest", "sha-256=3"); code != 200 ||
			h.Get("Repr-Digest") != map[bool]string{true: sha256Field(old)}[hashing] {
			t.Errorf("a name with spaces: %d, Repr-Digest %q", code, h.Get("Repr-Digest"))
		}
		// The server's digests are kept: asking again costs no HASH.
		n := g.hashes()
		for range 3 {
			g.fetch(t, http.MethodHead, "/files/old.bin", nil, "Want-Repr-Digest", "sha-256=3")
		}
		if m := g.hashes(); m != n {
			t.Errorf("asking again sent %d more digest commands", m-n)
		}
		if hashing && n == 0 {
			t.Errorf("proftpd was never asked for a digest")
		}
	})
}

// TestReprDigestNotFromProftpdCache: proftpd's mod_digest serves a
// session the digest it computed before of a file with the same path,
// date (in whole seconds) and size, for 30 s past that date. A file
// rewritten with as many bytes within the second of its date gets the old
// version's digest there: the gateway must not pass it on. The file is
// dated 5 s back, so that it has an ETag (it has settled) but is within
// proftpd's cache age; the pool has one session, so that the second HASH
// would meet the first one's cache. Before serverDigestQuiet, the second
// HEAD answered with the first version's digest.
func TestReprDigestNotFromProftpdCache(t *testing.T) {
	g := startGatewayOn(t, realftpd.ProFTPD, gatewayOptions{maxSessions: 1})
	// A PUT teaches the gateway the server's clock: without it, a file
	// dated 5 s back has not settled (MaxClockSkew) and has no ETag.
	if code, _, _ := g.fetch(t, http.MethodPut, "/files/clock.txt", strings.NewReader("tick")); code != http.StatusCreated {
		t.Fatalf("PUT: %d", code)
	}
	mod := time.Now().Add(-5 * time.Second).Truncate(time.Second)
	write := func(b []byte) {
		g.ftpd.WriteFile(t, "c.bin", b)
		if err := os.Chtimes(g.ftpd.Path("c.bin"), mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	a, b := randomBytes(4096, 11), randomBytes(4096, 12)
	write(a)
	for i, v := range [][]byte{a, b} {
		if i == 1 {
			write(b)
		}
		code, h, body := g.fetch(t, http.MethodGet, "/files/c.bin", nil, "Want-Repr-Digest", "sha-256=1")
		if code != 200 || !bytes.Equal(body, v) {
			t.Fatalf("GET %d: %d, %d bytes", i, code, len(body))
		}
		if h.Get("ETag") == "" {
			t.Fatalf("GET %d: no ETag", i)
		}
		if d := h.Get("Repr-Digest"); d != "" && d != sha256Field(v) {
			t.Fatalf("GET %d: Repr-Digest %q is another version's (want %q or none)", i, d, sha256Field(v))
		}
	}
}

// TestDigestsUnderAuth: digests under a bearer token's scopes, with a
// signed URL, through CORS (the fields may be sent and Repr-Digest read
// by a page), under Basic passthrough, and with several backends mounted.
func TestDigestsUnderAuth(t *testing.T) {
	body := []byte("digest me\n")
	t.Run("token", func(t *testing.T) {
		g := startGatewayOn(t, realftpd.ProFTPD, gatewayOptions{tokens: authTokens(t)})
		code, _, _ := g.fetch(t, http.MethodPut, "/files/t.txt", bytes.NewReader(body), "Authorization", "Bearer "+tokReader, "Content-Digest", sha256Field(body))
		if code != http.StatusForbidden {
			t.Fatalf("a reader's PUT with a digest: %d, want 403", code)
		}
		code, h, resp := g.fetch(t, http.MethodPut, "/files/t.txt", bytes.NewReader(body), "Authorization", "Bearer "+tokAll, "Content-Digest", sha256Field([]byte("x")))
		if code != http.StatusBadRequest || h.Get("Www-Authenticate") != "" {
			t.Fatalf("a writer's PUT with a wrong digest: %d %s", code, resp)
		}
		code, h, _ = g.fetch(t, http.MethodPut, "/files/t.txt", bytes.NewReader(body), "Authorization", "Bearer "+tokAll, "Repr-Digest", sha256Field(body))
		if code != http.StatusCreated || h.Get("Repr-Digest") != sha256Field(body) {
			t.Fatalf("a writer's PUT: %d, Repr-Digest %q", code, h.Get("Repr-Digest"))
		}
		settled(t, g, "/files/t.txt", "Authorization", "Bearer "+tokReader)
		code, h, _ = g.fetch(t, http.MethodHead, "/files/t.txt", nil, "Authorization", "Bearer "+tokReader, "Want-Repr-Digest", "sha-256=1")
		if code != 200 || h.Get("Repr-Digest") != sha256Field(body) {
			t.Fatalf("a reader's HEAD: %d, Repr-Digest %q", code, h.Get("Repr-Digest"))
		}
		code, h, _ = g.fetch(t, http.MethodHead, "/files/t.txt", nil, "Want-Repr-Digest", "sha-256=1")
		if code != http.StatusUnauthorized || h.Get("Repr-Digest") != "" {
			t.Fatalf("no token: %d, Repr-Digest %q", code, h.Get("Repr-Digest"))
		}
	})
	t.Run("signed URL and CORS", func(t *testing.T) {
		s := testSigner(t, "k1 "+signKey1+"\n")
		g := startGatewayOn(t, realftpd.PureFTPd, gatewayOptions{tokens: authTokens(t), signer: s, cors: corsPolicy()})
		put := signed("/files/s.txt", s.Sign(http.MethodPut, "/files/s.txt", time.Now().Add(time.Hour)))
		code, h, resp := corsFetch(t, http.MethodPut, g.url(put), bytes.NewReader(body), "Origin", appOrigin, "Content-Digest", sha256Field([]byte("y")))
		if code != http.StatusBadRequest {
			t.Fatalf("signed PUT with a wrong digest: %d %s", code, resp)
		}
		checkCORSActual(t, "signed PUT with a wrong digest", h, appOrigin, true)
		if _, err := os.Stat(g.ftpd.Path("s.txt")); !os.IsNotExist(err) {
			t.Fatalf("a refused signed PUT created the file: %v", err)
		}
		code, h, _ = corsFetch(t, http.MethodPut, g.url(put), bytes.NewReader(body), "Origin", appOrigin, "Content-Digest", sha256Field(body),
			"Want-Repr-Digest", "sha-512=2")
		if code != http.StatusCreated || h.Get("Repr-Digest") != sha512Field(body) {
			t.Fatalf("signed PUT: %d, Repr-Digest %q", code, h.Get("Repr-Digest"))
		}
		if !listHas(h, "Access-Control-Expose-Headers", "Repr-Digest") {
			t.Errorf("Repr-Digest is not exposed: %q", h.Values("Access-Control-Expose-Headers"))
		}
		code, ph := preflight(t, g.url("/files/s.txt"), appOrigin, "PUT", "content-digest, repr-digest, want-repr-digest, want-content-digest")
		if code != http.StatusNoContent || !listHas(ph, "Access-Control-Allow-Headers", "content-digest", "repr-digest", "want-repr-digest", "want-content-digest") {
			t.Errorf("preflight: %d, Allow-Headers %q", code, ph.Values("Access-Control-Allow-Headers"))
		}
	})
	t.Run("Basic passthrough", func(t *testing.T) {
		g := startGatewayOn(t, realftpd.PureFTPd, gatewayOptions{basic: &basicOptions{}})
		cred := basicAuth(g.ftpd.User, g.ftpd.Password)
		code, h, _ := g.fetch(t, http.MethodPut, "/files/b.txt", bytes.NewReader(body), append(cred, "Content-Digest", sha256Field(body))...)
		if code != http.StatusCreated || h.Get("Repr-Digest") != sha256Field(body) {
			t.Fatalf("PUT: %d, Repr-Digest %q", code, h.Get("Repr-Digest"))
		}
		settled(t, g, "/files/b.txt", cred...)
		code, h, _ = g.fetch(t, http.MethodHead, "/files/b.txt", nil, append(cred, "Want-Repr-Digest", "sha-256=1")...)
		if code != 200 || h.Get("Repr-Digest") != sha256Field(body) {
			t.Fatalf("HEAD: %d, Repr-Digest %q", code, h.Get("Repr-Digest"))
		}
		code, _, _ = g.fetch(t, http.MethodPut, "/files/b.txt", bytes.NewReader(body), append(cred, "Repr-Digest", sha256Field(nil))...)
		if code != http.StatusBadRequest {
			t.Fatalf("PUT with a wrong digest: %d", code)
		}
	})
	t.Run("several backends", func(t *testing.T) {
		j := startJoined(t)
		for _, m := range []string{"/a/", "/b/"} {
			code, _, resp := corsFetch(t, http.MethodPut, j.url+m+"j.txt", bytes.NewReader(body), "Content-Digest", sha256Field(nil))
			if code != http.StatusBadRequest {
				t.Fatalf("%s: a wrong digest: %d %s", m, code, resp)
			}
			code, h, _ := corsFetch(t, http.MethodPut, j.url+m+"j.txt", bytes.NewReader(body), "Content-Digest", sha256Field(body))
			if code != http.StatusCreated || h.Get("Repr-Digest") != sha256Field(body) {
				t.Fatalf("%s: PUT: %d, Repr-Digest %q", m, code, h.Get("Repr-Digest"))
			}
		}
		entries, _ := os.ReadDir(j.ftpd.Path("a"))
		if names := dirNames(entries); !slices.Equal(names, []string{"j.txt"}) {
			t.Errorf("backend a's directory: %v", names)
		}
	})
}

func dirNames(entries []os.DirEntry) []string {
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func readFTPFile(t *testing.T, g *gateway, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(g.ftpd.Path(rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReprDigestServerReplies: what the gateway makes of each answer an
// FTP server may give to HASH, on the fake server. A 213 with the digest
// (one line or several) is the Repr-Digest; a refusal (450, 501, 502,
// 504, 550), a 213 with no digest of the algorithm's length, or of
// another algorithm, is no digest, and the file is served on the same
// session; a reply that is no reply is the server's fault (502). Without
// HASH in FEAT, XSHA256 serves; with neither, nothing is asked.
func TestReprDigestServerReplies(t *testing.T) {
	data := []byte(strings.Repeat("fake file\n", 50))
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	mod := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	feats := func(extra ...string) ftptest.Option {
		return ftptest.WithFeatures(append([]string{"EPSV", "PASV", "SIZE", "MDTM", "REST STREAM", "UTF8", "MLST type*;size*;modify*;"}, extra...)...)
	}
	reply := func(code int, lines ...string) ftptest.Handler {
		return func(c *ftptest.Conn, _ string) { c.ReplyLines(code, lines...) }
	}
	for _, row := range []struct {
		name    string
		opts    []ftptest.Option
		cmd     string
		handler ftptest.Handler
		status  int
		digest  bool
		asked   string // the command that must have been sent, "" for none
	}{
		{"HASH", []ftptest.Option{feats("HASH SHA-256*;SHA-512")}, "", nil, 200, true, "HASH /f.bin"},
		{"HASH after OPTS", []ftptest.Option{feats("HASH SHA-1*;SHA-256")}, "", nil, 200, true, "OPTS HASH SHA-256"},
		{"XSHA256", []ftptest.Option{feats("XSHA256")}, "", nil, 200, true, "XSHA256 /f.bin"},
		{"none offered", []ftptest.Option{feats("XMD5")}, "", nil, 200, false, ""},
		{"several lines", []ftptest.Option{feats("HASH SHA-256*")}, "HASH", reply(213, "Computing SHA-256 digest", "SHA-256 0-500 "+hexSum+" /f.bin"), 200, true, "HASH /f.bin"},
		{"upper-case hex", []ftptest.Option{feats("HASH SHA-256*")}, "HASH", reply(213, "SHA-256 0-500 "+strings.ToUpper(hexSum)+" /f.bin"), 200, true, "HASH /f.bin"},
		{"450", []ftptest.Option{feats("HASH SHA-256*")}, "HASH", reply(450, "Busy."), 200, false, "HASH /f.bin"},
		{"501", []ftptest.Option{feats("HASH SHA-256*")}, "HASH", reply(501, "Syntax."), 200, false, "HASH /f.bin"},
		{"502", []ftptest.Option{feats("HASH SHA-256*")}, "HASH", reply(502, "Not implemented."), 200, false, "HASH /f.bin"},
		{"504", []ftptest.Option{feats("HASH SHA-256*")}, "HASH", reply(504, "Not for that algorithm."), 200, false, "HASH /f.bin"},
		{"550", []ftptest.Option{feats("HASH SHA-256*")}, "HASH", reply(550, "Denied."), 200, false, "HASH /f.bin"},
		{"213 without a digest", []ftptest.Option{feats("HASH SHA-256*")}, "HASH", reply(213, "SHA-256 0-500 abcdef /f.bin"), 200, false, "HASH /f.bin"},
		{"213 of another algorithm", []ftptest.Option{feats("HASH SHA-256*")}, "HASH", reply(213, "SHA-512 0-500 "+hexSum+hexSum+" /f.bin"), 200, false, "HASH /f.bin"},
		{"213 of garbage", []ftptest.Option{feats("HASH SHA-256*")}, "HASH", reply(213, "\x1b[31m<script>"), 200, false, "HASH /f.bin"},
		{"no reply", []ftptest.Option{feats("HASH SHA-256*")}, "HASH", func(c *ftptest.Conn, _ string) { c.WriteRaw("garbage\r\n") }, 502, false, "HASH /f.bin"},
	} {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			srv := ftptest.NewServer(t, row.opts...)
			srv.PutFile("/f.bin", data, mod)
			if row.handler != nil {
				srv.Handle(row.cmd, row.handler)
			}
			ts := fakeGateway(t, srv, nil)
			for _, m := range []string{http.MethodHead, http.MethodGet} {
				req, _ := http.NewRequest(m, ts.URL+"/files/f.bin", nil)
				req.Header.Set("Want-Repr-Digest", "sha-256=1")
				resp, err := testClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != row.status {
					t.Fatalf("%s: %d, %v; want %d; body %.200q", m, resp.StatusCode, err, row.status, b)
				}
				want := ""
				if row.digest {
					want = sha256Field(data)
				}
				if got := resp.Header.Get("Repr-Digest"); got != want {
					t.Errorf("%s: Repr-Digest %q, want %q", m, got, want)
				}
				if m == http.MethodGet && row.status == 200 && !bytes.Equal(b, data) {
					t.Errorf("GET: the body is not the file's")
				}
				if row.status != 200 && m == http.MethodGet {
					problemOf(t, resp.Header, b)
				}
			}
			cmds := srv.Commands()
			if row.asked != "" && !slices.Contains(cmds, row.asked) {
				t.Errorf("%q not sent: %q", row.asked, cmds)
			}
			if row.asked == "" && slices.ContainsFunc(cmds, func(c string) bool { return strings.HasPrefix(c, "HASH") || strings.HasPrefix(c, "XSHA") }) {
				t.Errorf("a digest was asked of a server that offers none: %q", cmds)
			}
			// The next request is answered, digest or not.
			srv.Handle("HASH", nil)
			resp, err := testClient.Get(ts.URL + "/files/f.bin")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Equal(b, data) {
				t.Errorf("next GET: %d, %d bytes", resp.StatusCode, len(b))
			}
		})
	}
}

// TestKeptDigestAcrossReplicas: two replicas of the gateway on one FTP
// server; one uploads a version, the other a version of the same size
// within the same second. The first must not answer with its own
// version's digest for the second's: on pure-ftpd and proftpd the unique
// fact of the second (another temporary file renamed into place) is not
// the first's, and on vsftpd, where the two would share size, date and
// key, the gateway keeps no digest of its uploads at all.
func TestKeptDigestAcrossReplicas(t *testing.T) {
	for _, kind := range []realftpd.Kind{realftpd.Vsftpd, realftpd.PureFTPd, realftpd.ProFTPD} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			a := startGatewayOn(t, kind)
			b := startGatewayOn(t, kind, gatewayOptions{ftpd: a.ftpd})
			v1, v2 := randomBytes(1000, 21), randomBytes(1000, 22)
			sameSecond := false
			for try := 0; try < 10 && !sameSecond; try++ {
				if code, _, _ := a.fetch(t, http.MethodPut, "/files/r.bin", bytes.NewReader(v1)); code != 201 && code != 204 {
					t.Fatalf("PUT on a: %d", code)
				}
				fi1, err := os.Stat(a.ftpd.Path("r.bin"))
				if err != nil {
					t.Fatal(err)
				}
				if code, _, _ := b.fetch(t, http.MethodPut, "/files/r.bin", bytes.NewReader(v2)); code != 204 {
					t.Fatalf("PUT on b: %d", code)
				}
				fi2, err := os.Stat(a.ftpd.Path("r.bin"))
				if err != nil {
					t.Fatal(err)
				}
				sameSecond = fi1.ModTime().Unix() == fi2.ModTime().Unix()
			}
			if !sameSecond {
				t.Skip("no two PUTs within one second in 10 tries")
			}
			settled(t, a, "/files/r.bin")
			code, h, _ := a.fetch(t, http.MethodHead, "/files/r.bin", nil, "Want-Repr-Digest", "sha-256=1")
			if d := h.Get("Repr-Digest"); code != 200 || d != "" && d != sha256Field(v2) {
				t.Fatalf("HEAD on a: %d, Repr-Digest %q; v1's is %q", code, d, sha256Field(v1))
			}
			// Settled for b too: each replica judges that by its own
			// measure of the FTP server's clock, and gives no ETag (so
			// no kept digest) to a version it does not yet take as
			// settled.
			settled(t, b, "/files/r.bin")
			code, h, _ = b.fetch(t, http.MethodHead, "/files/r.bin", nil, "Want-Repr-Digest", "sha-256=1")
			if want := map[bool]string{true: sha256Field(v2)}[storesDigests(kind)]; code != 200 || h.Get("Repr-Digest") != want {
				t.Fatalf("HEAD on b: %d, Repr-Digest %q, want %q", code, h.Get("Repr-Digest"), want)
			}
		})
	}
}

// TestServerDigestIsATransfer: the FTP server's digest reads the whole
// file, so asking for it takes a transfer place like a download: a client
// with its one transfer under way (--max-client-transfers 1) is told 429
// for a HEAD that would need HASH, whereas a HEAD that asks for no digest,
// or one the gateway knows, is answered. Once the download ends, the HEAD
// gets its digest.
func TestServerDigestIsATransfer(t *testing.T) {
	g := startGatewayOn(t, realftpd.ProFTPD, gatewayOptions{maxClientTransfers: 1, acquireTimeout: 3 * time.Second})
	writeRandomFile(t, g, "big.bin", bigFile, 4)
	old := randomBytes(1000, 5)
	g.ftpd.WriteFile(t, "old.bin", old)
	g.settle(t, "old.bin")
	held := holdDownload(t, g, "/files/big.bin")
	status, h, msg := g.fetch(t, http.MethodHead, "/files/old.bin", nil, "Want-Repr-Digest", "sha-256=1")
	if status != http.StatusTooManyRequests || h.Get("Repr-Digest") != "" {
		t.Fatalf("HEAD asking for the server's digest during a download: %d, Repr-Digest %q %s", status, h.Get("Repr-Digest"), msg)
	}
	if status, _, _ := g.fetch(t, http.MethodHead, "/files/old.bin", nil); status != 200 {
		t.Fatalf("HEAD asking for no digest: %d", status)
	}
	if n := g.hashes(); n != 0 {
		t.Errorf("%d digest commands while the client had no transfer place", n)
	}
	held.Body.Close()
	waitFor(t, "the download's place", func() bool {
		status, h, _ = g.fetch(t, http.MethodHead, "/files/old.bin", nil, "Want-Repr-Digest", "sha-256=1")
		return status == 200
	})
	if h.Get("Repr-Digest") != sha256Field(old) {
		t.Errorf("HEAD after the download: Repr-Digest %q", h.Get("Repr-Digest"))
	}
}
