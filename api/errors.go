package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/httpsem"
	"github.com/ftpgw/ftpgw/pool"
)

// This file is the one place where errors become HTTP statuses and RFC 9457
// problem bodies. Handlers return errors; they never pick a status for an
// FTP failure themselves.

// problem is an error that already knows its status and a detail that is
// safe to show the client. cause, if any, is kept for logs and for the FTP
// reply code.
type problem struct {
	status int
	detail string
	cause  error
	header http.Header // extra response headers (Content-Range on 416)
	// busy is a request turned away because the gateway is busy: its
	// Retry-After is the time it waited (transfers.retryAfter).
	busy bool
	// typ is the problem type's URI, "about:blank" when empty; expected
	// and provided are the offsets of resumable.go's mismatching-offset.
	typ                string
	expected, provided *int64
}

func (p *problem) Error() string {
	if p.cause != nil {
		return p.detail + ": " + p.cause.Error()
	}
	return p.detail
}

func (p *problem) Unwrap() error { return p.cause }

var (
	errMethodNotAllowed = &problem{status: http.StatusMethodNotAllowed, detail: "method not allowed here"}
	// errFileChanged is a file that changed between the gateway's look at
	// it and its RETR, every time it was tried.
	errFileChanged = &problem{status: http.StatusServiceUnavailable, detail: "the file kept changing on the FTP server while it was being read",
		header: http.Header{"Retry-After": {"1"}}}
)

// The challenges of RFC 6750 §3: a request with no bearer token is told
// only the realm; one whose token is unknown, invalid_token too.
var (
	errNoToken = &problem{status: http.StatusUnauthorized, detail: "a bearer token is required",
		header: http.Header{"Www-Authenticate": {`Bearer realm="ftpgw"`}}}
	errBadToken = &problem{status: http.StatusUnauthorized, detail: "the bearer token is not valid",
		header: http.Header{"Www-Authenticate": {`Bearer realm="ftpgw", error="invalid_token"`}}}
)

// The challenge of Basic passthrough (RFC 7617): the credentials are
// UTF-8.
const basicChallenge = `Basic realm="ftpgw", charset="UTF-8"`

var (
	errNoBasic = &problem{status: http.StatusUnauthorized, detail: "a user name and password (HTTP Basic) are required",
		header: http.Header{"Www-Authenticate": {basicChallenge}}}
	errTooManyUsers = &problem{status: http.StatusServiceUnavailable, detail: "the gateway has as many users' sessions open as it may, all busy", busy: true}
)

// transfersUnauthorized is GET /transfers without credentials any backend
// takes: it challenges for a bearer token where a backend has tokens, for
// Basic credentials where one is of Basic passthrough, or both.
func transfersUnauthorized(bearer, basic bool) error {
	switch {
	case bearer && basic:
		return &problem{status: http.StatusUnauthorized, detail: "a bearer token or a user name and password (HTTP Basic) are required",
			header: http.Header{"Www-Authenticate": {`Bearer realm="ftpgw"`, basicChallenge}}}
	case basic:
		return errNoBasic
	}
	return errNoToken
}

// badCredentials is a login of Basic passthrough that the FTP server
// refused (cause); its reply text is not shown, as it may say which of
// user and password was wrong.
func badCredentials(cause error) error {
	return &problem{status: http.StatusUnauthorized, detail: "the FTP server refused the user name or password",
		cause: cause, header: http.Header{"Www-Authenticate": {basicChallenge}}}
}

// tooManyLogins is a login of Basic passthrough refused before it reached
// the FTP server, for the failed logins of its user or address; retry is
// how long until it may be tried again.
func tooManyLogins(detail string, retry time.Duration) error {
	return &problem{status: http.StatusTooManyRequests, detail: detail,
		header: http.Header{"Retry-After": {strconv.Itoa(int(retryAfter(retry).Seconds()))}}}
}

// tokenForbidden is a valid token that may not do this: its scopes lack
// need (scopeOK false), or the path is outside its prefix. The challenge
// names the scope wanted, as RFC 6750 §3.1's insufficient_scope does.
func tokenForbidden(need auth.Scope, scopeOK bool) error {
	detail := "the token's scopes do not include " + need.String()
	if scopeOK {
		detail = "the token does not reach this path"
	}
	return &problem{status: http.StatusForbidden, detail: detail,
		header: http.Header{"Www-Authenticate": {`Bearer realm="ftpgw", error="insufficient_scope", scope="` + need.String() + `"`}}}
}

// The refusals of a signed URL (signed.go) that are not about its
// signature: parameters it may not have, and a token beside it.
var (
	errSignedQuery       = badRequest("a signed URL has no query parameters but its ftpgw- ones, download and format", nil)
	errTokenAndSignature = badRequest("the request has both an Authorization header and a signed URL; send one", nil)
)

// signedRefused is a signed URL that does not authorise the request:
// cause is one of auth's Err variables for signed URLs, and the detail
// says which class of failure it is (malformed, unknown key, a signature
// that does not match, expired, expiring too far ahead, another method),
// never quoting the signature. urlMethod is the method the URL is signed
// for, method the request's; max the backend's SignedURLMaxExpiry.
func signedRefused(cause error, urlMethod, method string, max time.Duration) error {
	detail := cause.Error()
	switch {
	case errors.Is(cause, auth.ErrWrongMethod):
		detail = "the signed URL is for " + urlMethod + ", not " + method
	case errors.Is(cause, auth.ErrExpiryTooFar):
		detail += " (" + max.String() + ")"
	}
	return &problem{status: http.StatusForbidden, detail: detail, cause: cause}
}

// errQueued is a GET that found every transfer place taken (limits.go):
// getFile waits for one without its session, then starts over. It never
// reaches the client.
var errQueued = errors.New("api: waiting for a transfer place")

// transfersFull is a transfer that waited for a place of Config.MaxTransfers
// as long as a request waits for a session, in vain (cause).
func transfersFull(cause error) error {
	return &problem{status: http.StatusServiceUnavailable, detail: "all transfer places of the backend stayed taken", cause: cause, busy: true}
}

// clientTransfersFull is a transfer of a client that has limit under way
// (Config.MaxClientTransfers) already.
func clientTransfersFull(limit int) error {
	return &problem{status: http.StatusTooManyRequests, detail: "this client already has the most transfers under way it may have at once: " + strconv.Itoa(limit), busy: true}
}

// clientUploadsFull is a resumable upload's creation by a client that has
// limit open already (Config.MaxClientUploads); retry is how long until
// the first of them expires.
func clientUploadsFull(limit int, retry time.Duration) error {
	return &problem{status: http.StatusTooManyRequests,
		detail: "this client has the most open resumable uploads it may have: " + strconv.Itoa(limit) + "; complete or cancel one first",
		header: http.Header{"Retry-After": {strconv.Itoa(int(retryAfter(retry).Seconds()))}}}
}

func badRequest(detail string, cause error) error {
	return &problem{status: http.StatusBadRequest, detail: detail, cause: cause}
}

// clientStalled is a request body that stopped arriving for the client idle
// timeout, or broke another clientLimits rule: the client's fault, not the
// FTP server's.
func clientStalled(cause error) error {
	detail := "the request body stalled"
	var slow *clientTooSlow
	if errors.As(cause, &slow) {
		detail = "the request body came too slowly: " + slow.why
	}
	return &problem{status: http.StatusRequestTimeout, detail: detail, cause: cause}
}

// uploadTooLarge is a PUT body over Config.MaxUploadSize: announced by its
// Content-Length, or found so while streaming (cause).
func uploadTooLarge(limit int64, cause error) error {
	return &problem{status: http.StatusRequestEntityTooLarge, detail: "the body is larger than the " + strconv.FormatInt(limit, 10) + " bytes an upload may have", cause: cause}
}

// badDigestField is an upload's Content-Digest or Repr-Digest (field)
// that cannot be read; why says how, without quoting it.
func badDigestField(field, why string) error {
	return badRequest("the "+field+" field "+why, nil)
}

// digestMismatch is an upload whose body does not match the digest field
// gives of it with algo: the body, or the digest, was damaged on its way.
// 400, as a Content-MD5 that did not match was: the request contradicts
// itself, and repeating it unchanged cannot succeed (422 would say that
// the content is sound but its meaning unacceptable).
func digestMismatch(field, algo string) error {
	return badRequest("the body does not match its "+field+" ("+algo+"); nothing was stored", nil)
}

func conflict(detail string, cause error) error {
	return &problem{status: http.StatusConflict, detail: detail, cause: cause}
}

// errLinkRefused is the cause of every refusal of the link policy.
var errLinkRefused = errors.New("api: refused by the link policy")

// linkRefusal is a path the link policy refuses: to the client, a path
// that is not there.
func linkRefusal(detail string) error {
	return &problem{status: http.StatusNotFound, detail: detail, cause: errLinkRefused}
}

func notFound(detail string) error {
	return &problem{status: http.StatusNotFound, detail: detail}
}

// The FTP server's refusals of a read or a write, as a look at the path
// and its parent explained them (files.go, whyRefused): the same situation
// gets the same answer from every server, whatever its reply's words.
const (
	detailDeniedChange = "the FTP server denied the change to this file"
	detailDeniedWrite  = "the FTP server denied writing in this directory"
	detailDeniedRead   = "the FTP server denied reading this file"
	detailDeniedRemove = "the FTP server denied removing this directory"
	detailNoParent     = "the parent directory does not exist"
	detailNoSuchFile   = "no such file or directory"
	detailBadName      = "the FTP server rejected the name"
)

// denied is a path the FTP server would not let the account read or
// change, though a look found it there.
func denied(detail string, cause error) error {
	return &problem{status: http.StatusForbidden, detail: detail, cause: cause}
}

// isProblem reports whether err is a problem already.
func isProblem(err error) bool {
	var p *problem
	return errors.As(err, &p)
}

// isDenied reports whether err is one of denied's.
func isDenied(err error) bool {
	var p *problem
	return errors.As(err, &p) && p.status == http.StatusForbidden
}

// vanished is a path the FTP server refused to act on, which a look then did
// not find.
func vanished(cause error) error {
	return &problem{status: http.StatusNotFound, detail: detailNoSuchFile, cause: cause}
}

func methodNotAllowed(detail string) error {
	return &problem{status: http.StatusMethodNotAllowed, detail: detail}
}

// unsupportedMediaType is a request body the method does not take.
func unsupportedMediaType(detail string) error {
	return &problem{status: http.StatusUnsupportedMediaType, detail: detail}
}

func preconditionFailed() error {
	return &problem{status: http.StatusPreconditionFailed, detail: "a precondition in the request headers does not hold"}
}

func rangeNotSatisfiable(size int64) error {
	h := http.Header{}
	h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
	return &problem{status: http.StatusRequestedRangeNotSatisfiable, detail: "the range does not overlap the file", header: h}
}

// linksUnsupported is an FTP server that cannot tell the link policy
// whether a path is a symbolic link: it refuses STAT of a path. Every file
// would be refused as if missing; the gateway says why instead.
func linksUnsupported(cause error) error {
	return &problem{status: http.StatusBadGateway, detail: "the FTP server does not describe a path with STAT, which the link policy needs to tell symbolic links (the follow policy does not)", cause: cause}
}

func upstreamMismatch(detail string) error {
	return &problem{status: http.StatusBadGateway, detail: detail}
}

// errDraining is /readyz's error once the gateway drains (Server.Drain).
var errDraining = &problem{status: http.StatusServiceUnavailable, detail: "draining: the gateway is shutting down"}

// noRoute is the error of a path outside every mount.
func noRoute(mounts []string) error {
	return &problem{status: http.StatusNotFound, detail: "no such route; files are served under " + strings.Join(mounts, ", ")}
}

// notReadyBackends is /readyz's error when the named backends cannot
// serve.
func notReadyBackends(names []string, err error) error {
	return &problem{status: http.StatusServiceUnavailable, detail: "no FTP session can be had of backend " + strings.Join(names, ", "), cause: err}
}

// errClientGone marks a request whose client went away or sent a broken
// body; 499 is what the logs say, the client rarely sees anything.
const statusClientClosed = 499

// classified is what an error means for the HTTP response.
type classified struct {
	status     int
	detail     string
	ftpCode    int
	ftpMsg     string
	retryAfter retry
	header     http.Header
	// typ, expected and provided are the problem's (resumable.go).
	typ                string
	expected, provided *int64
}

// retry is whether, and when, a response asks the client to try again.
type retry int

const (
	retryNone retry = iota
	// retrySoon is Retry-After: 1, for a state of the FTP server's.
	retrySoon
	// retryBusy is a request turned away because the gateway is busy:
	// Retry-After is the time it waited (transfers.retryAfter).
	retryBusy
)

func classify(err error) classified {
	var c classified
	var fe *ftpcore.Error
	if errors.As(err, &fe) {
		c.ftpCode, c.ftpMsg = fe.Code, fe.Msg
	}
	var p *problem
	var ce *pool.ConnectError
	var pe *ftpcore.ProtocolError
	switch {
	case errors.As(err, &p):
		c.status, c.detail, c.header = p.status, p.detail, p.header
		c.typ, c.expected, c.provided = p.typ, p.expected, p.provided
		if p.busy {
			c.retryAfter = retryBusy
		}
	case errors.Is(err, httpsem.ErrBadPath):
		c.status, c.detail = http.StatusBadRequest, err.Error()
	case errors.Is(err, ftpcore.ErrBadArgument):
		c.status, c.detail = http.StatusBadRequest, "the path contains a control character"
	case errors.Is(err, ftpcore.ErrLineTooLong):
		c.status, c.detail = http.StatusBadRequest, "the path is too long for the FTP server"
	case errors.Is(err, pool.ErrExhausted):
		c.status, c.detail, c.retryAfter = http.StatusServiceUnavailable, "all FTP sessions are busy", retryBusy
	case errors.Is(err, pool.ErrClosed):
		c.status, c.detail, c.retryAfter = http.StatusServiceUnavailable, "the gateway is shutting down", retrySoon
	case errors.As(err, &ce):
		switch {
		case pool.IsRefusal(err):
			c.status, c.detail, c.retryAfter = http.StatusServiceUnavailable, "the FTP server is not taking connections", retrySoon
		case c.ftpCode != 0:
			c.status, c.detail = http.StatusBadGateway, "the FTP server refused the login"
		case ftpcore.IsTimeout(err):
			c.status, c.detail = http.StatusGatewayTimeout, "timed out connecting to the FTP server"
		default:
			c.status, c.detail = http.StatusBadGateway, "cannot connect to the FTP server"
		}
	case fe != nil:
		c.status, c.detail, c.retryAfter = statusForReply(fe)
	case errors.Is(err, context.Canceled), errors.Is(err, errClientLeft):
		c.status, c.detail = statusClientClosed, "the client went away"
	case errors.Is(err, ftpcore.ErrDataConn) && ftpcore.IsTimeout(err):
		c.status, c.detail = http.StatusGatewayTimeout, "timed out opening a data connection to the FTP server"
	case errors.Is(err, ftpcore.ErrDataConn):
		c.status, c.detail = http.StatusBadGateway, "cannot open a data connection to the FTP server"
	case ftpcore.IsTimeout(err):
		c.status, c.detail = http.StatusGatewayTimeout, "the FTP server did not answer in time"
	case errors.As(err, &pe):
		c.status, c.detail = http.StatusBadGateway, "the FTP server sent a malformed reply"
	case ftpcore.IsConnLost(err), errors.Is(err, ftpcore.ErrUnusable):
		c.status, c.detail = http.StatusBadGateway, "the FTP server closed the connection"
	default:
		c.status, c.detail = http.StatusInternalServerError, "internal error"
	}
	return c
}

// statusForReply maps an FTP reply code (RFC 959 §4.2) to a status.
func statusForReply(e *ftpcore.Error) (status int, detail string, retryAfter retry) {
	switch e.Code {
	case ftpcore.StatusFileUnavailable:
		if isPermissionText(e.Msg) {
			return http.StatusForbidden, "the FTP server denied access", retryNone
		}
		if e.Cmd == "RNFR" || e.Cmd == "RNTO" {
			// Only a PUT renames: its complete temporary file over the
			// target ("550 Rename failed." from vsftpd). The client asked
			// for no file that could be missing, so not 404. A refused
			// RNTO comes here only when the look into it (whyRefused)
			// found nothing to say.
			return http.StatusBadGateway, "the FTP server refused to move the upload into place", retryNone
		}
		return http.StatusNotFound, detailNoSuchFile, retryNone
	case ftpcore.StatusBadFileName, ftpcore.StatusBadArguments:
		return http.StatusBadRequest, detailBadName, retryNone
	case ftpcore.StatusExceededStorage, ftpcore.StatusInsufficientSpace:
		return http.StatusInsufficientStorage, "the FTP server is out of space", retryNone
	case ftpcore.StatusNotAvailable:
		return http.StatusServiceUnavailable, "the FTP server is not available", retrySoon
	case ftpcore.StatusFileActionIgnored:
		return http.StatusServiceUnavailable, "the file is busy on the FTP server", retrySoon
	case ftpcore.StatusNotLoggedIn, ftpcore.StatusStorNeedAccount:
		return http.StatusBadGateway, "the FTP server refused the login", retryNone
	case ftpcore.StatusCannotOpenData, ftpcore.StatusTransferAborted:
		return http.StatusBadGateway, "the FTP data connection failed", retryNone
	}
	return http.StatusBadGateway, "the FTP server refused the request", retryNone
}

// isPermissionText tells a 550 that means "forbidden" from one that means
// "missing": the code is the same, only the text differs.
func isPermissionText(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{"permission denied", "access denied", "not permitted", "forbidden", "access is denied"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// printable returns the FTP server's words with every control character
// (NUL, ESC, CR and the like) as U+FFFD: JSON would escape them, but a
// client that prints the message would then run a hostile server's
// terminal escapes.
func printable(msg string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '\uFFFD'
		}
		return r
	}, msg)
}

// problemBody is the RFC 9457 document.
type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	FTPCode   int    `json:"ftp_code,omitempty"`
	// FTPMessage is what the FTP server said, on 5xx responses only: it
	// helps whoever runs the gateway, and 4xx responses have no need of
	// the server's wording (which can name server-side paths).
	FTPMessage string `json:"ftp_message,omitempty"`
	// ExpectedOffset and ProvidedOffset are the members of the
	// mismatching-upload-offset problem type (resumable.go).
	ExpectedOffset *int64 `json:"expected-offset,omitempty"`
	ProvidedOffset *int64 `json:"provided-offset,omitempty"`
}

// errClientLeft marks an error of a response's bytes that the client's
// end of the connection caused: it reset or closed it.
var errClientLeft = errors.New("the client's connection is gone")

// transferResult names how a transfer that ended with err (nil: whole)
// went, for ftpgw_transfers_finished_total.
func transferResult(err error) string {
	if err == nil {
		return "ok"
	}
	c := classify(err)
	switch {
	case c.status == statusClientClosed || c.status == http.StatusRequestTimeout:
		return "client_gone"
	case c.status == http.StatusGatewayTimeout:
		return "timeout"
	case c.ftpCode != 0 || c.status == http.StatusBadGateway:
		return "ftp_error"
	}
	return "error"
}

// writeError renders err as a problem response, unless the response has
// already begun, in which case the connection is aborted so the client can
// not mistake a truncated body for a complete one.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if s.cfg.Users != nil && pool.IsLoginFailure(err) && !isProblem(err) {
		// A session dialled for a user's open pool was refused its
		// login: the password changed on the FTP server.
		err = badCredentials(err)
	}
	c := classify(err)
	info := requestInfoFrom(r.Context())
	if info != nil {
		info.err = err
		if c.ftpCode != 0 {
			info.ftpCode = c.ftpCode
		}
	}
	if c.ftpCode != 0 {
		s.metrics.ftpError(s.name, c.ftpCode)
	}
	if info != nil && info.headerSent {
		panic(http.ErrAbortHandler)
	}
	if c.status == statusClientClosed {
		if info != nil {
			info.status = statusClientClosed
		}
		return
	}
	h := w.Header()
	for k, v := range c.header {
		h[k] = v
	}
	switch c.retryAfter {
	case retryBusy:
		h.Set("Retry-After", s.transfers.retryAfter())
	case retrySoon:
		h.Set("Retry-After", "1")
	}
	// Validators, lengths and the disposition set for the success path
	// must not describe the problem document.
	for _, k := range []string{"ETag", "Last-Modified", "Content-Length", "Accept-Ranges", "Content-Disposition", "Repr-Digest"} {
		h.Del(k)
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", fileCSP)
	body := problemBody{
		Type:     cmp.Or(c.typ, "about:blank"),
		Title:    cmp.Or(http.StatusText(c.status), statusTitles[c.status]),
		Status:   c.status,
		Detail:   c.detail,
		Instance: r.URL.Path,
		FTPCode:  c.ftpCode,

		ExpectedOffset: c.expected,
		ProvidedOffset: c.provided,
	}
	if info != nil {
		body.RequestID = info.id
	}
	if c.status >= 500 && c.ftpCode != 0 {
		body.FTPMessage = printable(c.ftpMsg)
	}
	b, _ := json.Marshal(body)
	b = append(b, '\n')
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(c.status)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}
