package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// Signed URLs (auth/sign.go says how they are made): a file's URL with
// ftpgw-method, ftpgw-expires, ftpgw-key and ftpgw-signature, which
// authorises one method on one path until its expiry without a token, so
// that a browser can download or upload a file with no credentials of its
// own. A URL signed for GET allows HEAD too; for a directory's path, its
// listing; nothing else. Besides its four parameters a signed URL may
// carry download (save the file rather than display it) and format (a
// listing's JSON or HTML), which grant nothing more, and no other: a parameter the gateway does not sign
// could one day change what a request does. A path is signed as the
// gateway serves it, decoded and cleaned, so the spellings of one file
// (%41 for A, %2F for a slash, "//", "/./", a final slash) verify alike.

// signPath is where token holders have URLs signed: outside every mount
// (ValidMount refuses it).
const signPath = "/signed-urls"

// signedParamPrefix starts the name of every parameter of a signed URL.
const signedParamPrefix = "ftpgw-"

// checkSigned authorises r by its signed URL when r has no Authorization
// header (authz) and its query has ftpgw- parameters: ok when they verify
// for r's method and path now, the refusal (403, or 400 for parameters a
// signed URL may not have) when they do not. It returns neither for a
// request with no ftpgw- parameter, which its token then decides. A
// request with both a header and an ftpgw-signature is refused, as S3
// refuses two ways of authenticating one request: the client cannot have
// meant both (a look for the name in the raw query, nothing more on a
// token's way). The request's log line names the key, never the
// signature.
func (s *Server) checkSigned(r *http.Request, authz string) (ok bool, err error) {
	if authz != "" {
		if strings.Contains(r.URL.RawQuery, auth.ParamSignature) {
			return false, errTokenAndSignature
		}
		return false, nil
	}
	u, present, err := signedQuery(r.URL.RawQuery)
	if !present || err != nil {
		return false, err
	}
	clean, _, err := s.filesPath(r)
	if err != nil {
		// Signed paths are clean: one with ".." was signed for no URL.
		return false, signedRefused(auth.ErrBadSignature, u.Method, r.Method, s.cfg.SignedURLMaxExpiry)
	}
	if err := s.cfg.Signer.Verify(u, r.Method, s.signedPath(clean), time.Now(), s.cfg.SignedURLMaxExpiry); err != nil {
		return false, signedRefused(err, u.Method, r.Method, s.cfg.SignedURLMaxExpiry)
	}
	if info := requestInfoFrom(r.Context()); info != nil {
		info.signedKey = u.KeyID
	}
	return true, nil
}

// signedQuery reads the ftpgw- parameters of a raw query: present says
// whether it has any. A parameter given twice, or whose value does not
// decode, or an ftpgw- one the gateway does not know, makes the URL
// malformed (403); another parameter but download and format, a 400.
func signedQuery(raw string) (u auth.SignedURL, present bool, err error) {
	var malformed, foreign bool
	seen := map[string]bool{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, kerr := url.QueryUnescape(k)
		var field *string
		switch {
		case kerr != nil:
			foreign = true
			continue
		case k == "download", k == "format":
			continue
		case k == auth.ParamMethod:
			field = &u.Method
		case k == auth.ParamExpires:
			field = &u.Expires
		case k == auth.ParamKey:
			field = &u.KeyID
		case k == auth.ParamSignature:
			field = &u.Signature
		case strings.HasPrefix(k, signedParamPrefix):
			present, malformed = true, true
			continue
		default:
			foreign = true
			continue
		}
		present = true
		v, verr := url.QueryUnescape(v)
		if verr != nil || seen[k] {
			malformed = true
		}
		seen[k] = true
		*field = v
	}
	switch {
	case !present:
		return u, false, nil
	case foreign:
		return u, true, errSignedQuery
	case malformed:
		return u, true, signedRefused(auth.ErrSignatureMalformed, "", "", 0)
	}
	return u, true, nil
}

// signedPath is the path a URL of clean (a path under s's mount, as
// filesPath returns it) is signed for: the whole URL path, cleaned as
// httpsem.CleanPath cleans it.
func (s *Server) signedPath(clean string) string {
	if clean == "/" {
		return s.mountDir
	}
	return s.mountDir + clean
}

// backendOf is the backend whose mount holds the URL path p, the longest
// if mounts nest, or nil.
func (s *Server) backendOf(p string) *Server {
	var found *Server
	for _, b := range s.backends {
		if (p == b.mountDir || strings.HasPrefix(p, b.mount)) && (found == nil || len(b.mount) > len(found.mount)) {
			found = b
		}
	}
	return found
}

// signRequest is the body of POST /signed-urls.
type signRequest struct {
	// Method is GET, HEAD, PUT or DELETE.
	Method string `json:"method"`
	// Path is the URL path, a mount's included, percent-escaped as in a
	// URL ("/files/a%20b.txt"; a space as is works too, a % in a name is
	// %25). A final slash asks for a directory's URL (its listing).
	Path string `json:"path"`
	// ExpiresIn is how long the URL is valid, as Go writes durations
	// ("15m", "2h30m"): auth.DefaultExpiry if empty, at most the
	// backend's SignedURLMaxExpiry.
	ExpiresIn string `json:"expires_in"`
}

// signResponse is POST /signed-urls's answer.
type signResponse struct {
	// URL is relative, a path and a query: behind a proxy or an ingress
	// the gateway cannot tell the scheme and host its clients reach it
	// by, and a URL resolved against the one the client used is right.
	URL    string `json:"url"`
	Method string `json:"method"`
	// Expires is the instant the URL stops working, RFC 3339 in UTC.
	Expires string `json:"expires"`
}

// maxSignRequest bounds the body of POST /signed-urls: a path is at most a
// few KiB.
const maxSignRequest = 64 << 10

// signURL answers POST /signed-urls: it signs a URL for the method and
// path of the JSON body (signRequest), of the backend whose mount holds
// the path, for a holder of a token of that backend whose scopes and
// prefix allow that method on that path. A backend without tokens (open
// to anyone, or of Basic passthrough, where a request's own credentials
// are the FTP login) accepts no signed URL and signs none. The answer is
// 201 with signResponse; nothing is stored, the URL is its own proof.
// Cache-Control: no-store, since the URL is a credential until it
// expires.
func (s *Server) signURL(w http.ResponseWriter, r *http.Request) error {
	var req signRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxSignRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return badRequest(`the body must be a JSON object of "method", "path" and "expires_in"`, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("the body must hold one JSON object and nothing after it", nil)
	}
	if !auth.Signable(req.Method) {
		return badRequest(`"method" must be GET, HEAD, PUT or DELETE`, nil)
	}
	p, err := url.PathUnescape(req.Path)
	if err != nil || !strings.HasPrefix(p, "/") {
		return badRequest(`"path" must be a URL path starting with /, percent-escaped as in a URL`, err)
	}
	b := s.backendOf(p)
	if b == nil {
		return badRequest(`"path" is in no mount of this gateway (`+strings.Join(s.mounts(), ", ")+")", nil)
	}
	clean, dir, err := httpsem.CleanPath(strings.TrimPrefix(p, b.mountDir))
	if err != nil {
		return err
	}
	if b.cfg.Signer == nil || b.cfg.Tokens == nil {
		return badRequest("the backend mounted at "+b.mount+" accepts no signed URLs", nil)
	}
	d := auth.DefaultExpiry
	if req.ExpiresIn != "" {
		if d, err = time.ParseDuration(req.ExpiresIn); err != nil || d < time.Second {
			return badRequest(`"expires_in" must be a duration of a second or more, such as 15m or 2h`, nil)
		}
	}
	if d > b.cfg.SignedURLMaxExpiry {
		return badRequest(`"expires_in" is longer than the `+b.cfg.SignedURLMaxExpiry.String()+" a signed URL of this backend may be valid", nil)
	}
	tok, err := b.lookupToken(r, r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	need := methodScope(req.Method)
	if !tok.Allows(need, clean) {
		return tokenForbidden(need, tok.Scopes&need == need)
	}
	expires := time.Now().Add(d)
	signed := b.signedPath(clean)
	u := b.cfg.Signer.Sign(req.Method, signed, expires)
	if dir {
		signed += "/"
	}
	// Not escaped for HTML: the URL's & reads as itself, for people and
	// shell scripts; the answer is application/json, never a page.
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(signResponse{
		URL:     (&url.URL{Path: signed}).EscapedPath() + "?" + u.Query(),
		Method:  req.Method,
		Expires: time.Unix(expires.Unix(), 0).UTC().Format(time.RFC3339),
	}); err != nil {
		return err
	}
	if info := requestInfoFrom(r.Context()); info != nil {
		info.signedKey = u.KeyID
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	w.Write(body.Bytes())
	return nil
}

// mounts are the mounts of the backends s knows.
func (s *Server) mounts() []string {
	m := make([]string, len(s.backends))
	for i, b := range s.backends {
		m[i] = b.mount
	}
	return m
}
