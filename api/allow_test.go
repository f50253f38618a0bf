package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// TestAllowIsTrue: every Allow the gateway sends is what its URL serves:
// OPTIONS's and that of each 405, for a file's URL, a directory's, the
// root's and an upload's, agree, and each method they list is served
// there (its answer, whatever it is, is not 405). The Allow of a URL is
// told from the URL alone, with no FTP command; what is at the path may
// refuse more: MKCOL of a path that exists is 405 (RFC 4918 §9.3.1), and
// that 405's Allow, without MKCOL, is true of it. The listed methods are
// sent last first, so that MKCOL makes its directory after PUT and before
// DELETE. On main before, POST was missing from every Allow, though it
// creates tus uploads, an upload's Allow left out OPTIONS, the root's
// three 405s had three Allows, and GET, MKCOL and MOVE of an upload's URL
// were served as the file's.
func TestAllowIsTrue(t *testing.T) {
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{})
	g.ftpd.WriteFile(t, "f.txt", []byte("f"))
	g.ftpd.WriteFile(t, "d/e.txt", []byte("e"))
	upload := tusCreate(t, g, "/files/", "u.bin", 6, []byte("abc"))
	// Fields that make each method a request the URL could serve: tus's
	// creation and append, which the others ignore.
	hdr := append([]string{"Upload-Length", "1", "Upload-Metadata", "filename " + b64("m.bin"),
		"Content-Type", "application/offset+octet-stream", "Upload-Offset", "3"}, tusHeaders...)
	for _, c := range []struct {
		name, url string
		// from are the methods whose answers' Allow must be want:
		// OPTIONS, and methods that get 405.
		from []string
		want string
	}{
		{"a file's URL", "/files/n.bin", []string{"OPTIONS", "PATCH", "PROPFIND"}, "GET, HEAD, PUT, POST, DELETE, MKCOL, MOVE, OPTIONS"},
		{"a directory's URL", "/files/nd/", []string{"OPTIONS", "PATCH", "PROPFIND"}, "GET, HEAD, PUT, POST, DELETE, MKCOL, MOVE, OPTIONS"},
		{"the root", "/files/", []string{"OPTIONS", "PATCH", "PROPFIND", "PUT", "DELETE", "MKCOL"}, "GET, HEAD, POST, OPTIONS"},
		{"an upload's URL", upload, []string{"OPTIONS", "PROPFIND", "GET", "PUT", "POST", "MKCOL", "MOVE"}, "HEAD, PATCH, DELETE, OPTIONS"},
		{"a file that exists", "/files/f.txt", []string{"MKCOL"}, "GET, HEAD, PUT, POST, DELETE, MOVE, OPTIONS"},
		{"a directory that exists", "/files/d/", []string{"MKCOL"}, "GET, HEAD, PUT, POST, DELETE, MOVE, OPTIONS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, m := range c.from {
				want := http.StatusMethodNotAllowed
				if m == http.MethodOptions {
					want = http.StatusNoContent
				}
				if code, h, body := g.fetch(t, m, c.url, nil, hdr...); code != want || h.Get("Allow") != c.want {
					t.Errorf("%s: %d, Allow %q; want %d, %q (%s)", m, code, h.Get("Allow"), want, c.want, body)
				}
			}
			listed := strings.Split(c.want, ", ")
			for i := len(listed) - 1; i >= 0; i-- {
				if code, _, body := g.fetch(t, listed[i], c.url, nil, hdr...); code == http.StatusMethodNotAllowed {
					t.Errorf("%s, which Allow lists: 405 (%s)", listed[i], body)
				}
			}
		})
	}
}
