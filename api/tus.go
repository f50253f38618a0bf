package api

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ftpgw/ftpgw/ftpcore"
)

// tus 1.0 (https://tus.io/protocols/resumable-upload): the core protocol
// and the extensions creation, creation-with-upload, termination,
// expiration and checksum (sha1, sha256), on the machinery of
// resumable.go: a tus upload is an upload resource like the draft's, with
// the same signed URL, the same state on the FTP server, the same lock
// and the same completion. What differs is the wire:
//
//   - POST creates: to a file's URL, or to a directory's with the name
//     in Upload-Metadata's filename. Upload-Length is required and goes
//     into the signed ID (creation-defer-length is not offered: the ID
//     cannot learn a length later). 201 with Location, the upload's URL.
//   - HEAD, PATCH and DELETE of that URL carrying Tus-Resumable are tus's;
//     without it, the draft's. The upload completes (the rename onto the
//     target) when a PATCH brings its offset to its length.
//   - A PATCH with Upload-Checksum is read whole into the gateway
//     (Config.TusMaxChecksumPiece at most) and checked before anything is
//     appended: an APPE cannot be taken back.
//   - X-HTTP-Method-Override is not honoured: every client the gateway
//     knows of can send PATCH and DELETE.

const (
	hdrTusResumable   = "Tus-Resumable"
	hdrUploadMetadata = "Upload-Metadata"
	hdrUploadChecksum = "Upload-Checksum"
	hdrUploadExpires  = "Upload-Expires"
	tusVersion        = "1.0.0"
	tusExtensions     = "creation,creation-with-upload,termination,expiration,checksum"
	tusChecksumAlgos  = "sha1,sha256"
	offsetStreamType  = "application/offset+octet-stream"
	// statusChecksumMismatch is tus's 460 Checksum Mismatch.
	statusChecksumMismatch = 460
	// maxTusName bounds the filename of Upload-Metadata, in bytes.
	maxTusName = 255
)

// statusTitles are the titles of the statuses net/http does not know.
var statusTitles = map[int]string{statusChecksumMismatch: "Checksum Mismatch"}

// isTus reports whether r says it speaks tus.
func isTus(r *http.Request) bool { return r.Header.Get(hdrTusResumable) != "" }

// looksTus reports whether a request to an upload resource is tus's: it
// says so, or it is a PATCH of tus's media type.
func looksTus(r *http.Request) bool {
	return isTus(r) || r.Method == http.MethodPatch && mediaType(r) == offsetStreamType
}

func mediaType(r *http.Request) string {
	mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// tusVersionOK checks Tus-Resumable: a version other than 1.0.0, or none,
// is 412 with Tus-Version.
func tusVersionOK(w http.ResponseWriter, r *http.Request) error {
	if v := r.Header.Values(hdrTusResumable); len(v) != 1 || v[0] != tusVersion {
		detail := "the gateway speaks tus " + tusVersion + " only: send Tus-Resumable: " + tusVersion
		if len(v) == 0 && r.Method == http.MethodPost {
			detail = "a POST here creates a tus upload: send Tus-Resumable: " + tusVersion + " and Upload-Length"
		}
		return &problem{status: http.StatusPreconditionFailed, detail: detail, header: http.Header{"Tus-Version": {tusVersion}}}
	}
	w.Header().Set(hdrTusResumable, tusVersion)
	return nil
}

// markTus sets Tus-Resumable on the answer to a tus request (one that
// carries Tus-Resumable, whatever its version): tus asks for it on every
// answer but OPTIONS's, which has it anyway (setTusOptions).
func markTus(h http.Header, r *http.Request) {
	if isTus(r) {
		h.Set(hdrTusResumable, tusVersion)
	}
}

// tusHeaders marks every answer under the mount to a tus request
// (markTus) before the handler runs, so that the token check's 401 and
// 403, a framing 400 and a redirect have it too. It wraps no
// ResponseWriter.
func (s *Server) tusHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.inMount(r.URL.Path) {
			markTus(w.Header(), r)
		}
		next.ServeHTTP(w, r)
	})
}

// setTusOptions sets what OPTIONS tells a tus client.
func (s *Server) setTusOptions(h http.Header) {
	h.Set(hdrTusResumable, tusVersion)
	h.Set("Tus-Version", tusVersion)
	h.Set("Tus-Extension", tusExtensions)
	h.Set("Tus-Checksum-Algorithm", tusChecksumAlgos)
	if s.cfg.MaxUploadSize > 0 {
		h.Set("Tus-Max-Size", strconv.FormatInt(s.cfg.MaxUploadSize, 10))
	}
}

// tusNumber parses a tus header's non-negative decimal number.
func tusNumber(r *http.Request, field string) (int64, error) {
	v := r.Header.Values(field)
	if len(v) == 1 {
		n, err := strconv.ParseInt(v[0], 10, 64)
		if err == nil && n >= 0 && strconv.FormatInt(n, 10) == v[0] {
			return n, nil
		}
	}
	return 0, badRequest(field+" must be one non-negative decimal integer", nil)
}

// tusCreate is POST: the creation extension, with the first piece if the
// request has a body (creation-with-upload). A POST without Tus-Resumable:
// 1.0.0 is 412, as tus asks: POST is in the Allow of the mount's URLs, so
// it is not 405 either when it is not tus's. A POST to an upload's URL is
// the upload resource's 405 (the router's resumableOr).
func (s *Server) tusCreate(w http.ResponseWriter, r *http.Request) error {
	if err := tusVersionOK(w, r); err != nil {
		return err
	}
	clean, err := s.tusTarget(r)
	if err != nil {
		return err
	}
	if r.Header.Get("Upload-Defer-Length") != "" && r.Header.Get(hdrUploadLength) == "" {
		return badRequest("the gateway needs Upload-Length at creation: creation-defer-length is not offered", nil)
	}
	length, err := tusNumber(r, hdrUploadLength)
	if err != nil {
		return err
	}
	if s.cfg.MaxUploadSize > 0 && length > s.cfg.MaxUploadSize {
		return s.uploadTooLarge(nil)
	}
	if r.Header.Get("Content-Range") != "" {
		return badRequest("Content-Range is not allowed in a tus creation", nil)
	}
	if _, err := wantsParents(r); err != nil {
		return err
	}
	if r.ContentLength != 0 && mediaType(r) != offsetStreamType {
		return unsupportedMediaType("the body of a tus creation is of type " + offsetStreamType)
	}
	verify, err := s.tusChecksum(w, r)
	if err != nil {
		return err
	}
	id, err := newUploadIDFor(r, length)
	if err != nil {
		return err
	}
	return s.beginUpload(w, r, clean, id, piece{length: length, atLength: true, verify: verify}, nil)
}

// tusTarget is the clean path of the file a POST creates: its URL's, or
// for a directory's URL the directory's with Upload-Metadata's filename.
// A signed URL creates at its own path only: one signed for a directory
// does not name a file.
func (s *Server) tusTarget(r *http.Request) (string, error) {
	clean, dirReq, err := s.requestPath(r)
	if err != nil || !dirReq {
		return clean, err
	}
	if info := requestInfoFrom(r.Context()); info != nil && info.signedKey != "" {
		return "", denied("a signed URL creates a tus upload at the file's own URL, not a directory's", nil)
	}
	name, ok := tusMetadata(r.Header.Get(hdrUploadMetadata), "filename")
	switch {
	case !ok:
		return "", badRequest("a tus creation at a directory's URL needs a filename in Upload-Metadata", nil)
	case name == "" || name == "." || name == ".." || len(name) > maxTusName || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, func(c rune) bool { return c < 0x20 || c == 0x7f || c == '/' || c == '\\' }):
		return "", badRequest("the filename in Upload-Metadata must be one path segment of printable characters", nil)
	case isTempName(name):
		return "", badRequest("names starting with "+tempPrefix+" are reserved for uploads in progress", nil)
	}
	return path.Join(clean, name), nil
}

// tusMetadata returns the decoded value of key in an Upload-Metadata
// field: comma-separated pairs of a key and a base64 value.
func tusMetadata(field, key string) (string, bool) {
	for pair := range strings.SplitSeq(field, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(pair), " ")
		if k != key {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil {
			return "", false
		}
		return string(b), true
	}
	return "", false
}

// tusPatch is PATCH: a piece at Upload-Offset.
func (s *Server) tusPatch(w http.ResponseWriter, r *http.Request) error {
	clean, id, err := s.resumableTarget(r)
	if err != nil {
		return err
	}
	if mediaType(r) != offsetStreamType {
		return &problem{status: http.StatusUnsupportedMediaType, detail: "a tus append is a PATCH of type " + offsetStreamType,
			header: http.Header{"Accept-Patch": {offsetStreamType}}}
	}
	offset, err := tusNumber(r, hdrUploadOffset)
	if err != nil {
		return err
	}
	if id.length < 0 {
		return badRequest("the upload has no declared length, which tus needs: continue it with the draft's requests", nil)
	}
	verify, err := s.tusChecksum(w, r)
	if err != nil {
		return err
	}
	return s.appendAt(w, r, clean, id, offset, piece{length: id.length, atLength: true, verify: verify})
}

// tusAnswer answers a tus request that appended: Upload-Offset, and for
// POST 201 with the upload's URL. mod is the .part's modification time,
// zero if it is not known or the upload completed.
func (s *Server) tusAnswer(w http.ResponseWriter, r *http.Request, clean string, id uploadID, offset int64, mod time.Time) error {
	h := w.Header()
	h.Set(hdrUploadOffset, strconv.FormatInt(offset, 10))
	s.setUploadExpires(h, mod)
	if r.Method == http.MethodPost {
		h.Set("Location", s.uploadURL(r, clean, id))
		w.WriteHeader(http.StatusCreated)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setUploadExpires sets Upload-Expires: when the sweep may delete an
// upload whose .part the FTP server last wrote at mod (its clock), in the
// gateway's.
func (s *Server) setUploadExpires(h http.Header, mod time.Time) {
	if mod.IsZero() || s.cfg.TempMaxAge <= 0 {
		return
	}
	now, _ := s.clock.now()
	h.Set(hdrUploadExpires, time.Now().Add(mod.Add(s.cfg.TempMaxAge).Sub(now)).UTC().Format(http.TimeFormat))
}

// tusChecksum reads Upload-Checksum, if there is one, and returns the
// check of the body against it: the body is read whole
// (TusMaxChecksumPiece at most) and stands in for r.Body. A mismatch is
// 460. The check runs where piece.verify says: under the transfer caps,
// and before anything is appended.
func (s *Server) tusChecksum(w http.ResponseWriter, r *http.Request) (func() error, error) {
	v := r.Header.Values(hdrUploadChecksum)
	if len(v) == 0 {
		return nil, nil
	}
	algo, sum, _ := strings.Cut(v[0], " ")
	var hf func() hash.Hash
	switch algo {
	case "sha1":
		hf = sha1.New
	case "sha256":
		hf = sha256.New
	default:
		return nil, badRequest("Upload-Checksum's algorithm must be one of "+tusChecksumAlgos, nil)
	}
	want, err := base64.StdEncoding.DecodeString(sum)
	if len(v) != 1 || err != nil || len(want) != hf().Size() {
		return nil, badRequest("Upload-Checksum must be one algorithm and its base64 digest", nil)
	}
	max := s.cfg.TusMaxChecksumPiece
	if r.ContentLength > max {
		return nil, tusPieceTooLarge(max)
	}
	return func() error { return s.checkPiece(w, r, hf(), want, algo) }, nil
}

// checkPiece reads r's body whole and checks its digest h against want.
func (s *Server) checkPiece(w http.ResponseWriter, r *http.Request, h hash.Hash, want []byte, algo string) error {
	buf, err := s.bufferPiece(w, r)
	if err != nil {
		return err
	}
	h.Write(buf)
	if !bytes.Equal(h.Sum(nil), want) {
		return &problem{status: statusChecksumMismatch, detail: "the piece's " + algo + " differs from Upload-Checksum; nothing was appended"}
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.ContentLength = int64(len(buf))
	return nil
}

// bufferPiece reads r's body whole, TusMaxChecksumPiece bytes at most,
// for a check before anything of it is appended.
func (s *Server) bufferPiece(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	max := s.cfg.TusMaxChecksumPiece
	body := newBodyReader(w, io.LimitReader(r.Body, max+1), s.clientLimits())
	buf, err := io.ReadAll(body)
	body.done()
	switch {
	case err != nil:
		var slow *clientTooSlow
		if errors.As(err, &slow) || ftpcore.IsTimeout(err) {
			return nil, clientStalled(err)
		}
		return nil, badRequest("the request body ended early or could not be read", err)
	case int64(len(buf)) > max:
		return nil, tusPieceTooLarge(max)
	case r.ContentLength >= 0 && int64(len(buf)) != r.ContentLength:
		return nil, badRequest("the request body ended early", nil)
	}
	return buf, nil
}

func tusPieceTooLarge(max int64) error {
	return &problem{status: http.StatusRequestEntityTooLarge,
		detail: "a piece with Upload-Checksum is checked before it is appended, and may have " + strconv.FormatInt(max, 10) + " bytes at most: send smaller pieces"}
}
