package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// getFile serves GET and HEAD: a file (whole or one range), or a directory
// listing.
func (s *Server) getFile(w http.ResponseWriter, r *http.Request) error {
	clean, dirReq, err := s.requestPath(r)
	if err != nil {
		return err
	}
	download, err := wantsDownload(r)
	if err != nil {
		return err
	}
	var slot transferSlot
	defer s.transfers.release(&slot)
	for {
		err := s.getOnce(w, r, clean, dirReq, download, &slot)
		if !errors.Is(err, errQueued) {
			return err
		}
		// Every transfer place is taken: the GET waits for one without
		// its session, which a HEAD or a listing may use meanwhile, and
		// then starts over, since the file may change while it waits.
		for _, k := range fileHeaders {
			w.Header().Del(k)
		}
		if err := s.transfers.place(r.Context(), &slot); err != nil {
			return err
		}
	}
}

// getOnce is getFile on one session; slot is the request's hold on the
// transfer caps, taken when a file's bytes are to be sent.
func (s *Server) getOnce(w http.ResponseWriter, r *http.Request, clean string, dirReq, download bool, slot *transferSlot) error {
	ctx := r.Context()
	var entry ftpcore.Entry
	var full string
	spec := s.speculation(r, dirReq, slot)
	var lk looker
	sess, err := s.poolOf(ctx).Begin(ctx, func(c *ftpcore.Conn) error {
		full = s.ftpPath(c, clean)
		lk = looker{c: c, spec: spec}
		l, err := s.locateWith(ctx, &lk, full, dirReq)
		if err != nil {
			lk.drop()
		}
		entry = l.entry
		return err
	})
	if err != nil {
		return err
	}
	defer sess.Release()
	// A transfer the look started and nothing took is aborted before
	// the session goes back.
	defer lk.drop()
	c := sess.Conn()
	for attempt := 1; ; attempt++ {
		err := s.serveEntry(w, r, c, full, clean, dirReq, download, entry, slot, &lk)
		if !errors.Is(err, errFileChanged) && !isDenied(err) || attempt == changedTries || responseBegun(ctx) {
			return err
		}
		// The file changed between the look and the RETR (an upload
		// finished in between): answer for what is there now, as if the
		// request had come a moment later. A RETR refused of a file
		// that is there may likewise have been refused a file deleted
		// in between: only a refusal at each try is a denial.
		for _, k := range fileHeaders {
			w.Header().Del(k)
		}
		if entry, err = s.stat(ctx, c, full, dirReq); err != nil {
			return err
		}
	}
}

// speculation is the RETR a GET will need where that is known before the
// file is looked at, so that the look starts it in the same write
// (ftpcore.LocateRetr) and the first byte comes a round trip sooner: a GET
// (no HEAD) of a path not asked for as a directory, with no precondition,
// no If-Range and no digest asked for, whose Range is absent or one range
// given by its start, and which the transfer caps admit now. Everything
// else the look may find (a directory, a link the policy refuses, a range
// past the end, an error) aborts the transfer and is answered as without
// it; nil means no speculation.
func (s *Server) speculation(r *http.Request, dirReq bool, slot *transferSlot) *retrSpec {
	h := r.Header
	if r.Method != http.MethodGet || dirReq || httpsem.Guarded(h) || len(h["If-Modified-Since"]) > 0 ||
		len(h["If-Range"]) > 0 || wantsDigest(h) {
		return nil
	}
	spec := &retrSpec{length: -1}
	if rh := h.Values("Range"); len(rh) > 0 {
		var ok bool
		if len(rh) != 1 {
			return nil
		}
		if spec.offset, spec.length, ok = httpsem.OpenRange(rh[0]); !ok {
			return nil
		}
	}
	if !s.transfers.admitNow(r, slot) {
		return nil
	}
	return spec
}

// responseBegun reports whether the status line of the request's response
// is out: a failure then cuts the response, and nothing may start over on
// the same connection (a multipart/byteranges body whose later part finds
// the file changed).
func responseBegun(ctx context.Context) bool {
	info := requestInfoFrom(ctx)
	return info != nil && info.headerSent
}

// changedTries is how often a GET looks again at a file that changed under
// it before it gives up with errFileChanged (503): a file rewritten that
// often is not one to serve a consistent copy of.
const changedTries = 3

// fileHeaders are the headers serveFile sets, dropped when it starts over.
var fileHeaders = []string{"ETag", "Last-Modified", "Content-Range", "Accept-Ranges", "Content-Type", "Content-Length",
	"X-Content-Type-Options", "Content-Security-Policy", "Content-Disposition", "Repr-Digest"}

// serveEntry answers a GET or HEAD of the entry e at full, whatever it is;
// download is the client's ?download=1, for a file, and slot the request's
// hold on the transfer caps.
func (s *Server) serveEntry(w http.ResponseWriter, r *http.Request, c *ftpcore.Conn, full, clean string, dirReq, download bool, e ftpcore.Entry, slot *transferSlot, lk *looker) error {
	if e.Type != ftpcore.EntryFile || dirReq {
		if err := lk.drop(); err != nil {
			return err
		}
	}
	switch {
	case e.Type == ftpcore.EntryDir && !dirReq:
		redirect(w, r, r.URL.Path+"/")
		return nil
	case e.Type == ftpcore.EntryDir:
		return s.listDir(w, r, c, full, clean)
	case dirReq:
		redirect(w, r, strings.TrimSuffix(r.URL.Path, "/"))
		return nil
	case e.Type == ftpcore.EntryOther, e.Type == ftpcore.EntryLink:
		// A link Stat could not follow leads nowhere (MLST servers).
		return notFound("not a regular file")
	}
	return s.serveFile(w, r, c, full, clean, download, e, slot, lk)
}

// serveFile answers a GET or HEAD of the regular file e, at full on the FTP
// server: the preconditions, the range, the headers, then the body. The
// headers that say what a browser may do with the file (setFileSafety) are
// on every answer but a problem document, a 304 included: a cache that
// freshens its stored response with the 304's headers keeps them.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, c *ftpcore.Conn, full, clean string, download bool, e ftpcore.Entry, slot *transferSlot, lk *looker) error {
	v := s.validatorsOf(e)
	h := w.Header()
	ctype := contentType(clean)
	s.setFileSafety(h, clean, ctype, download)
	if v.ETag != "" {
		h.Set("ETag", v.ETag)
	}
	if !v.ModTime.IsZero() {
		h.Set("Last-Modified", v.ModTime.UTC().Format(http.TimeFormat))
	}
	switch httpsem.CheckPreconditions(r.Method, r.Header, v) {
	case httpsem.PrecondNotModified:
		writeNotModified(w)
		return nil
	case httpsem.PrecondFailed:
		return preconditionFailed()
	}

	sp, err := selectSpan(h, r, v, e.Size, s.cfg.MaxRanges)
	if err != nil {
		return err
	}
	if wantsDigest(r.Header) {
		if err := s.setReprDigest(w, r, c, full, e, v, sp.status == http.StatusOK, slot); err != nil {
			h.Del("Content-Range") // not of the problem document
			return err
		}
	}
	var parts *byteranges
	if sp.ranges != nil {
		parts = newByteranges(sp.ranges, ctype, e.Size)
		ctype, sp.length = parts.contentType, parts.length
	}
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.FormatInt(sp.length, 10))
	if r.Method == http.MethodHead || sp.length == 0 {
		w.WriteHeader(sp.status)
		return nil
	}
	// Only now is the GET a transfer, under the caps.
	if err := s.transfers.admit(r, slot, false); err != nil {
		h.Del("Content-Range") // not of the problem document
		return err
	}
	if parts != nil {
		if err := lk.drop(); err != nil {
			return err
		}
		return s.sendParts(w, r, c, full, clean, parts, e.Size)
	}
	return s.sendSpan(w, r, c, full, clean, sp, e.Size, lk)
}

// writeNotModified answers 304 as RFC 9110 §15.4.5 and net/http's
// writeNotModified do: no metadata of a representation the response does
// not carry, and no Last-Modified beside an ETag, since a cache revalidates
// with the ETag and Last-Modified would only guide it where there is none.
func writeNotModified(w http.ResponseWriter) {
	h := w.Header()
	h.Del("Content-Type")
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	if h.Get("ETag") != "" {
		h.Del("Last-Modified")
	}
	w.WriteHeader(http.StatusNotModified)
}

// span is the part of a file a GET sends: all of it with 200, or one range
// with 206, or several (ranges) with 206 as multipart/byteranges, whose
// length serveFile fills in.
type span struct {
	status         int
	offset, length int64
	ranges         []httpsem.ByteRange
}

// selectSpan decides what a GET of a file of size bytes sends, as Range and
// If-Range ask, with at most maxRanges parts, and sets the Content-Range of
// a 206 of one range in h.
func selectSpan(h http.Header, r *http.Request, v httpsem.Validators, size int64, maxRanges int) (span, error) {
	whole := span{status: http.StatusOK, length: size}
	// Range is no list: two fields of it are no one range, and a proxy
	// may have acted on the other (RFC 9110 §5.3). The whole file answers
	// any Range.
	rh := r.Header.Values("Range")
	if len(rh) != 1 || rh[0] == "" || !httpsem.RangeApplies(r.Header, v) {
		return whole, nil
	}
	var one [1]httpsem.ByteRange // a single range allocates nothing
	rs, outcome := httpsem.ParseRange(one[:0], rh[0], size, maxRanges)
	switch outcome {
	case httpsem.RangeUnsatisfiable:
		return span{}, rangeNotSatisfiable(size)
	case httpsem.RangeSingle:
		h.Set("Content-Range", rs[0].ContentRange(size))
		return span{status: http.StatusPartialContent, offset: rs[0].Start, length: rs[0].Length()}, nil
	case httpsem.RangeMulti:
		// A copy, so that one stays on the stack of every ranged GET.
		return span{status: http.StatusPartialContent, ranges: slices.Clone(rs)}, nil
	}
	return whole, nil
}

// sendSpan streams sp from the file at full (clean under the mount), of
// size bytes, with RETR, and writes the status line once the data has
// begun.
func (s *Server) sendSpan(w http.ResponseWriter, r *http.Request, c *ftpcore.Conn, full, clean string, sp span, size int64, lk *looker) error {
	tr, err := lk.take(sp.offset, sp.length)
	if err == nil {
		if tr != nil {
			tr, err = checkRetr(tr, sp.offset, sp.length, size)
		} else {
			tr, err = startRetr(r.Context(), c, full, sp.offset, sp.length, size)
		}
	}
	if err != nil {
		w.Header().Del("Content-Range") // not of the problem document
		return whyRefused(r.Context(), c, refusedRead, full, err)
	}
	w.WriteHeader(sp.status)
	live := s.beginLive(r, clean, sp.length)
	defer s.live.end(live)
	tr.OnProgress(s.metrics.bytesCounter(s.name, "download", live))
	cw := newClientWriter(w, r, s.clientLimits())
	n, err := io.Copy(cw, tr)
	cw.done()
	cerr := tr.Close()
	if n == sp.length && r.Context().Err() != nil {
		// The client left once it had every byte, before the server's end
		// of data was read: the transfer was aborted, the response is
		// whole.
		return nil
	}
	if err == nil && n != sp.length {
		err = fmt.Errorf("FTP data ended after %d of %d bytes: %w", n, sp.length, cerr)
	}
	if err != nil {
		return err // headers are out: writeError aborts the response
	}
	s.complainedAtEnd(r, cerr)
	return nil
}

// complainedAtEnd logs cerr, the error of closing a transfer of which
// every byte the size promised was sent, if there is one: the server's
// complaint at the end is worth a log line, not a broken response.
func (s *Server) complainedAtEnd(r *http.Request, cerr error) {
	if cerr == nil {
		return
	}
	if info := requestInfoFrom(r.Context()); info != nil {
		info.ftpCode = ftpcore.ReplyCode(cerr)
	}
	s.log.Warn("FTP transfer ended with an error after all data", "err", cerr)
}

// startRetr starts the RETR of length bytes at offset of the file at full,
// of size bytes, and returns once the data has begun (or ended, for an
// empty rest), so that the caller commits to a status only then: until
// then a server that sends nothing can still be answered with a problem
// document, and a file that changed since it was looked at (its size in
// the RETR's reply, or no data where some was due) is errFileChanged and
// can be looked at again. A change that keeps the size shows in neither.
//
// The transfer yields no more than the bytes asked for, to the end of the
// file too: a file replaced by a longer one since it was looked at (an
// upload finishing in between, common under load) would overrun
// Content-Length, and net/http does not stop a ReaderFrom there, so on a
// kept-alive connection the file's bytes would be read as the next
// response. To the end of the file, Close waits for the server's end of
// data (ExpectEnd), and the transfer completes as if read to it.
//
// The transfer follows ctx, the request's, which net/http cancels as
// soon as the client's connection closes: it is aborted then, not when a
// write to the client next fails, which a server dripping its data may
// not bring about for a long time.
func startRetr(ctx context.Context, c *ftpcore.Conn, full string, offset, length, size int64) (*ftpcore.Transfer, error) {
	tr, err := c.Retr(ctx, full, offset, length)
	if err != nil {
		return nil, err
	}
	return checkRetr(tr, offset, length, size)
}

// checkRetr is startRetr's check of the transfer tr, of length bytes at
// offset of a file of size bytes, once started.
func checkRetr(tr *ftpcore.Transfer, offset, length, size int64) (*ftpcore.Transfer, error) {
	var err error
	if offset+length >= size {
		tr.ExpectEnd()
	}
	if tr.SizeChanged(size) {
		err = errFileChanged
	} else if err = tr.Wait(); err == nil && tr.EndedEmpty() {
		err = errFileChanged
	}
	if err != nil {
		tr.Close()
		return nil, err
	}
	return tr, nil
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
