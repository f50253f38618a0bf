package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// tempPrefix starts the name of every upload in progress. Listings hide
// such names.
const tempPrefix = ".ftpgw-upload-"

// cleanupTimeout bounds removing a temporary file after a failed upload.
const cleanupTimeout = 30 * time.Second

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

func validatorsOf(e ftpcore.Entry) httpsem.Validators {
	v := httpsem.Validators{Exists: true, ModTime: e.ModTime}
	if e.Type != ftpcore.EntryDir {
		v.ETag = httpsem.ETag(e.Size, e.ModTime)
	}
	return v
}

// getFile serves GET and HEAD: a file (whole or one range), or a directory
// listing.
func (s *Server) getFile(w http.ResponseWriter, r *http.Request) error {
	clean, dirReq, err := requestPath(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var entry ftpcore.Entry
	var full string
	sess, err := s.cfg.Pool.Begin(ctx, func(c *ftpcore.Conn) error {
		full = s.ftpPath(c, clean)
		entry, err = c.Stat(ctx, full)
		return err
	})
	if err != nil {
		return err
	}
	defer sess.Release()

	switch {
	case entry.Type == ftpcore.EntryDir && !dirReq:
		redirect(w, r, r.URL.Path+"/")
		return nil
	case entry.Type == ftpcore.EntryDir:
		return s.listDir(w, r, sess.Conn(), full, clean)
	case dirReq:
		redirect(w, r, strings.TrimSuffix(r.URL.Path, "/"))
		return nil
	case entry.Type == ftpcore.EntryOther:
		return notFound("not a regular file")
	}

	v := validatorsOf(entry)
	h := w.Header()
	if v.ETag != "" {
		h.Set("ETag", v.ETag)
	}
	if !v.ModTime.IsZero() {
		h.Set("Last-Modified", v.ModTime.UTC().Format(http.TimeFormat))
	}
	switch httpsem.CheckPreconditions(r.Method, r.Header, v) {
	case httpsem.PrecondNotModified:
		w.WriteHeader(http.StatusNotModified)
		return nil
	case httpsem.PrecondFailed:
		return preconditionFailed()
	}

	size := entry.Size
	status, offset, length := http.StatusOK, int64(0), size
	if rh := r.Header.Get("Range"); rh != "" && httpsem.RangeApplies(r.Header, v) {
		br, outcome := httpsem.ParseRange(rh, size)
		switch outcome {
		case httpsem.RangeUnsatisfiable:
			return rangeNotSatisfiable(size)
		case httpsem.RangeSingle:
			status, offset, length = http.StatusPartialContent, br.Start, br.Length()
			h.Set("Content-Range", br.ContentRange(size))
		}
	}
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", contentType(clean))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	if r.Method == http.MethodHead || length == 0 {
		w.WriteHeader(status)
		return nil
	}

	// The transfer does not follow the request's cancellation: a client
	// that goes away shows up as a failed write, which ends the transfer
	// early and keeps the session; every FTP step has its own timeout.
	tctx := context.WithoutCancel(ctx)
	limit := length
	if offset+length >= size {
		limit = -1 // to the end: the server's end of data ends it
	}
	tr, err := sess.Conn().Retr(tctx, full, offset, limit)
	if err != nil {
		return err
	}
	w.WriteHeader(status)
	tr.OnProgress(s.metrics.bytesCounter(s.cfg.Pool.Name(), "download"))
	cw := newClientWriter(w, r, s.cfg.ClientIdleTimeout)
	n, err := io.Copy(cw, tr)
	cw.done()
	cerr := tr.Close()
	if err == nil && n != length {
		err = fmt.Errorf("FTP data ended after %d of %d bytes: %w", n, length, cerr)
	}
	if err != nil {
		return err // headers are out: writeError aborts the response
	}
	if cerr != nil {
		// Every byte the size promised was sent; the server's complaint
		// at the end is worth a log line, not a broken response.
		if info := requestInfoFrom(ctx); info != nil {
			info.ftpCode = ftpcore.ReplyCode(cerr)
		}
		s.log.Warn("FTP transfer ended with an error after all data", "err", cerr)
	}
	return nil
}

func redirect(w http.ResponseWriter, r *http.Request, p string) {
	u := url.URL{Path: p, RawQuery: r.URL.RawQuery}
	http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
}

func contentType(p string) string {
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// putFile stores the request body at the path atomically: STOR to a
// temporary name in the same directory, a size check, then RNFR/RNTO. The
// target is never touched unless the whole body arrived and was stored.
func (s *Server) putFile(w http.ResponseWriter, r *http.Request) error {
	clean, dirReq, err := requestPath(r)
	if err != nil {
		return err
	}
	if dirReq {
		w.Header().Set("Allow", "GET, HEAD")
		return methodNotAllowed("PUT needs a file path, not a directory")
	}
	if r.Header.Get("Content-Range") != "" {
		return badRequest("Content-Range is not allowed in a PUT request (RFC 9110 §14.5)", nil)
	}
	// The FTP side does not follow the request's cancellation, so that a
	// client that vanishes mid-body still leaves a clean server behind:
	// the upload is aborted and the temporary file removed on a session
	// that is still usable. Every FTP step has its own timeout.
	ctx := context.WithoutCancel(r.Context())
	var (
		existed   bool
		full, tmp string
		up        *ftpcore.Upload
	)
	// Everything that can refuse the upload happens before the body is
	// read, so a client sending "Expect: 100-continue" gets the refusal
	// instead of an invitation to send.
	sess, err := s.cfg.Pool.Begin(r.Context(), func(c *ftpcore.Conn) error {
		full = s.ftpPath(c, clean)
		e, err := c.Stat(ctx, full)
		switch {
		case err == nil && e.Type == ftpcore.EntryDir:
			return conflict("a directory exists at this path", nil)
		case err == nil:
			existed = true
		case ftpcore.ReplyCode(err) == ftpcore.StatusFileUnavailable:
			existed = false
		default:
			return err
		}
		v := httpsem.Validators{}
		if existed {
			v = validatorsOf(e)
		}
		if httpsem.CheckPreconditions(r.Method, r.Header, v) != httpsem.PrecondProceed {
			return preconditionFailed()
		}
		if !existed {
			pe, err := c.Stat(ctx, path.Dir(full))
			if ftpcore.ReplyCode(err) == ftpcore.StatusFileUnavailable {
				return conflict("the parent directory does not exist", err)
			}
			if err != nil {
				return err
			}
			if pe.Type != ftpcore.EntryDir {
				return conflict("the parent is not a directory", nil)
			}
		}
		tmp = path.Join(path.Dir(full), tempName())
		up, err = c.Stor(ctx, tmp, 0)
		return err
	})
	if err != nil {
		return err
	}
	defer sess.Release()
	conn := sess.Conn()

	up.OnProgress(s.metrics.bytesCounter(s.cfg.Pool.Name(), "upload"))
	body := newBodyReader(w, r.Body, s.cfg.ClientIdleTimeout)
	n, err := up.ReadFrom(body)
	body.done()
	if err == nil && r.ContentLength >= 0 && n != r.ContentLength {
		body.err = fmt.Errorf("body has %d bytes, Content-Length says %d", n, r.ContentLength)
		err = body.err
	}
	if err != nil {
		ferr := up.Abort(err)
		s.removeTemp(ctx, conn, tmp)
		if body.err != nil {
			if ftpcore.IsTimeout(body.err) {
				return &problem{status: http.StatusRequestTimeout, detail: "the request body stalled", cause: body.err}
			}
			return badRequest("the request body ended early or could not be read", body.err)
		}
		return ferr
	}
	if err := up.Close(); err != nil {
		s.removeTemp(ctx, conn, tmp)
		return err
	}
	stored, err := conn.Size(ctx, tmp)
	if err != nil {
		s.removeTemp(ctx, conn, tmp)
		return err
	}
	if stored != n {
		s.removeTemp(ctx, conn, tmp)
		return upstreamMismatch(fmt.Sprintf("the FTP server stored %d bytes of the %d sent", stored, n))
	}
	if err := conn.Rename(ctx, tmp, full); err != nil {
		s.removeTemp(ctx, conn, tmp)
		return err
	}
	if mod, err := conn.ModTime(ctx, full); err == nil {
		w.Header().Set("ETag", httpsem.ETag(n, mod))
		w.Header().Set("Last-Modified", mod.UTC().Format(http.TimeFormat))
	}
	if existed {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.Header().Set("Location", (&url.URL{Path: "/files" + clean}).EscapedPath())
	w.WriteHeader(http.StatusCreated)
	return nil
}

func tempName() string {
	var b [8]byte
	rand.Read(b[:])
	return tempPrefix + hex.EncodeToString(b[:]) + ".tmp"
}

// removeTemp deletes a failed upload's temporary file, on conn when it is
// still usable and on a fresh session otherwise.
func (s *Server) removeTemp(ctx context.Context, conn *ftpcore.Conn, tmp string) {
	ctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
	defer cancel()
	del := func(c *ftpcore.Conn) error {
		err := c.Delete(ctx, tmp)
		if ftpcore.ReplyCode(err) == ftpcore.StatusFileUnavailable {
			return nil // never created, or already gone
		}
		return err
	}
	var err error
	if conn.Usable() {
		err = del(conn)
	} else {
		err = s.cfg.Pool.Do(ctx, del)
	}
	if err != nil {
		s.log.Warn("temporary upload file left behind", "backend", s.cfg.Pool.Name(), "path", tmp, "err", err)
	}
}

// deleteFile removes a file, or an empty directory.
func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request) error {
	clean, dirReq, err := requestPath(r)
	if err != nil {
		return err
	}
	if clean == "/" {
		w.Header().Set("Allow", "GET, HEAD")
		return methodNotAllowed("the root cannot be deleted")
	}
	ctx := r.Context()
	err = s.cfg.Pool.Do(ctx, func(c *ftpcore.Conn) error {
		full := s.ftpPath(c, clean)
		e, err := c.Stat(ctx, full)
		if err != nil {
			return err
		}
		if httpsem.CheckPreconditions(r.Method, r.Header, validatorsOf(e)) != httpsem.PrecondProceed {
			return preconditionFailed()
		}
		if e.Type == ftpcore.EntryDir {
			err := c.Rmdir(ctx, full)
			if ftpcore.ReplyCode(err) == ftpcore.StatusFileUnavailable {
				return conflict("the directory is not empty or cannot be removed", err)
			}
			return err
		}
		if dirReq {
			return notFound("not a directory")
		}
		return c.Delete(ctx, full)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
