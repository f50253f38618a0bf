package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
)

// Resumable uploads after "Resumable Uploads for HTTP"
// (draft-ietf-httpbis-resumable-upload, the editor's copy after -11:
// interop version 8). Section numbers below are that copy's: §4 the upload
// resource (§4.1 its state: §4.1.1 Upload-Offset, §4.1.2 Upload-Complete,
// §4.1.3 Upload-Length, §4.1.4 Upload-Limit), §4.2 creation, §4.3 offset
// retrieval, §4.4 append, §4.5 cancellation, §4.6 concurrency, §5 the 104
// status, §6 application/partial-upload, §7 the problem types.
//
// The state lives on the FTP server, never in the gateway, so that any
// replica continues an upload another began and a restart loses nothing:
//
//   - An upload is a file in the target's directory, named after the
//     upload's nonce: tempPrefix + 32 hex digits + ".part" while no
//     request writes to it, the same + ".lock" while one does. Its offset
//     is the file's SIZE.
//   - The upload's URL is the target's with ?upload=ID, where ID is the
//     nonce, the declared length (if any) and an HMAC over them, the mount
//     and the target's path, with Config.UploadKey. An ID cannot be
//     guessed, nor pointed at another file: one that does not verify is a
//     404, before the FTP server is asked anything.
//   - A request that writes takes the upload by renaming .part to .lock
//     (RNFR/RNTO: atomic on every server, whichever replica asks) and
//     gives it back by renaming it again; completion renames .lock onto
//     the target, under the name's lock (lock.go), as a PUT does. A second
//     writer finds no .part and gets 409: two appends never interleave
//     (§4.6, the "simpler approach" of an access lock). Within a replica
//     a HEAD or PATCH asks the holder to give the upload back first
//     (release.go). A .lock that has not been written for
//     resumableLockStale (its holder died) is taken back.
//   - Appends use APPE, not REST+STOR: vsftpd, pure-ftpd and proftpd all
//     append at the end (ftpcore's TestRealUploads), while REST+STOR
//     differs (pure-ftpd truncates at the offset, proftpd refuses an
//     offset past the end). The gateway compares the client's
//     Upload-Offset with the SIZE under the lock, so APPE's "at the end"
//     is the offset. A data connection cut mid-body leaves the bytes the
//     server wrote, a prefix of what was sent
//     (TestRealAppendCutKeepsPrefix): the next SIZE is the offset to
//     resume from.
//   - Expired uploads are the temporary files TempMaxAge old that the
//     sweep deletes (cleanup.go); Upload-Limit's max-age says so.

// The header fields and media type of the draft.
const (
	hdrUploadOffset   = "Upload-Offset"
	hdrUploadComplete = "Upload-Complete"
	hdrUploadLength   = "Upload-Length"
	hdrUploadLimit    = "Upload-Limit"
	// hdrInteropVersion is sent by clients of the draft's interop
	// versions (Apple's URLSession among them); the gateway answers with
	// the one it implements.
	hdrInteropVersion = "Upload-Draft-Interop-Version"
	interopVersion    = "8"
	partialUploadType = "application/partial-upload"
	// statusUploadResumption is 104 (Upload Resumption Supported), §5.
	statusUploadResumption = 104
	// uploadParam is the query parameter that names an upload.
	uploadParam = "upload"
)

// The problem types of §7.
const (
	problemMismatchingOffset = "https://iana.org/assignments/http-problem-types#mismatching-upload-offset"
	problemCompletedUpload   = "https://iana.org/assignments/http-problem-types#completed-upload"
	problemInconsistentLen   = "https://iana.org/assignments/http-problem-types#inconsistent-upload-length"
)

const (
	// resumableNonceLen is the bytes of an upload's nonce.
	resumableNonceLen = 16
	partSuffix        = ".part"
	lockSuffix        = ".lock"
	// resumableLockStaleMin is the least time a .lock must go unwritten
	// before it is taken for a dead holder's: a live append writes all
	// the time, and waits on its client no longer than the client
	// timeouts.
	resumableLockStaleMin = 2 * time.Minute
)

// uploadID is an upload resource's identity: its nonce (hex), the length
// the client declared when it created it (-1 for none), and the
// preconditions of the creating request (conds, encoded in condsRaw), which
// the request that completes the upload is judged by again, as a PUT's
// are at its rename; conds also keeps the creation's digest fields
// (idFields).
type uploadID struct {
	nonce    string
	length   int64
	conds    http.Header
	condsRaw string
}

// preconditionFields are the request fields a PUT's rename is judged by
// (judgeTarget): an upload's ID carries them.
var preconditionFields = []string{"If-Match", "If-None-Match", "If-Unmodified-Since"}

// maxCondsLen bounds an ID's encoded preconditions, so that its URL stays
// of a size any client takes.
const maxCondsLen = 1024

// idFields returns the fields of the creating request h that its
// upload's ID keeps: its preconditions, and its digest fields normalised
// (creationDigests, uploaddigest.go).
func idFields(h http.Header) http.Header {
	c := creationDigests(h)
	if c == nil {
		c = http.Header{}
	}
	for _, k := range preconditionFields {
		if v := h.Values(k); len(v) > 0 {
			c[k] = v
		}
	}
	return c
}

// encodeConds returns the fields c as an ID carries them: base64url of
// their JSON, "" for none.
func encodeConds(c http.Header) (string, error) {
	if len(c) == 0 {
		return "", nil
	}
	b, _ := json.Marshal(c)
	raw := base64.RawURLEncoding.EncodeToString(b)
	if len(raw) > maxCondsLen {
		return "", badRequest("the preconditions and digest fields are too long for a resumable upload", nil)
	}
	return raw, nil
}

// uploadBinding is what an upload's ID is bound to, besides the mount:
// the file's path and, in Basic passthrough, the user, whose FTP login
// the upload is written with (another user's may see other files at the
// same path, or the same with other rights).
func (s *Server) uploadBinding(r *http.Request, clean string) string {
	if s.cfg.Users == nil {
		return clean
	}
	user, _, _ := r.BasicAuth()
	return clean + "\x00" + user
}

// uploadMAC is the HMAC of an upload of the file clean (as uploadBinding
// gives it) under the mount.
func (s *Server) uploadMAC(clean string, id uploadID) string {
	m := hmac.New(sha256.New, s.uploadKey)
	fmt.Fprintf(m, "ftpgw resumable upload\x00%s\x00%s\x00%s\x00%d\x00%s", s.mount, clean, id.nonce, id.length, id.condsRaw)
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// encode returns the ID as it appears in the query: nonce, length ("" for
// none), preconditions ("" for none) and MAC, joined by dots.
func (s *Server) encodeUploadID(clean string, id uploadID) string {
	l := ""
	if id.length >= 0 {
		l = strconv.FormatInt(id.length, 10)
	}
	return id.nonce + "." + l + "." + id.condsRaw + "." + s.uploadMAC(clean, id)
}

// errNoUpload is an upload ID that does not verify for the path, or an
// upload that is gone (completed, cancelled or expired): the two look the
// same, so that a forged ID learns nothing.
var errNoUpload = notFound("no such upload: it completed, was cancelled or expired, or never existed here")

// decodeUploadID verifies raw, an ID from the query, for clean. Only an
// ID that verifies is decoded further.
func (s *Server) decodeUploadID(clean, raw string) (uploadID, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 4 || len(parts[0]) != 2*resumableNonceLen || !allLowerHex(parts[0]) || len(parts[2]) > maxCondsLen {
		return uploadID{}, errNoUpload
	}
	id := uploadID{nonce: parts[0], length: -1, condsRaw: parts[2]}
	if parts[1] != "" {
		n, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || n < 0 || strconv.FormatInt(n, 10) != parts[1] {
			return uploadID{}, errNoUpload
		}
		id.length = n
	}
	if !hmac.Equal([]byte(parts[3]), []byte(s.uploadMAC(clean, id))) {
		return uploadID{}, errNoUpload
	}
	if id.condsRaw != "" {
		b, err := base64.RawURLEncoding.DecodeString(id.condsRaw)
		if err != nil || json.Unmarshal(b, &id.conds) != nil {
			return uploadID{}, errNoUpload
		}
	}
	return id, nil
}

// allLowerHex reports whether s is lowercase hex digits only.
func allLowerHex(s string) bool {
	for _, b := range []byte(s) {
		if !isLowerHex(b) {
			return false
		}
	}
	return true
}

// uploadQuery returns the raw value of the upload parameter, and whether
// the query has one. Twice is an error.
func uploadQuery(r *http.Request) (raw string, present bool, err error) {
	if !strings.Contains(r.URL.RawQuery, uploadParam) {
		return "", false, nil
	}
	vs, perr := url.ParseQuery(r.URL.RawQuery)
	v, ok := vs[uploadParam]
	switch {
	case !ok:
		return "", false, nil
	case perr != nil || len(v) != 1:
		return "", true, badRequest("the query must name one upload", perr)
	}
	return v[0], true, nil
}

// isUploadRequest reports whether r is to an upload resource (its query
// names one), appends to one (PATCH) or creates one with tus (POST,
// tus.go): such requests need the write scope, whatever their method.
func isUploadRequest(r *http.Request) bool {
	_, present, err := uploadQuery(r)
	return present || err != nil || r.Method == http.MethodPatch || r.Method == http.MethodPost
}

// itemBoolean parses an Item field whose value is a Boolean (RFC 9651
// §3.3.6), its parameters dropped; ok is false for anything else, which
// the draft says to ignore (§4.1.2), and for a field given twice.
func itemBoolean(v []string) (b, ok bool) {
	p, ok := itemParser(v)
	if !ok || p.peek() != '?' || p.i+1 >= len(p.s) || p.s[p.i+1] != '0' && p.s[p.i+1] != '1' {
		return false, false
	}
	b = p.s[p.i+1] == '1'
	p.i += 2
	return b, p.itemEnd()
}

// itemInteger parses an Item field whose value is a non-negative Integer
// (RFC 9651 §3.3.1, 15 digits at most), its parameters dropped.
func itemInteger(v []string) (n int64, ok bool) {
	p, ok := itemParser(v)
	if !ok || !isDigit(p.peek()) {
		return 0, false
	}
	val, err := p.number()
	if err != nil || val.kind != sfInteger {
		return 0, false
	}
	return val.num, p.itemEnd()
}

// itemParser starts the parse of an Item field of one line (structured.go).
func itemParser(v []string) (*sfParser, bool) {
	if len(v) != 1 {
		return nil, false
	}
	p := &sfParser{s: v[0]}
	p.skipSP()
	return p, true
}

// itemEnd parses the Item's parameters and checks that nothing follows
// them but spaces.
func (p *sfParser) itemEnd() bool {
	if p.params() != nil {
		return false
	}
	p.skipSP()
	return p.done()
}

// uploadPaths are an upload's two names on the FTP server.
type uploadPaths struct{ part, lock string }

func uploadPathsOf(full string, id uploadID) uploadPaths {
	base := path.Join(path.Dir(full), tempPrefix+id.nonce)
	return uploadPaths{part: base + partSuffix, lock: base + lockSuffix}
}

// recentMap keeps values for recentTTL, recentMax of them at most (past
// it the oldest go first). Server.completed is one, by completionKey: the
// uploads this replica completed and the size each completed with: their
// URLs answer as a completed upload's (uploadOffset: Upload-Complete: ?1;
// an append or cancellation: 400 completed-upload), so that a client whose completing answer was lost
// learns that the upload completed, where a 404 would have it start
// again. The FTP server keeps no file of a completed upload: on another
// replica, or after a restart, such a URL is a 404. Safe for concurrent
// use.
type recentMap[V any] struct {
	mu sync.Mutex
	m  map[string]recent[V]
}

type recent[V any] struct {
	v  V
	at time.Time
}

const (
	recentTTL = time.Hour
	recentMax = 4096
)

func (c *recentMap[V]) add(key string, v V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]recent[V])
	}
	if len(c.m) >= recentMax {
		var oldest string
		for k, e := range c.m {
			if now.Sub(e.at) > recentTTL {
				delete(c.m, k)
			} else if oldest == "" || e.at.Before(c.m[oldest].at) {
				oldest = k
			}
		}
		if len(c.m) >= recentMax {
			delete(c.m, oldest)
		}
	}
	c.m[key] = recent[V]{v: v, at: now}
}

func (c *recentMap[V]) get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.Sub(e.at) > recentTTL {
		var zero V
		return zero, false
	}
	return e.v, true
}

// completionKey names the upload id of clean in a recentMap: the backend,
// what the ID is bound to, and its nonce.
func (s *Server) completionKey(r *http.Request, clean string, id uploadID) string {
	return s.name + "\x00" + s.mount + "\x00" + s.uploadBinding(r, clean) + "\x00" + id.nonce
}

// errCompletedUpload is §7.2's 400: the upload completed, and takes no
// more appends, nor a cancellation.
var errCompletedUpload = &problem{status: http.StatusBadRequest, typ: problemCompletedUpload,
	detail: "the upload is complete: its file is at the upload's path"}

// orCompleted turns errNoUpload, for an upload this replica completed,
// into its size (HEAD) or errCompletedUpload (an append or cancellation:
// refuse).
func (s *Server) orCompleted(r *http.Request, clean string, id uploadID, err error, refuse bool) (int64, error) {
	if !errors.Is(err, errNoUpload) {
		return 0, err
	}
	n, ok := s.completed.get(s.completionKey(r, clean, id), time.Now())
	switch {
	case !ok:
		return 0, err
	case refuse:
		return n, errCompletedUpload
	}
	return n, nil
}

// setUploadLimit sets Upload-Limit (§4.1.4): max-size is MaxUploadSize,
// max-age how long an upload left alone lives (TempMaxAge).
func (s *Server) setUploadLimit(h http.Header) {
	var lim []string
	if s.cfg.MaxUploadSize > 0 {
		lim = append(lim, "max-size="+strconv.FormatInt(s.cfg.MaxUploadSize, 10))
	}
	if s.cfg.TempMaxAge > 0 {
		lim = append(lim, "max-age="+strconv.FormatInt(int64(s.cfg.TempMaxAge/time.Second), 10))
	}
	if len(lim) > 0 {
		h.Set(hdrUploadLimit, strings.Join(lim, ", "))
	}
}

// uploadURL is the upload resource's URL: the file's, with the ID; for a
// request a signed URL allowed (a signed PUT), with that URL's ftpgw-
// parameters too, so that the client may go on with the upload as long as
// the signed URL is valid (checkSigned, signedMethod).
func (s *Server) uploadURL(r *http.Request, clean string, id uploadID) string {
	u := (&url.URL{Path: s.mountDir + clean}).EscapedPath() + "?" + uploadParam + "=" + s.encodeUploadID(s.uploadBinding(r, clean), id)
	if info := requestInfoFrom(r.Context()); info == nil || info.signedKey == "" {
		return u
	}
	for pair := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if k, _, _ := strings.Cut(pair, "="); strings.HasPrefix(k, signedParamPrefix) {
			u += "&" + pair
		}
	}
	return u
}

// mismatchingOffset is §7.1's 409: the upload is at expected, the request
// said provided.
func mismatchingOffset(expected, provided int64) error {
	return &problem{status: http.StatusConflict, typ: problemMismatchingOffset,
		detail:   fmt.Sprintf("the upload is at offset %d, the request appends at %d", expected, provided),
		header:   http.Header{hdrUploadOffset: {strconv.FormatInt(expected, 10)}},
		expected: &expected, provided: &provided}
}

// uploadTooLarge is a resumable upload passing the upload limit (or its
// declared length): 413 with Upload-Limit, which §4.1.4 asks of it.
func (s *Server) uploadTooLarge(cause error) error {
	h := http.Header{}
	s.setUploadLimit(h)
	detail := "the upload would pass its declared length"
	if s.cfg.MaxUploadSize > 0 {
		detail = "the upload would pass the " + strconv.FormatInt(s.cfg.MaxUploadSize, 10) + " bytes an upload may have, or its declared length"
	}
	return &problem{status: http.StatusRequestEntityTooLarge, detail: detail, cause: cause, header: h}
}

// inconsistentLength is §7.3's 400.
func inconsistentLength(detail string) error {
	return &problem{status: http.StatusBadRequest, typ: problemInconsistentLen, detail: detail}
}

var errUploadBusy = conflict("another request is appending to this upload; retry when it has ended", nil)

// wantsResumable reports whether a PUT asks to be a resumable upload: it
// carries Upload-Complete (§4.2). One whose value is not a Boolean is
// ignored (§4.1.2), and the PUT is a plain one.
func wantsResumable(r *http.Request) bool {
	_, ok := itemBoolean(r.Header.Values(hdrUploadComplete))
	return ok
}

// resumableOr routes a request to an upload resource (?upload=) to res,
// and any other to plain.
func (s *Server) resumableOr(res, plain func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, present, err := uploadQuery(r); present || err != nil {
			return res(w, r)
		}
		return plain(w, r)
	}
}

// putOrCreate is PUT: a resumable upload's creation when it carries
// Upload-Complete (§4.2) and names a file, an atomic PUT (or a
// directory's, dirs.go) otherwise.
func (s *Server) putOrCreate(w http.ResponseWriter, r *http.Request) error {
	if _, present, err := uploadQuery(r); present || err != nil {
		w.Header().Set("Allow", allowUpload)
		return methodNotAllowed("an upload resource takes HEAD, PATCH and DELETE")
	}
	if wantsResumable(r) && !s.putsDir(r) {
		return s.createUpload(w, r)
	}
	return s.putFile(w, r)
}

// resumableTarget is an upload resource's request resolved: the file's
// clean path and the verified ID.
func (s *Server) resumableTarget(r *http.Request) (clean string, id uploadID, err error) {
	clean, dirReq, err := s.requestPath(r)
	if err != nil {
		return "", id, err
	}
	raw, _, err := uploadQuery(r)
	if err != nil {
		return "", id, err
	}
	if dirReq {
		return "", id, errNoUpload
	}
	id, err = s.decodeUploadID(s.uploadBinding(r, clean), raw)
	return clean, id, err
}

// piece is what a request brings to an upload: whether it completes it,
// and the length it declares (-1: none).
type piece struct {
	complete bool
	length   int64
	// atLength, for tus (tus.go), completes the upload when its offset
	// reaches length, whatever complete says.
	atLength bool
	// verify, if not nil, checks the body before anything is written:
	// once the request is admitted as a transfer and, for an append, the
	// upload is held at the right offset; for a creation, once nothing
	// refuses it (startUpload).
	verify func() error
}

// whole reports whether the piece r brings at offset is the whole upload:
// it starts it and completes it (Upload-Complete: ?1, or for tus all of
// the declared length).
func (p piece) whole(r *http.Request, offset int64) bool {
	return offset == 0 && (p.complete || p.atLength && r.ContentLength == p.length)
}

// readPiece reads Upload-Complete and Upload-Length, and checks them
// against each other, Content-Length and the ID's length (§4.1.3).
func readPiece(r *http.Request, id uploadID, offset int64) (piece, error) {
	var p piece
	var ok bool
	if p.complete, ok = itemBoolean(r.Header.Values(hdrUploadComplete)); !ok {
		return p, badRequest("Upload-Complete must be ?0 or ?1", nil)
	}
	p.length = -1
	if v := r.Header.Values(hdrUploadLength); len(v) > 0 {
		n, ok := itemInteger(v)
		if !ok {
			return p, badRequest("Upload-Length must be a non-negative integer", nil)
		}
		p.length = n
	}
	if p.complete && r.ContentLength >= 0 {
		n := offset + r.ContentLength
		if p.length >= 0 && p.length != n {
			return p, inconsistentLength("Upload-Length differs from the offset plus Content-Length of a request that completes the upload")
		}
		p.length = n
	}
	if id.length >= 0 && p.length >= 0 && id.length != p.length {
		return p, inconsistentLength(fmt.Sprintf("the upload was declared %d bytes long", id.length))
	}
	if p.length < 0 {
		p.length = id.length
	}
	if p.length >= 0 && p.length < offset {
		return p, inconsistentLength("the declared length is less than the upload's offset")
	}
	return p, nil
}

// newUploadID returns a fresh ID with the declared length.
func newUploadID(length int64) uploadID {
	var b [resumableNonceLen]byte
	rand.Read(b[:])
	return uploadID{nonce: hex.EncodeToString(b[:]), length: length}
}

// newUploadIDFor is newUploadID for the creating request r, whose
// preconditions the ID carries.
func newUploadIDFor(r *http.Request, length int64) (uploadID, error) {
	id := newUploadID(length)
	var err error
	id.conds = idFields(r.Header)
	if id.condsRaw, err = encodeConds(id.conds); err != nil {
		return id, err
	}
	return id, nil
}

// createUpload is §4.2: a PUT with Upload-Complete. Everything that can
// refuse it is judged first, as for a PUT; then the upload's file is made
// (held, as .lock) and 104 announces its URL before the body is read.
// The body is appended; what arrived stays if it is cut. The answer is the
// PUT's (201/204) if the request completes the upload, 201 with the
// upload's URL in Location otherwise.
func (s *Server) createUpload(w http.ResponseWriter, r *http.Request) error {
	clean, err := s.checkPut(w, r, s.cfg.MaxUploadSize)
	if p := (*problem)(nil); errors.As(err, &p) && p.status == http.StatusRequestEntityTooLarge {
		return s.uploadTooLarge(err)
	}
	if err != nil {
		return err
	}
	p, err := readPiece(r, uploadID{length: -1}, 0)
	if err != nil {
		return err
	}
	if s.cfg.MaxUploadSize > 0 && p.length > s.cfg.MaxUploadSize {
		return s.uploadTooLarge(nil)
	}
	id, err := newUploadIDFor(r, p.length)
	if err != nil {
		return err
	}
	return s.beginUpload(w, r, clean, id, p, func(h http.Header) {
		// §4.2: 104 with Location and Upload-Limit as soon as the upload
		// exists. The headers of an interim response stay in the map, so
		// they are taken out again for the final one.
		h.Set("Location", s.uploadURL(r, clean, id))
		h.Set(hdrInteropVersion, interopVersion)
		s.setUploadLimit(h)
		w.WriteHeader(statusUploadResumption)
		for _, k := range []string{"Location", hdrInteropVersion, hdrUploadLimit} {
			h.Del(k)
		}
	})
}

// beginUpload makes the upload id of clean and appends r's body to it;
// announce, if not nil, runs once the upload exists, before the body is
// read.
func (s *Server) beginUpload(w http.ResponseWriter, r *http.Request, clean string, id uploadID, p piece, announce func(http.Header)) error {
	pd, err := parsePieceDigests(r, id, p.whole(r, 0))
	if err != nil {
		return err
	}
	s.checkFirst(w, r, &p, pd)
	// Counted for its client before anything reaches the FTP server.
	if err := s.uploads.add(r, id.nonce); err != nil {
		return err
	}
	// The upload's file is made held (.lock): it is this request's until
	// appendPiece gives it back, or another request of this replica's
	// takes it over (release.go).
	key := s.holdKey(r, clean, id)
	h, err := s.holds.takeOver(r.Context(), key, w)
	if err != nil {
		s.uploads.remove(id.nonce)
		return err
	}
	defer s.holds.end(key, h)
	r.Body = h.body(r.Body)
	var slot transferSlot
	defer s.transfers.release(&slot)
	ctx, sess, u, err := s.openUpload(r, &slot, func(ctx context.Context, c *ftpcore.Conn) (upload, error) {
		return s.startUpload(ctx, c, r, clean, tempPrefix+id.nonce+lockSuffix, p.verify)
	})
	if err != nil {
		// No upload was made (a file its STOR left is deleted, openUpload).
		s.uploads.remove(id.nonce)
		return h.outcome(err)
	}
	defer sess.Release()
	conn := sess.Conn()
	names := uploadPathsOf(u.full, id)
	if announce != nil {
		announce(w.Header())
	}
	return s.pieceDone(w, id, h.outcome(s.appendPiece(w, r, ctx, conn, clean, id, &u, names, 0, p, pd)))
}

// appendPiece receives r's body into the upload's held file (u.stor, open
// at offset), then completes the upload or gives it back. Whatever
// happens, the file is given back or renamed onto the target: never left
// held by a request that has ended.
func (s *Server) appendPiece(w http.ResponseWriter, r *http.Request, ctx context.Context, conn *ftpcore.Conn,
	clean string, id uploadID, u *upload, names uploadPaths, offset int64, p piece, pd *pieceDigests) error {
	limit := int64(-1)
	if s.cfg.MaxUploadSize > 0 {
		limit = s.cfg.MaxUploadSize - offset
	}
	if p.length >= 0 && (limit < 0 || p.length-offset < limit) {
		limit = p.length - offset
	}
	if limit >= 0 {
		if r.ContentLength > limit {
			u.stor.Abort(errors.New("the piece is too large"))
			s.giveBack(ctx, conn, names)
			return s.uploadTooLarge(nil)
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	if pd.body != nil {
		r.Body = pd.body.wrap(r.Body)
		defer pd.body.stop()
	}
	live := s.beginLive(r, clean, r.ContentLength)
	n, err := s.receiveBody(w, r, u.stor, live)
	s.live.end(live)
	if p := (*problem)(nil); errors.As(err, &p) && p.status == http.StatusRequestEntityTooLarge {
		err = s.uploadTooLarge(err)
	}
	if err == nil {
		err = u.stor.Close()
	}
	// A piece that arrived whole is checked against its Content-Digest
	// (and, if it is the whole upload, its Repr-Digest): one that does not
	// match is appended already, and FTP cannot cut it off again.
	var sums digestSet
	if err == nil && pd.body != nil {
		sums = pd.body.sums()
		if verr := pd.body.verify(&sums); verr != nil {
			return s.discard(ctx, conn, id, names, verr)
		}
	}
	var stored int64
	if err == nil {
		stored, err = conn.Size(ctx, names.lock)
		if err == nil && stored != offset+n {
			err = upstreamMismatch(fmt.Sprintf("the FTP server holds %d bytes of the upload, %d were expected", stored, offset+n))
		}
	}
	if err == nil && (p.complete || p.atLength && stored == p.length) {
		if p.length >= 0 && stored != p.length {
			err = inconsistentLength(fmt.Sprintf("the upload has %d bytes, %d were declared", stored, p.length))
		} else {
			return s.completeUpload(w, r, ctx, conn, clean, id, u, names, stored, pd, sums)
		}
	}
	// The bytes the server wrote stay (§4.4): the next HEAD tells how
	// many. The file is given back even when the request failed.
	if gerr := s.giveBack(ctx, conn, names); err == nil {
		err = gerr
	}
	if err != nil {
		return err
	}
	mod, merr := conn.ModTime(ctx, names.part)
	if merr == nil {
		s.clock.observe(mod, time.Now())
	}
	if p.atLength {
		return s.tusAnswer(w, r, clean, id, stored, mod)
	}
	h := w.Header()
	h.Set(hdrUploadComplete, "?0")
	h.Set(hdrUploadOffset, strconv.FormatInt(stored, 10))
	s.setUploadLimit(h)
	if r.Method == http.MethodPatch {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	h.Set("Location", s.uploadURL(r, clean, id))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// completeUpload renames the held file onto the target, under the name's
// lock, and answers as the PUT that created the upload would have, with
// Upload-Complete: ?1 (§4.4). The creating request's preconditions (the
// ID's) are judged again under the lock, as a PUT's are at its rename: a
// create-only upload (If-None-Match: *) does not replace a file that
// appeared while it ran. A refusal leaves the upload as it is.
func (s *Server) completeUpload(w http.ResponseWriter, r *http.Request, ctx context.Context, conn *ftpcore.Conn,
	clean string, id uploadID, u *upload, names uploadPaths, size int64, pd *pieceDigests, sums digestSet) error {
	if pd.needsWhole() {
		// Reading the upload back is long: not for a completion its
		// preconditions refuse, which a client could repeat at will
		// (they are judged again under the lock).
		err := s.judgeTarget(ctx, conn, &http.Request{Method: http.MethodPut, Header: id.conds}, u)
		if err == nil {
			sums, err = pd.readBack(ctx, conn, names.lock)
		}
		if err != nil {
			s.giveBack(ctx, conn, names)
			return err
		}
		if err := pd.verifyWhole(&sums); err != nil {
			return s.discard(ctx, conn, id, names, err)
		}
	}
	unlock, err := s.lockName(ctx, conn, u.full)
	if err != nil {
		s.giveBack(ctx, conn, names)
		return err
	}
	err = s.judgeTarget(ctx, conn, &http.Request{Method: http.MethodPut, Header: id.conds}, u)
	if err == nil {
		err = conn.Rename(ctx, names.lock, u.full)
		if fe := (*ftpcore.Error)(nil); errors.As(err, &fe) && fe.Cmd == "RNTO" {
			err = whyRefused(ctx, conn, refusedRename, u.full, err)
		}
	}
	var written ftpcore.Entry
	var werr error
	if err == nil {
		written, werr = writtenEntry(ctx, conn, u.full, size)
	}
	unlock()
	if err != nil {
		s.giveBack(ctx, conn, names)
		return err
	}
	s.completed.add(s.completionKey(r, clean, id), size, time.Now())
	h := w.Header()
	if werr == nil {
		s.clock.observe(written.ModTime, time.Now())
		if !sums.empty() {
			s.rememberUpload(r, u.full, written, sums)
		}
	}
	if f := pd.answer(&sums); f != "" {
		h.Set("Repr-Digest", f)
	}
	if isTus(r) {
		return s.tusAnswer(w, r, clean, id, id.length, time.Time{})
	}
	h.Set(hdrUploadComplete, "?1")
	if werr == nil {
		h.Set("Last-Modified", written.ModTime.UTC().Format(http.TimeFormat))
	}
	if u.existed {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	h.Set("Location", (&url.URL{Path: s.mountDir + clean}).EscapedPath())
	w.WriteHeader(http.StatusCreated)
	return nil
}

// giveBack renames the held .lock back to .part, on conn if it is usable
// and on a fresh session otherwise. If that fails too, the .lock stays
// until it is resumableLockStale old, when the next request takes it.
func (s *Server) giveBack(ctx context.Context, conn *ftpcore.Conn, names uploadPaths) error {
	ctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
	defer cancel()
	err := s.doOn(ctx, conn, func(c *ftpcore.Conn) error { return c.Rename(ctx, names.lock, names.part) })
	if err != nil {
		s.log.Warn("resumable upload left held; it is taken back once stale", "backend", s.name, "path", names.lock, "err", err)
	}
	return err
}

// lockStale is how long a .lock goes unwritten before it is taken for
// the leftover of a request that died.
func (s *Server) resumableLockStale() time.Duration {
	return max(resumableLockStaleMin, 2*s.cfg.ClientIdleTimeout)
}

// takeUpload holds the upload on c: .part renamed to .lock. It returns
// the upload's offset; errUploadBusy if another request holds it,
// errNoUpload if it is gone. A name missing may be one another request
// renamed a moment ago (giving the upload back, or taking it): the names
// are looked at again before the upload is called gone.
func (s *Server) takeUpload(ctx context.Context, c *ftpcore.Conn, names uploadPaths) (int64, error) {
	gone := false
	for range 3 {
		err := c.Rename(ctx, names.part, names.lock)
		if err == nil {
			n, err := c.Size(ctx, names.lock)
			if err != nil {
				s.giveBack(ctx, c, names)
			}
			return n, err
		}
		if ftpcore.ReplyCode(err) != ftpcore.StatusFileUnavailable || !c.Usable() {
			return 0, err
		}
		mod, merr := c.ModTime(ctx, names.lock)
		switch {
		case ftpcore.ReplyCode(merr) == ftpcore.StatusFileUnavailable:
			gone = true
			continue
		case merr != nil:
			return 0, merr
		}
		gone = false
		now, _ := s.clock.now()
		if now.Sub(mod) < s.resumableLockStale() {
			return 0, errUploadBusy
		}
		// Its holder is gone: give it back on its behalf, and race for it
		// like anyone else. Of two requests doing so at once, one's RNFR
		// or RNTO fails, and it answers 409.
		if err := c.Rename(ctx, names.lock, names.part); err != nil && ftpcore.ReplyCode(err) != ftpcore.StatusFileUnavailable {
			return 0, err
		}
	}
	if gone {
		return 0, errNoUpload
	}
	return 0, errUploadBusy
}

// findUpload runs onPart on the upload's .part and, if it has none, onLock
// on its .lock, twice over, as a request may rename one to the other in
// between. Neither there: errNoUpload.
func findUpload(names uploadPaths, onPart, onLock func(string) error) error {
	for range 2 {
		err := onPart(names.part)
		if ftpcore.ReplyCode(err) != ftpcore.StatusFileUnavailable {
			return err
		}
		err = onLock(names.lock)
		if ftpcore.ReplyCode(err) != ftpcore.StatusFileUnavailable {
			return err
		}
	}
	return errNoUpload
}

// uploadResource serves HEAD, PATCH and DELETE on an upload resource,
// in the draft's dialect or tus's (tus.go).
func (s *Server) uploadResource(w http.ResponseWriter, r *http.Request) error {
	appendTo := s.appendUpload
	if looksTus(r) {
		if err := tusVersionOK(w, r); err != nil {
			return err
		}
		appendTo = s.tusPatch
	}
	switch r.Method {
	case http.MethodHead:
		return s.uploadOffset(w, r)
	case http.MethodPatch:
		return appendTo(w, r)
	case http.MethodDelete:
		return s.cancelUpload(w, r)
	}
	w.Header().Set("Allow", allowUpload)
	return methodNotAllowed("an upload resource takes HEAD, PATCH and DELETE")
}

// uploadOffset is §4.3: 204 with Upload-Offset, Upload-Complete: ?0 (a
// completed upload is no longer a resource: 404), Upload-Length when
// declared, Upload-Limit and Cache-Control: no-store. For tus's HEAD the
// same, with Upload-Expires. An upload a request of another replica is
// appending to gets 409: its offset is moving.
func (s *Server) uploadOffset(w http.ResponseWriter, r *http.Request) error {
	clean, id, err := s.resumableTarget(r)
	if err != nil {
		return err
	}
	// A request of this replica holding the upload is asked to give it
	// back: the client asking is most likely the one whose append it is,
	// resuming after its connection died unseen (release.go).
	if _, err := s.holds.takeOver(r.Context(), s.holdKey(r, clean, id), nil); err != nil {
		return err
	}
	var mod *time.Time
	if isTus(r) {
		mod = new(time.Time)
	}
	size, complete, err := s.uploadSize(r, clean, id, mod)
	if err != nil {
		return err
	}
	h := w.Header()
	if mod != nil {
		s.setUploadExpires(h, *mod)
	}
	h.Set(hdrUploadOffset, strconv.FormatInt(size, 10))
	h.Set(hdrUploadComplete, "?0")
	switch {
	case complete:
		h.Set(hdrUploadComplete, "?1")
		h.Set(hdrUploadLength, strconv.FormatInt(size, 10))
	case id.length >= 0:
		h.Set(hdrUploadLength, strconv.FormatInt(id.length, 10))
	}
	s.setUploadLimit(h)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// uploadSize returns the offset of the upload id of clean, and if mod is
// not nil its .part's modification time there; an upload another request
// holds is errUploadBusy. For an upload that completed (markCompleted) it
// returns the size it completed with, and complete.
func (s *Server) uploadSize(r *http.Request, clean string, id uploadID, mod *time.Time) (size int64, complete bool, err error) {
	err = s.poolOf(r.Context()).Do(r.Context(), func(c *ftpcore.Conn) error {
		ctx := r.Context()
		names := uploadPathsOf(s.ftpPath(c, clean), id)
		err := findUpload(names, func(part string) (err error) {
			if size, err = c.Size(ctx, part); err != nil || mod == nil {
				return err
			}
			*mod, err = c.ModTime(ctx, part)
			return err
		}, func(lock string) error {
			if _, err := c.Size(ctx, lock); err != nil {
				return err
			}
			return errUploadBusy
		})
		if errors.Is(err, errNoUpload) {
			size, err = s.orCompleted(r, clean, id, err, false)
			complete = err == nil
		}
		return err
	})
	return size, complete, err
}

// appendUpload is §4.4: PATCH with application/partial-upload at the
// upload's offset.
func (s *Server) appendUpload(w http.ResponseWriter, r *http.Request) error {
	clean, id, err := s.resumableTarget(r)
	if err != nil {
		return err
	}
	if mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); !strings.EqualFold(strings.TrimSpace(mt), partialUploadType) {
		return &problem{status: http.StatusUnsupportedMediaType, detail: "an append is a PATCH of type " + partialUploadType,
			header: http.Header{"Accept-Patch": {partialUploadType}}}
	}
	offset, ok := itemInteger(r.Header.Values(hdrUploadOffset))
	if !ok {
		return badRequest("Upload-Offset must be a non-negative integer", nil)
	}
	p, err := readPiece(r, id, offset)
	if err != nil {
		return err
	}
	return s.appendAt(w, r, clean, id, offset, p)
}

// appendAt appends r's body to the upload id of clean, which must be at
// offset.
func (s *Server) appendAt(w http.ResponseWriter, r *http.Request, clean string, id uploadID, offset int64, p piece) error {
	if s.cfg.MaxUploadSize > 0 && r.ContentLength > s.cfg.MaxUploadSize-offset {
		return s.uploadTooLarge(nil)
	}
	pd, err := parsePieceDigests(r, id, p.whole(r, offset))
	if err != nil {
		return err
	}
	s.checkFirst(w, r, &p, pd)
	// An upload another request of this replica holds is taken over: that
	// one ends and gives it back first (release.go).
	key := s.holdKey(r, clean, id)
	h, err := s.holds.takeOver(r.Context(), key, w)
	if err != nil {
		return err
	}
	defer s.holds.end(key, h)
	r.Body = h.body(r.Body)
	var slot transferSlot
	defer s.transfers.release(&slot)
	var names uploadPaths
	ctx, sess, u, err := s.openUpload(r, &slot, func(ctx context.Context, c *ftpcore.Conn) (upload, error) {
		u := upload{full: s.ftpPath(c, clean)}
		names = uploadPathsOf(u.full, id)
		at, err := s.takeUpload(ctx, c, names)
		if err != nil {
			_, err = s.orCompleted(r, clean, id, err, true)
			return u, err
		}
		switch {
		case h.stopped.Load():
			err = errTakenOver
		case at != offset:
			err = mismatchingOffset(at, offset)
		case p.length >= 0 && r.ContentLength >= 0 && offset+r.ContentLength > p.length:
			err = inconsistentLength("the piece passes the declared length")
		case p.verify != nil:
			err = p.verify()
		}
		if err == nil {
			if u.stor, err = c.Appe(ctx, names.lock); err == nil {
				return u, nil
			}
		}
		// Held, but not to be written: given back at once.
		s.giveBack(ctx, c, names)
		return u, err
	})
	if err != nil {
		return h.outcome(err)
	}
	defer sess.Release()
	return s.pieceDone(w, id, h.outcome(s.appendPiece(w, r, ctx, sess.Conn(), clean, id, &u, names, offset, p, pd)))
}

// cancelUpload is §4.5: the upload's file is deleted, held or not (an
// append in progress then fails to give it back, and ends).
func (s *Server) cancelUpload(w http.ResponseWriter, r *http.Request) error {
	clean, id, err := s.resumableTarget(r)
	if err != nil {
		return err
	}
	err = s.poolOf(r.Context()).Do(r.Context(), func(c *ftpcore.Conn) error {
		del := func(p string) error { return c.Delete(r.Context(), p) }
		_, err := s.orCompleted(r, clean, id, findUpload(uploadPathsOf(s.ftpPath(c, clean), id), del, del), true)
		return err
	})
	if err != nil {
		return err
	}
	s.uploads.remove(id.nonce)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pieceDone notes an append that ended with err for the cap on open
// uploads: the upload it completed (its answer says so: the draft's
// Upload-Complete: ?1, or tus's offset at the length) is no longer open;
// one it appended to expires later.
func (s *Server) pieceDone(w http.ResponseWriter, id uploadID, err error) error {
	if err != nil {
		return err
	}
	h := w.Header()
	if h.Get(hdrUploadComplete) == "?1" || h.Get(hdrTusResumable) != "" && h.Get(hdrUploadOffset) == strconv.FormatInt(id.length, 10) {
		s.uploads.remove(id.nonce)
	} else {
		s.uploads.touch(id.nonce)
	}
	return nil
}

// patchWithoutUpload is a PATCH that names no upload: the gateway
// patches nothing else, and answers 405 as before it took PATCH at all.
func (s *Server) patchWithoutUpload(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Allow", s.allowFor(r))
	return errMethodNotAllowed
}
