package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/httpsem"
	"github.com/ftpgw/ftpgw/pool"
)

// tempPrefix starts the name of every upload in progress. Such names
// belong to the gateway: listings hide them and requests cannot name them
// (isTempName).
const tempPrefix = ".ftpgw-upload-"

// isTempName reports whether name starts with tempPrefix, in any case: an
// FTP server on a case-insensitive file system (IIS; others on Windows or
// macOS) opens an upload in progress under every spelling of its name. The
// cost: on a case-sensitive server the gateway neither serves nor lists
// the names that differ from such a name only in case.
func isTempName(name string) bool {
	return len(name) >= len(tempPrefix) && strings.EqualFold(name[:len(tempPrefix)], tempPrefix)
}

// cleanupTimeout bounds removing a temporary file after a failed upload.
const cleanupTimeout = 30 * time.Second

// putFile stores the request body at the path atomically: STOR to a
// temporary name in the same directory, a size check, then RNFR/RNTO. The
// target is never touched unless the whole body arrived and was stored.
func (s *Server) putFile(w http.ResponseWriter, r *http.Request) error {
	if s.putsDir(r) {
		return s.putDir(w, r) // dirs.go
	}
	clean, err := s.checkPut(w, r, s.cfg.MaxUploadSize)
	if err != nil {
		return err
	}
	digests, err := parseUploadDigests(r.Header)
	if err != nil {
		return err
	}
	var slot transferSlot
	defer s.transfers.release(&slot)
	ctx, sess, u, err := s.openUpload(r, &slot, func(ctx context.Context, c *ftpcore.Conn) (upload, error) {
		return s.startUpload(ctx, c, r, clean, tempName(), nil)
	})
	if err != nil {
		return err
	}
	defer sess.Release()
	conn := sess.Conn()
	live := s.beginLive(r, clean, r.ContentLength)
	defer s.live.end(live)

	r.Body = digests.wrap(r.Body)
	defer digests.stop()
	u.digests = digests
	n, err := s.receiveBody(w, r, u.stor, live)
	if err == nil {
		err = s.finishUpload(ctx, conn, r, &u, n)
	}
	if err != nil {
		s.removeTemp(ctx, conn, u.tmp)
		return err
	}
	// The new version has no ETag yet: it was written within the current
	// second, like any other version written now (settle.go). Its date
	// measures the FTP server's clock.
	if u.writtenErr == nil {
		s.clock.observe(u.written.ModTime, time.Now())
		w.Header().Set("Last-Modified", u.written.ModTime.UTC().Format(http.TimeFormat))
		s.rememberUpload(r, u.full, u.written, u.sums)
	}
	if f := digests.answerField(&u.sums); f != "" {
		w.Header().Set("Repr-Digest", f)
	}
	if u.existed {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.Header().Set("Location", (&url.URL{Path: s.mountDir + clean}).EscapedPath())
	w.WriteHeader(http.StatusCreated)
	return nil
}

// openUpload admits r as a transfer (slot, which the caller releases:
// an upload waits for its place under the caps before it takes a session)
// and runs start on a session, which opens the upload's STOR (or APPE)
// once it has found nothing to refuse. ctx is the FTP side's, for the
// rest of the upload: it does not follow the request's cancellation, so
// that a client that vanishes mid-body still leaves a clean server
// behind (the upload aborted, its file removed or kept as the upload
// wants, on a session that is still usable). Every FTP step has its own
// timeout. On success, the caller Releases sess.
func (s *Server) openUpload(r *http.Request, slot *transferSlot, start func(ctx context.Context, c *ftpcore.Conn) (upload, error)) (
	ctx context.Context, sess *pool.Session, u upload, err error) {
	if err := s.transfers.admit(r, slot, true); err != nil {
		return nil, nil, u, err
	}
	ctx = context.WithoutCancel(r.Context())
	sess, err = s.poolOf(r.Context()).Begin(r.Context(), func(c *ftpcore.Conn) (err error) {
		u, err = start(ctx, c)
		return err
	})
	if err != nil {
		if u.tmp != "" {
			// The STOR failed, perhaps after the server had made the
			// file (a data connection that broke, a server going down):
			// its deletion is left to the background, where a missing
			// file costs one DELE.
			s.temps.retry(s.poolOf(ctx), u.tmp)
		}
		return ctx, nil, u, err
	}
	s.temps.sweepLater(path.Dir(u.full))
	return ctx, sess, u, nil
}

// checkPut refuses the PUTs no FTP server needs to see: of a directory
// path, of part of a file, and of a body announced larger than limit (if
// limit > 0).
func (s *Server) checkPut(w http.ResponseWriter, r *http.Request, limit int64) (clean string, err error) {
	clean, dirReq, err := s.requestPath(r)
	if err != nil {
		return "", err
	}
	if dirReq {
		// The root: putsDir takes every other directory's path.
		w.Header().Set("Allow", allowRoot)
		return "", methodNotAllowed("PUT needs a file path, not a directory")
	}
	if r.Header.Get("Content-Range") != "" {
		return "", badRequest("Content-Range is not allowed in a PUT request (RFC 9110 §14.5)", nil)
	}
	if limit > 0 && r.ContentLength > limit {
		return "", uploadTooLarge(limit, nil)
	}
	if _, err := wantsParents(r); err != nil {
		return "", err
	}
	return clean, nil
}

// upload is a PUT under way: the body goes to tmp through stor, and is
// renamed to full once it is all there.
type upload struct {
	full, tmp string
	existed   bool // the answer is 204, not 201
	stor      *ftpcore.Upload
	// digests, if not nil, hashed the body: finishUpload checks them
	// before the rename and leaves the body's digests in sums.
	digests *uploadDigests
	sums    digestSet
	// written is what a look at full right after the rename, under the
	// name's lock, found there, or writtenErr why it found nothing.
	written    ftpcore.Entry
	writtenErr error
}

// startUpload does on c everything that can refuse the upload, before the
// body is read, so that a client sending "Expect: 100-continue" gets the
// refusal instead of an invitation to send; then verify, if not nil, which
// may read the body (a tus piece with a checksum); then it opens the STOR
// of the temporary file base, beside the target.
func (s *Server) startUpload(ctx context.Context, c *ftpcore.Conn, r *http.Request, clean, base string, verify func() error) (upload, error) {
	u := upload{full: s.ftpPath(c, clean)}
	if err := s.judgeTarget(ctx, c, r, &u); err != nil {
		return u, err
	}
	if !u.existed {
		if err := s.parentFor(ctx, c, r, clean, u.full); err != nil {
			return u, err
		}
	}
	if verify != nil {
		if err := verify(); err != nil {
			return u, err
		}
	}
	u.tmp = path.Join(path.Dir(u.full), base)
	var err error
	u.stor, err = c.Stor(ctx, u.tmp, 0)
	if err != nil {
		err = whyRefused(ctx, c, refusedCreate, u.full, err)
	}
	return u, err
}

// judgeTarget looks at what is at u.full now, notes in u whether it
// exists, and judges the request's preconditions against it.
func (s *Server) judgeTarget(ctx context.Context, c *ftpcore.Conn, r *http.Request, u *upload) error {
	e, err := s.stat(ctx, c, u.full, false)
	switch {
	case err == nil && e.Type == ftpcore.EntryDir:
		return conflict("a directory exists at this path", nil)
	case err == nil:
		u.existed = true
	case ftpcore.ReplyCode(err) == ftpcore.StatusFileUnavailable:
		u.existed = false
	default:
		return err
	}
	v := httpsem.Validators{}
	if u.existed {
		v = s.validatorsOf(e)
	}
	if httpsem.CheckPreconditions(r.Method, r.Header, v) != httpsem.PrecondProceed {
		return preconditionFailed()
	}
	return nil
}

// checkParent refuses a new file whose parent directory is missing or not
// a directory: PUT creates no parents.
func checkParent(ctx context.Context, c *ftpcore.Conn, full string) error {
	pe, err := c.Stat(ctx, path.Dir(full))
	if ftpcore.ReplyCode(err) == ftpcore.StatusFileUnavailable {
		return conflict(detailNoParent, err)
	}
	if err != nil {
		return err
	}
	if pe.Type != ftpcore.EntryDir {
		return conflict("the parent is not a directory", nil)
	}
	return nil
}

// receiveBody copies the request body into the upload, counting it in
// live, and returns its length. A body that fails, ends short of its Content-Length, or passes
// MaxUploadSize (a chunked one: checkPut refused a longer Content-Length)
// aborts the upload and is blamed on the client, not on the FTP server.
func (s *Server) receiveBody(w http.ResponseWriter, r *http.Request, up *ftpcore.Upload, live *liveTransfer) (int64, error) {
	up.OnProgress(s.metrics.bytesCounter(s.name, "upload", live))
	src := r.Body
	if s.cfg.MaxUploadSize > 0 {
		src = http.MaxBytesReader(w, src, s.cfg.MaxUploadSize)
	}
	body := newBodyReader(w, src, s.clientLimits())
	n, err := up.ReadFrom(body)
	body.done()
	if err == nil && r.ContentLength >= 0 && n != r.ContentLength {
		body.err = fmt.Errorf("body has %d bytes, Content-Length says %d", n, r.ContentLength)
		err = body.err
	}
	if err == nil {
		return n, nil
	}
	ferr := up.Abort(err)
	var tooLarge *http.MaxBytesError
	var slow *clientTooSlow
	switch {
	case body.err == nil:
		return n, ferr
	case errors.As(body.err, &tooLarge):
		return n, uploadTooLarge(tooLarge.Limit, body.err)
	case errors.As(body.err, &slow), ftpcore.IsTimeout(body.err):
		return n, clientStalled(body.err)
	}
	return n, badRequest("the request body ended early or could not be read", body.err)
}

// finishUpload reads the STOR's final reply, checks that the server stored
// the n bytes received, and renames the temporary file over the target.
// The rename holds the name's lock, and the request's preconditions are
// judged again under it: they decide there, not before the body, which
// another PUT may have overtaken (see lock.go).
func (s *Server) finishUpload(ctx context.Context, c *ftpcore.Conn, r *http.Request, u *upload, n int64) error {
	if err := u.stor.Close(); err != nil {
		return err
	}
	if u.digests != nil {
		u.sums = u.digests.sums()
		if err := u.digests.verify(&u.sums); err != nil {
			return err
		}
	}
	stored, err := c.Size(ctx, u.tmp)
	if err != nil {
		return err
	}
	if stored != n {
		return upstreamMismatch(fmt.Sprintf("the FTP server stored %d bytes of the %d sent", stored, n))
	}
	unlock, err := s.lockName(ctx, c, u.full)
	if err != nil {
		return err
	}
	defer unlock()
	if httpsem.Guarded(r.Header) {
		if err := s.judgeTarget(ctx, c, r, u); err != nil {
			return err
		}
	}
	err = c.Rename(ctx, u.tmp, u.full)
	if fe := (*ftpcore.Error)(nil); errors.As(err, &fe) && fe.Cmd == "RNTO" {
		err = whyRefused(ctx, c, refusedRename, u.full, err)
	}
	if err == nil {
		u.written, u.writtenErr = writtenEntry(ctx, c, u.full, n)
	}
	return err
}

// writtenEntry looks at the n bytes just renamed to full: with MLST where
// the server has it, for the unique fact that keys the upload's digests
// (rememberUpload), in the one round trip MDTM takes elsewhere.
func writtenEntry(ctx context.Context, c *ftpcore.Conn, full string, n int64) (ftpcore.Entry, error) {
	if c.HasFeature("MLST") {
		e, err := c.Stat(ctx, full)
		switch {
		case err != nil:
			return e, err
		case e.Type != ftpcore.EntryFile || e.Size != n:
			return e, errors.New("api: another file is at the name just written")
		case !e.ModTime.IsZero():
			return e, nil
		}
		// An MLST without the modify fact: the date is MDTM's.
	}
	mod, err := c.ModTime(ctx, full)
	return ftpcore.Entry{Type: ftpcore.EntryFile, Size: n, ModTime: mod}, err
}

func tempName() string {
	var b [8]byte
	rand.Read(b[:])
	return tempPrefix + hex.EncodeToString(b[:]) + ".tmp"
}

// removeTemp deletes a failed upload's temporary file, on conn when it is
// still usable and on a fresh session otherwise. If that fails (the FTP
// server went down with the upload), the deletion is retried in the
// background until the server answers again.
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
	if err := s.doOn(ctx, conn, del); err != nil {
		s.log.Warn("temporary upload file left behind; its deletion will be retried", "backend", s.name, "path", tmp, "err", err)
		s.temps.retry(s.poolOf(ctx), tmp)
	}
}

// doOn runs fn on conn while it is usable, and on a fresh session
// otherwise (a failed transfer can leave conn in a state not known).
func (s *Server) doOn(ctx context.Context, conn *ftpcore.Conn, fn func(*ftpcore.Conn) error) error {
	if conn.Usable() {
		return fn(conn)
	}
	return s.poolOf(ctx).Do(ctx, fn)
}
