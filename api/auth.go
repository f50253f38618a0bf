package api

import (
	"net/http"
	"strings"

	"github.com/ftpgw/ftpgw/auth"
)

// requireToken lets a request through to /files/ only with a bearer token
// (RFC 6750 §2.1) of Config.Tokens whose scopes allow its method and whose
// prefix holds its path, or, with Config.Signer set, with no Authorization
// header and a signed URL for its method and path (signed.go). Nothing of
// a refused request reaches the FTP server. It wraps no ResponseWriter,
// so the handlers' zero-copy path is untouched.
//
// Only /files/ is guarded: /healthz and /readyz say nothing but "ok" and
// "ready", and /metrics carries no path, user or token (its labels are
// bounded: backend, route pattern, method, status, reply class), so
// probes and scrapers need no token. Whoever runs the gateway on a
// network where even those counts are private keeps /metrics off it.
func (s *Server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		if s.cfg.Signer != nil {
			if ok, err := s.checkSigned(r, authz); err != nil || ok {
				if err != nil {
					s.writeError(w, r, err)
					return
				}
				next.ServeHTTP(w, r)
				return
			}
		}
		tok, err := s.lookupToken(r, authz)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		need := methodScope(r.Method)
		if isUploadRequest(r) {
			// A resumable upload's every request writes the file, or
			// tells how far its writing got.
			need = auth.Write
		}
		clean := "/"
		if tok.Prefix != "/" {
			// A path that does not clean is refused by the handler with
			// 400, before anything reaches the FTP server; here it is
			// outside every prefix.
			var err error
			if clean, _, err = s.filesPath(r); err != nil {
				clean = ""
			}
		}
		if !tok.Allows(need, clean) {
			s.writeError(w, r, tokenForbidden(need, tok.Scopes&need == need))
			return
		}
		if r.Method == methodMove {
			// A move writes its Destination too. One that does not
			// parse is the handler's 400.
			if dest, _, err := s.moveDestination(r); err == nil && !tok.Allows(auth.Write, dest) {
				s.writeError(w, r, tokenForbidden(auth.Write, tok.Scopes&auth.Write == auth.Write))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// lookupToken finds the bearer token of authz, r's Authorization header,
// among Config.Tokens, and names it in r's log line: errNoToken for none,
// errBadToken for one unknown.
func (s *Server) lookupToken(r *http.Request, authz string) (auth.Token, error) {
	secret, given := bearerToken(authz)
	if !given {
		return auth.Token{}, errNoToken
	}
	tok, ok := s.cfg.Tokens.Lookup(secret)
	if !ok {
		return auth.Token{}, errBadToken
	}
	if info := requestInfoFrom(r.Context()); info != nil {
		info.token = tok.Name
		info.tok = &tok
	}
	return tok, nil
}

// bearerToken returns the token of an Authorization header of the Bearer
// scheme (case-insensitive, RFC 9110 §11.1); given is false for none or
// another scheme.
func bearerToken(h string) (token string, given bool) {
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

// methodScope is the scope a method on /files/ needs. The router lets
// only GET, HEAD, PUT, PATCH, DELETE, MKCOL and MOVE through to it. A MOVE
// takes its source away (delete); its Destination needs write
// (requireToken). A PATCH appends to a resumable upload (resumable.go).
func methodScope(method string) auth.Scope {
	switch method {
	case http.MethodPut, http.MethodPatch, methodMkcol:
		return auth.Write
	case http.MethodDelete, methodMove:
		return auth.Delete
	}
	return auth.Read
}
