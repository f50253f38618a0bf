package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ftpgw/ftpgw/pool"
)

// maxBasicUser bounds the user name of Basic passthrough: no FTP server
// takes a longer one, and the failed-login limits keep one count for each.
const maxBasicUser = 256

// poolKey is the context key of a request's pool (withPool).
type poolKey struct{}

// poolOf returns the pool a request's FTP work is done with: the user's,
// in Basic passthrough (requireBasic put it in ctx), else the backend's.
func (s *Server) poolOf(ctx context.Context) *pool.Pool {
	if p, ok := ctx.Value(poolKey{}).(*pool.Pool); ok {
		return p
	}
	return s.cfg.Pool
}

// requireBasic is the middleware of Basic passthrough (Config.Users): the
// request's HTTP Basic credentials are the FTP login, and its FTP work is
// done with that user's pool (poolOf).
//
// Before a login is tried, the failed-login limits are asked, per user
// name and per client address: a user or an address with too many logins
// refused in the window gets 429 and nothing reaches the FTP server.
// Credentials that match a user's open pool need no login, so they pass
// even then: locking a user out needs the password. A login the FTP
// server refuses is 401 with the challenge, and leaves no pool behind.
// Credentials with CR, LF or NUL, which no FTP command could carry, or not
// UTF-8, are 400.
//
// No credential is logged, counted by name in a metric, or written in a
// problem body.
func (s *Server) requireBasic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		switch {
		case !ok || user == "":
			s.metrics.loginRefused(s.name, "no_credentials")
			s.writeError(w, r, errNoBasic)
			return
		case strings.ContainsAny(user, "\r\n\x00") || strings.ContainsAny(password, "\r\n\x00"):
			s.metrics.loginRefused(s.name, "malformed")
			s.writeError(w, r, badRequest("the user name or password contains CR, LF or NUL, which an FTP login cannot carry", nil))
			return
		case !utf8.ValidString(user) || !utf8.ValidString(password):
			s.metrics.loginRefused(s.name, "malformed")
			s.writeError(w, r, badRequest("the user name and password must be UTF-8", nil))
			return
		case len(user) > maxBasicUser:
			s.metrics.loginRefused(s.name, "malformed")
			s.writeError(w, r, badRequest("the user name is too long", nil))
			return
		}
		lease, err := s.login(r, user, password)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		info := requestInfoFrom(r.Context())
		defer func() {
			var err error
			if info != nil {
				err = info.err
			}
			lease.Release(err)
		}()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), poolKey{}, lease.Pool())))
	})
}

// login returns a lease on user's pool: an open one without a login, or a
// new one once the failed-login limits allow an attempt and the FTP server
// takes the credentials.
func (s *Server) login(r *http.Request, user, password string) (*pool.Lease, error) {
	if lease := s.cfg.Users.Existing(user, password); lease != nil {
		return lease, nil
	}
	// The connection's address, or with Config.TrustedProxies the client
	// they forwarded for.
	addr := clientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), s.cfg.TrustedProxies).String()
	retry, ok := s.loginUsers.Take(user)
	if !ok {
		s.metrics.loginRefused(s.name, "rate_limited_user")
		return nil, tooManyLogins("too many failed logins for this user; try again later", retry)
	}
	if retry, ok = s.loginAddrs.Take(addr); !ok {
		s.loginUsers.Succeeded(user)
		s.metrics.loginRefused(s.name, "rate_limited_address")
		return nil, tooManyLogins("too many failed logins from this address; try again later", retry)
	}
	lease, err := s.cfg.Users.Get(r.Context(), user, password)
	if pool.IsLoginFailure(err) {
		s.metrics.loginRefused(s.name, "bad_credentials")
		return nil, badCredentials(err)
	}
	// Anything else says nothing of the password: not a failure.
	s.loginUsers.Succeeded(user)
	s.loginAddrs.Succeeded(addr)
	if errors.Is(err, pool.ErrTooManyUsers) {
		return nil, errTooManyUsers
	}
	return lease, err
}

// retryAfter is d as the whole seconds of a Retry-After header, at least 1.
func retryAfter(d time.Duration) time.Duration {
	return max(time.Second, d.Round(time.Second))
}
