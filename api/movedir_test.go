package api_test

import (
	"io"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// What TestMoveDirectory expects at a path after a step: absent, a
// directory, a symbolic link, or else a file with this content.
const (
	atAbsent = ""
	atDir    = "<dir>"
	atLink   = "<link>"
)

// pathIs reports whether the path p holds what want says (atAbsent, atDir,
// atLink or a file's content).
func pathIs(p, want string) bool {
	fi, err := os.Lstat(p)
	switch want {
	case atAbsent:
		return err != nil
	case atDir:
		return err == nil && fi.IsDir()
	case atLink:
		return err == nil && fi.Mode()&os.ModeSymlink != 0
	}
	b, err := os.ReadFile(p)
	return err == nil && string(b) == want
}

// TestMoveDirectory: MOVE of a directory on every server of the matrix,
// under token auth, each answer and what is where after it: a tree moves
// whole, with the temporary file of an upload in progress in it; a move
// into itself, of the root or onto it, onto a directory, or through a
// link the policy does not follow is refused and renames nothing; a
// refused one leaves no lock behind.
func TestMoveDirectory(t *testing.T) {
	signer := testSigner(t, "k1 "+signKey1+"\n")
	forEachServerWith(t, gatewayOptions{root: "top", tokens: moveTokens(t), signer: signer}, func(t *testing.T, g *gateway) {
		at := func(rel string) string { return g.ftpd.Path(path.Join("top", rel)) }
		const part = ".ftpgw-upload-0123456789abcdef.tmp" // a PUT in progress
		g.ftpd.WriteFile(t, "top/d/f.txt", []byte("f"))
		g.ftpd.WriteFile(t, "top/d/sub/g.txt", []byte("g"))
		g.ftpd.WriteFile(t, "top/d/"+part, []byte("partial"))
		g.ftpd.WriteFile(t, "top/other/x.txt", []byte("x"))
		g.ftpd.WriteFile(t, "top/file.txt", []byte("file"))
		g.ftpd.WriteFile(t, "top/pub/p/p.txt", []byte("p"))
		g.ftpd.WriteFile(t, "top/ro/stuck/s.txt", []byte("s"))
		g.ftpd.WriteFile(t, "outside/o.txt", []byte(secretMark))
		if err := os.Chown(at("ro"), 0, 0); err != nil { // root's
			t.Fatal(err)
		}
		for name, target := range map[string]string{
			"lin": "other",      // a directory inside
			"out": "../outside", // a directory outside the root
		} {
			if err := os.Symlink(target, at(name)); err != nil {
				t.Fatal(err)
			}
		}
		hour := time.Now().Add(time.Hour)
		tests := []struct {
			name, path, dest string
			hdr              []string // besides Destination and Authorization
			// authz is the Authorization header: tokAll's if "", none if
			// "none". A request with another is refused (401, 403) before
			// it reaches the FTP server, unless it moves.
			authz    string
			status   int
			location string
			after    map[string]string // paths under the root
		}{
			{"into itself", "/files/d/", "/files/d/sub/x/", nil, "", 403, "", map[string]string{"d/f.txt": "f", "d/sub/x": atAbsent}},
			{"into itself without slashes", "/files/d", "/files/d/./e", nil, "", 403, "", map[string]string{"d/f.txt": "f", "d/e": atAbsent}},
			{"onto itself", "/files/d/", "/files/d/", nil, "", 403, "", map[string]string{"d/f.txt": "f"}},
			{"the root", "/files/", "/files/x/", nil, "", 403, "", map[string]string{"x": atAbsent}},
			{"onto the root", "/files/d/", "/files/", nil, "", 403, "", map[string]string{"d/f.txt": "f"}},
			{"onto a directory", "/files/d/", "/files/other/", nil, "", 409, "", map[string]string{"d/f.txt": "f", "other/x.txt": "x"}},
			{"onto a directory, Overwrite T", "/files/d/", "/files/other", []string{"Overwrite", "T"}, "", 409, "",
				map[string]string{"d/f.txt": "f", "other/x.txt": "x"}},
			{"onto a file, Overwrite F", "/files/d/", "/files/file.txt", []string{"Overwrite", "F"}, "", 412, "",
				map[string]string{"d/f.txt": "f", "file.txt": "file"}},
			{"missing parent", "/files/d/", "/files/nope/e/", nil, "", 409, "", map[string]string{"d/f.txt": "f", "nope": atAbsent}},
			{"a file asked for as a directory", "/files/file.txt/", "/files/f2/", nil, "", 404, "", map[string]string{"file.txt": "file", "f2": atAbsent}},
			{"a file to a directory's path", "/files/file.txt", "/files/f2/", nil, "", 400, "", map[string]string{"file.txt": "file", "f2": atAbsent}},
			{"missing source", "/files/none/", "/files/n2/", nil, "", 404, "", map[string]string{"n2": atAbsent}},
			{"If-Match other", "/files/other/", "/files/o2/", []string{"If-Match", `"0-0"`}, "", 412, "", map[string]string{"other/x.txt": "x", "o2": atAbsent}},
			// vsftpd: "550 Rename failed."; proftpd and pure-ftpd name the
			// permission.
			{"out of a directory the account may not write", "/files/ro/stuck/", "/files/free/", nil, "", 403, "",
				map[string]string{"ro/stuck/s.txt": "s", "free": atAbsent}},
			{"a link leading out", "/files/out/", "/files/o3/", nil, "", 404, "", map[string]string{"out": atLink, "o3": atAbsent}},
			{"into a link leading out", "/files/d/", "/files/out/d/", nil, "", 404, "", map[string]string{"d/f.txt": "f"}},
			// Scopes: delete on the source, write on the Destination, both
			// in the token's prefix. None reaches the FTP server.
			{"writer lacks delete", "/files/d/", "/files/e/", nil, "Bearer " + tokWriter, 403, "", map[string]string{"d/f.txt": "f"}},
			{"deleter lacks write", "/files/d/", "/files/e/", nil, "Bearer " + tokDeleter, 403, "", map[string]string{"d/f.txt": "f"}},
			{"prefix, source outside", "/files/d/", "/files/pub/d/", nil, "Bearer " + tokPub, 403, "", map[string]string{"d/f.txt": "f"}},
			{"prefix, Destination outside", "/files/pub/p/", "/files/p/", nil, "Bearer " + tokPub, 403, "", map[string]string{"pub/p/p.txt": "p"}},
			{"prefix itself", "/files/pub/", "/files/pub2/", nil, "Bearer " + tokPub, 403, "", map[string]string{"pub/p/p.txt": "p"}},
			{"no token", "/files/d/", "/files/e/", nil, "none", 401, "", map[string]string{"d/f.txt": "f"}},
			{"signed for DELETE", "/files/d/?" + signer.Sign("DELETE", "/files/d/", hour).Query(), "/files/e/", nil, "none", 403, "",
				map[string]string{"d/f.txt": "f"}},
			// What moves.
			{"in the prefix", "/files/pub/p/", "/files/pub/q/", nil, "Bearer " + tokPub, 201, "/files/pub/q/",
				map[string]string{"pub/p": atAbsent, "pub/q/p.txt": "p"}},
			{"rename", "/files/d/", "/files/e/", nil, "", 201, "/files/e/",
				map[string]string{"d": atAbsent, "e/f.txt": "f", "e/sub/g.txt": "g", "e/" + part: "partial"}},
			{"without slashes, into another", "/files/e", "/files/other/e", nil, "", 201, "/files/other/e/",
				map[string]string{"e": atAbsent, "other/e/sub/g.txt": "g"}},
			{"If-Match its own", "/files/other/e/", "/files/e2", []string{"If-Match", "*"}, "", 201, "/files/e2/",
				map[string]string{"other/e": atAbsent, "e2/f.txt": "f"}},
			{"a link to a directory, the link itself", "/files/lin/", "/files/lin2/", nil, "", 201, "/files/lin2/",
				map[string]string{"lin": atAbsent, "lin2": atLink, "other/x.txt": "x"}},
			// The file is renamed aside, the directory's rename refused,
			// and the file put back.
			{"out of a directory the account may not write, onto a file", "/files/ro/stuck/", "/files/file.txt", nil, "", 403, "",
				map[string]string{"ro/stuck/s.txt": "s", "file.txt": "file"}},
			{"onto a file", "/files/e2/", "/files/file.txt", nil, "", 204, "",
				map[string]string{"e2": atAbsent, "file.txt/f.txt": "f", "file.txt/" + part: "partial"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				hdr := append([]string{"Destination", tc.dest}, tc.hdr...)
				switch tc.authz {
				case "":
					hdr = append(hdr, "Authorization", "Bearer "+tokAll)
				case "none":
				default:
					hdr = append(hdr, "Authorization", tc.authz)
				}
				before := len(g.commands())
				status, h, b := g.fetch(t, "MOVE", tc.path, nil, hdr...)
				if status != tc.status {
					t.Fatalf("status %d, want %d: %s", status, tc.status, b)
				}
				if status >= 400 {
					problemOf(t, h, b)
				}
				if tc.authz != "" && status >= 400 {
					if sent := g.commands()[before:]; len(sent) != 0 {
						t.Errorf("a MOVE refused for its credentials reached the FTP server: %q", sent)
					}
				}
				if got := h.Get("Location"); got != tc.location {
					t.Errorf("Location %q, want %q", got, tc.location)
				}
				for rel, want := range tc.after {
					if !pathIs(at(rel), want) {
						t.Errorf("%s is not %q", rel, want)
					}
				}
			})
		}
		if !pathIs(g.ftpd.Path("outside/o.txt"), secretMark) {
			t.Error("a move reached outside the root")
		}
		left := tempFilesUnder(t, g.ftpd.Root)
		if want := []string{at("file.txt/" + part)}; !slices.Equal(left, want) {
			t.Errorf("temporary files and locks %v, want only the upload's %v", left, want)
		}
	})
}

// TestMoveDirectoryInsideThroughLink: a Destination that names no place
// inside the source, but reaches it through a link, is refused by the FTP
// server (rename(2) will not put a directory inside itself), and nothing
// moves.
func TestMoveDirectoryInsideThroughLink(t *testing.T) {
	for _, kind := range []realftpd.Kind{realftpd.Vsftpd, realftpd.PureFTPd, realftpd.ProFTPD} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			g := startGatewayOn(t, kind)
			g.ftpd.WriteFile(t, "d/f.txt", []byte("f"))
			if err := os.Symlink("d", g.ftpd.Path("l")); err != nil {
				t.Fatal(err)
			}
			status, h, b := g.fetch(t, "MOVE", "/files/d/", nil, "Destination", "/files/l/x/")
			if status != 403 {
				t.Fatalf("status %d, want 403: %s", status, b)
			}
			problemOf(t, h, b)
			if !pathIs(g.ftpd.Path("d/f.txt"), "f") || !pathIs(g.ftpd.Path("l"), atLink) {
				t.Error("the tree moved")
			}
		})
	}
}

// TestMoveDirectoryWithUploads: the uploads in progress in a directory
// (IETF and tus) move with it, their temporary files along, and their URLs
// then answer 404: the upload is of its old path. The directory's new
// path takes new uploads.
func TestMoveDirectoryWithUploads(t *testing.T) {
	forEachServerWith(t, gatewayOptions{uploadKey: resumableKey}, func(t *testing.T, g *gateway) {
		if status, _, b := g.fetch(t, "MKCOL", "/files/up/", nil); status != 201 {
			t.Fatalf("MKCOL: %d %s", status, b)
		}
		ietf := createUpload(t, g, "up/a.bin", []byte("abc"))
		tus := tusCreate(t, g, "/files/up/", "t.bin", 6, []byte("tus"))
		if status, _, b := g.fetch(t, "MOVE", "/files/up/", nil, "Destination", "/files/moved/"); status != 201 {
			t.Fatalf("MOVE: %d %s", status, b)
		}
		if left := tempFilesUnder(t, g.ftpd.Path("moved")); len(left) != 2 {
			t.Errorf("the uploads' files in the moved directory: %v, want two", left)
		}
		if status, _, b := appendPiece(t, g, ietf, 3, []byte("def"), true); status != 404 {
			t.Errorf("PATCH of the IETF upload after the move: %d %s", status, b)
		}
		if status, _, b := tusPatch(t, g, tus, 3, []byte("tus")); status != 404 {
			t.Errorf("PATCH of the tus upload after the move: %d %s", status, b)
		}
		if _, err := os.Lstat(g.ftpd.Path("up")); err == nil {
			t.Error("a PATCH after the move made the old directory again")
		}
		again := createUpload(t, g, "moved/a.bin", []byte("abc"))
		if status, _, b := appendPiece(t, g, again, 3, []byte("def"), true); status/100 != 2 || !fileIs(g, "moved/a.bin", "abcdef") {
			t.Errorf("an upload into the moved directory: %d %s", status, b)
		}
	})
}

// TestMoveDirectoryDuringAppend: a directory moved while a PATCH appends
// to an upload in it (its file renamed to .lock for the PATCH) moves; the
// PATCH then answers 404, as for a paused upload, makes nothing at the old
// path, and its file stays, moved along, for the age-based cleanup.
func TestMoveDirectoryDuringAppend(t *testing.T) {
	for _, kind := range []realftpd.Kind{realftpd.Vsftpd, realftpd.PureFTPd, realftpd.ProFTPD} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			g := startGatewayOn(t, kind, gatewayOptions{uploadKey: resumableKey})
			if status, _, b := g.fetch(t, "MKCOL", "/files/up/", nil); status != 201 {
				t.Fatalf("MKCOL: %d %s", status, b)
			}
			loc := createUpload(t, g, "up/a.bin", []byte("abc"))
			pr, pw := io.Pipe()
			req, err := http.NewRequest(http.MethodPatch, g.url(loc), pr)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = 6
			req.Header.Set("Content-Type", "application/partial-upload")
			req.Header.Set("Upload-Offset", "3")
			req.Header.Set("Upload-Complete", "?1")
			type answer struct {
				status int
				h      http.Header
				body   []byte
			}
			patched := make(chan answer, 1)
			go func() {
				resp, err := g.http.Client().Do(withTest(t, req))
				if err != nil {
					patched <- answer{}
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				patched <- answer{resp.StatusCode, resp.Header, b}
			}()
			pw.Write([]byte("def"))
			deadline := time.Now().Add(5 * time.Second)
			for !slices.ContainsFunc(tempFilesUnder(t, g.ftpd.Path("up")), func(p string) bool { return strings.HasSuffix(p, ".lock") }) {
				if time.Now().After(deadline) {
					t.Fatal("the PATCH never held its upload")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if status, _, b := g.fetch(t, "MOVE", "/files/up/", nil, "Destination", "/files/moved/"); status != 201 {
				t.Fatalf("MOVE: %d %s", status, b)
			}
			pw.Write([]byte("ghi"))
			pw.Close()
			a := <-patched
			if a.status != http.StatusNotFound {
				t.Fatalf("PATCH: %d %s", a.status, a.body)
			}
			problemOf(t, a.h, a.body)
			if _, err := os.Lstat(g.ftpd.Path("up")); err == nil {
				t.Error("the PATCH made the old directory again")
			}
			left := tempFilesUnder(t, g.ftpd.Root)
			if len(left) != 1 || path.Dir(left[0]) != g.ftpd.Path("moved") {
				t.Errorf("temporary files after the PATCH: %v, want the upload's, in moved/", left)
			}
			if !pathIs(g.ftpd.Path("moved/a.bin"), atAbsent) {
				t.Error("the PATCH completed the upload in the moved directory")
			}
		})
	}
}
