// Package api is the gateway's HTTP face: chi handlers that serve
// GET/HEAD/PUT/DELETE on /files/{path...} from a pool of FTP sessions, with
// the semantics RFC 9110 gives a file server (ranges, validators,
// conditional requests) and RFC 9457 problem bodies for every error. It is
// the only package that knows HTTP status codes; errors.go is the one place
// that maps errors to them.
package api

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpgw/ftpgw"
	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/pool"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config, used where a field is zero and by the flags that set
// them.
const (
	DefaultClientIdleTimeout = 60 * time.Second
	DefaultReadyTimeout      = 2 * time.Second
	// DefaultMaxUploadSize is 5 GiB, the most one PUT to S3 may carry:
	// the figure clients of object stores already know, large enough for
	// the files people move through a gateway.
	DefaultMaxUploadSize int64 = 5 << 30
	// A client slower than 512 bytes a second over half a minute is not
	// downloading or uploading anything, only holding a session (Apache's
	// mod_reqtimeout asks the same 500 bytes a second of request bodies).
	DefaultMinClientRate       int64 = 512
	DefaultMinClientRateWindow       = 30 * time.Second
	// DefaultMaxTransferTime is long enough for 5 GiB at 128 KiB/s.
	DefaultMaxTransferTime = 12 * time.Hour
	// DefaultMaxClockSkew is far wider than any clock kept by NTP is off.
	DefaultMaxClockSkew = 2 * time.Hour
	// DefaultTempMaxAge is far beyond the longest a live upload goes
	// without a write (the client and data timeouts, minutes), and beyond
	// any clock skew between the gateway and the FTP server.
	DefaultTempMaxAge = 24 * time.Hour
	// DefaultTusMaxChecksumPiece is the most a tus PATCH with
	// Upload-Checksum may bring: the gateway holds it in memory to check
	// it before appending.
	DefaultTusMaxChecksumPiece = 8 << 20
	DefaultTempSweepInterval   = time.Hour
	// DefaultMount is where a backend's files are served.
	DefaultMount = "/files/"
	// DefaultMaxRanges is more parts than the readers that ask for
	// several ranges at once (PDF and media viewers, download managers)
	// use, and few enough RETRs that one request costs the FTP server
	// no more than a handful of ranged GETs would.
	DefaultMaxRanges = 16
	// DefaultMaxClientUploads is far more resumable uploads than a client
	// sending files has open at once (tus-js-client and Uppy: a handful),
	// and few enough that a client creating them in a loop leaves a
	// bounded number of files on the FTP server.
	DefaultMaxClientUploads = 64
)

// Config configures the handler returned by New.
type Config struct {
	// Pool is the FTP backend's session pool. Required, unless Users is
	// set.
	Pool *pool.Pool
	// Users, when set, puts the backend in Basic passthrough: a request
	// to Mount carries HTTP Basic credentials (RFC 7617), which become
	// the FTP login, each user with a small pool of its own; a request
	// without them, or with credentials the FTP server refuses, gets 401
	// (basic.go). Pool is then not used (nil), there is no periodic sweep
	// for temporary files (TempSweepInterval), and Tokens must be nil:
	// what a user may do is what the FTP server lets that account do.
	// The caller owns it (and Closes it after the Server).
	Users *pool.Users
	// LoginFailuresPerUser and LoginFailuresPerAddress are how many
	// logins of Basic passthrough the FTP server may refuse in
	// LoginFailureWindow for one user name, and for one client address
	// (the connection's, or behind TrustedProxies the client they forward
	// for, as the transfer caps tell clients apart), before further attempts
	// get 429 without reaching it. Zero means the auth.DefaultLogin…
	// values.
	LoginFailuresPerUser, LoginFailuresPerAddress int
	LoginFailureWindow                            time.Duration
	// Mount is the URL path the backend's files are served under, with a
	// slash at each end: "/files/" when empty. It is one or more segments
	// of letters, digits and "-._~", and not one of the gateway's own
	// paths (ValidMount); New panics on any other.
	Mount string
	// Root is the directory on the FTP server that Mount maps to. An
	// absolute path ("/srv/data") is used as it is; a relative one
	// ("pub", or "" for the login directory itself) is taken relative to
	// the directory the session logs in to, as curl and RFC 1738 do.
	Root string
	// Logger receives one line per request (Info for 2xx-4xx, Error for
	// 5xx). Default: discard.
	Logger *slog.Logger
	// Registerer receives the HTTP metrics. Nil means none are kept.
	Registerer prometheus.Registerer
	// Metrics, when set, is served at /metrics (promhttp over the
	// gateway's registry).
	Metrics http.Handler
	// ClientIdleTimeout bounds how long a transfer may wait on the HTTP
	// client (a body read or a response write making no progress) before
	// it is given up. It is a true idle timeout for responses only where
	// Server.ConnContext is set on the http.Server (on Linux); see there.
	// Default DefaultClientIdleTimeout.
	ClientIdleTimeout time.Duration
	// MinClientRate is the fewest bytes a second a transfer's HTTP client
	// must move, on average over every MinClientRateWindow in which the
	// gateway waits on it (reading the body, or with response bytes the
	// client has not taken), so that a client dripping a byte now and
	// then cannot hold a session; a download measures it only where the
	// idle watch runs (ConnContext, Linux). Zero means
	// DefaultMinClientRate; negative, no such rule.
	MinClientRate int64
	// MinClientRateWindow is the span MinClientRate is averaged over.
	// Default DefaultMinClientRateWindow.
	MinClientRateWindow time.Duration
	// MaxTransferTime bounds a whole upload or download. Zero means
	// DefaultMaxTransferTime; negative, no limit.
	MaxTransferTime time.Duration
	// ReadyTimeout bounds the /readyz probe's acquire. Default
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// MaxUploadSize is the most bytes a PUT body may have, for this
	// gateway's one backend. A Content-Length over it is refused with 413
	// before anything reaches the FTP server (and before "100 Continue");
	// a chunked body that passes it is cut there, the upload aborted,
	// with 413. Zero means DefaultMaxUploadSize; a negative value, no
	// limit.
	MaxUploadSize int64
	// MaxClockSkew is how far the FTP server's clock is assumed to be from
	// the gateway's at most, while the gateway has not measured it: a
	// file modified less than this long ago has no ETag until it has (see
	// settle.go). The gateway measures it on its first PUT; on a read-only
	// account it never can. Default DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// TempMaxAge is how long a temporary upload file (tempPrefix, as
	// this gateway names them) may go unwritten before it is taken for
	// the leftover of an upload that died, whichever gateway ran it, and
	// deleted in the background: when a listing served shows it, and in
	// the sweeps of TempSweepInterval. An upload in progress writes to
	// its file all the time, so it is never that old. The age is the
	// gateway's clock less the file's modification time (MDTM). Zero
	// means DefaultTempMaxAge; negative, no file is deleted for its age.
	TempMaxAge time.Duration
	// TusMaxChecksumPiece is the most bytes a tus request with
	// Upload-Checksum may carry (tus.go): it is held in memory and checked
	// before it is appended. Zero means DefaultTusMaxChecksumPiece.
	TusMaxChecksumPiece int64
	// TempSweepInterval is how often the root and the directories this
	// gateway uploaded to (the 256 latest) are listed for temporary files
	// older than TempMaxAge. Zero means DefaultTempSweepInterval;
	// negative, no periodic sweep.
	TempSweepInterval time.Duration
	// Links is the policy for symbolic links on the FTP server (links.go).
	// The zero value, LinksInside, follows only links that lead to places
	// inside Root.
	Links LinkPolicy
	// TrustedContent says the backend's files may be displayed by a
	// browser whatever their type: HTML, SVG, XML, JavaScript and PDF are
	// then served inline like any other file, not as attachments (see
	// activeTypes in safe.go). The sandbox of the Content-Security-Policy
	// stays: a trusted page is shown, but runs no script. Default false,
	// for files that anyone who may upload can have written.
	TrustedContent bool
	// Tokens, when set, are the bearer tokens (RFC 6750) /files/ asks
	// of every request: a request without one of them gets 401, one whose
	// token's scopes or prefix do not allow its method and path 403,
	// before anything reaches the FTP server (auth.go). Nil means no
	// authentication: anyone who can reach the gateway may read, write
	// and delete. The caller owns it (and Closes it after the Server).
	Tokens *auth.Tokens
	// Signer, when set with Tokens, lets a request with no Authorization
	// header be authorised by a signed URL instead (signed.go): its
	// ftpgw- query parameters, signed by one of Signer's keys for the
	// request's method and path, until an expiry. A signed URL that does
	// not verify is refused with 403, before anything reaches the FTP
	// server. POST /signed-urls signs URLs of this backend for holders of
	// its tokens. Nil means no signed URL is accepted (a request without
	// a token gets 401), and so does a backend without Tokens: one open
	// to anyone lets every request through anyway, and one of Basic
	// passthrough (Users) has no FTP login for a request without
	// credentials. The caller owns it (and Closes it after the Server);
	// the Servers of several backends may share one.
	Signer *auth.Signer
	// SignedURLMaxExpiry is the longest a URL signed for this backend may
	// be valid: POST /signed-urls signs for no longer, and a URL whose
	// expiry is further ahead than this (plus auth.ExpirySlack) is
	// refused, whoever signed it. Zero, or more than auth.MaxExpiry
	// (seven days), means auth.MaxExpiry.
	SignedURLMaxExpiry time.Duration
	// CORS, when set, lets pages of the origins it allows call the
	// backend from browsers (cors.go): preflights under Mount are
	// answered without a token, and every response under Mount carries
	// the headers their pages need. New panics if CORS.Validate fails.
	// Nil means no CORS header at all, so that browsers keep pages of
	// other origins from reading anything. OPTIONS under Mount is
	// answered 204 with Allow either way.
	CORS *CORS
	// MaxTransfers is the most transfers (a GET sending a file's bytes,
	// a PUT) under way on the backend at once; a transfer beyond it waits
	// for one to end, in the order they came, as long as a request waits
	// for a session (the pool's AcquireTimeout), and then gets 503 with
	// Retry-After. HEAD, listings, DELETE and GETs answered without a
	// body pass it (limits.go), so that they are not stuck behind long
	// transfers: keep it below the pool's MaxSessions to leave them
	// sessions. Zero or negative: no cap but MaxSessions.
	MaxTransfers int
	// MaxClientTransfers is the most transfers one client (clientAddr)
	// may have under way or waiting on the backend at once; one more
	// gets 429 with Retry-After at once, without waiting, so that one
	// client cannot fill the queue. Zero or negative: no such cap.
	MaxClientTransfers int
	// TrustedProxies are the addresses of the reverse proxies in front
	// of the gateway: from a peer in one of them, the client is the
	// right-most address of X-Forwarded-For that is not (clientAddr).
	// Empty: the client is always the connection's peer. Only
	// MaxClientTransfers looks at it.
	TrustedProxies []netip.Prefix
	// MaxClientUploads is the most resumable uploads (the draft's or
	// tus's) one client (clientAddr) may have open through this Server:
	// created here and not yet completed, cancelled or expired. One more
	// creation gets 429 with Retry-After before anything reaches the FTP
	// server. Counted in memory, by each replica on its own. Zero or
	// negative: no such cap; the flag's default is
	// DefaultMaxClientUploads.
	MaxClientUploads int
	// MaxRanges is the most parts a multipart/byteranges response to a
	// GET of several ranges may have, counted after overlapping and
	// adjacent ranges are coalesced (multirange.go); a Range of more is
	// answered with the whole file (200). Every part may cost a RETR, so
	// it bounds the work one request makes upstream. 1 serves single
	// ranges only. Zero or negative means DefaultMaxRanges.
	MaxRanges int
	// UploadKey signs the IDs of resumable uploads (resumable.go): every
	// replica that is to continue another's uploads needs the same key,
	// at least 32 bytes. Nil means a random key of this Server's own, so
	// that its uploads survive neither a restart nor a move to another
	// replica.
	UploadKey []byte
}

// Server holds the handlers' dependencies, and a goroutine that deletes
// the temporary files failed uploads leave behind: call Close when done
// with it.
type Server struct {
	cfg Config
	// mount is cfg.Mount, "/files/" by default; mountDir is it without
	// its final slash, where the directory redirects to mount.
	mount, mountDir string
	// name is the backend's, for logs and metric labels.
	name string
	// loginUsers and loginAddrs count the failed logins of Basic
	// passthrough, by user name and by client address; nil without
	// Users.
	loginUsers, loginAddrs *auth.Limiter
	// backends are the Servers /readyz asks and /signed-urls signs for:
	// this one, and the others Join serves beside it.
	backends []*Server
	// nested are the mounts of the backends Join serves inside this
	// one's: a MOVE may not reach them.
	nested []string
	// cors is cfg.CORS made ready; nil without one.
	cors    *corsPolicy
	log     *slog.Logger
	metrics *metrics
	router  chi.Router
	clock   serverClock
	temps   *tempCleaner
	// transfers counts the transfers under way and applies the caps on
	// them (limits.go).
	transfers *transfers
	// live are the backend's transfers in flight, for GET /transfers
	// (live.go).
	live *liveSet
	// digests are the digests known of file versions (digest.go).
	digests digestCache
	// completed are the uploads this replica completed (resumable.go).
	completed recentMap[int64]
	// draining is set by Drain: /readyz answers 503 from then on.
	draining atomic.Bool
	// uploadKey is Config.UploadKey, or a random one.
	uploadKey []byte
	// holds are the uploads this replica's requests hold (release.go).
	holds holds
	// uploads counts the open uploads of each client
	// (Config.MaxClientUploads); nil for no cap.
	uploads *openUploads
}

// New returns the gateway's HTTP handler: Config.Mount for the FTP tree,
// /healthz (the process is alive), /readyz (an FTP session can be had),
// POST /signed-urls (signed.go), GET /transfers (live.go), /openapi.yaml
// (the gateway's OpenAPI document) and /metrics when Config.Metrics is
// set. It starts the goroutine that
// deletes temporary upload files in the background; Close stops it.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// Zero means the default everywhere; where a negative value means "no
	// such limit" (orZero), it is kept.
	orPositive(&cfg.ClientIdleTimeout, DefaultClientIdleTimeout)
	orPositive(&cfg.ReadyTimeout, DefaultReadyTimeout)
	orPositive(&cfg.MinClientRateWindow, DefaultMinClientRateWindow)
	orPositive(&cfg.MaxClockSkew, DefaultMaxClockSkew)
	orPositive(&cfg.MaxRanges, DefaultMaxRanges)
	orZero(&cfg.MinClientRate, DefaultMinClientRate)
	orZero(&cfg.MaxTransferTime, DefaultMaxTransferTime)
	orZero(&cfg.MaxUploadSize, DefaultMaxUploadSize)
	orZero(&cfg.TempMaxAge, DefaultTempMaxAge)
	orZero(&cfg.TusMaxChecksumPiece, DefaultTusMaxChecksumPiece)
	orZero(&cfg.TempSweepInterval, DefaultTempSweepInterval)
	if cfg.SignedURLMaxExpiry <= 0 || cfg.SignedURLMaxExpiry > auth.MaxExpiry {
		cfg.SignedURLMaxExpiry = auth.MaxExpiry
	}
	if cfg.Mount == "" {
		cfg.Mount = DefaultMount
	}
	if err := ValidMount(cfg.Mount); err != nil {
		panic("api: " + err.Error())
	}
	if (cfg.Pool == nil) == (cfg.Users == nil) || (cfg.Users != nil && cfg.Tokens != nil) {
		panic("api: a backend needs either a Pool or Users, and Users takes no Tokens")
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: newMetrics(cfg.Registerer)}
	s.mount, s.mountDir = cfg.Mount, strings.TrimSuffix(cfg.Mount, "/")
	if cfg.Users != nil {
		s.name = cfg.Users.Name()
		s.loginUsers = auth.NewLimiter(cmp.Or(cfg.LoginFailuresPerUser, auth.DefaultLoginFailuresPerUser),
			cmp.Or(cfg.LoginFailureWindow, auth.DefaultLoginFailureWindow), 0)
		s.loginAddrs = auth.NewLimiter(cmp.Or(cfg.LoginFailuresPerAddress, auth.DefaultLoginFailuresPerAddress),
			cmp.Or(cfg.LoginFailureWindow, auth.DefaultLoginFailureWindow), 0)
	} else {
		s.name = cfg.Pool.Name()
	}
	if cfg.CORS != nil {
		var err error
		if s.cors, err = cfg.CORS.compile(); err != nil {
			panic("api: CORS: " + err.Error())
		}
	}
	s.backends = []*Server{s}
	s.uploadKey = cfg.UploadKey
	if len(s.uploadKey) == 0 {
		s.uploadKey = make([]byte, 32)
		rand.Read(s.uploadKey)
	}
	s.clock.maxSkew = cfg.MaxClockSkew
	s.temps = newTempCleaner(s)
	s.transfers = newTransfers(cfg, s.name, s.acquireTimeout(), s.metrics)
	s.live = newLiveSet()
	s.uploads = newOpenUploads(cfg)
	r := chi.NewRouter()
	r.Use(s.requestID, s.observe, s.recoverPanics)
	if s.cors != nil {
		// Before checkFraming, so that its 400 has them too.
		r.Use(s.corsHeaders)
	}
	r.Use(s.tusHeaders, s.checkFraming)
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	if cfg.Metrics != nil {
		r.Method(http.MethodGet, "/metrics", cfg.Metrics)
	}
	r.Post(signPath, s.handle(s.signURL))
	r.Get(transfersPath, s.handle(s.listTransfers))
	r.Head(transfersPath, s.handle(s.listTransfers))
	r.Get(openAPIPath, s.openAPI)
	r.Handle(s.mountDir, http.RedirectHandler(s.mount, http.StatusMovedPermanently))
	// OPTIONS needs no token: it tells what any client may learn from
	// Allow anyway, and a preflight carries none.
	r.Options(s.mountDir, s.options)
	r.Options(s.mount+"*", s.options)
	files := chi.Router(r)
	switch {
	case cfg.Tokens != nil:
		files = r.With(s.requireToken)
	case cfg.Users != nil:
		files = r.With(s.requireBasic)
	}
	files.Method(http.MethodGet, s.mount+"*", s.handle(s.resumableOr(s.uploadResource, s.getFile)))
	files.Method(http.MethodHead, s.mount+"*", s.handle(s.resumableOr(s.uploadResource, s.getFile)))
	files.Method(http.MethodPut, s.mount+"*", s.handle(s.putOrCreate))
	files.Method(http.MethodPost, s.mount+"*", s.handle(s.resumableOr(s.uploadResource, s.formUploadOr(s.tusCreate))))
	files.Method(http.MethodPatch, s.mount+"*", s.handle(s.resumableOr(s.uploadResource, s.patchWithoutUpload)))
	files.Method(http.MethodDelete, s.mount+"*", s.handle(s.resumableOr(s.uploadResource, s.deleteFile)))
	files.Method(methodMkcol, s.mount+"*", s.handle(s.resumableOr(s.uploadResource, s.makeCollection)))
	files.Method(methodMove, s.mount+"*", s.handle(s.resumableOr(s.uploadResource, s.moveFile)))
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		// The gateway's own paths take one method each; the mount's
		// paths, allowFor's.
		allow := http.MethodGet
		switch {
		case r.URL.Path == signPath:
			allow = http.MethodPost
		case r.URL.Path == transfersPath:
			allow = "GET, HEAD"
		case s.inMount(r.URL.Path):
			allow = s.allowFor(r)
		}
		w.Header().Set("Allow", allow)
		markTus(w.Header(), r)
		s.writeError(w, r, errMethodNotAllowed)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		markTus(w.Header(), r)
		s.writeError(w, r, noRoute(s.mounts()))
	})
	s.router = r
	return s
}

// Close stops the background deletion of temporary upload files and waits
// for it; files still queued stay on the FTP server, for a sweep to find
// once they are TempMaxAge old. It stops sampling the transfers in
// flight (live.go). Call it after the HTTP server has shut down and before
// the Pool is closed. Close may be called more than once.
func (s *Server) Close() {
	s.temps.close()
	s.live.stop()
}

// orPositive sets *v to def unless it is positive.
func orPositive[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// orZero sets *v to def if it is zero.
func orZero[T int64 | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// openAPIPath is where the gateway serves its OpenAPI document.
const openAPIPath = "/openapi.yaml"

// openAPI serves openapi.yaml, without a token, as /healthz: it says how
// to call the gateway, and nothing of its backends. It is compressed once,
// for the clients that take gzip.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/yaml")
	h.Set("Vary", "Accept-Encoding")
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		w.Write(openAPIGzipped())
		return
	}
	io.WriteString(w, ftpgw.OpenAPI())
}

// openAPIGzipped is openapi.yaml compressed.
var openAPIGzipped = sync.OnceValue(func() []byte { return gzipped([]byte(ftpgw.OpenAPI())) })

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// Drain makes /readyz answer 503 from now on, for every backend, while
// requests go on being served: the first phase of a graceful shutdown, in
// which load balancers take the gateway out of service before it stops
// taking requests. Call it on any of the Servers Join serves. Safe for
// concurrent use; there is no way back.
func (s *Server) Drain() { s.draining.Store(true) }

// readyz answers whether every backend can serve (pool.Pool.Ready): a
// session of each can be had within ReadyTimeout, or all of a backend's
// are busy serving and its server was fine when last heard from. With
// several backends the body has a line for each, and a 503's detail names
// those that cannot. A gateway draining (Drain) is not ready, whatever its
// backends.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if slices.ContainsFunc(s.backends, func(b *Server) bool { return b.draining.Load() }) {
		s.writeError(w, r, errDraining)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ReadyTimeout)
	defer cancel()
	errs := make([]error, len(s.backends))
	var wg sync.WaitGroup
	for i, b := range s.backends {
		wg.Go(func() { errs[i] = b.ready(ctx) })
	}
	wg.Wait()
	var failed []string
	for i, b := range s.backends {
		ready := 1.0
		if errs[i] != nil {
			failed = append(failed, b.name)
			ready = 0
		}
		b.metrics.backendReady.WithLabelValues(b.name).Set(ready)
	}
	if len(failed) > 0 {
		s.writeError(w, r, notReadyBackends(failed, errors.Join(errs...)))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(s.backends) == 1 {
		w.Write([]byte("ready\n"))
		return
	}
	var body strings.Builder
	for _, b := range s.backends {
		fmt.Fprintf(&body, "%s: ready\n", b.name)
	}
	w.Write([]byte(body.String()))
}

// acquireTimeout is how long a request waits for a session of the
// backend: of its pool, or of a user's in Basic passthrough.
func (s *Server) acquireTimeout() time.Duration {
	if s.cfg.Users != nil {
		return s.cfg.Users.AcquireTimeout()
	}
	return s.cfg.Pool.AcquireTimeout()
}

// ready tells whether the backend can serve: its pool is Ready, or in
// Basic passthrough, where the gateway has no credentials of its own, the
// FTP server greets a connection with 220, or refuses it for having too
// many (it is there, and busy: the users' sessions may be what fills it).
func (s *Server) ready(ctx context.Context) error {
	if s.cfg.Users != nil {
		if err := s.cfg.Users.Greet(ctx); err != nil && !pool.IsRefusal(err) {
			return err
		}
		return nil
	}
	return s.cfg.Pool.Ready(ctx)
}

// Join returns one handler for the Servers of several backends, each
// serving its Config.Mount: a request goes to the Server whose mount its
// path is in (the longest, if mounts nest), and anything else (/healthz,
// /readyz, /metrics, /signed-urls, /transfers, a path in no mount) to the
// first Server, whose /readyz then asks every backend, whose /signed-urls
// signs for each and whose /transfers lists the transfers of all. The mounts must differ. Join with one
// Server is that Server.
func Join(servers ...*Server) http.Handler {
	if len(servers) == 1 {
		return servers[0]
	}
	first := servers[0]
	first.backends = servers
	byMount := slices.Clone(servers)
	slices.SortFunc(byMount, func(a, b *Server) int { return len(b.mount) - len(a.mount) })
	for i := 1; i < len(byMount); i++ {
		if byMount[i].mount == byMount[i-1].mount {
			panic("api: two backends mounted at " + byMount[i].mount)
		}
	}
	for _, outer := range servers {
		for _, inner := range servers {
			if inner != outer && strings.HasPrefix(inner.mount, outer.mount) {
				outer.nested = append(outer.nested, inner.mount)
			}
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, s := range byMount {
			if s.inMount(r.URL.Path) {
				s.ServeHTTP(w, r)
				return
			}
		}
		first.ServeHTTP(w, r)
	})
}

// inMount reports whether p is the Server's mount or a path in it.
func (s *Server) inMount(p string) bool {
	return p == s.mountDir || strings.HasPrefix(p, s.mount)
}

// ValidMount reports whether m can be a Config.Mount: "/", one or more
// segments of letters, digits and "-._~" (none "." or ".."), and "/"; not
// a path of the gateway's own (/healthz, /readyz, /metrics,
// /signed-urls, /transfers, /openapi.yaml).
func ValidMount(m string) error {
	inner, ok := strings.CutPrefix(m, "/")
	if ok {
		inner, ok = strings.CutSuffix(inner, "/")
	}
	if !ok || inner == "" {
		return fmt.Errorf("mount %q must be a path with a slash at each end, such as /files/", m)
	}
	for seg := range strings.SplitSeq(inner, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsFunc(seg, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~", c))
		}) {
			return fmt.Errorf("mount %q: segment %q must be letters, digits and -._~ only", m, seg)
		}
	}
	if first, _, _ := strings.Cut(inner, "/"); slices.Contains([]string{"healthz", "readyz", "metrics", signPath[1:], transfersPath[1:], openAPIPath[1:]}, first) {
		return fmt.Errorf("mount %q is within the gateway's own /%s", m, first)
	}
	return nil
}

// handle adapts a handler that returns an error: the error, if any, is
// rendered by writeError.
func (s *Server) handle(fn func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}
