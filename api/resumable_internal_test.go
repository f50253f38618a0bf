package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ftpgw/ftpgw/pool"
)

// FuzzUploadID: no ID from a client makes decodeUploadID panic, and one
// verifies only if the server encoded it, for that path under that mount
// with that key: an ID changed anywhere, or moved to another path, mount
// or key, is errNoUpload.
func FuzzUploadID(f *testing.F) {
	s := &Server{mount: "/files/", uploadKey: []byte(strings.Repeat("k", 32))}
	conds := http.Header{"If-None-Match": {"*"}}
	// A fixed nonce: the fuzzing workers must compute the same good ID.
	id := uploadID{nonce: "0123456789abcdef0123456789abcdef", length: 42}
	id.condsRaw, _ = encodeConds(conds)
	good := s.encodeUploadID("/a/b.txt", id)
	f.Add("/a/b.txt", good)
	f.Add("/a/b.txt", strings.Replace(good, "42", "43", 1))
	f.Add("/a/c.txt", good)
	f.Add("/a/b.txt", "..."+strings.Repeat("0", 32))
	f.Add("/a/b.txt", strings.Repeat("a", 32)+"..x.0")
	f.Fuzz(func(t *testing.T, clean, raw string) {
		got, err := s.decodeUploadID(clean, raw)
		if err != nil {
			if err != errNoUpload {
				t.Fatalf("error %v, want errNoUpload", err)
			}
			return
		}
		if clean != "/a/b.txt" || raw != good {
			t.Fatalf("%q verified for %q", raw, clean)
		}
		if got.nonce != id.nonce || got.length != 42 || got.conds.Get("If-None-Match") != "*" {
			t.Fatalf("decoded %+v", got)
		}
		other := &Server{mount: "/other/", uploadKey: s.uploadKey}
		if _, err := other.decodeUploadID(clean, raw); err == nil {
			t.Fatal("verified under another mount")
		}
		rekeyed := &Server{mount: s.mount, uploadKey: []byte(strings.Repeat("j", 32))}
		if _, err := rekeyed.decodeUploadID(clean, raw); err == nil {
			t.Fatal("verified with another key")
		}
	})
}

// FuzzStructuredFields: sfInteger and sfBoolean take what RFC 9651 spells
// as a non-negative Integer (15 digits at most) or a Boolean, with
// optional surrounding spaces, and nothing else; they never panic.
func FuzzStructuredFields(f *testing.F) {
	for _, s := range []string{"0", "42", " 7 ", "-1", "1.5", "999999999999999", "1000000000000000", "?1", "?0", "?2", "", "1;a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if n, ok := sfInteger([]string{v}); ok {
			d := strings.TrimSpace(v)
			if n < 0 || len(d) == 0 || len(d) > 15 || strings.Trim(d, "0123456789") != "" {
				t.Fatalf("sfInteger(%q) = %d, true", v, n)
			}
		}
		if b, ok := sfBoolean([]string{v}); ok {
			want := map[string]bool{"?1": true, "?0": false}
			w, known := want[strings.TrimSpace(v)]
			if !known || w != b {
				t.Fatalf("sfBoolean(%q) = %v, true", v, b)
			}
		}
		if _, ok := sfInteger([]string{v, v}); ok {
			t.Fatal("sfInteger took a field given twice")
		}
	})
}

// TestUploadBoundToBasicUser: in Basic passthrough an upload's ID is the
// user's: another user (whose FTP login may see other files, or the same
// with other rights) does not get it verified for the same path.
func TestUploadBoundToBasicUser(t *testing.T) {
	s := &Server{cfg: Config{Users: new(pool.Users)}, mount: "/files/", uploadKey: []byte(strings.Repeat("k", 32))}
	req := func(user string) *http.Request {
		r, _ := http.NewRequest(http.MethodHead, "http://x/files/a.txt", nil)
		r.SetBasicAuth(user, "pw")
		return r
	}
	raw := s.encodeUploadID(s.uploadBinding(req("alice"), "/a.txt"), newUploadID(-1))
	if _, err := s.decodeUploadID(s.uploadBinding(req("alice"), "/a.txt"), raw); err != nil {
		t.Fatalf("alice's own upload: %v", err)
	}
	if _, err := s.decodeUploadID(s.uploadBinding(req("bob"), "/a.txt"), raw); err != errNoUpload {
		t.Fatalf("bob with alice's upload: %v, want errNoUpload", err)
	}
}
