package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// Two versions of a file of one size written within one second have the
// same size and date: no validator the gateway gives out, and no date,
// may then call the second the first. The case: a strong ETag of
// size and MDTM let If-None-Match give 304 for changed content, If-Range a
// 206 of the new body, and If-Match let a PUT overwrite the newer version.
func TestSameSecondVersionsNeverMatch(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		v1, v2 := bytes.Repeat([]byte("1"), 1000), bytes.Repeat([]byte("2"), 1000)
		var etag1, lastMod1 string
		for attempt := 0; ; attempt++ {
			put(t, g, "/files/v.bin", v1)
			_, h, _ := g.fetch(t, http.MethodHead, "/files/v.bin", nil)
			etag1, lastMod1 = h.Get("ETag"), h.Get("Last-Modified")
			put(t, g, "/files/v.bin", v2)
			_, h, _ = g.fetch(t, http.MethodHead, "/files/v.bin", nil)
			if h.Get("Last-Modified") == lastMod1 {
				break // both versions in one second, as the server dates them
			}
			if attempt == 5 {
				t.Fatalf("no two uploads within one second in %d tries", attempt+1)
			}
		}
		if etag1 != "" {
			t.Errorf("a version written within the current second has ETag %s", etag1)
		}
		tests := []struct {
			name   string
			method string
			hdr    []string
			status int
		}{
			{"If-None-Match with the old tag", "GET", []string{"If-None-Match", etag1}, 200},
			{"If-Modified-Since the old date", "GET", []string{"If-Modified-Since", lastMod1}, 200},
			{"If-Range with the old tag", "GET", []string{"Range", "bytes=0-9", "If-Range", etag1}, 200},
			{"If-Range with the old date", "GET", []string{"Range", "bytes=0-9", "If-Range", lastMod1}, 200},
			{"If-Unmodified-Since the old date", "GET", []string{"If-Unmodified-Since", lastMod1}, 412},
			{"PUT If-Match the old tag", "PUT", []string{"If-Match", etag1}, 412},
			{"PUT If-Unmodified-Since the old date", "PUT", []string{"If-Unmodified-Since", lastMod1}, 412},
			{"DELETE If-Unmodified-Since the old date", "DELETE", []string{"If-Unmodified-Since", lastMod1}, 412},
		}
		for _, tc := range tests {
			var body io.Reader
			if tc.method == "PUT" {
				body = strings.NewReader("3")
			}
			status, _, b := g.fetch(t, tc.method, "/files/v.bin", body, tc.hdr...)
			if status != tc.status {
				t.Errorf("%s: status %d, want %d (%.80s)", tc.name, status, tc.status, b)
			}
			if status == 200 && !bytes.Equal(b, v2) {
				t.Errorf("%s: body %.20q…, want the second version whole", tc.name, b)
			}
		}
		if got, _ := os.ReadFile(g.ftpd.Path("v.bin")); !bytes.Equal(got, v2) {
			t.Errorf("the second version was replaced or removed: %.20q", got)
		}

		// Once the server's clock has left that second, the version has
		// a strong ETag, which stops matching as soon as it changes.
		etag2 := waitForETag(t, g, "/files/v.bin")
		if status, _, _ := g.fetch(t, "GET", "/files/v.bin", nil, "If-None-Match", etag2); status != 304 {
			t.Errorf("If-None-Match with the current tag: %d, want 304", status)
		}
		if status, _, b := g.fetch(t, "GET", "/files/v.bin", nil, "Range", "bytes=0-9", "If-Range", etag2); status != 206 || string(b) != "2222222222" {
			t.Errorf("If-Range with the current tag: %d %q, want 206", status, b)
		}
		v3 := bytes.Repeat([]byte("3"), 1000)
		if status, _, b := g.fetch(t, "PUT", "/files/v.bin", bytes.NewReader(v3), "If-Match", etag2); status != 204 {
			t.Fatalf("PUT If-Match the current tag: %d %s", status, b)
		}
		if status, _, b := g.fetch(t, "GET", "/files/v.bin", nil, "If-None-Match", etag2); status != 200 || !bytes.Equal(b, v3) {
			t.Errorf("If-None-Match with the replaced tag: %d, want 200 and the new version", status)
		}
		if status, _, b := g.fetch(t, "GET", "/files/v.bin", nil, "Range", "bytes=0-9", "If-Range", etag2); status != 200 || !bytes.Equal(b, v3) {
			t.Errorf("If-Range with the replaced tag: %d, want 200 and the new version whole", status)
		}
		if status, _, _ := g.fetch(t, "PUT", "/files/v.bin", strings.NewReader("4"), "If-Match", etag2); status != 412 {
			t.Errorf("PUT If-Match the replaced tag: %d, want 412", status)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("v.bin")); !bytes.Equal(got, v3) {
			t.Errorf("file is %.20q…, want the third version", got)
		}
		if left := tempFilesUnder(t, g.ftpd.Root); len(left) != 0 {
			t.Errorf("temporary files or locks left: %v", left)
		}
	})
}

// A file replaced outside the gateway by one of the same size and date (a
// copy that kept its time) gets a new ETag where the server tells files
// apart (MLST's unique fact); vsftpd has no MLST, and cannot.
func TestETagCarriesUniqueFact(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "u.txt", []byte("aaaa"))
		g.settle(t, "u.txt")
		_, h, _ := g.fetch(t, http.MethodHead, "/files/u.txt", nil)
		before := h.Get("ETag")
		fi, err := os.Stat(g.ftpd.Path("u.txt"))
		if err != nil {
			t.Fatal(err)
		}
		g.ftpd.WriteFile(t, "u.new", []byte("bbbb"))
		if err := os.Chtimes(g.ftpd.Path("u.new"), fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(g.ftpd.Path("u.new"), g.ftpd.Path("u.txt")); err != nil {
			t.Fatal(err)
		}
		_, h, _ = g.fetch(t, http.MethodHead, "/files/u.txt", nil)
		after := h.Get("ETag")
		if before == "" || after == "" {
			t.Fatalf("ETags %q, %q of a settled file", before, after)
		}
		// proftpd and pure-ftpd send the unique fact; vsftpd has no MLST.
		unique := g.ftpd.Kind == realftpd.ProFTPD || g.ftpd.Kind == realftpd.PureFTPd
		if unique && before == after {
			t.Errorf("the replaced file kept ETag %s", after)
		}
		if !unique && before != after {
			t.Errorf("ETag changed from %s to %s on a server without MLST", before, after)
		}
	})
}

// Create-only must be create-only: of concurrent PUTs with
// "If-None-Match: *" of one new name, whose bodies all arrive after every
// one of them has passed the check made before the body, exactly one
// creates the file and the others get 412, whatever the order of their
// renames.
func TestCreateOnlyRace(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		const n = 3 // within the pool's 4 sessions
		release := make(chan struct{})
		type result struct {
			status int
			body   string
			err    error
		}
		results := make([]result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf("writer %d", i)
				req, err := http.NewRequest(http.MethodPut, g.url("/files/once.txt"),
					io.MultiReader(gate{release}, strings.NewReader(body)))
				if err != nil {
					results[i].err = err
					return
				}
				req.ContentLength = int64(len(body))
				req.Header.Set("If-None-Match", "*")
				resp, err := g.http.Client().Do(req)
				if err != nil {
					results[i].err = err
					return
				}
				resp.Body.Close()
				results[i] = result{status: resp.StatusCode, body: body}
			}()
		}
		// Every PUT has passed its first check once its temporary file
		// exists.
		deadline := time.Now().Add(10 * time.Second)
		for len(tempFilesUnder(t, g.ftpd.Root)) < n {
			if time.Now().After(deadline) {
				close(release)
				wg.Wait()
				t.Fatalf("only %v under way", tempFilesUnder(t, g.ftpd.Root))
			}
			time.Sleep(10 * time.Millisecond)
		}
		close(release)
		wg.Wait()
		created := ""
		for i, r := range results {
			switch {
			case r.err != nil:
				t.Errorf("writer %d: %v", i, r.err)
			case r.status == http.StatusCreated && created == "":
				created = r.body
			case r.status != http.StatusPreconditionFailed:
				t.Errorf("writer %d: status %d, want one 201 and the rest 412", i, r.status)
			}
		}
		got, err := os.ReadFile(g.ftpd.Path("once.txt"))
		if err != nil || string(got) != created {
			t.Errorf("file %q (%v), want the creator's %q", got, err, created)
		}
		if left := tempFilesUnder(t, g.ftpd.Root); len(left) != 0 {
			t.Errorf("temporary files or locks left: %v", left)
		}
	})
}

// A lock left by a gateway that stopped between MKD and RMD is taken over
// once it has been held for a while; the PUT then succeeds.
func TestStaleRenameLockTakenOver(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the stale lock (10 s)")
	}
	g := startGateway(t)
	// The lock of "locked.txt", as the gateway names it.
	put(t, g, "/files/probe.txt", []byte("x"))
	lock := ""
	for _, line := range g.commands() {
		if name, ok := strings.CutPrefix(line, "MKD "); ok && strings.Contains(name, ".ftpgw-upload-lock-") {
			lock = filepath.Base(name)
		}
	}
	if lock == "" {
		t.Fatalf("no MKD of a lock among %q", g.commands())
	}
	if err := os.Mkdir(g.ftpd.Path(lock), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	status, _, b := g.fetch(t, http.MethodPut, "/files/probe.txt", strings.NewReader("y"))
	if status != http.StatusNoContent {
		t.Fatalf("PUT behind a stale lock: %d %s", status, b)
	}
	if waited := time.Since(start); waited < 10*time.Second {
		t.Errorf("the lock was taken over after %v, before it was stale", waited)
	}
	if got, _ := os.ReadFile(g.ftpd.Path("probe.txt")); string(got) != "y" {
		t.Errorf("file %q", got)
	}
	if left := tempFilesUnder(t, g.ftpd.Root); len(left) != 0 {
		t.Errorf("temporary files or locks left: %v", left)
	}
}

// gate is a reader that blocks until its channel is closed, then ends.
type gate struct{ release <-chan struct{} }

func (g gate) Read([]byte) (int, error) {
	<-g.release
	return 0, io.EOF
}

func put(t *testing.T, g *gateway, p string, body []byte) {
	t.Helper()
	status, _, b := g.fetch(t, http.MethodPut, p, bytes.NewReader(body))
	if status != http.StatusCreated && status != http.StatusNoContent {
		t.Fatalf("PUT %s: %d %s", p, status, b)
	}
}

// waitForETag polls HEAD of p until it carries an ETag: once the server's
// clock, as the gateway has measured it, is 2 s past the file's date.
func waitForETag(t *testing.T, g *gateway, p string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, h, _ := g.fetch(t, http.MethodHead, p, nil)
		if etag := h.Get("ETag"); etag != "" {
			return etag
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no ETag after 10 s", p)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestPutDeleteRace: PUTs and DELETEs of one name from four clients at
// once. Every PUT succeeds (201 or 204), every DELETE finds the file or
// not (204, 404), whatever order their FTP commands interleave in; the
// file left is one whole version, with no temporary file or lock beside
// it. The link policy's look at the path, whose commands another client's
// change can come between, once refused such PUTs as leading out of the
// root (the soak saw 68 in ten minutes).
func TestPutDeleteRace(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		const workers, rounds = 4, 90
		var mu sync.Mutex
		var bad []string
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range rounds {
					method, want := http.MethodPut, "201 204"
					var body io.Reader = strings.NewReader(strings.Repeat(string(rune('a'+(w*rounds+i)%26)), 100+i))
					if i%3 == 2 {
						method, want, body = http.MethodDelete, "204 404", nil
					}
					req, err := http.NewRequest(method, g.url("/files/race.bin"), body)
					if err != nil {
						panic(err)
					}
					resp, err := g.http.Client().Do(req)
					if err != nil {
						mu.Lock()
						bad = append(bad, method+": "+err.Error())
						mu.Unlock()
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if !strings.Contains(want, fmt.Sprint(resp.StatusCode)) {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("%s: %d %s", method, resp.StatusCode, b))
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		for _, b := range bad {
			t.Error(b)
		}
		if got, err := os.ReadFile(g.ftpd.Path("race.bin")); err == nil && (len(got) < 100 || strings.Trim(string(got), string(got[:1])) != "") {
			t.Errorf("the file left is no one version: %d bytes, %.20q…", len(got), got)
		}
		if left := tempFilesUnder(t, g.ftpd.Root); len(left) != 0 {
			t.Errorf("temporary files or locks left: %v", left)
		}
	})
}
