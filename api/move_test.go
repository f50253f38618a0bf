package api_test

import (
	"net/http"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/pool"
)

// fileIs reports whether rel under the FTP root holds want.
func fileIs(g *gateway, rel, want string) bool {
	b, err := os.ReadFile(g.ftpd.Path(rel))
	return err == nil && string(b) == want
}

// TestMove: MOVE of a file on every server of the matrix, each answer and
// where the file is after it: a refused move leaves it where it was.
func TestMove(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "a.txt", []byte("a"))
		g.ftpd.WriteFile(t, "keep.txt", []byte("keep"))
		g.ftpd.WriteFile(t, "dir/inside.txt", []byte("inside"))
		g.ftpd.WriteFile(t, "old.txt", []byte("old"))
		g.settle(t, "old.txt")
		if err := os.Mkdir(g.ftpd.Path("readonly"), 0o755); err != nil { // root's
			t.Fatal(err)
		}
		g.ftpd.WriteFile(t, "readonly/stuck.txt", []byte("stuck"))
		if err := os.Chown(g.ftpd.Path("readonly"), 0, 0); err != nil {
			t.Fatal(err)
		}
		_, h, _ := g.fetch(t, "HEAD", "/files/old.txt", nil)
		etag := h.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag on a settled file")
		}
		tests := []struct {
			name, path string
			hdr        []string
			status     int
			location   string
			// after: files (relative to the root) and their content, ""
			// for none there.
			after map[string]string
		}{
			{"rename", "/files/a.txt", []string{"Destination", "/files/b.txt"}, 201, "/files/b.txt",
				map[string]string{"a.txt": "", "b.txt": "a"}},
			{"into a directory, by URL", "/files/b.txt", []string{"Destination", g.url("/files/dir/b.txt")}, 201, "/files/dir/b.txt",
				map[string]string{"b.txt": "", "dir/b.txt": "a"}},
			{"Overwrite F onto a file", "/files/dir/b.txt", []string{"Destination", "/files/keep.txt", "Overwrite", "F"}, 412, "",
				map[string]string{"dir/b.txt": "a", "keep.txt": "keep"}},
			{"onto a file", "/files/dir/b.txt", []string{"Destination", "/files/keep.txt"}, 204, "",
				map[string]string{"dir/b.txt": "", "keep.txt": "a"}},
			{"onto a directory", "/files/keep.txt", []string{"Destination", "/files/dir"}, 409, "",
				map[string]string{"keep.txt": "a", "dir/inside.txt": "inside"}},
			{"missing parent", "/files/keep.txt", []string{"Destination", "/files/nope/keep.txt"}, 409, "",
				map[string]string{"keep.txt": "a"}},
			{"parent is a file", "/files/keep.txt", []string{"Destination", "/files/dir/inside.txt/x"}, 409, "",
				map[string]string{"keep.txt": "a"}},
			{"missing source", "/files/none.txt", []string{"Destination", "/files/n2.txt"}, 404, "", map[string]string{"n2.txt": ""}},
			{"onto itself", "/files/keep.txt", []string{"Destination", "/files/./keep.txt"}, 403, "", map[string]string{"keep.txt": "a"}},
			{"another host", "/files/keep.txt", []string{"Destination", "http://elsewhere.example/files/k.txt"}, 403, "", map[string]string{"keep.txt": "a"}},
			{"another mount", "/files/keep.txt", []string{"Destination", "/other/k.txt"}, 403, "", map[string]string{"keep.txt": "a"}},
			{"no Destination", "/files/keep.txt", nil, 400, "", map[string]string{"keep.txt": "a"}},
			{"relative Destination", "/files/keep.txt", []string{"Destination", "k.txt"}, 400, "", map[string]string{"keep.txt": "a"}},
			{"Destination a directory path", "/files/keep.txt", []string{"Destination", "/files/dir/"}, 400, "", map[string]string{"keep.txt": "a"}},
			{"Destination dot-dot", "/files/keep.txt", []string{"Destination", "/files/dir/../../etc/x"}, 400, "", map[string]string{"keep.txt": "a"}},
			{"Destination encoded dot-dot", "/files/keep.txt", []string{"Destination", "/files/dir%2F..%2F..%2Fx"}, 400, "", map[string]string{"keep.txt": "a"}},
			{"Destination CR LF", "/files/keep.txt", []string{"Destination", "/files/x%0d%0aDELE%20keep.txt"}, 400, "", map[string]string{"keep.txt": "a"}},
			{"Destination NUL", "/files/keep.txt", []string{"Destination", "/files/x%00y"}, 400, "", map[string]string{"keep.txt": "a"}},
			{"Destination reserved", "/files/keep.txt", []string{"Destination", "/files/.ftpgw-upload-x"}, 400, "", map[string]string{"keep.txt": "a"}},
			{"Destination with a query", "/files/keep.txt", []string{"Destination", "/files/k.txt?x=1"}, 400, "", map[string]string{"keep.txt": "a"}},
			{"Overwrite bad", "/files/keep.txt", []string{"Destination", "/files/k.txt", "Overwrite", "yes"}, 400, "", map[string]string{"keep.txt": "a"}},
			{"source reserved", "/files/.ftpgw-upload-x", []string{"Destination", "/files/k.txt"}, 404, "", nil},
			{"If-Match other", "/files/old.txt", []string{"Destination", "/files/new.txt", "If-Match", `"0-0"`}, 412, "",
				map[string]string{"old.txt": "old", "new.txt": ""}},
			{"If-Match same", "/files/old.txt", []string{"Destination", "/files/new.txt", "If-Match", etag}, 201, "/files/new.txt",
				map[string]string{"old.txt": "", "new.txt": "old"}},
			// vsftpd: "550 Rename failed."; proftpd and pure-ftpd name the
			// permission.
			{"out of a directory the account may not write", "/files/readonly/stuck.txt", []string{"Destination", "/files/free.txt"}, 403, "",
				map[string]string{"readonly/stuck.txt": "stuck", "free.txt": ""}},
			{"into a directory the account may not write", "/files/new.txt", []string{"Destination", "/files/readonly/new.txt"}, 403, "",
				map[string]string{"new.txt": "old", "readonly/new.txt": ""}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				status, h, b := g.fetch(t, "MOVE", tc.path, nil, tc.hdr...)
				if status != tc.status {
					t.Fatalf("status %d, want %d: %s", status, tc.status, b)
				}
				if status >= 400 {
					problemOf(t, h, b)
				}
				if got := h.Get("Location"); got != tc.location {
					t.Errorf("Location %q, want %q", got, tc.location)
				}
				for rel, want := range tc.after {
					if want == "" {
						if _, err := os.Lstat(g.ftpd.Path(rel)); err == nil {
							t.Errorf("%s is there", rel)
						}
					} else if !fileIs(g, rel, want) {
						t.Errorf("%s does not hold %q", rel, want)
					}
				}
			})
		}
		if left := tempFilesUnder(t, g.ftpd.Root); len(left) != 0 {
			t.Errorf("locks or temporary files left: %v", left)
		}
	})
}

// The tokens of the move tests besides authTokens': one that may not
// delete, one that may not write.
const (
	tokWriter  = "writer-0123456789abcdefghijklmn"
	tokDeleter = "deleter-0123456789abcdefghijklm"
)

// moveTokens are the tokens of the move tests: tokAll, tokPub (prefix
// /pub), tokWriter and tokDeleter.
func moveTokens(t *testing.T) *auth.Tokens {
	t.Helper()
	var toks []auth.Token
	for _, tk := range []struct {
		secret, name string
		scopes       auth.Scope
		prefix       string
	}{
		{tokAll, "all", auth.All, "/"},
		{tokPub, "pub", auth.All, "/pub"},
		{tokWriter, "writer", auth.Read | auth.Write, "/"},
		{tokDeleter, "deleter", auth.Read | auth.Delete, "/"},
	} {
		tok, err := auth.NewToken(tk.secret, tk.name, tk.scopes, tk.prefix)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	return auth.Static(toks...)
}

// TestMoveScopes: a MOVE needs delete on its source and write on its
// Destination, both inside a token's prefix; a refused one reaches no FTP
// server. A URL signed for another method does not authorise it, and no
// URL can be signed for it.
func TestMoveScopes(t *testing.T) {
	toks := moveTokens(t)
	signer := testSigner(t, "k1 "+signKey1+"\n")
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{tokens: toks, signer: signer, cors: corsPolicy()})
	g.ftpd.WriteFile(t, "pub/a.txt", []byte("a"))
	g.ftpd.WriteFile(t, "top.txt", []byte("top"))
	hour := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name, path, dest, authz string
		status                  int
	}{
		{"writer lacks delete", "/files/pub/a.txt", "/files/pub/b.txt", "Bearer " + tokWriter, 403},
		{"deleter lacks write", "/files/pub/a.txt", "/files/pub/b.txt", "Bearer " + tokDeleter, 403},
		{"prefix, Destination outside", "/files/pub/a.txt", "/files/b.txt", "Bearer " + tokPub, 403},
		{"prefix, Destination next door", "/files/pub/a.txt", "/files/pubx/b.txt", "Bearer " + tokPub, 403},
		{"prefix, Destination escaping", "/files/pub/a.txt", "/files/pub%2F..%2Fb.txt", "Bearer " + tokPub, 400},
		{"prefix, source outside", "/files/top.txt", "/files/pub/top.txt", "Bearer " + tokPub, 403},
		{"no token", "/files/pub/a.txt", "/files/pub/b.txt", "", 401},
		{"signed for PUT", "/files/pub/a.txt?" + signer.Sign("PUT", "/files/pub/a.txt", hour).Query(), "/files/pub/b.txt", "", 403},
		{"signed for DELETE", "/files/pub/a.txt?" + signer.Sign("DELETE", "/files/pub/a.txt", hour).Query(), "/files/pub/b.txt", "", 403},
		{"signed for MOVE by hand", "/files/pub/a.txt?" + signer.Sign("MOVE", "/files/pub/a.txt", hour).Query(), "/files/pub/b.txt", "", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(g.commands())
			hdr := []string{"Destination", tc.dest}
			if tc.authz != "" {
				hdr = append(hdr, "Authorization", tc.authz)
			}
			status, h, b := g.fetch(t, "MOVE", tc.path, nil, hdr...)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, b)
			}
			problemOf(t, h, b)
			if sent := g.commands()[before:]; len(sent) != 0 {
				t.Errorf("a refused MOVE reached the FTP server: %q", sent)
			}
		})
	}
	if !fileIs(g, "pub/a.txt", "a") || !fileIs(g, "top.txt", "top") {
		t.Fatal("a refused MOVE moved a file")
	}
	status, _, b := g.fetch(t, "POST", "/signed-urls", strings.NewReader(`{"method":"MOVE","path":"/files/pub/a.txt"}`), "Authorization", "Bearer "+tokAll)
	if status != http.StatusBadRequest {
		t.Errorf("POST /signed-urls for MOVE: %d %s", status, b)
	}
	// What the scopes allow, moves.
	if status, _, b := g.fetch(t, "MOVE", "/files/pub/a.txt", nil, "Authorization", "Bearer "+tokPub, "Destination", "/files/pub/sub-b.txt"); status != 201 {
		t.Fatalf("MOVE inside the prefix: %d %s", status, b)
	}
	if !fileIs(g, "pub/sub-b.txt", "a") {
		t.Error("pub/sub-b.txt not there")
	}
	// MKCOL needs write.
	if status, _, _ := g.fetch(t, "MKCOL", "/files/pub/d/", nil, "Authorization", "Bearer "+tokDeleter); status != 403 {
		t.Errorf("MKCOL without write: %d", status)
	}
	if status, _, _ := g.fetch(t, "MKCOL", "/files/pub/d/", nil, "Authorization", "Bearer "+tokWriter); status != 201 {
		t.Errorf("MKCOL with write: %d", status)
	}
	// A browser's preflight for either.
	for _, m := range []string{"MKCOL", "MOVE"} {
		status, h := preflight(t, g.url("/files/pub/a.txt"), appOrigin, m, "authorization,destination,overwrite")
		if status != 204 || !strings.Contains(h.Get("Access-Control-Allow-Methods"), m) ||
			h.Get("Access-Control-Allow-Headers") != "authorization, destination, overwrite" {
			t.Errorf("preflight for %s: %d %v", m, status, h)
		}
	}
}

// TestMoveSignedPutMakesNoDirectory: a URL signed for a PUT of a path
// uploads a file there, and makes no directory of it.
func TestMoveSignedPutMakesNoDirectory(t *testing.T) {
	signer := testSigner(t, "k1 "+signKey1+"\n")
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{tokens: authTokens(t), signer: signer})
	u := signer.Sign("PUT", "/files/up", time.Now().Add(time.Hour))
	status, h, b := g.fetch(t, "PUT", "/files/up/?"+u.Query(), nil)
	if status != http.StatusForbidden {
		t.Fatalf("signed PUT of a directory's path: %d %s", status, b)
	}
	problemOf(t, h, b)
	if _, err := os.Lstat(g.ftpd.Path("up")); err == nil {
		t.Error("a signed PUT URL made a directory")
	}
	if status, _, b := g.fetch(t, "PUT", "/files/up?"+u.Query()+"&parents=1", strings.NewReader("x")); status != http.StatusBadRequest {
		t.Errorf("signed PUT with parents=1: %d %s", status, b)
	}
}

// TestMoveBasic: MKCOL and MOVE under Basic passthrough, on every server
// of the matrix: the FTP account's own rights decide.
func TestMoveBasic(t *testing.T) {
	forEachServerWith(t, gatewayOptions{basic: &basicOptions{}}, func(t *testing.T, g *gateway) {
		creds := basicAuth(g.ftpd.User, g.ftpd.Password)
		g.ftpd.WriteFile(t, "m.txt", []byte("m"))
		if status, _, b := g.fetch(t, "MKCOL", "/files/d/", nil, creds...); status != 201 {
			t.Fatalf("MKCOL: %d %s", status, b)
		}
		if status, _, b := g.fetch(t, "MOVE", "/files/m.txt", nil, append(creds, "Destination", "/files/d/m.txt")...); status != 201 {
			t.Fatalf("MOVE: %d %s", status, b)
		}
		if !fileIs(g, "d/m.txt", "m") {
			t.Error("d/m.txt not there")
		}
		if status, h, b := g.fetch(t, "MOVE", "/files/d/", nil, append(creds, "Destination", "/files/e")...); status != 201 || h.Get("Location") != "/files/e/" {
			t.Fatalf("MOVE of a directory: %d %v %s", status, h, b)
		}
		if !fileIs(g, "e/m.txt", "m") {
			t.Error("e/m.txt not there")
		}
		if status, _, _ := g.fetch(t, "MOVE", "/files/e/m.txt", nil, "Destination", "/files/m.txt"); status != 401 {
			t.Errorf("MOVE without credentials: %d", status)
		}
	})
}

// TestMoveAcrossMounts: with several backends, a MOVE stays within its
// own: a Destination in another mount, a nested one included, is 403 and
// reaches no FTP server; within the mount it moves, a directory too,
// unless another backend is mounted inside it.
func TestMoveAcrossMounts(t *testing.T) {
	ftpd := realftpd.Start(t, realftpd.Vsftpd, realftpd.Options{})
	for _, d := range []string{"a/inner", "b", "a/deep/in2"} {
		if err := os.MkdirAll(ftpd.Path(d), 0o755); err != nil {
			t.Fatal(err)
		}
		for p := d; p != "."; p = path.Dir(p) {
			chownTestUser(t, ftpd.Path(p))
		}
	}
	var servers []*api.Server
	for _, m := range []struct{ mount, root string }{{"/a/", "a"}, {"/b/", "b"}, {"/a/inner/", "a/inner"}, {"/a/deep/in2/", "a/deep/in2"}} {
		p, err := pool.New(pool.Config{Name: m.root, MaxSessions: 2, Conn: ftpcore.Config{
			Addr: ftpd.Addr, User: ftpd.User, Password: ftpd.Password, CommandTimeout: 10 * time.Second,
		}})
		if err != nil {
			t.Fatal(err)
		}
		s := api.New(api.Config{Pool: p, Mount: m.mount, Root: m.root})
		t.Cleanup(func() { s.Close(); p.Close() })
		servers = append(servers, s)
	}
	ts := serveHandler(servers[0], api.Join(servers...))
	t.Cleanup(ts.Close)
	mountsAt(t, ts.URL, "/a/", "/b/", "/a/inner/", "/a/deep/in2/")
	ftpd.WriteFile(t, "a/f.txt", []byte("f"))
	ftpd.WriteFile(t, "a/d/x.txt", []byte("x"))
	for _, tc := range []struct {
		src, dest string
		status    int
	}{
		{"/a/f.txt", "/b/f.txt", 403},
		{"/a/f.txt", "/a/inner/f.txt", 403},
		{"/a/f.txt", "/a/inner", 403},
		{"/a/f.txt", ts.URL + "/b/f.txt", 403},
		{"/a/f.txt", "/a/g.txt", 201},
		{"/a/d/", "/b/d/", 403},
		{"/a/d/", "/a/inner/d/", 403},
		{"/a/inner/", "/a/inner2/", 403}, // the inner backend's root
		{"/a/deep/", "/a/deep2/", 403},   // holds /a/deep/in2/
		{"/a/deep", "/a/deep2", 403},
		{"/a/d/", "/a/d2/", 201},
	} {
		status, h, b := corsFetch(t, "MOVE", ts.URL+tc.src, nil, "Destination", tc.dest)
		if status != tc.status {
			t.Errorf("MOVE %s to %s: %d, want %d: %s", tc.src, tc.dest, status, tc.status, b)
		}
		if status == 403 {
			problemOf(t, h, b)
		}
	}
	if got, _ := os.ReadFile(ftpd.Path("a/g.txt")); string(got) != "f" {
		t.Errorf("a/g.txt = %q", got)
	}
	if got, _ := os.ReadFile(ftpd.Path("a/d2/x.txt")); string(got) != "x" {
		t.Errorf("a/d2/x.txt = %q", got)
	}
	if fi, err := os.Stat(ftpd.Path("a/deep/in2")); err != nil || !fi.IsDir() {
		t.Errorf("a/deep/in2, the root of a backend, moved: %v", err)
	}
	for _, never := range []string{"b/f.txt", "a/inner/f.txt", "b/d", "a/inner/d", "a/inner2", "a/deep2"} {
		if _, err := os.Lstat(ftpd.Path(never)); err == nil {
			t.Errorf("%s: a MOVE crossed mounts", never)
		}
	}
}
