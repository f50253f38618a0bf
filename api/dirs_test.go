package api_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// isDir reports whether rel is a directory under the FTP root.
func isDir(g *gateway, rel string) bool {
	fi, err := os.Lstat(g.ftpd.Path(rel))
	return err == nil && fi.IsDir()
}

// TestMakeDirectory: MKCOL and PUT of a directory's path on every server
// of the matrix, each answer and what is on the server after it.
func TestMakeDirectory(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "plain.txt", []byte("x"))
		if err := os.Mkdir(g.ftpd.Path("readonly"), 0o755); err != nil { // root's
			t.Fatal(err)
		}
		deep := "/files/" + strings.Repeat("d/", 34) // 33 parents
		tests := []struct {
			name, method, path string
			body               string
			hdr                []string
			status             int
			made               string // a directory there after, if not ""
			location           string
		}{
			{"MKCOL", "MKCOL", "/files/new/", "", nil, 201, "new", "/files/new/"},
			{"MKCOL again", "MKCOL", "/files/new/", "", nil, 405, "new", ""},
			{"MKCOL without the slash", "MKCOL", "/files/new2", "", nil, 201, "new2", "/files/new2/"},
			{"MKCOL of a file", "MKCOL", "/files/plain.txt", "", nil, 405, "", ""},
			{"MKCOL missing parent", "MKCOL", "/files/nope/x/", "", nil, 409, "", ""},
			{"MKCOL parents=1", "MKCOL", "/files/nope/x/?parents=1", "", nil, 201, "nope/x", "/files/nope/x/"},
			{"MKCOL parents=2", "MKCOL", "/files/p2/?parents=2", "", nil, 400, "", ""},
			{"MKCOL with a body", "MKCOL", "/files/body/", "<x/>", nil, 415, "", ""},
			{"MKCOL reserved name", "MKCOL", "/files/.ftpgw-upload-x/", "", nil, 400, "", ""},
			{"MKCOL dot-dot", "MKCOL", "/files/a/../b/", "", nil, 400, "", ""},
			{"MKCOL root", "MKCOL", "/files/", "", nil, 405, "", ""},
			{"MKCOL under a file", "MKCOL", "/files/plain.txt/x/", "", nil, 409, "", ""},
			{"MKCOL under a file, parents", "MKCOL", "/files/plain.txt/x/y/?parents=1", "", nil, 409, "", ""},
			{"MKCOL too deep", "MKCOL", deep + "?parents=1", "", nil, 409, "", ""},
			{"MKCOL If-None-Match * of one there", "MKCOL", "/files/new/", "", []string{"If-None-Match", "*"}, 412, "new", ""},
			{"MKCOL If-Match of one missing", "MKCOL", "/files/im/", "", []string{"If-Match", "*"}, 412, "", ""},
			{"PUT of a directory", "PUT", "/files/pdir/", "", nil, 201, "pdir", "/files/pdir/"},
			{"PUT of it again", "PUT", "/files/pdir/", "", nil, 204, "pdir", ""},
			{"PUT If-None-Match * of one there", "PUT", "/files/pdir/", "", []string{"If-None-Match", "*"}, 412, "pdir", ""},
			{"PUT If-None-Match * of a new one", "PUT", "/files/pdir2/", "", []string{"If-None-Match", "*"}, 201, "pdir2", "/files/pdir2/"},
			{"PUT over a file", "PUT", "/files/plain.txt/", "", nil, 409, "", ""},
			{"PUT missing parent", "PUT", "/files/q/r/", "", nil, 409, "", ""},
			{"PUT parents=1", "PUT", "/files/q/r/s/?parents=1", "", nil, 201, "q/r/s", "/files/q/r/s/"},
			{"PUT with a body", "PUT", "/files/pbody/", "x", nil, 400, "", ""},
			{"PUT root", "PUT", "/files/", "", nil, 405, "", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var body *strings.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				}
				var status int
				var h http.Header
				var b []byte
				if body != nil {
					status, h, b = g.fetch(t, tc.method, tc.path, body, tc.hdr...)
				} else {
					status, h, b = g.fetch(t, tc.method, tc.path, nil, tc.hdr...)
				}
				if status != tc.status {
					t.Fatalf("status %d, want %d: %s", status, tc.status, b)
				}
				if status >= 400 {
					problemOf(t, h, b)
				}
				if status == 405 && !strings.HasPrefix(h.Get("Allow"), "GET, HEAD") || status == 405 && strings.Contains(h.Get("Allow"), "MKCOL") {
					t.Errorf("405 with Allow %q", h.Get("Allow"))
				}
				if got := h.Get("Location"); got != tc.location {
					t.Errorf("Location %q, want %q", got, tc.location)
				}
				if tc.made != "" && !isDir(g, tc.made) {
					t.Errorf("no directory %s on the server", tc.made)
				}
			})
		}
		for _, never := range []string{"p2", "body", "im", "pbody", "plain.txt/x", "d", "q/r/s/.ftpgw-upload"} {
			if _, err := os.Lstat(g.ftpd.Path(never)); err == nil {
				t.Errorf("%s was made by a refused request", never)
			}
		}
		if _, err := os.Lstat(g.ftpd.Path("readonly/x")); err == nil {
			t.Error("readonly/x exists before it was asked for")
		}
		// The server's refusal: vsftpd and pure-ftpd say 550 in words of
		// their own, proftpd "Permission denied".
		// A chunked body, even an empty one, is a body.
		for _, method := range []string{"PUT", "MKCOL"} {
			c := rawRequest(t, g, method+" /files/chunked/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n", nil)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if want := map[string]int{"PUT": 400, "MKCOL": 415}[method]; resp.StatusCode != want {
				t.Errorf("%s with a chunked body: %d, want %d", method, resp.StatusCode, want)
			}
		}
		if _, err := os.Lstat(g.ftpd.Path("chunked")); err == nil {
			t.Error("a request with a body made a directory")
		}
		status, h, b := g.fetch(t, "MKCOL", "/files/readonly/x/", nil)
		if status != http.StatusForbidden {
			t.Fatalf("MKCOL in a directory the account may not write: %d %s", status, b)
		}
		problemOf(t, h, b)
	})
}

// TestPutParents: a PUT of a file with ?parents=1 makes the directories
// missing above it, and without it a missing parent stays 409.
func TestPutParents(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "plain.txt", []byte("x"))
		if status, _, b := g.fetch(t, "PUT", "/files/a/b/f.txt", strings.NewReader("no")); status != http.StatusConflict {
			t.Fatalf("PUT with a missing parent: %d %s", status, b)
		}
		status, h, b := g.fetch(t, "PUT", "/files/a/b/f.txt?parents=1", strings.NewReader("deep"))
		if status != http.StatusCreated || h.Get("Location") != "/files/a/b/f.txt" {
			t.Fatalf("PUT ?parents=1: %d %q %s", status, h.Get("Location"), b)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("a/b/f.txt")); string(got) != "deep" {
			t.Errorf("a/b/f.txt = %q", got)
		}
		// Parents there: nothing to make.
		if status, _, b := g.fetch(t, "PUT", "/files/a/b/g.txt?parents=1", strings.NewReader("g")); status != http.StatusCreated {
			t.Fatalf("PUT ?parents=1 beside: %d %s", status, b)
		}
		for _, tc := range []struct {
			path   string
			status int
		}{
			{"/files/plain.txt/c/f.txt?parents=1", http.StatusConflict},
			{"/files/x/f.txt?parents=yes", http.StatusBadRequest},
			{"/files/x/f.txt?parents=1&parents=1", http.StatusBadRequest},
			{"/files/" + strings.Repeat("e/", 33) + "f.txt?parents=1", http.StatusConflict},
		} {
			status, h, b := g.fetch(t, "PUT", tc.path, strings.NewReader("x"))
			if status != tc.status {
				t.Errorf("PUT %s: %d, want %d: %s", tc.path, status, tc.status, b)
				continue
			}
			problemOf(t, h, b)
		}
		for _, never := range []string{"x", "e", "plain.txt/c"} {
			if _, err := os.Lstat(g.ftpd.Path(never)); err == nil {
				t.Errorf("%s made by a refused PUT", never)
			}
		}
		if left := tempFilesUnder(t, g.ftpd.Root); len(left) != 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}

// TestMakeDirectoryLinks: no directory is made, and no file moved, where a
// link leads out of the root, with or without ?parents=1, under
// LinksInside; not even a MOVE's lock is made there.
func TestMakeDirectoryLinks(t *testing.T) {
	for _, kind := range realftpd.Matrix[:3] {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			g := linksGateway(t, kind, api.LinksInside)
			for _, tc := range []struct{ method, path string }{
				{"MKCOL", "/files/outdir/new/"},
				{"MKCOL", "/files/outdir/a/b/?parents=1"},
				{"PUT", "/files/outdir/new2/"},
				{"PUT", "/files/outdir/c/f.txt?parents=1"},
				{"MKCOL", "/files/parent/new/"},
			} {
				status, h, b := g.fetch(t, tc.method, tc.path, nil)
				if status != http.StatusNotFound {
					t.Errorf("%s %s: %d, want 404: %s", tc.method, tc.path, status, b)
					continue
				}
				problemOf(t, h, b)
			}
			// A conditional DELETE locks the name: not beside one out.
			for _, p := range []string{"/files/outdir/o.txt", "/files/up"} {
				status, h, b := g.fetch(t, "DELETE", p, nil, "If-Match", "*")
				if status != http.StatusNotFound {
					t.Errorf("DELETE %s with If-Match: %d, want 404: %s", p, status, b)
					continue
				}
				problemOf(t, h, b)
			}
			for _, tc := range []struct{ path, dest string }{
				{"/files/in.txt", "/files/outdir/in.txt"}, // into a directory out
				{"/files/in.txt", "/files/up"},            // onto a link out
				{"/files/up", "/files/in2.txt"},           // a link out
				{"/files/outdir/o.txt", "/files/o.txt"},   // out of a directory out
			} {
				status, h, b := g.fetch(t, "MOVE", tc.path, nil, "Destination", tc.dest)
				if status != http.StatusNotFound {
					t.Errorf("MOVE %s to %s: %d, want 404: %s", tc.path, tc.dest, status, b)
					continue
				}
				problemOf(t, h, b)
			}
			for _, never := range []string{"outdir/new", "outdir/a", "outdir/new2", "outdir/c", "new", "outdir/in.txt", "pub/in2.txt", "pub/o.txt"} {
				if _, err := os.Lstat(g.ftpd.Path(never)); err == nil {
					t.Errorf("%s made through a link out of the root", never)
				}
			}
			if !fileIs(g, "pub/in.txt", "inside\n") || !fileIs(g, "outdir/o.txt", secretMark+" in outdir\n") {
				t.Error("a refused MOVE moved a file")
			}
			// Not even a lock beside the Destination, for a moment.
			for _, c := range g.commands() {
				if strings.HasPrefix(c, "MKD ") && strings.Contains(c, "outdir") {
					t.Errorf("%q reached the FTP server", c)
				}
			}
			// Inside, through a link that stays inside: made.
			if status, _, b := g.fetch(t, "MKCOL", "/files/dirlink/made/", nil); status != http.StatusCreated {
				t.Errorf("MKCOL through a link inside: %d %s", status, b)
			}
			if !isDir(g, "pub/sub/made") {
				t.Error("pub/sub/made not made")
			}
		})
	}
}

// TestParentsRace: uploads that make the same missing directories at once
// all succeed, each taking a directory another made meanwhile for its
// own; of MKCOLs of one new directory at once, one makes it and the
// others get 405.
func TestParentsRace(t *testing.T) {
	forEachServerWith(t, gatewayOptions{maxSessions: 6}, func(t *testing.T, g *gateway) {
		const n = 6
		var wg sync.WaitGroup
		statuses := make([]int, n)
		for i := range n {
			wg.Go(func() {
				statuses[i], _, _ = g.fetch(t, "PUT", fmt.Sprintf("/files/r/s/t/f%d.txt?parents=1", i), strings.NewReader("x"))
			})
		}
		wg.Wait()
		for i, s := range statuses {
			if s != http.StatusCreated {
				t.Errorf("PUT %d: %d, want 201", i, s)
			}
			if !fileIs(g, fmt.Sprintf("r/s/t/f%d.txt", i), "x") {
				t.Errorf("r/s/t/f%d.txt not there", i)
			}
		}
		for i := range n {
			wg.Go(func() { statuses[i], _, _ = g.fetch(t, "MKCOL", "/files/once/", nil) })
		}
		wg.Wait()
		slices.Sort(statuses)
		if want := []int{201, 405, 405, 405, 405, 405}; !slices.Equal(statuses, want) {
			t.Errorf("MKCOLs at once: %v, want %v", statuses, want)
		}
		if left := tempFilesUnder(t, g.ftpd.Root); len(left) != 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}
