package api_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestHostilePaths sends request targets byte for byte (no client-side
// cleaning) and checks each gets 400 and that nothing of it reached the
// FTP server.
func TestHostilePaths(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "ok.txt", []byte("ok"))
		long := "/files/" + strings.Repeat("a/", 2100) + "x"
		// As long as a path may be, which with the root and a verb makes a
		// command line longer than vsftpd and proftpd read.
		longest := "/files" + strings.Repeat("/"+strings.Repeat("l", 255), 16)
		targets := []struct {
			name, target string
		}{
			{"dot-dot", "/files/../../etc/passwd"},
			{"dot-dot inside", "/files/a/../../etc/passwd"},
			{"encoded dot-dot", "/files/%2e%2e/%2e%2e/etc/passwd"},
			{"encoded slashes", "/files/a%2F..%2F..%2Fetc%2Fpasswd"},
			{"CRLF injection", "/files/a%0d%0aDELE%20ok.txt"},
			{"LF injection", "/files/a%0aDELE%20ok.txt"},
			{"NUL", "/files/ok.txt%00.jpg"},
			{"invalid UTF-8", "/files/%ff%fe"},
			{"backslash", "/files/..%5c..%5cetc%5cpasswd"},
			{"tilde user", "/files/~root/.ssh/id_rsa"},
			{"overlong", long},
			{"longest", longest},
		}
		for _, tc := range targets {
			t.Run(tc.name, func(t *testing.T) {
				for _, method := range []string{"GET", "HEAD", "PUT", "DELETE"} {
					head := method + " " + tc.target + " HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
					c := rawRequest(t, g, head, []byte("hi"))
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
					if err != nil {
						t.Fatalf("%s: %v", method, err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusBadRequest {
						t.Fatalf("%s %.80s: status %d, want 400", method, tc.target, resp.StatusCode)
					}
					if method != "HEAD" {
						problemOf(t, resp.Header, body)
					}
				}
			})
		}
		for _, cmd := range g.commands() {
			if strings.Contains(cmd, "..") || strings.Contains(cmd, "passwd") || strings.Contains(cmd, "DELE ok.txt") ||
				strings.Contains(cmd, "~") || strings.Contains(cmd, "\\") {
				t.Errorf("hostile path reached the FTP server: %q", cmd)
			}
		}
		if _, err := os.Stat(g.ftpd.Path("ok.txt")); err != nil {
			t.Errorf("ok.txt: %v", err)
		}
	})
}

// TestRootConfinement: vsftpd here does not chroot, so an absolute path
// must still land under the configured root.
func TestRootConfinement(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		status, _, body := g.fetch(t, http.MethodGet, "/files//etc/passwd", nil)
		if status != http.StatusNotFound {
			t.Fatalf("GET //etc/passwd: %d %q", status, body)
		}
		if strings.Contains(string(body), "root:") {
			t.Fatal("served the host's /etc/passwd")
		}
		if g.ftpd.LoginPath == "/" {
			return // chrooted: the server's / is the gateway's root
		}
		for _, cmd := range g.commands() {
			if strings.HasSuffix(cmd, " /etc/passwd") {
				t.Errorf("sent %q: not confined under the root", cmd)
			}
		}
	})
}

func TestDelete(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "del/file.txt", []byte("x"))
		g.ftpd.WriteFile(t, "full/keep.txt", []byte("x"))
		if err := os.Mkdir(g.ftpd.Path("empty"), 0o755); err != nil {
			t.Fatal(err)
		}
		chownTestUser(t, g.ftpd.Path("empty"))
		tests := []struct {
			name, path string
			status     int
		}{
			{"file", "/files/del/file.txt", http.StatusNoContent},
			{"again: missing", "/files/del/file.txt", http.StatusNotFound},
			{"never existed", "/files/nothing-here", http.StatusNotFound},
			{"empty directory", "/files/empty/", http.StatusNoContent},
			{"non-empty directory", "/files/full", http.StatusConflict},
			{"root", "/files/", http.StatusMethodNotAllowed},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				status, h, b := g.fetch(t, http.MethodDelete, tc.path, nil)
				if status != tc.status {
					t.Fatalf("status %d, want %d: %s", status, tc.status, b)
				}
				if status >= 400 {
					p := problemOf(t, h, b)
					if status == http.StatusNotFound && p["ftp_code"] != float64(550) {
						t.Errorf("404 problem without ftp_code 550: %v", p)
					}
					if _, ok := p["ftp_message"]; ok {
						t.Errorf("4xx problem carries the server's text: %v", p)
					}
				}
			})
		}
		if _, err := os.Stat(g.ftpd.Path("del/file.txt")); !os.IsNotExist(err) {
			t.Errorf("file still there: %v", err)
		}
		if _, err := os.Stat(g.ftpd.Path("full/keep.txt")); err != nil {
			t.Errorf("non-empty directory's file: %v", err)
		}
	})
}

func TestListings(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "list/a.txt", []byte("aaa"))
		g.ftpd.WriteFile(t, "list/name with  spaces.bin", []byte("b"))
		g.ftpd.WriteFile(t, "list/sub/c.txt", []byte("c"))
		g.ftpd.WriteFile(t, "list/.ftpgw-upload-0123456789abcdef.tmp", []byte("in flight"))

		// Without the slash: redirect, as a file server does.
		req, _ := http.NewRequest(http.MethodGet, g.url("/files/list"), nil)
		resp, err := testClient.Transport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/files/list/" {
			t.Fatalf("GET /files/list: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}

		status, h, body := g.fetch(t, http.MethodGet, "/files/list/", nil, "Accept", "application/json")
		if status != 200 || h.Get("Content-Type") != "application/json" {
			t.Fatalf("listing: %d %s", status, h.Get("Content-Type"))
		}
		var doc struct {
			Path    string `json:"path"`
			Entries []struct {
				Name     string     `json:"name"`
				Type     string     `json:"type"`
				Size     *int64     `json:"size"`
				Modified *time.Time `json:"modified"`
			} `json:"entries"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if doc.Path != "/list/" || len(doc.Entries) != 3 {
			t.Fatalf("listing %s", body)
		}
		want := []struct {
			name, typ string
			size      int64
		}{{"a.txt", "file", 3}, {"name with  spaces.bin", "file", 1}, {"sub", "dir", -1}}
		for i, w := range want {
			e := doc.Entries[i]
			if e.Name != w.name || e.Type != w.typ || (w.size >= 0) != (e.Size != nil) || e.Size != nil && *e.Size != w.size || e.Modified == nil {
				t.Errorf("entry %d = %+v, want %+v", i, e, w)
			}
		}

		status, h, body = g.fetch(t, http.MethodGet, "/files/list/", nil, "Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Fatalf("HTML listing: %d %s", status, h.Get("Content-Type"))
		}
		for _, s := range []string{`href="./a.txt"`, `href="./name%20with%20%20spaces.bin"`, `href="./sub/"`, `href="../"`} {
			if !strings.Contains(string(body), s) {
				t.Errorf("HTML listing lacks %s:\n%s", s, body)
			}
		}
		if strings.Contains(string(body), "ftpgw-upload") {
			t.Error("HTML listing shows an upload in progress")
		}
		// A file asked for as a directory redirects to the file.
		req, _ = http.NewRequest(http.MethodGet, g.url("/files/list/a.txt/"), nil)
		resp, err = testClient.Transport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/files/list/a.txt" {
			t.Errorf("GET a.txt/: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

func TestGetMissingAndProblemBody(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		status, h, b := g.fetch(t, http.MethodGet, "/files/missing.txt", nil, "X-Request-Id", "req-123")
		if status != http.StatusNotFound {
			t.Fatalf("status %d", status)
		}
		p := problemOf(t, h, b)
		if p["status"] != float64(404) || p["ftp_code"] != float64(550) || p["request_id"] != "req-123" || p["instance"] != "/files/missing.txt" || p["title"] != "Not Found" {
			t.Errorf("problem %v", p)
		}
		if h.Get("X-Request-Id") != "req-123" {
			t.Errorf("X-Request-Id %q", h.Get("X-Request-Id"))
		}
		status, h, b = g.fetch(t, http.MethodPatch, "/files/x", strings.NewReader("x"))
		if status != http.StatusMethodNotAllowed || h.Get("Allow") == "" {
			t.Errorf("PATCH: %d Allow %q", status, h.Get("Allow"))
		}
		problemOf(t, h, b)
	})
}
