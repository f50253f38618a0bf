package api

import (
	"net/http"
	"path"
	"strings"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// The /files/ routes have a file each: get.go (GET and HEAD), put.go and
// delete.go. What they share is here.

// ftpPath maps a cleaned request path to the path on the FTP server, under
// the configured root.
func (s *Server) ftpPath(c *ftpcore.Conn, clean string) string {
	root := s.cfg.Root
	if !strings.HasPrefix(root, "/") {
		root = path.Join(c.LoginDir(), root)
	}
	return httpsem.JoinRoot(root, clean)
}

// requestPath returns the cleaned /files/ path of r. A path through an
// upload in progress (a segment that isTempName) is refused here, for every
// method, before anything reaches the FTP server: such names belong to the
// gateway. To GET, HEAD and DELETE the name does not exist (404); a PUT is
// told that the name cannot be had (400).
func requestPath(r *http.Request) (clean string, dir bool, err error) {
	clean, dir, err = httpsem.CleanPath(strings.TrimPrefix(r.URL.Path, "/files"))
	if err != nil || !hasTempSegment(clean) {
		return clean, dir, err
	}
	if r.Method == http.MethodPut {
		return "", false, badRequest("names starting with "+tempPrefix+" are reserved for uploads in progress", nil)
	}
	return "", false, notFound("no such file or directory")
}

// hasTempSegment reports whether a segment of the cleaned path isTempName.
// It allocates nothing: every request path goes through it.
func hasTempSegment(clean string) bool {
	for i := 0; i < len(clean); i++ {
		if clean[i] == '/' && isTempName(clean[i+1:]) {
			return true
		}
	}
	return false
}
