package api_test

import (
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// TestStatusTellsTheTruth: the same situation on disk gets the same status
// and problem detail from every server of the matrix, though their replies
// differ (vsftpd's "550 Delete operation failed." and "553 Could not create
// file." say nothing of why; proftpd's and pure-ftpd's say "Permission
// denied"). Where a reply is ambiguous the gateway looks at the path and
// its parent and answers for what it found; and a refused request changes
// nothing on disk.
func TestStatusTellsTheTruth(t *testing.T) {
	const (
		deniedFile = "the FTP server denied the change to this file"
		deniedDir  = "the FTP server denied writing in this directory"
		deniedRead = "the FTP server denied reading this file"
		deniedRmd  = "the FTP server denied removing this directory"
		noParent   = "the parent directory does not exist"
		noSuchFile = "no such file or directory"
	)
	long := strings.Repeat("n", 300) // over the 255 bytes of a Linux file name
	rows := []struct {
		name, method, path string
		hdr                []string
		status             int
		detail             string
		changed            string // the file the request may change, with its new content
	}{
		// ro/ and its file belong to root: the FTP account may read, not write.
		{name: "DELETE in a read-only directory", method: "DELETE", path: "ro/file.txt", status: 403, detail: deniedFile},
		{name: "conditional DELETE in a read-only directory", method: "DELETE", path: "ro/file.txt", hdr: []string{"If-Match", "*"}, status: 403, detail: deniedFile},
		{name: "DELETE of an empty directory in a read-only directory", method: "DELETE", path: "ro/empty/", status: 403, detail: deniedRmd},
		{name: "DELETE of a directory not empty", method: "DELETE", path: "rw/", status: 409, detail: "the directory is not empty"},
		{name: "PUT replacing in a read-only directory", method: "PUT", path: "ro/file.txt", status: 403, detail: deniedDir},
		{name: "conditional PUT replacing in a read-only directory", method: "PUT", path: "ro/file.txt", hdr: []string{"If-Match", "*"}, status: 403, detail: deniedDir},
		{name: "PUT new in a read-only directory", method: "PUT", path: "ro/new.txt", status: 403, detail: deniedDir},
		// A PUT renames its upload over the target: the directory's
		// permission decides, as for mv(1), not the file's.
		{name: "PUT replacing a read-only file in a writable directory", method: "PUT", path: "rw/locked.txt", status: 204, changed: "rw/locked.txt"},
		{name: "PUT with a missing parent", method: "PUT", path: "nodir/new.txt", status: 409, detail: noParent},
		{name: "DELETE with a missing parent", method: "DELETE", path: "nodir/new.txt", status: 404, detail: noSuchFile},
		{name: "DELETE of a missing file", method: "DELETE", path: "rw/gone.txt", status: 404, detail: noSuchFile},
		// The gateway refuses it before any FTP server sees it.
		{name: "PUT of a name too long", method: "PUT", path: "rw/" + long, status: 400, detail: "invalid path: segment 2 longer than 255 bytes"},
		{name: "GET of an unreadable file", method: "GET", path: "secret.txt", status: 403, detail: deniedRead},
	}
	forEachServer(t, func(t *testing.T, g *gateway) {
		root := g.ftpd.Root
		g.ftpd.WriteFile(t, "rw/locked.txt", []byte("locked"))
		g.ftpd.WriteFile(t, "ro/file.txt", []byte("keep"))
		if err := os.Mkdir(filepath.Join(root, "ro/empty"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"rw/locked.txt", "ro/file.txt", "ro/empty", "ro"} {
			if err := os.Chown(filepath.Join(root, p), 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(filepath.Join(root, "rw/locked.txt"), 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "secret.txt"), []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, root)
		for _, row := range rows {
			var body *strings.Reader
			if row.method == "PUT" {
				body = strings.NewReader("new")
			} else {
				body = strings.NewReader("")
			}
			status, h, b := g.fetch(t, row.method, "/files/"+row.path, body, row.hdr...)
			if status != row.status {
				t.Errorf("%s: status %d, want %d: %s", row.name, status, row.status, b)
				continue
			}
			if row.detail != "" {
				if p := problemOf(t, h, b); p["detail"] != row.detail {
					t.Errorf("%s: detail %q, want %q", row.name, p["detail"], row.detail)
				}
			}
			want := before
			if row.changed != "" {
				want = maps.Clone(before)
				want[row.changed] = "new"
				before = want
			}
			if got := snapshot(t, root); !maps.Equal(got, want) {
				t.Errorf("%s: files now %v, want %v", row.name, got, want)
			}
		}
	})
}

// snapshot maps every path under root to its content ("/" for a
// directory).
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			m[rel] = "/"
			return nil
		}
		b, err := os.ReadFile(p)
		m[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPutRenameRefused: the rename of a complete upload over its target is
// refused ("550 Rename failed." is all vsftpd says). Where the STOR of the
// temporary file beside it succeeded, the directory is writable: the
// target there is a file the account may not replace (403), and no target
// there is a name the server will not have (400), not the 502 of a server
// that misbehaved. The target keeps its content and no temporary file is
// left.
func TestPutRenameRefused(t *testing.T) {
	tests := []struct {
		name   string
		code   int
		text   string
		exists bool
		status int
		detail string
	}{
		{"550 over a file", 550, "Rename failed.", true, 403, "the FTP server denied the change to this file"},
		{"550 to a new name", 550, "Rename failed.", false, 400, "the FTP server rejected the name"},
		{"553 to a new name", 553, "Rename failed.", false, 400, "the FTP server rejected the name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := ftptest.NewServer(t)
			srv.Mkdir("/d")
			if tc.exists {
				srv.PutFile("/d/f.txt", []byte("old"), time.Now())
			}
			srv.Handle("RNTO", func(c *ftptest.Conn, arg string) { c.Reply(tc.code, tc.text) })
			ts := fakeGateway(t, srv, nil)
			status, h, b := fetchURL(t, http.MethodPut, ts.URL+"/files/d/f.txt")
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, b)
			}
			if p := problemOf(t, h, b); p["detail"] != tc.detail || p["ftp_code"] != float64(tc.code) {
				t.Errorf("problem %v, want detail %q and ftp_code %d", p, tc.detail, tc.code)
			}
			got, ok := srv.File("/d/f.txt")
			if ok != tc.exists || tc.exists && string(got) != "old" {
				t.Errorf("target %q (there: %v)", got, ok)
			}
			if names := srv.List("/d"); tc.exists && len(names) != 1 || !tc.exists && len(names) != 0 {
				t.Errorf("left in /d: %q", names)
			}
		})
	}
}

// TestDeleteRefusedThenReplaced: DELE refused because another client
// deleted the file just before, and a third put a new one there before the
// gateway looked. The file found is not the one refused: the gateway
// deletes again, and the new file goes (204), not a 403 for a file the
// account may delete.
func TestDeleteRefusedThenReplaced(t *testing.T) {
	srv := ftptest.NewServer(t)
	srv.PutFile("/f.txt", []byte("one"), time.Now())
	var dele atomic.Int32
	srv.Handle("DELE", func(c *ftptest.Conn, arg string) {
		if dele.Add(1) == 1 {
			c.Server().PutFile("/f.txt", []byte("two"), time.Now())
			c.Reply(550, "Delete operation failed.")
			return
		}
		c.Default("DELE", arg)
	})
	ts := fakeGateway(t, srv, nil)
	status, _, b := fetchURL(t, http.MethodDelete, ts.URL+"/files/f.txt")
	if status != http.StatusNoContent {
		t.Fatalf("status %d, want 204: %s", status, b)
	}
	if srv.Exists("/f.txt") {
		t.Error("f.txt still there")
	}
}
