package api

import (
	"context"
	"net/http"
	"net/url"
	"path"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/httpsem"
	"github.com/go-chi/chi/v5"
)

// Directories are made with MKCOL (RFC 4918 §9.3), or with a PUT of a path
// that ends in "/"; a PUT of a file with ?parents=1 first makes the
// directories missing above it. Both are MKD on the FTP server, which fails
// when the name exists: a directory made by another client in between is
// no error for a PUT.

// The WebDAV methods the mount serves besides HTTP's: chi routes only
// methods it knows, in a table of its own that must be filled before any
// router is used.
const (
	methodMkcol = "MKCOL"
	methodMove  = "MOVE"
)

func init() {
	chi.RegisterMethod(methodMkcol)
	chi.RegisterMethod(methodMove)
}

// maxParents is the most directories one request makes: a path of 4096
// bytes could name two thousand, two round trips each, from one small
// request.
const maxParents = 32

// makeCollection answers MKCOL: 201 with the directory made; 405 when the
// path exists, as a directory or a file (RFC 4918 §9.3.1: MKCOL is for an
// unmapped URL); 409 when the parent is missing, unless ?parents=1 asks
// for it to be made; 415 for a body, which RFC 4918 leaves undefined.
func (s *Server) makeCollection(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength != 0 {
		return unsupportedMediaType("MKCOL takes no body")
	}
	clean, _, err := s.requestPath(r)
	if err == nil {
		var parents bool
		if parents, err = wantsParents(r); err == nil {
			return s.makeDir(w, r, clean, parents, true)
		}
	}
	return err
}

// putsDir reports whether r is a PUT of a directory's path, the root's
// excepted (checkPut refuses that one).
func (s *Server) putsDir(r *http.Request) bool {
	clean, dir, err := s.filesPath(r)
	return err == nil && dir && clean != "/"
}

// putDir answers a PUT of a path ending in "/": the directory is made, as
// MKCOL makes it (201), and one that is there already is the state asked
// for (204), since a PUT may be repeated. A file at the path is 409. A
// signed URL may upload a file, not make a directory (403): it names a
// file's path, which a final slash does not change.
func (s *Server) putDir(w http.ResponseWriter, r *http.Request) error {
	clean, _, err := s.requestPath(r)
	if err != nil {
		return err
	}
	if info := requestInfoFrom(r.Context()); info != nil && info.signedKey != "" {
		return denied("a signed URL makes no directory", nil)
	}
	parents, err := wantsParents(r)
	if err != nil {
		return err
	}
	if r.ContentLength != 0 {
		// A chunked body too: it could carry bytes the client meant to
		// store somewhere.
		return badRequest("a PUT of a directory's path takes no body", nil)
	}
	return s.makeDir(w, r, clean, parents, false)
}

// makeDir makes the directory clean, and its missing parents with parents.
// strict is MKCOL's rule: a path that exists is 405, where a PUT finds a
// directory there a success (204) and a file a conflict (409). The
// request's preconditions are judged against what is there.
func (s *Server) makeDir(w http.ResponseWriter, r *http.Request, clean string, parents, strict bool) error {
	if clean == "/" {
		w.Header().Set("Allow", allowRoot)
		return methodNotAllowed("the root exists")
	}
	ctx := r.Context()
	created := false
	err := s.poolOf(ctx).Do(ctx, func(c *ftpcore.Conn) error {
		full := s.ftpPath(c, clean)
		e, err := s.stat(ctx, c, full, true)
		if err != nil && ftpcore.ReplyCode(err) != ftpcore.StatusFileUnavailable {
			return err
		}
		v := httpsem.Validators{}
		if err == nil {
			v = s.validatorsOf(e)
		}
		if httpsem.CheckPreconditions(r.Method, r.Header, v) != httpsem.PrecondProceed {
			return preconditionFailed()
		}
		if err == nil {
			return dirExists(w, e, strict)
		}
		if parents {
			if err := s.makeParents(ctx, c, clean); err != nil {
				return err
			}
		}
		if err := c.Mkdir(ctx, full); err != nil {
			// Made by another client since the look, or refused.
			if e, serr := s.stat(ctx, c, full, true); serr == nil {
				return dirExists(w, e, strict)
			}
			return whyRefused(ctx, c, refusedCreate, full, err)
		}
		created = true
		return nil
	})
	if err != nil {
		return err
	}
	if !created {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.Header().Set("Location", (&url.URL{Path: s.mountDir + clean + "/"}).EscapedPath())
	w.WriteHeader(http.StatusCreated)
	return nil
}

// dirExists is makeDir's answer for the entry e found at its path: nil (a
// PUT's success) for a directory, unless strict.
func dirExists(w http.ResponseWriter, e ftpcore.Entry, strict bool) error {
	switch {
	case strict:
		w.Header().Set("Allow", "GET, HEAD, PUT, POST, DELETE, MOVE, OPTIONS")
		return methodNotAllowed("the path exists; MKCOL makes only new directories")
	case e.Type != ftpcore.EntryDir:
		return conflict("a file exists at this path", nil)
	}
	return nil
}

// wantsParents reads ?parents=1 (or 0) of r's query: whether the missing
// directories above the path are to be made. Any other value, or the
// parameter twice, is 400.
func wantsParents(r *http.Request) (bool, error) {
	v, ok := queryChoice(r, "parents", "0", "1")
	if !ok {
		return false, badRequest(`"parents" must be 1 or 0, once`, nil)
	}
	return v == "1", nil
}

// parentFor makes sure the directory a new file full (clean under the
// mount) goes into is there: made, with its own missing parents, when r
// asks ?parents=1; otherwise checked (checkParent).
func (s *Server) parentFor(ctx context.Context, c *ftpcore.Conn, r *http.Request, clean, full string) error {
	if parents, _ := wantsParents(r); parents {
		return s.makeParents(ctx, c, clean)
	}
	return checkParent(ctx, c, full)
}

// makeParents makes the directories missing above clean, top down, after
// a look upwards for the deepest one there: under the link policy, so that
// no directory is made where a link leads out of the root. A directory
// another client makes meanwhile is as good as one made here. At most
// maxParents are looked at; a path that needs more is refused (409).
func (s *Server) makeParents(ctx context.Context, c *ftpcore.Conn, clean string) error {
	var missing []string // clean paths, deepest first
	for p := path.Dir(clean); p != "/"; p = path.Dir(p) {
		e, err := s.stat(ctx, c, s.ftpPath(c, p), true)
		if err == nil {
			if e.Type != ftpcore.EntryDir {
				return conflict("a parent is not a directory", nil)
			}
			break
		}
		if ftpcore.ReplyCode(err) != ftpcore.StatusFileUnavailable {
			return err
		}
		if len(missing) == maxParents {
			return conflict("more parent directories are missing than one request makes", nil)
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		full := s.ftpPath(c, missing[i])
		err := c.Mkdir(ctx, full)
		if err == nil {
			continue
		}
		if e, serr := c.Stat(ctx, full); serr == nil && e.Type == ftpcore.EntryDir {
			continue // made by another client
		}
		return whyRefused(ctx, c, refusedCreate, full, err)
	}
	return nil
}
