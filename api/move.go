package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// moveFile answers MOVE (RFC 4918 §9.9) of a file or a directory to the
// path its Destination header names, in the same backend: one RNFR/RNTO,
// which the FTP servers do with rename(2), so that the file or the tree is
// at one of its two names at every moment and a refused move leaves it
// where it was. 201 when the Destination was new, 204 when a file there
// was replaced (Overwrite: T, the default), 412 with Overwrite: F and a
// file there, 409 for a directory there (a tree is never deleted to make
// room) or a missing parent, 403 for a move onto itself, into itself, of
// the mount's root or onto it, or of a directory that holds another
// backend's mount. If-Match and the like are judged on the source. The
// renames of the Destination (and of the source, when guarded) hold the
// names' locks (lock.go), taken in one order so that two crossing moves
// cannot wait for each other.
//
// A directory moves with everything in it, the temporary files of uploads
// in progress too: an upload whose directory moved finds its file gone
// (404), as it would had the directory been deleted.
func (s *Server) moveFile(w http.ResponseWriter, r *http.Request) error {
	overwrite, err := overwriteHeader(r)
	if err != nil {
		return err
	}
	clean, dirReq, err := s.requestPath(r)
	if err != nil {
		return err
	}
	dest, destDir, err := s.moveDestination(r)
	switch {
	case err != nil:
		return err
	case clean == "/":
		return denied("the root of the mount cannot be moved", nil)
	case dest == "/":
		return denied("nothing can be moved onto the root of the mount", nil)
	case dest == clean:
		return denied("the Destination is the source itself", nil)
	case strings.HasPrefix(dest, clean+"/"):
		return denied("the Destination lies inside the source: a directory cannot be moved into itself", nil)
	case s.holdsMount(clean):
		return denied("another backend is mounted inside the source", nil)
	}
	m := move{dirReq: dirReq, destDir: destDir, overwrite: overwrite}
	ctx := r.Context()
	var dir, replaced bool
	err = s.poolOf(ctx).Do(ctx, func(c *ftpcore.Conn) error {
		m.from, m.to = s.ftpPath(c, clean), s.ftpPath(c, dest)
		// Judged before the locks too, so that no lock is made beside
		// a name the link policy keeps the gateway from.
		if _, _, err := s.judgeMove(ctx, c, r, m); err != nil {
			return err
		}
		names := []string{m.to}
		if httpsem.Guarded(r.Header) {
			names = append(names, m.from)
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
		if dir, replaced, err = s.judgeMove(ctx, c, r, m); err != nil {
			return err
		}
		if dir && replaced {
			return s.replaceWithDir(ctx, c, m.from, m.to)
		}
		return whyMoveRefused(ctx, c, m.from, m.to, c.Rename(ctx, m.from, m.to))
	})
	if err != nil {
		return err
	}
	if replaced {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if dir {
		dest += "/"
	}
	w.Header().Set("Location", (&url.URL{Path: s.mountDir + dest}).EscapedPath())
	w.WriteHeader(http.StatusCreated)
	return nil
}

// A move is what a MOVE asks for, as judgeMove looks at it.
type move struct {
	from, to string // the source and the Destination, full FTP paths
	// dirReq and destDir say the request's path and the Destination's
	// ended in "/": they name directories.
	dirReq, destDir bool
	overwrite       bool // Overwrite: T
}

// judgeMove looks at a move's source and Destination, under the link
// policy: the source must exist (a directory where its path ends in "/";
// a link is moved itself, not what it leads to) and meet the request's
// preconditions; a file's Destination must name a file. The Destination is
// judged by judgeDestination, whose replaced it returns; dir says the
// source is a directory.
func (s *Server) judgeMove(ctx context.Context, c *ftpcore.Conn, r *http.Request, m move) (dir, replaced bool, err error) {
	src, err := s.stat(ctx, c, m.from, m.dirReq)
	switch {
	case err != nil:
		return false, false, err
	case httpsem.CheckPreconditions(r.Method, r.Header, s.validatorsOf(src)) != httpsem.PrecondProceed:
		return false, false, preconditionFailed()
	case src.Type == ftpcore.EntryDir:
		dir = true
	case m.dirReq:
		return false, false, notFound("not a directory")
	case m.destDir:
		return false, false, badRequest("the Destination must name a file, not a directory", nil)
	}
	replaced, err = s.judgeDestination(ctx, c, m.to, m.overwrite)
	return dir, replaced, err
}

// replaceWithDir moves the directory from onto to, where a file is, with
// Overwrite: T. rename(2) does not put a directory in a file's place, so
// the file is renamed aside first, to a reserved name beside it that
// listings hide (asidePrefix), and deleted once the directory is in place;
// a refused move of the directory renames it back. Between the two renames
// neither is at to: a GET there meanwhile is 404.
func (s *Server) replaceWithDir(ctx context.Context, c *ftpcore.Conn, from, to string) error {
	var nonce [8]byte
	rand.Read(nonce[:])
	aside := path.Join(path.Dir(to), asidePrefix+hex.EncodeToString(nonce[:]))
	if err := c.Rename(ctx, to, aside); err != nil {
		return whyMoveRefused(ctx, c, to, aside, err)
	}
	if err := c.Rename(ctx, from, to); err != nil {
		if rerr := c.Rename(context.WithoutCancel(ctx), aside, to); rerr != nil {
			s.log.Error("a file moved aside for a directory was not put back", "backend", s.name, "path", to, "aside", aside, "err", rerr)
			return rerr
		}
		return whyMoveRefused(ctx, c, from, to, err)
	}
	s.removeTemp(ctx, c, aside)
	return nil
}

// asidePrefix starts the name a file is renamed to while a directory takes
// its place (replaceWithDir): reserved (tempPrefix), and of no form the
// temporary-file cleanup deletes for its age (isUploadTemp), since the
// file keeps its old time: one that could not be put back, the session
// lost between two renames, stays for the operator the log line names.
const asidePrefix = tempPrefix + "aside-"

// holdsMount reports whether the directory clean holds the mount of a
// backend Join serves inside s's: moving it would take that backend's
// root away from under its URL.
func (s *Server) holdsMount(clean string) bool {
	dir := s.mountDir + clean + "/"
	for _, m := range s.nested {
		if strings.HasPrefix(m, dir) {
			return true
		}
	}
	return false
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
	if fe.Cmd == "RNTO" && insideSource(ctx, c, from, to) {
		return denied("the Destination lies inside the source through a symbolic link: a directory cannot be moved into itself", err)
	}
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

// insideSource reports whether to's directory is, as the FTP server
// resolves links (PWD after CWD), the directory from or one below it.
// rename(2) refuses to put a directory inside itself (pure-ftpd: "451
// Rename/move failure: Invalid argument"; vsftpd: "550 Rename failed."),
// and where a link on the Destination's way leads into the source, the
// names alone, which moveFile judges, do not show it.
func insideSource(ctx context.Context, c *ftpcore.Conn, from, to string) bool {
	if !c.Usable() {
		return false
	}
	loc, err := c.Locate(ctx, from, false, path.Dir(to))
	return err == nil && loc.Real != "" && len(loc.Dirs) == 1 && loc.Dirs[0] != "" && within(loc.Dirs[0], loc.Real)
}

// judgeDestination looks at to, a move's target, under the link policy:
// a file there is replaced with overwrite (replaced) and 412 without; a
// directory is 409, whatever is moved and whatever Overwrite says, as no
// tree is deleted to make room; nothing there needs its parent.
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
// naming a file or a directory in this backend's mount; dir says it ends
// in "/". The path is decoded and cleaned as a request's is (filesPath),
// and its names checked as a PUT's are: a Destination another way into
// the FTP tree could not be is refused before anything reaches the FTP
// server. A path in another mount, or of another host, is 403: a move
// stays in one backend, which FTP can rename within.
func (s *Server) moveDestination(r *http.Request) (clean string, dir bool, err error) {
	vals := r.Header.Values("Destination")
	if len(vals) != 1 || vals[0] == "" {
		return "", false, badRequest("MOVE needs one Destination header", nil)
	}
	u, err := url.Parse(vals[0])
	if err != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.User != nil {
		return "", false, badRequest("the Destination must be an absolute URL or path, without query or fragment", nil)
	}
	if u.Scheme != "" || u.Host != "" {
		if u.Scheme != "http" && u.Scheme != "https" {
			return "", false, badRequest("the Destination must be an http or https URL, or an absolute path", nil)
		}
		if !strings.EqualFold(u.Host, r.Host) {
			return "", false, denied("the Destination is on another host", nil)
		}
	}
	if !strings.HasPrefix(u.Path, "/") {
		return "", false, badRequest("the Destination must be an absolute URL or path", nil)
	}
	if !s.inMount(u.Path) || s.inOtherMount(u.Path) {
		return "", false, denied("the Destination is outside "+s.mount+": a move stays within one backend", nil)
	}
	clean, dir, err = httpsem.CleanPath(strings.TrimPrefix(u.Path, s.mountDir))
	switch {
	case err != nil:
		return "", false, badRequest("the Destination: "+err.Error(), nil)
	case hasTempSegment(clean):
		return "", false, badRequest("names starting with "+tempPrefix+" are reserved for uploads in progress", nil)
	}
	return clean, dir, nil
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
