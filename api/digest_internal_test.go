package api

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/ftpgw/ftpgw/pool"
)

// TestDigestCacheBounded: the cache holds digestCacheSize versions, the
// oldest going first, and adding to a version kept merges its digests.
func TestDigestCacheBounded(t *testing.T) {
	var c digestCache
	d := func(b byte) digestSet {
		var s digestSet
		s[sha256Digest] = []byte{b}
		return s
	}
	for i := range digestCacheSize + 10 {
		c.add(strconv.Itoa(i), d(byte(i)))
	}
	if len(c.m) != digestCacheSize {
		t.Fatalf("%d entries, want %d", len(c.m), digestCacheSize)
	}
	if c.get("0")[sha256Digest] != nil || c.get("9")[sha256Digest] != nil {
		t.Error("the oldest entries are still there")
	}
	last := digestCacheSize + 9
	if got := c.get(strconv.Itoa(last)); got[sha256Digest][0] != byte(last) {
		t.Errorf("the newest entry: %v", got)
	}
	var more digestSet
	more[sha512Digest] = []byte{7}
	c.add("10", more)
	if got := c.get("10"); got[sha256Digest] == nil || got[sha512Digest] == nil {
		t.Errorf("merged entry: %v", got)
	}
	if len(c.m) != digestCacheSize {
		t.Errorf("merging grew the cache to %d", len(c.m))
	}
}

// TestDigestKeyPerUser: in Basic passthrough, each user's account may see
// another file at the same path (a chroot): the key names the user.
func TestDigestKeyPerUser(t *testing.T) {
	s := &Server{}
	r := func(user string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, "/files/f", nil)
		if user != "" {
			req.SetBasicAuth(user, "pw")
		}
		return req
	}
	if s.digestKey(r("alice"), "/f", `"1-2"`) != s.digestKey(r("bob"), "/f", `"1-2"`) {
		t.Error("without Basic passthrough the key depends on credentials")
	}
	s.cfg.Users = new(pool.Users)
	if s.digestKey(r("alice"), "/f", `"1-2"`) == s.digestKey(r("bob"), "/f", `"1-2"`) {
		t.Error("two users share a key")
	}
}
