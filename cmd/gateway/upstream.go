package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/ftpgw/ftpgw/ftpcore"
)

// redacted stands in for a password wherever an upstream is printed.
const redacted = "****"

// upstream is the FTP server the gateway fronts, as given by --upstream.
// Its String and LogValue methods redact the password, so an upstream can
// be printed or logged as it is.
type upstream struct {
	// TLS is the URL's scheme: TLSOff for ftp://, TLSExplicit for ftpes://
	// (AUTH TLS), TLSImplicit for ftps://.
	TLS ftpcore.TLSMode
	// Addr is "host:port".
	Addr string
	// User and Password are the login, percent-decoded.
	User, Password string
	// Root is the directory /files/ maps to: "" for the login directory,
	// a relative path ("pub/data") under it, or an absolute one
	// ("/srv/data") when the URL path started with "/%2F". See api.Config.Root.
	Root string
}

// schemeTLS returns the TLS mode and default port of an upstream URL
// scheme, and false for a scheme that is not supported. ftps:// is
// implicit FTPS on its own port, as curl and lftp read it; ftpes://
// (FileZilla's name) is explicit FTPS on the usual FTP port.
func schemeTLS(scheme string) (mode ftpcore.TLSMode, port string, ok bool) {
	switch scheme {
	case "ftp":
		return ftpcore.TLSOff, "21", true
	case "ftpes":
		return ftpcore.TLSExplicit, "21", true
	case "ftps":
		return ftpcore.TLSImplicit, "990", true
	}
	return 0, "", false
}

// scheme is the URL scheme that stands for u.TLS.
func (u upstream) scheme() string {
	switch u.TLS {
	case ftpcore.TLSExplicit:
		return "ftpes"
	case ftpcore.TLSImplicit:
		return "ftps"
	}
	return "ftp"
}

// String returns the upstream as a URL with the password redacted.
func (u upstream) String() string {
	var b strings.Builder
	b.WriteString(u.scheme() + "://")
	if u.User != "" {
		b.WriteString(url.PathEscape(u.User))
		if u.Password != "" {
			b.WriteString(":" + redacted)
		}
		b.WriteString("@")
	}
	b.WriteString(u.Addr)
	switch {
	case strings.HasPrefix(u.Root, "/"):
		b.WriteString("/%2F" + (&url.URL{Path: strings.TrimPrefix(u.Root, "/")}).EscapedPath())
	case u.Root != "":
		b.WriteString((&url.URL{Path: "/" + u.Root}).EscapedPath())
	}
	return b.String()
}

// LogValue implements slog.LogValuer: the password never reaches a log.
func (u upstream) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("scheme", u.scheme()),
		slog.String("addr", u.Addr),
		slog.String("user", u.User),
	}
	if u.Password != "" {
		attrs = append(attrs, slog.String("password", redacted))
	}
	attrs = append(attrs, slog.String("root", u.Root))
	return slog.GroupValue(attrs...)
}

// parseUpstream parses an upstream URL, ftp://user:pass@host:port/root,
// or the same with ftpes:// (explicit FTPS) or ftps:// (implicit FTPS).
//
// As curl and RFC 1738 do, the path is relative to the directory the
// session logs in to ("/pub/data" is "pub/data" under it), unless its first
// segment is "%2F", which makes it absolute ("/%2Fsrv/data" is "/srv/data").
//
// Errors never quote the URL, which may hold a password.
func parseUpstream(raw string) (upstream, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// *url.Error repeats the whole URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return upstream{}, fmt.Errorf("upstream URL: %v", err)
	}
	// url.Parse has already lower-cased the scheme.
	mode, defaultPort, ok := schemeTLS(u.Scheme)
	switch {
	case u.Scheme == "":
		return upstream{}, errors.New("upstream URL: no scheme; write ftp://host[:port]/path (or ftpes:// or ftps:// for FTPS)")
	case !ok:
		return upstream{}, fmt.Errorf("upstream URL: scheme %q is not supported; use ftp://, ftpes:// (explicit FTPS) or ftps:// (implicit FTPS)", u.Scheme)
	}
	if u.Opaque != "" {
		return upstream{}, fmt.Errorf("upstream URL: write %s://host, with two slashes", u.Scheme)
	}
	if u.RawQuery != "" || u.ForceQuery {
		return upstream{}, errors.New("upstream URL: a query (?...) is not allowed")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return upstream{}, errors.New("upstream URL: a fragment (#...) is not allowed")
	}

	host := u.Hostname()
	if host == "" {
		return upstream{}, errors.New("upstream URL: no host")
	}
	port := u.Port()
	if port == "" {
		port = defaultPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return upstream{}, fmt.Errorf("upstream URL: bad port %q", port)
	}

	up := upstream{TLS: mode, Addr: net.JoinHostPort(host, port)}
	hasPassword := false
	if u.User != nil {
		up.User = u.User.Username()
		up.Password, hasPassword = u.User.Password()
	}
	if up.User == "" {
		up.User = "anonymous"
	}
	if !hasPassword && strings.EqualFold(up.User, "anonymous") {
		up.Password = "anonymous@"
	}
	if hasCtl(up.User) {
		return upstream{}, errors.New("upstream URL: the user name contains CR, LF or NUL")
	}
	if hasCtl(up.Password) {
		return upstream{}, errors.New("upstream URL: the password contains CR, LF or NUL")
	}

	up.Root, err = upstreamRoot(u)
	if err != nil {
		return upstream{}, err
	}
	return up, nil
}

// upstreamRoot applies RFC 1738's rule to the URL's path: it is relative to
// the login directory unless its first segment is "%2F". Only the escaped
// form tells "/%2Fsrv" from "//srv", so it is read before decoding.
func upstreamRoot(u *url.URL) (string, error) {
	escaped := u.EscapedPath()
	absolute := len(escaped) >= 4 && strings.EqualFold(escaped[:4], "/%2F")
	var p string
	if absolute {
		rest, err := url.PathUnescape(escaped[4:])
		if err != nil {
			return "", fmt.Errorf("upstream URL: bad path: %v", err)
		}
		p = "/" + rest
	} else {
		if strings.HasPrefix(u.Path, "//") {
			return "", errors.New("upstream URL: the path starts with an empty segment (//); " +
				"paths are relative to the login directory, write /%2F for an absolute one (ftp://host/%2Fsrv/data)")
		}
		p = strings.TrimPrefix(u.Path, "/")
	}
	if hasCtl(p) {
		return "", errors.New("upstream URL: the path contains CR, LF or NUL")
	}
	p = path.Clean(p)
	if p == "." {
		p = ""
	}
	return p, nil
}

// hasCtl reports whether s holds a byte that must never reach the FTP
// control connection.
func hasCtl(s string) bool {
	return strings.ContainsAny(s, "\r\n\x00")
}
