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

// requestPath returns the cleaned /files/ path of r.
func requestPath(r *http.Request) (clean string, dir bool, err error) {
	return httpsem.CleanPath(strings.TrimPrefix(r.URL.Path, "/files"))
}

// validatorsOf is what the conditional headers are judged against. A
// directory has no ETag: its size says nothing about its content.
func validatorsOf(e ftpcore.Entry) httpsem.Validators {
	v := httpsem.Validators{Exists: true, ModTime: e.ModTime}
	if e.Type != ftpcore.EntryDir {
		v.ETag = httpsem.ETag(e.Size, e.ModTime)
	}
	return v
}
