package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// moveFile answers MOVE (RFC 4918 §9.9) of a file to the path its
// Destination header names, in the same backend: one RNFR/RNTO, which the
// FTP servers do with rename(2), so that the file is at one of its two
// names at every moment and a refused move leaves it where it was. 201
// when the Destination was new, 204 when a file there was replaced
// (Overwrite: T, the default), 412 with Overwrite: F and a file there, 409
// for a directory there or a missing parent, 403 for a move onto itself or
// of a directory. If-Match and the like are judged on the source. The
// renames of the Destination (and of the source, when guarded) hold the
// names' locks (lock.go), taken in one order so that two crossing moves
// cannot wait for each other.
func (s *Server) moveFile(w http.ResponseWriter, r *http.Request) error {
	overwrite, err := overwriteHeader(r)
	if err != nil {
		return err
	}
	clean, dirReq, err := s.requestPath(r)
	if err != nil {
		return err
	}
	dest, err := s.moveDestination(r)
	switch {
	case err != nil:
		return err
	case dirReq:
		return denied("only files can be moved", nil)
	case dest == clean:
		return denied("the Destination is the file itself", nil)
	}
	ctx := r.Context()
	replaced := false
	err = s.poolOf(ctx).Do(ctx, func(c *ftpcore.Conn) error {
		from, to := s.ftpPath(c, clean), s.ftpPath(c, dest)
		// Judged before the locks too, so that no lock is made beside
		// a name the link policy keeps the gateway from.
		if _, err := s.judgeMove(ctx, c, r, from, to, overwrite); err != nil {
			return err
		}
		names := []string{to}
		if httpsem.Guarded(r.Header) {
			names = append(names, from)
			slices.Sort(names)
		}
		for _, n := range names {
			unlock, err := s.lockName(ctx, c, n)
			if err != nil {
				return err
			}
			defer unlock()
		}
		var err error
		if replaced, err = s.judgeMove(ctx, c, r, from, to, overwrite); err != nil {
			return err
		}
		return whyMoveRefused(ctx, c, from, to, c.Rename(ctx, from, to))
	})
	if err != nil {
		return err
	}
	if replaced {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.Header().Set("Location", (&url.URL{Path: s.mountDir + dest}).EscapedPath())
	w.WriteHeader(http.StatusCreated)
	return nil
}

// judgeMove looks at a move's source from and Destination to, under the
// link policy: the source must be a file (or a link to one) and meet the
// request's preconditions; the Destination is judged by
// judgeDestination, whose replaced it returns.
func (s *Server) judgeMove(ctx context.Context, c *ftpcore.Conn, r *http.Request, from, to string, overwrite bool) (replaced bool, err error) {
	src, err := s.stat(ctx, c, from, false)
	switch {
	case err != nil:
		return false, err
	case src.Type == ftpcore.EntryDir:
		return false, denied("only files can be moved", nil)
	case httpsem.CheckPreconditions(r.Method, r.Header, s.validatorsOf(src)) != httpsem.PrecondProceed:
		return false, preconditionFailed()
	}
	return s.judgeDestination(ctx, c, to, overwrite)
}

// whyMoveRefused explains err, the FTP server's refusal of the rename of
// from to to, by looking at both: a source gone is 404, a missing parent
// of to 409, anything else about the names as the server sees them 403
// (vsftpd says "550 Rename failed." whether the source's directory or the
// Destination's may not be written). It returns err unchanged when err is
// no refusal of the names or a look fails.
func whyMoveRefused(ctx context.Context, c *ftpcore.Conn, from, to string, err error) error {
	var fe *ftpcore.Error
	if !errors.As(err, &fe) || !c.Usable() {
		return err
	}
	// pure-ftpd answers a refused RNTO "451 Rename/move failure:
	// Permission denied", the error of rename(2).
	if !ambiguous(err) && !(fe.Code == ftpcore.StatusLocalError && isPermissionText(fe.Msg)) {
		return err
	}
	if fe.Cmd == "RNFR" {
		return whyRefused(ctx, c, refusedDelete, from, err)
	}
	if _, serr := c.Stat(ctx, from); ftpcore.ReplyCode(serr) == ftpcore.StatusFileUnavailable {
		return vanished(err)
	}
	if err := checkParent(ctx, c, to); err != nil {
		return err
	}
	return denied("the FTP server denied the move", err)
}

// judgeDestination looks at to, a move's target, under the link policy:
// a file there is replaced with overwrite (replaced) and 412 without; a
// directory is 409; nothing there needs its parent.
func (s *Server) judgeDestination(ctx context.Context, c *ftpcore.Conn, to string, overwrite bool) (replaced bool, err error) {
	e, err := s.stat(ctx, c, to, false)
	switch {
	case err == nil && e.Type == ftpcore.EntryDir:
		return false, conflict("a directory exists at the Destination", nil)
	case err == nil && !overwrite:
		return false, &problem{status: http.StatusPreconditionFailed, detail: "a file exists at the Destination, and Overwrite is F"}
	case err == nil:
		return true, nil
	case ftpcore.ReplyCode(err) != ftpcore.StatusFileUnavailable:
		return false, err
	}
	return false, checkParent(ctx, c, to)
}

// moveDestination reads the Destination header of a MOVE (RFC 4918
// §10.3): an absolute URL of this gateway's host, or an absolute path,
// naming a file in this backend's mount. The path is decoded and cleaned
// as a request's is (filesPath), and its names checked as a PUT's are: a
// Destination another way into the FTP tree could not be is refused
// before anything reaches the FTP server. A path in another mount, or of
// another host, is 403: a move stays in one backend, which FTP can rename
// within.
func (s *Server) moveDestination(r *http.Request) (string, error) {
	vals := r.Header.Values("Destination")
	if len(vals) != 1 || vals[0] == "" {
		return "", badRequest("MOVE needs one Destination header", nil)
	}
	u, err := url.Parse(vals[0])
	if err != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.User != nil {
		return "", badRequest("the Destination must be an absolute URL or path, without query or fragment", nil)
	}
	if u.Scheme != "" || u.Host != "" {
		if u.Scheme != "http" && u.Scheme != "https" {
			return "", badRequest("the Destination must be an http or https URL, or an absolute path", nil)
		}
		if !strings.EqualFold(u.Host, r.Host) {
			return "", denied("the Destination is on another host", nil)
		}
	}
	if !strings.HasPrefix(u.Path, "/") {
		return "", badRequest("the Destination must be an absolute URL or path", nil)
	}
	if !s.inMount(u.Path) || s.inOtherMount(u.Path) {
		return "", denied("the Destination is outside "+s.mount+": a move stays within one backend", nil)
	}
	clean, dir, err := httpsem.CleanPath(strings.TrimPrefix(u.Path, s.mountDir))
	switch {
	case err != nil:
		return "", badRequest("the Destination: "+err.Error(), nil)
	case dir:
		return "", badRequest("the Destination must name a file, not a directory", nil)
	case hasTempSegment(clean):
		return "", badRequest("names starting with "+tempPrefix+" are reserved for uploads in progress", nil)
	}
	return clean, nil
}

// inOtherMount reports whether p is in the mount of another backend that
// Join serves beside s, nested in s's.
func (s *Server) inOtherMount(p string) bool {
	for _, m := range s.nested {
		if p == strings.TrimSuffix(m, "/") || strings.HasPrefix(p, m) {
			return true
		}
	}
	return false
}

// overwriteHeader reads Overwrite (RFC 4918 §10.6): T, the default, or F.
func overwriteHeader(r *http.Request) (bool, error) {
	switch v := r.Header.Values("Overwrite"); {
	case len(v) == 0:
		return true, nil
	case len(v) == 1 && v[0] == "T":
		return true, nil
	case len(v) == 1 && v[0] == "F":
		return false, nil
	}
	return false, badRequest("Overwrite must be T or F, once", nil)
}
