package api

import (
	"net/http"
	"strconv"
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

// FuzzStructuredFields: itemInteger and itemBoolean take what RFC 9651
// spells as a non-negative Integer (15 digits at most) or a Boolean, with
// optional spaces around it and parameters after it, and nothing else;
// they never panic.
func FuzzStructuredFields(f *testing.F) {
	for _, s := range []string{"0", "42", " 7 ", "-1", "1.5", "999999999999999", "1000000000000000", "?1", "?0", "?2", "", "1;a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		bare, _, _ := strings.Cut(strings.TrimLeft(v, " "), ";")
		bare = strings.TrimRight(bare, " ")
		if n, ok := itemInteger([]string{v}); ok {
			if n < 0 || len(bare) == 0 || len(bare) > 15 || strings.Trim(bare, "0123456789") != "" || strconv.FormatInt(n, 10) != strings.TrimLeft(bare, "0") && n != 0 {
				t.Fatalf("itemInteger(%q) = %d, true", v, n)
			}
		}
		if b, ok := itemBoolean([]string{v}); ok {
			want := map[string]bool{"?1": true, "?0": false}
			w, known := want[bare]
			if !known || w != b {
				t.Fatalf("itemBoolean(%q) = %v, true", v, b)
			}
		}
		if _, ok := itemInteger([]string{v, v}); ok {
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
