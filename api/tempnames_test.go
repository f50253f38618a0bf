package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestTempNamesAreTheGateways: the names of uploads in progress belong to
// the gateway. A request naming one, as the file, as a directory on the
// way or in another case, is refused before anything reaches the FTP
// server (404 for GET, HEAD and DELETE, 400 for PUT), although here every
// such name exists on the server; and listings hide them in every case.
func TestTempNamesAreTheGateways(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		files := map[string]string{
			".ftpgw-upload-0123456789abcdef.tmp":     "root upload",
			"sub/.ftpgw-upload-0123456789abcdef.tmp": "sub upload",
			"sub/.FTPGW-UPLOAD-0123456789ABCDEF.tmp": "upper case",
			".ftpgw-upload-d/f.txt":                  "inside",
			"sub/keep.txt":                           "listed",
		}
		for name, content := range files {
			g.ftpd.WriteFile(t, name, []byte(content))
		}
		targets := []string{
			"/files/.ftpgw-upload-0123456789abcdef.tmp",
			"/files/sub/.ftpgw-upload-0123456789abcdef.tmp",
			"/files/sub/.FTPGW-UPLOAD-0123456789ABCDEF.tmp",
			"/files/sub/.Ftpgw-Upload-new.tmp",
			"/files/.ftpgw-upload-d/f.txt",
			"/files/.ftpgw-upload-d/",
			"/files/.ftpgw-upload-d",
			"/files/.ftpgw-upload-",
		}
		sent := len(g.trace.sent())
		for _, target := range targets {
			for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodPut} {
				t.Run(method+" "+target, func(t *testing.T) {
					var body io.Reader
					want := http.StatusNotFound
					if method == http.MethodPut {
						body, want = strings.NewReader("overwritten"), http.StatusBadRequest
					}
					status, h, b := g.fetch(t, method, target, body)
					if status != want {
						t.Fatalf("status %d, want %d: %s", status, want, b)
					}
					if method == http.MethodHead {
						return
					}
					p := problemOf(t, h, b)
					if _, ok := p["ftp_code"]; ok {
						t.Errorf("problem with an FTP reply code, but nothing was to reach the server: %v", p)
					}
				})
			}
		}
		for _, line := range g.trace.sent()[sent:] {
			t.Errorf("sent %q to the FTP server for a name of the gateway's", line)
		}
		for _, cmd := range g.commands() {
			if strings.Contains(strings.ToLower(cmd), "ftpgw-upload") {
				t.Errorf("the FTP server got %q", cmd)
			}
		}
		for name, content := range files {
			if got, err := os.ReadFile(g.ftpd.Path(name)); err != nil || string(got) != content {
				t.Errorf("%s: %q, %v; want %q untouched", name, got, err, content)
			}
		}
		if _, err := os.Stat(g.ftpd.Path("sub/.Ftpgw-Upload-new.tmp")); !os.IsNotExist(err) {
			t.Errorf("PUT of a reserved name created it: %v", err)
		}

		if names := g.listNames(t, "/files/sub/"); len(names) != 1 || names[0] != "keep.txt" {
			t.Errorf("listing of sub/ = %q, want keep.txt alone", names)
		}
	})
}

// listNames returns the names in the JSON listing of the directory p.
func (g *gateway) listNames(t *testing.T, p string) []string {
	t.Helper()
	status, _, body := g.fetch(t, http.MethodGet, p, nil, "Accept", "application/json")
	var doc struct {
		Entries []struct {
			Name string `json:"name"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(body, &doc); status != http.StatusOK || err != nil {
		t.Fatalf("listing of %s: %d %v: %s", p, status, err, body)
	}
	names := make([]string, len(doc.Entries))
	for i, e := range doc.Entries {
		names[i] = e.Name
	}
	return names
}
