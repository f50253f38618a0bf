package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The CORS protocol of the Fetch standard (fetch.spec.whatwg.org, "HTTP
// CORS protocol"): what lets a page of another origin call a backend with
// fetch() and read the answer. A browser asks first, with a preflight
// (OPTIONS with Origin and Access-Control-Request-Method), before any
// request that a form could not have sent (PUT, DELETE, an Authorization
// or If-Match header...); it hands the page a response only if that
// response allows the page's origin. The gateway answers preflights under
// the backend's mount without authentication (they carry no credentials,
// and they reach no FTP server), and marks every response under the
// mount for an allowed origin, errors and the 401 of a missing token
// included, so that the page can tell what went wrong. Whether a page may
// read a response is for the browser to enforce: a request from an origin
// not allowed is served as any other, without the headers.
//
// Only the mount is covered: /healthz, /readyz and /metrics are for
// probes and operators, not for pages.

// DefaultCORSMaxAge is how long a browser may keep a preflight's answer
// when CORS.MaxAge is zero: long enough that a page does not ask before
// every request, short enough that a change of policy reaches browsers
// soon. (Chromium keeps one two hours at most, Firefox a day.)
const DefaultCORSMaxAge = 10 * time.Minute

// The defaults of CORS's lists. They are what the gateway's own protocol
// needs: ranges and conditional requests, bearer tokens, and resumable
// uploads (the IETF's draft and tus), request ids and digests.
var (
	corsDefaultMethods = []string{"GET", "HEAD", "PUT", "DELETE", "POST", "PATCH", "OPTIONS", "MKCOL", "MOVE"}
	corsDefaultHeaders = []string{
		"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
		"Authorization", "Content-Type", "X-Request-Id", "Destination", "Overwrite",
		"Upload-Complete", "Upload-Draft-Interop-Version", "Upload-Offset", "Upload-Length",
		"Tus-Resumable", "Upload-Metadata", "Upload-Concat", "Upload-Checksum", "Upload-Defer-Length",
		"Content-Digest", "Repr-Digest", "Want-Content-Digest", "Want-Repr-Digest",
	}
	corsDefaultExposed = []string{
		"Content-Range", "Accept-Ranges", "Content-Length", "ETag", "Last-Modified", "Content-Disposition",
		"Location", "Retry-After", "X-Request-Id", "Repr-Digest", "WWW-Authenticate", "Allow",
		"Upload-Offset", "Upload-Length", "Upload-Complete", "Upload-Limit", "Upload-Expires",
		"Tus-Resumable", "Tus-Version", "Tus-Extension", "Tus-Max-Size",
	}
)

// CORS is one backend's policy for the cross-origin requests of browsers
// (Config.CORS). Validate says whether it is sound; New panics on one
// that is not. The Server does not change it, nor must the caller once it
// is passed to New.
type CORS struct {
	// AllowedOrigins are the origins whose pages may call the backend,
	// each written as a browser sends it in Origin:
	//
	//   - exact: scheme://host, with :port unless it is the scheme's
	//     default ("https://app.example.com", "http://localhost:3000");
	//     scheme and host are compared without regard to case, and
	//     "https://app.example.com:443" is "https://app.example.com";
	//   - a pattern with * as the whole first label of the host, standing
	//     for one or more DNS labels: "https://*.example.com" allows
	//     https://a.example.com and https://a.b.example.com, on the
	//     default port only, but neither https://example.com nor
	//     http://a.example.com; the host after "*." has two labels at
	//     least;
	//   - "*" alone: any origin, the gateway then answering
	//     Access-Control-Allow-Origin: *. Not with AllowCredentials.
	//
	// Required: a CORS with no origin allows nothing, and is refused.
	AllowedOrigins []string
	// AllowedMethods, when not empty, replace the default methods a page
	// may use (GET, HEAD, PUT, DELETE, POST, PATCH, OPTIONS, MKCOL,
	// MOVE): a backend that pages may only read lists GET and HEAD. A browser sends GET,
	// HEAD and POST without asking, whatever the list says. Methods are
	// compared with case (fetch() upper-cases only DELETE, GET, HEAD,
	// OPTIONS, POST and PUT).
	AllowedMethods []string
	// AllowedHeaders are request headers a page may send besides the
	// defaults, which stay: Range, If-Range, If-Match, If-None-Match,
	// If-Modified-Since, If-Unmodified-Since, Authorization,
	// Content-Type, X-Request-Id, Destination and Overwrite (of MOVE), and
	// the headers of resumable uploads
	// (Upload-Complete, Upload-Draft-Interop-Version, Upload-Offset,
	// Upload-Length, Tus-Resumable, Upload-Metadata, Upload-Concat,
	// Upload-Checksum, Upload-Defer-Length) and digests (Content-Digest,
	// Repr-Digest, Want-Content-Digest, Want-Repr-Digest). Compared
	// without case.
	AllowedHeaders []string
	// ExposedHeaders are response headers a page may read besides the
	// defaults, which stay: Content-Range, Accept-Ranges, Content-Length,
	// ETag, Last-Modified, Content-Disposition, Location, Retry-After,
	// X-Request-Id, Repr-Digest, WWW-Authenticate, Allow and those of
	// resumable uploads (Upload-Offset, Upload-Length, Upload-Complete,
	// Upload-Limit, Upload-Expires, Tus-Resumable, Tus-Version,
	// Tus-Extension, Tus-Max-Size).
	ExposedHeaders []string
	// MaxAge is how long a browser may keep a preflight's answer, in
	// whole seconds (Access-Control-Max-Age). Zero means
	// DefaultCORSMaxAge; negative, not at all (0).
	MaxAge time.Duration
	// AllowCredentials lets pages send cookies and HTTP authentication
	// the browser holds for the gateway, and read the answers
	// (Access-Control-Allow-Credentials: true). A bearer token a page
	// sets itself in Authorization needs no credentials. With it, the
	// origin is always echoed, never "*", and AllowedOrigins must not be
	// "*".
	AllowCredentials bool
}

// Validate reports what is wrong with c, as a *CORSError naming the entry:
// an origin that is not scheme://host[:port] or a pattern as
// AllowedOrigins describes, "*" beside other origins or with
// AllowCredentials, no origin at all, or a method or header that is not
// an HTTP token.
func (c *CORS) Validate() error {
	_, err := c.compile()
	return err
}

// CORSError is what Validate finds wrong with a CORS: Field is the name of
// the field at fault (AllowedOrigins, AllowedMethods, AllowedHeaders or
// ExposedHeaders), for a caller to name its own setting; Err says which
// entry and why.
type CORSError struct {
	Field string
	Err   error
}

func (e *CORSError) Error() string { return e.Err.Error() }
func (e *CORSError) Unwrap() error { return e.Err }

func corsErrorf(field, format string, args ...any) error {
	return &CORSError{Field: field, Err: fmt.Errorf(format, args...)}
}

// corsPolicy is a CORS made ready for requests: every header value it
// sends is made once, here, and shared by the responses (never modified in
// place: each slice's capacity is its length, so an Add copies it).
type corsPolicy struct {
	anyOrigin bool
	// exact maps an allowed origin, as a browser serialises it, to the
	// value of Access-Control-Allow-Origin for it: itself.
	exact    map[string][]string
	patterns []originPattern
	// headers are the allowed request headers, lower-case.
	headers     map[string]bool
	methods     []string // Access-Control-Allow-Methods
	exposed     []string // Access-Control-Expose-Headers
	maxAge      []string // Access-Control-Max-Age
	credentials bool
}

// originPattern is an allowed origin with * in its host: any host that is
// one or more labels and then suffix (".example.com").
type originPattern struct{ scheme, suffix, port string }

var (
	corsStar          = []string{"*"}
	corsTrue          = []string{"true"}
	corsVaryActual    = []string{"Origin"}
	corsVaryPreflight = []string{"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}
)

// compile checks c and makes its policy.
func (c *CORS) compile() (*corsPolicy, error) {
	if len(c.AllowedOrigins) == 0 {
		return nil, corsErrorf("AllowedOrigins", "no allowed origin: give the origins whose pages may call the gateway, or * for any")
	}
	p := &corsPolicy{exact: map[string][]string{}, headers: map[string]bool{}, credentials: c.AllowCredentials}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			if len(c.AllowedOrigins) > 1 {
				return nil, corsErrorf("AllowedOrigins", `allowed origin "*" stands for every origin and must be the only one`)
			}
			if c.AllowCredentials {
				return nil, corsErrorf("AllowedOrigins", `allowed origin "*" cannot be combined with credentials: browsers refuse a wildcard with credentials; list the origins`)
			}
			p.anyOrigin = true
			continue
		}
		if rest, ok := strings.CutPrefix(o, "*"); ok && !strings.Contains(rest, "*") {
			return nil, corsErrorf("AllowedOrigins", "allowed origin %q: a pattern needs a scheme, as in https://*.example.com", o)
		}
		po, err := parseOrigin(o, true)
		if err != nil {
			return nil, corsErrorf("AllowedOrigins", "allowed origin %q: %v", o, err)
		}
		if suffix, ok := strings.CutPrefix(po.host, "*"); ok {
			p.patterns = append(p.patterns, originPattern{scheme: po.scheme, suffix: suffix, port: po.port})
			continue
		}
		s := po.String()
		p.exact[s] = []string{s}
	}
	methods := c.AllowedMethods
	if len(methods) == 0 {
		methods = corsDefaultMethods
	}
	for _, m := range methods {
		if !isToken(m) {
			return nil, corsErrorf("AllowedMethods", "allowed method %q is not an HTTP method name", m)
		}
	}
	for _, h := range append(corsDefaultHeaders[:len(corsDefaultHeaders):len(corsDefaultHeaders)], c.AllowedHeaders...) {
		if !isToken(h) {
			return nil, corsErrorf("AllowedHeaders", "allowed header %q is not an HTTP field name", h)
		}
		p.headers[strings.ToLower(h)] = true
	}
	exposed := append(corsDefaultExposed[:len(corsDefaultExposed):len(corsDefaultExposed)], c.ExposedHeaders...)
	for _, h := range c.ExposedHeaders {
		if !isToken(h) {
			return nil, corsErrorf("ExposedHeaders", "exposed header %q is not an HTTP field name", h)
		}
	}
	maxAge := c.MaxAge
	switch {
	case maxAge == 0:
		maxAge = DefaultCORSMaxAge
	case maxAge < 0:
		maxAge = 0
	case maxAge < time.Second:
		maxAge = time.Second
	}
	p.methods = []string{strings.Join(methods, ", ")}
	p.exposed = []string{strings.Join(exposed, ", ")}
	p.maxAge = []string{strconv.FormatInt(int64(maxAge/time.Second), 10)}
	return p, nil
}

// LogValue implements slog.LogValuer: c as the startup log shows it, "off"
// for none.
func (c *CORS) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("off")
	}
	maxAge := c.MaxAge
	if maxAge == 0 {
		maxAge = DefaultCORSMaxAge
	}
	attrs := []slog.Attr{slog.String("origins", strings.Join(c.AllowedOrigins, ","))}
	for _, l := range []struct {
		key  string
		list []string
	}{{"methods", c.AllowedMethods}, {"extra_headers", c.AllowedHeaders}, {"extra_exposed_headers", c.ExposedHeaders}} {
		if len(l.list) > 0 {
			attrs = append(attrs, slog.String(l.key, strings.Join(l.list, ",")))
		}
	}
	attrs = append(attrs, slog.String("max_age", max(maxAge, 0).String()), slog.Bool("credentials", c.AllowCredentials))
	return slog.GroupValue(attrs...)
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2): what a
// method or a field name is.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// origin is an origin as a browser serialises it (HTML's "ASCII
// serialization of an origin"): lower-case scheme and host, the port only
// when it is not the scheme's default.
type origin struct{ scheme, host, port string }

func (o origin) String() string {
	if o.port == "" {
		return o.scheme + "://" + o.host
	}
	return o.scheme + "://" + o.host + ":" + o.port
}

// defaultPorts are the ports a browser leaves out of an origin.
var defaultPorts = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443"}

// parseOrigin reads scheme://host[:port]. With pattern, the host may begin
// with "*." followed by two labels at least. The error says what is
// wrong, for an operator's configuration; a request's Origin that does not
// parse is simply not allowed.
func parseOrigin(s string, pattern bool) (origin, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !validScheme(scheme) {
		return origin{}, errors.New("an origin is scheme://host[:port], such as https://app.example.com")
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return origin{}, fmt.Errorf("an origin has no path, query or fragment: write %s://%s", scheme, rest[:i])
	}
	if strings.Contains(rest, "@") {
		return origin{}, errors.New("an origin has no user name or password")
	}
	o := origin{scheme: strings.ToLower(scheme)}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return origin{}, errors.New("the IPv6 address has no closing ]")
		}
		host, rest = rest[:end+1], rest[end+1:]
		if rest != "" {
			if port, ok = strings.CutPrefix(rest, ":"); !ok {
				return origin{}, errors.New("only :port may follow the IPv6 address")
			}
		}
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return origin{}, fmt.Errorf("%s is not an IPv6 address", host)
		}
		o.host = "[" + a.String() + "]"
	} else {
		host, port, _ = strings.Cut(rest, ":")
		h, err := originHost(strings.ToLower(host), pattern)
		if err != nil {
			return origin{}, err
		}
		o.host = h
	}
	if port != "" || strings.HasSuffix(rest, ":") {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' || port[0] == '+' {
			return origin{}, fmt.Errorf("port %q is not a number from 1 to 65535", port)
		}
		if defaultPorts[o.scheme] != port {
			o.port = port
		}
	}
	return o, nil
}

// validScheme reports whether s is a URL scheme (RFC 3986 §3.1).
func validScheme(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	return !strings.ContainsFunc(s, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')
	})
}

// originHost checks a lower-case host name or IPv4 address: dot-separated
// labels of letters, digits, - and _. With pattern, the first label may be
// "*" if two labels follow.
func originHost(h string, pattern bool) (string, error) {
	if h == "" {
		return "", errors.New("an origin needs a host")
	}
	if len(h) > 253 {
		return "", errors.New("the host name is longer than 253 characters")
	}
	labels := strings.Split(h, ".")
	for i, l := range labels {
		if l == "*" && i == 0 && pattern {
			if len(labels) < 3 {
				return "", errors.New("* must be followed by two labels at least, as in https://*.example.com")
			}
			continue
		}
		if strings.Contains(l, "*") {
			return "", errors.New("* may only be the whole first label of the host, as in https://*.example.com")
		}
		if !validLabel(l) {
			return "", fmt.Errorf("%q is not a host name", h)
		}
	}
	return h, nil
}

// validLabel reports whether l is a DNS label as browsers take them in a
// host: 1 to 63 letters, digits, - and _ (lower-case here).
func validLabel(l string) bool {
	if l == "" || len(l) > 63 {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// allowOrigin returns the Access-Control-Allow-Origin value for a request
// from o, nil if o is not allowed. An origin a browser sent is found in
// exact at once, without allocating; others are parsed.
func (p *corsPolicy) allowOrigin(o string) []string {
	if p.anyOrigin {
		return corsStar
	}
	if v, ok := p.exact[o]; ok {
		return v
	}
	po, err := parseOrigin(o, false)
	if err != nil {
		return nil
	}
	if _, ok := p.exact[po.String()]; ok {
		// Fetch compares the value with the origin it sent, byte for
		// byte: echo it as it came.
		return []string{o}
	}
	for _, pat := range p.patterns {
		if pat.matches(po) {
			return []string{o}
		}
	}
	return nil
}

// matches reports whether o is one of the origins pat stands for: the same
// scheme and port, and a host of one or more labels before pat.suffix.
// (parseOrigin has checked every label of o.)
func (pat originPattern) matches(o origin) bool {
	labels, ok := strings.CutSuffix(o.host, pat.suffix)
	return ok && o.scheme == pat.scheme && o.port == pat.port && labels != "" && !strings.HasPrefix(o.host, "[")
}

// isPreflight reports whether r is a CORS preflight.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// corsHeaders marks every response under the mount, but preflights (which
// options answers), for the origin of the request: Vary: Origin always,
// since the response differs by it; and for an allowed origin, the
// headers that let its page read the response. The headers are set before
// the handler runs, so that every answer has them, an error's, a
// redirect's and the token check's 401 included. It wraps no
// ResponseWriter.
func (s *Server) corsHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.inMount(r.URL.Path) && !isPreflight(r) {
			s.cors.actual(w.Header(), r.Header.Get("Origin"))
		}
		next.ServeHTTP(w, r)
	})
}

// actual sets the CORS headers of the response to a request from origin.
func (p *corsPolicy) actual(h http.Header, origin string) {
	h["Vary"] = corsVaryActual
	if origin == "" {
		return
	}
	allow := p.allowOrigin(origin)
	if allow == nil {
		return
	}
	h["Access-Control-Allow-Origin"] = allow
	h["Access-Control-Expose-Headers"] = p.exposed
	if p.credentials {
		h["Access-Control-Allow-Credentials"] = corsTrue
	}
}

// The Allow fields (RFC 9110 §10.2.1) of the mount's URLs, each what
// the router and the handlers serve there: a method left out gets 405.
const (
	// allowHeader is a file's or a directory's: POST creates a tus
	// upload (tus.go); PATCH is an upload resource's only.
	allowHeader = "GET, HEAD, PUT, POST, DELETE, MKCOL, MOVE, OPTIONS"
	// allowRoot is the mount's root, which is neither made, replaced,
	// moved nor deleted.
	allowRoot = "GET, HEAD, POST, OPTIONS"
	// allowUpload is an upload resource's, a URL with ?upload=
	// (resumable.go).
	allowUpload = "HEAD, PATCH, DELETE, OPTIONS"
)

// allowFor is the Allow of r's URL, from the URL alone: what is at the
// path now may refuse more (MKCOL of a path that exists, dirExists).
func (s *Server) allowFor(r *http.Request) string {
	if _, present, err := uploadQuery(r); present || err != nil {
		return allowUpload
	}
	if clean, _, err := s.filesPath(r); err == nil && clean == "/" {
		return allowRoot
	}
	return allowHeader
}

// options answers OPTIONS on the mount with 204 and what Allow says: no
// token is asked for, no FTP server is asked anything. For a preflight
// under a CORS policy, it adds the policy's answer.
func (s *Server) options(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Allow", s.allowFor(r))
	// A PUT of a file may create a resumable upload (resumable.go): the
	// draft's §4.1.4 asks for Accept-Patch and the limits.
	h.Set("Accept-Patch", partialUploadType)
	s.setUploadLimit(h)
	s.setTusOptions(h)
	if s.cors != nil && isPreflight(r) {
		s.cors.preflight(h, r)
	}
	w.WriteHeader(http.StatusNoContent)
}

// preflight sets the headers of a preflight's answer: for an allowed
// origin, the methods, the requested headers that are allowed (a header
// left out makes the browser refuse the request), how long to keep the
// answer and whether credentials may go along; for another, nothing but
// Vary.
func (p *corsPolicy) preflight(h http.Header, r *http.Request) {
	h["Vary"] = corsVaryPreflight
	allow := p.allowOrigin(r.Header.Get("Origin"))
	if allow == nil {
		return
	}
	h["Access-Control-Allow-Origin"] = allow
	h["Access-Control-Allow-Methods"] = p.methods
	h["Access-Control-Max-Age"] = p.maxAge
	if p.credentials {
		h["Access-Control-Allow-Credentials"] = corsTrue
	}
	var allowed []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if p.headers[name] && !slices.Contains(allowed, name) {
				allowed = append(allowed, name)
			}
		}
	}
	if len(allowed) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(allowed, ", "))
	}
}
