package api

import (
	"context"
	"net/http"
	"net/url"
	"path"
	"slices"
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
// gateway. To GET, HEAD, DELETE and MOVE the name does not exist (404); a
// PUT or MKCOL is told that the name cannot be had (400).
func (s *Server) requestPath(r *http.Request) (clean string, dir bool, err error) {
	clean, dir, err = s.filesPath(r)
	if err != nil || !hasTempSegment(clean) {
		return clean, dir, err
	}
	if r.Method == http.MethodPut || r.Method == methodMkcol {
		return "", false, badRequest("names starting with "+tempPrefix+" are reserved for uploads in progress", nil)
	}
	return "", false, notFound("no such file or directory")
}

// filesPath returns the cleaned path of r under the Server's mount, as
// httpsem.CleanPath has it.
func (s *Server) filesPath(r *http.Request) (clean string, dir bool, err error) {
	return httpsem.CleanPath(strings.TrimPrefix(r.URL.Path, s.mountDir))
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

// A refusedOp is the command whose refusal whyRefused explains.
type refusedOp int

const (
	refusedRead   refusedOp = iota // RETR of the path
	refusedDelete                  // DELE of the path
	refusedCreate                  // STOR of a new name beside the path (a PUT's temporary file)
	refusedRename                  // RNTO to the path (a PUT's rename over it)
)

// ambiguous reports whether err is a reply that can mean "missing", "not
// allowed" or "no such name allowed" alike. vsftpd answers DELE with "550
// Delete operation failed.", RETR with "550 Failed to open file." and STOR
// with "553 Could not create file." whatever the cause; proftpd and
// pure-ftpd name the cause, in words of their own. 450 is left out: it
// says the file is busy (RFC 959 §4.2), which is worth a retry.
func ambiguous(err error) bool {
	switch ftpcore.ReplyCode(err) {
	case ftpcore.StatusFileUnavailable, ftpcore.StatusBadFileName:
		return true
	}
	return false
}

// whyRefused explains err, the FTP server's refusal of op at full, by
// looking on c at full and then at its parent: there but refused is 403,
// gone is 404, a missing parent 409, and a name refused in a directory the
// account could write (its upload's temporary file is there) 400. It
// returns err unchanged when err is no ambiguous refusal or a look fails.
// It costs round trips on the way to an error only: call it on no other.
func whyRefused(ctx context.Context, c *ftpcore.Conn, op refusedOp, full string, err error) error {
	if !ambiguous(err) || !c.Usable() {
		return err
	}
	if op != refusedCreate {
		_, serr := c.Stat(ctx, full)
		switch {
		case serr == nil && op == refusedRead:
			return denied(detailDeniedRead, err)
		case serr == nil:
			return denied(detailDeniedChange, err)
		case ftpcore.ReplyCode(serr) != ftpcore.StatusFileUnavailable:
			return err
		case op != refusedRename:
			return vanished(err)
		}
	}
	pe, serr := c.Stat(ctx, path.Dir(full))
	switch {
	case ftpcore.ReplyCode(serr) == ftpcore.StatusFileUnavailable:
		return conflict(detailNoParent, err)
	case serr != nil:
		return err
	case pe.Type != ftpcore.EntryDir:
		return conflict("the parent is not a directory", err)
	case op == refusedCreate:
		return denied(detailDeniedWrite, err)
	}
	return badRequest(detailBadName, err)
}

// queryChoice returns the value of r's query parameter name, one of
// choices, or "" when there is none; ok is false when the parameter is
// given twice, does not decode, or is none of choices. Other parameters
// are not looked at.
func queryChoice(r *http.Request, name string, choices ...string) (v string, ok bool) {
	seen := false
	for pair := range strings.SplitSeq(r.URL.RawQuery, "&") {
		k, val, _ := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(k); err != nil || k != name {
			continue
		}
		val, err := url.QueryUnescape(val)
		if seen || err != nil || !slices.Contains(choices, val) {
			return "", false
		}
		v, seen = val, true
	}
	return v, true
}
