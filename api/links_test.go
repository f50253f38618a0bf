package api_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// What lies outside the gateway's root, and must never be served under
// LinksInside or LinksRefuse: the files below, and the host's /etc/passwd
// on the servers that do not chroot.
const (
	secretMark = "SECRET-OUTSIDE-THE-ROOT"
	passwdMark = "root:x:0:0"
)

// linksGateway serves pub/ under the FTP login directory with policy, in
// front of a fresh server of kind holding linkTree.
func linksGateway(t *testing.T, kind realftpd.Kind, policy api.LinkPolicy) *gateway {
	t.Helper()
	g := startGatewayOn(t, kind, gatewayOptions{root: "pub", links: policy})
	// The statuses are the gateway's own: a redirect is not followed.
	g.http.Client().CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	ftpd := g.ftpd
	ftpd.WriteFile(t, "pub/in.txt", []byte("inside\n"))
	ftpd.WriteFile(t, "pub/sub/deep.txt", []byte("deep\n"))
	ftpd.WriteFile(t, "secret.txt", []byte(secretMark+"\n"))
	ftpd.WriteFile(t, "outdir/o.txt", []byte(secretMark+" in outdir\n"))
	for name, target := range map[string]string{
		"pub/rel":        "in.txt",                                // inside, relative
		"pub/abs":        path.Join(ftpd.LoginPath, "pub/in.txt"), // inside, absolute
		"pub/chain":      "rel",                                   // a chain, inside
		"pub/dirlink":    "sub",                                   // a directory, inside
		"pub/up":         "../secret.txt",                         // out through ..
		"pub/upabs":      path.Join(ftpd.LoginPath, "secret.txt"), // out, absolute
		"pub/chainout":   "up",                                    // a chain that leads out
		"pub/sub/uplink": "../../secret.txt",                      // out, from below
		"pub/passwd":     "/etc/passwd",                           // out of the FTP tree
		"pub/etc":        "/etc",                                  // a directory out of it
		"pub/outdir":     "../outdir",                             // a directory out
		"pub/parent":     "..",                                    // the directory above
		"pub/slash":      "/",                                     // the server's top
		"pub/dangling":   "nowhere",                               // nothing
	} {
		if err := os.Symlink(target, ftpd.Path(name)); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// TestLinkPolicies: every path of linkTree under every policy, on every
// server of the matrix: the status each gets, and no byte from outside the
// root under inside and refuse. Under follow the gateway serves what the
// FTP server serves, the outside included: that is what the policy says.
func TestLinkPolicies(t *testing.T) {
	const (
		ok, redirect, missing = http.StatusOK, http.StatusMovedPermanently, http.StatusNotFound
	)
	for _, kind := range realftpd.Matrix {
		for _, policy := range []api.LinkPolicy{api.LinksFollow, api.LinksInside, api.LinksRefuse} {
			t.Run(string(kind)+"/"+policy.String(), func(t *testing.T) {
				t.Parallel()
				g := linksGateway(t, kind, policy)
				// pure-ftpd chroots the user to the FTP root: /etc is
				// not there, so links to it dangle whatever the policy.
				chroot := g.ftpd.LoginPath == "/"
				outHost := ok
				if chroot {
					outHost = missing
				}
				// Status by policy: follow, inside, refuse.
				type statuses [3]int
				inside := statuses{ok, ok, ok}
				viaInsideLink := statuses{ok, ok, missing}
				out := statuses{ok, missing, missing}
				tests := []struct {
					path string
					want statuses
				}{
					{"/files/", inside},
					{"/files/in.txt", inside},
					{"/files/sub/deep.txt", inside},
					{"/files/sub/", inside},
					{"/files/rel", viaInsideLink},
					{"/files/abs", viaInsideLink},
					{"/files/chain", viaInsideLink},
					{"/files/dirlink/", viaInsideLink},
					{"/files/dirlink/deep.txt", viaInsideLink},
					{"/files/dirlink", statuses{redirect, redirect, missing}},
					{"/files/rel/", statuses{redirect, redirect, missing}},
					// Out and back in: the file is inside the root.
					{"/files/parent/pub/in.txt", viaInsideLink},
					{"/files/up", out},
					{"/files/upabs", out},
					{"/files/chainout", out},
					{"/files/sub/uplink", out},
					{"/files/up/", statuses{redirect, missing, missing}},
					{"/files/outdir/", out},
					{"/files/outdir/o.txt", out},
					{"/files/parent/", out},
					{"/files/parent/secret.txt", out},
					// A link at the first segment, to the server's top.
					{"/files/slash" + path.Join(g.ftpd.LoginPath, "secret.txt"), out},
					{"/files/passwd", statuses{outHost, missing, missing}},
					{"/files/etc/passwd", statuses{outHost, missing, missing}},
					{"/files/slash/etc/passwd", statuses{outHost, missing, missing}},
					{"/files/dangling", statuses{missing, missing, missing}},
					{"/files/nope", statuses{missing, missing, missing}},
				}
				for _, tc := range tests {
					for _, method := range []string{http.MethodGet, http.MethodHead} {
						status, h, body := g.fetch(t, method, tc.path, nil)
						if want := tc.want[column(policy)]; status != want {
							t.Errorf("%s %s: %d, want %d (%s)", method, tc.path, status, want, body)
							continue
						}
						if status == missing && method == http.MethodGet {
							problemOf(t, h, body)
						}
						if policy != api.LinksFollow {
							noOutsideBytes(t, method+" "+tc.path, body)
						}
					}
				}
				// Under follow the outside is served: the policy matters.
				if policy == api.LinksFollow {
					if _, _, body := g.fetch(t, http.MethodGet, "/files/up", nil); !strings.Contains(string(body), secretMark) {
						t.Errorf("follow: GET /files/up = %q, want the file outside", body)
					}
				}
				checkLinkListing(t, g, policy)
				checkLinkWrites(t, g, policy)
			})
		}
	}
}

// column is policy's place in a table of statuses: follow, inside,
// refuse.
func column(policy api.LinkPolicy) int {
	switch policy {
	case api.LinksFollow:
		return 0
	case api.LinksInside:
		return 1
	}
	return 2
}

// noOutsideBytes fails t if body holds anything of the files outside the
// root.
func noOutsideBytes(t *testing.T, what string, body []byte) {
	t.Helper()
	if s := string(body); strings.Contains(s, secretMark) || strings.Contains(s, passwdMark) {
		t.Errorf("%s served bytes from outside the root: %q", what, body)
	}
}

// checkLinkListing: under inside a link is listed without size or target,
// under refuse not at all, under follow as before.
func checkLinkListing(t *testing.T, g *gateway, policy api.LinkPolicy) {
	t.Helper()
	status, _, body := g.fetch(t, http.MethodGet, "/files/", nil, "Accept", "application/json")
	if status != http.StatusOK {
		t.Fatalf("listing: %d %s", status, body)
	}
	var doc struct {
		Entries []struct {
			Name   string `json:"name"`
			Type   string `json:"type"`
			Size   *int64 `json:"size"`
			Target string `json:"target"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("listing %s: %v", body, err)
	}
	links := map[string]bool{}
	for _, e := range doc.Entries {
		if e.Type != "link" {
			continue
		}
		links[e.Name] = true
		if policy == api.LinksInside && (e.Size != nil || e.Target != "") {
			t.Errorf("inside: link %q listed with size %v, target %q", e.Name, e.Size, e.Target)
		}
	}
	switch policy {
	case api.LinksRefuse:
		if len(links) != 0 {
			t.Errorf("refuse: links listed: %v", links)
		}
	default:
		// proftpd's MLSD leaves out a link that leads nowhere.
		for _, name := range []string{"rel", "up", "etc", "dirlink"} {
			if !links[name] {
				t.Errorf("%v: link %q not listed as a link: %s", policy, name, body)
			}
		}
	}
	_, _, html := g.fetch(t, http.MethodGet, "/files/", nil, "Accept", "text/html")
	if got, want := strings.Contains(string(html), `href="./rel"`), policy != api.LinksRefuse; got != want {
		t.Errorf("%v: HTML listing links rel: %v, want %v", policy, got, want)
	}
	if policy != api.LinksFollow {
		noOutsideBytes(t, "listing", body)
		noOutsideBytes(t, "HTML listing", html)
	}
}

// checkLinkWrites: PUT and DELETE through links and over them. A link is
// replaced by a PUT and removed by a DELETE, never written through; under
// inside and refuse a path the policy does not follow is 404 and nothing
// changes.
func checkLinkWrites(t *testing.T, g *gateway, policy api.LinkPolicy) {
	t.Helper()
	const (
		created, replaced, missing, conflict = http.StatusCreated, http.StatusNoContent, http.StatusNotFound, http.StatusConflict
	)
	type statuses [3]int // follow, inside, refuse
	steps := []struct {
		method, path string
		want         statuses
	}{
		{http.MethodPut, "/files/outdir/new.txt", statuses{created, missing, missing}},
		{http.MethodPut, "/files/parent/new.txt", statuses{created, missing, missing}},
		{http.MethodPut, "/files/dirlink/new.txt", statuses{created, created, missing}},
		{http.MethodPut, "/files/up", statuses{replaced, missing, missing}},
		{http.MethodPut, "/files/rel", statuses{replaced, replaced, missing}},
		{http.MethodDelete, "/files/abs/", statuses{missing, missing, missing}}, // not a directory
		{http.MethodDelete, "/files/outdir/o.txt", statuses{replaced, missing, missing}},
		{http.MethodDelete, "/files/upabs", statuses{replaced, missing, missing}},
		{http.MethodDelete, "/files/chain", statuses{replaced, replaced, missing}},
		// follow does not look for links: RMD of a link is refused.
		{http.MethodDelete, "/files/dirlink", statuses{conflict, replaced, missing}},
	}
	for _, st := range steps {
		var body *strings.Reader
		if st.method == http.MethodPut {
			body = strings.NewReader("uploaded\n")
		}
		var status int
		var b []byte
		if body != nil {
			status, _, b = g.fetch(t, st.method, st.path, body)
		} else {
			status, _, b = g.fetch(t, st.method, st.path, nil)
		}
		if want := st.want[column(policy)]; status != want {
			t.Errorf("%s %s: %d, want %d (%s)", st.method, st.path, status, want, b)
		}
	}
	ftpd := g.ftpd
	exists := func(rel string) bool { _, err := os.Lstat(ftpd.Path(rel)); return err == nil }
	isLink := func(rel string) bool {
		fi, err := os.Lstat(ftpd.Path(rel))
		return err == nil && fi.Mode()&os.ModeSymlink != 0
	}
	read := func(rel string) string { b, _ := os.ReadFile(ftpd.Path(rel)); return string(b) }
	// Nothing outside the root is ever written through a link, under
	// any policy: the secrets and the targets of replaced links stay.
	if got := read("secret.txt"); got != secretMark+"\n" {
		t.Errorf("secret.txt = %q", got)
	}
	if got := read("pub/in.txt"); got != "inside\n" {
		t.Errorf("pub/in.txt = %q: written through a link", got)
	}
	if !exists("pub/sub") || !exists("pub/rel") && policy != api.LinksRefuse {
		t.Errorf("pub/sub or pub/rel gone")
	}
	follow := policy == api.LinksFollow
	for rel, want := range map[string]bool{
		"outdir/new.txt":  follow,
		"new.txt":         follow,
		"pub/sub/new.txt": policy != api.LinksRefuse,
		"outdir/o.txt":    !follow,
		"pub/upabs":       !follow,
		"pub/chain":       policy == api.LinksRefuse,
		"pub/abs":         true,
		"pub/dirlink":     policy != api.LinksInside,
	} {
		if got := exists(rel); got != want {
			t.Errorf("%s exists: %v, want %v", rel, got, want)
		}
	}
	// A PUT over a link replaces the link with the file.
	if got, want := isLink("pub/up"), !follow; got != want {
		t.Errorf("pub/up is a link: %v, want %v", got, want)
	}
	if got, want := isLink("pub/rel"), policy == api.LinksRefuse; got != want {
		t.Errorf("pub/rel is a link: %v, want %v", got, want)
	}
}

// TestLinksWithoutSTAT: a server that refuses STAT of a path cannot tell
// the inside and refuse policies whether a file is a link. Rather than a
// 404 for every file, the gateway answers 502 and says why; follow, which
// does not ask, serves the file.
func TestLinksWithoutSTAT(t *testing.T) {
	for _, policy := range []api.LinkPolicy{api.LinksInside, api.LinksRefuse, api.LinksFollow} {
		t.Run(policy.String(), func(t *testing.T) {
			srv := ftptest.NewServer(t)
			srv.PutFile("/a.txt", []byte("hello\n"), time.Now())
			srv.Handle("STAT", func(sc *ftptest.Conn, _ string) { sc.Reply(502, "STAT not implemented.") })
			ts, _ := limitsGateway(t, srv, idleBackend{name: "plain"}, true, 5*time.Second, 1, api.Config{Links: policy})
			status, h, body := fetchURL(t, http.MethodGet, ts.URL+"/files/a.txt")
			if policy == api.LinksFollow {
				if status != http.StatusOK || string(body) != "hello\n" {
					t.Fatalf("GET = %d %q, want 200", status, body)
				}
				return
			}
			if status != http.StatusBadGateway {
				t.Fatalf("GET = %d %s, want 502", status, body)
			}
			if p := problemOf(t, h, body); p["ftp_code"] != float64(502) || !strings.Contains(p["detail"].(string), "STAT") {
				t.Errorf("problem %v", p)
			}
		})
	}
}
