// Command gateway serves an FTP server's files over HTTP: GET (with
// ranges and conditional requests), HEAD, PUT (atomic) and DELETE under
// /files/, directory listings as JSON or HTML, and /healthz, /readyz and
// /metrics for whoever runs it.
//
// Every flag has an environment variable: --max-sessions is
// FTPGW_MAX_SESSIONS, and so on. A flag on the command line wins over the
// environment, which wins over the default.
//
// Requests to /files/ carry a bearer token of --tokens-file (or the one of
// FTPGW_TOKEN); with neither, the gateway listens on loopback only unless
// --auth none says that anyone may use it. "gateway hash-token" makes a
// token's line for the tokens file. With --auth basic the request's HTTP
// Basic credentials are the FTP login instead, each user with a small pool
// of sessions of its own, and failed logins limited per user and per
// client address.
// With --signing-keys-file a request to a backend of tokens may carry a
// signed URL instead: "gateway sign" signs one, "gateway sign-key" makes
// a key, and token holders POST to /signed-urls.
//
// With --demo it needs no FTP server: it starts one of its own on
// 127.0.0.1, serving a directory seeded with sample files.
//
// The upstream is ftp:// (plain FTP), ftpes:// (explicit FTPS, AUTH TLS)
// or ftps:// (implicit FTPS); the --tls-* flags apply to the last two
// only. --active makes the FTP server connect to the gateway for data.
//
// Exit status: 0 after a clean shutdown on SIGINT or SIGTERM, 1 on a
// runtime error, 2 on bad flags or configuration.
package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/pool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "hash-token":
			os.Exit(hashToken(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
		case "sign":
			os.Exit(signURL(os.Args[2:], os.Getenv, time.Now(), os.Stdout, os.Stderr))
		case "sign-key":
			os.Exit(signKey(os.Args[2:], time.Now(), os.Stdout, os.Stderr))
		}
	}
	cfg, err := loadConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ftpgw: %v\n", err)
		os.Exit(2)
	}
	if cfg.Check {
		printCheck(os.Stdout, cfg)
		os.Exit(0)
	}
	if err := run(context.Background(), cfg, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "ftpgw: %v\n", err)
		os.Exit(1)
	}
}

// run runs the gateway until ctx is cancelled or SIGINT or SIGTERM
// arrives, then shuts down (shutdown): it drains for DrainPause, stops
// accepting requests and waits up to ShutdownTimeout for those in flight,
// cuts the rest, closes the FTP sessions, and stops the demo server if
// there is one. Logs and the demo's instructions go to
// stderr. It returns nil after a clean shutdown.
func run(ctx context.Context, cfg *config, stderr io.Writer) (err error) {
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))

	var demo *demoServer
	if cfg.Demo {
		if demo, err = startDemoUpstream(cfg, logger); err != nil {
			return err
		}
		defer func() {
			if cerr := demo.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("stopping the demo FTP server: %w", cerr)
			}
		}()
	}
	logStart(logger, cfg)

	reg, err := newRegistry()
	if err != nil {
		return err
	}
	// The signing keys are the gateway's: every backend verifies with
	// them, and /signed-urls signs for each.
	signer, err := cfg.Auth.signer(logger)
	if err != nil {
		return err
	}
	defer signer.Close()
	var servers []*api.Server
	for _, b := range cfg.all() {
		// One pool of the upstream's login, or with --auth basic one for
		// each user that logs in.
		var p *pool.Pool
		var users *pool.Users
		var stats prometheus.Collector
		if b.Auth.Mode == authBasic {
			if users, err = pool.NewUsers(b.usersConfig(logger)); err != nil {
				return err
			}
			// Deferred after demo.Close, so it runs before it.
			defer users.Close()
			stats = pool.NewUsersCollector(users)
		} else {
			if p, err = pool.New(b.poolConfig(logger)); err != nil {
				return err
			}
			// Deferred after demo.Close, so it runs before it: sessions
			// QUIT while the demo server is still there to answer.
			defer p.Close()
			stats = pool.NewCollector(p)
		}
		if err := reg.Register(stats); err != nil {
			return fmt.Errorf("registering metrics: %w", err)
		}
		tokens, err := b.Auth.tokens(logger)
		if err != nil {
			return err
		}
		defer tokens.Close()
		acfg := b.apiConfig(p, reg, logger)
		if cfg.MetricsListen != "" {
			acfg.Metrics = nil // served on its own listener, below
		}
		acfg.Tokens = tokens
		acfg.Signer = signer
		if users != nil {
			acfg.Users = users
			acfg.LoginFailuresPerUser, acfg.LoginFailuresPerAddress = b.Basic.FailuresPerUser, b.Basic.FailuresPerAddress
			acfg.LoginFailureWindow = b.Basic.FailureWindow
		}
		s := api.New(acfg)
		// Deferred after p.Close, so it runs before it: the background
		// deletions end while the sessions are there.
		defer s.Close()
		servers = append(servers, s)
	}
	// The first backend's Server watches the client connections, with the
	// gateway-wide --client-idle-timeout.
	first, handler := servers[0], api.Join(servers...)

	if cfg.MetricsListen != "" {
		stop, err := serveMetrics(cfg, reg, logger)
		if err != nil {
			return err
		}
		// Deferred before the HTTP server's shutdown, so it runs after it:
		// /metrics shows the drain to its end.
		defer stop()
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	if cfg.onListening != nil {
		cfg.onListening(ln.Addr())
	}
	srv := &http.Server{
		Handler: handler,
		// The api watches each client connection for progress: bodies
		// stream for as long as they keep moving (--client-idle-timeout),
		// so only the headers get a deadline. There is no BaseContext
		// from ctx, so a signal does not cancel transfers in flight;
		// Shutdown drains them.
		ConnContext:       first.ConnContext,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(first.Listener(ln)) }()
	logger.Info("listening", "addr", ln.Addr().String())
	if demo != nil {
		printDemo(stderr, demo, ln.Addr(), cfg.Auth.Mode)
	}

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	// A second signal now kills the process the default way, for whoever
	// does not want to wait for the drain.
	stopSignals()
	return shutdown(srv, served, first, cfg.DrainPause, cfg.ShutdownTimeout, logger)
}

// serveMetrics serves /metrics of reg on --metrics-listen, and nothing
// else, until stop is called.
func serveMetrics(cfg *config, reg *prometheus.Registry, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", cfg.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	if cfg.onMetricsListening != nil {
		cfg.onMetricsListening(ln.Addr())
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go srv.Serve(ln)
	logger.Info("serving metrics", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}

// printCheck says what --check found: the configuration is valid, and
// where each backend is served from.
func printCheck(w io.Writer, cfg *config) {
	fmt.Fprintf(w, "configuration ok: listening on %s\n", cfg.Listen)
	if cfg.MetricsListen != "" {
		fmt.Fprintf(w, "  /metrics on %s\n", cfg.MetricsListen)
	}
	for _, b := range cfg.all() {
		fmt.Fprintf(w, "  %s -> %s (backend %s, auth %s)\n", cmp.Or(b.Mount, api.DefaultMount), b.Upstream, cmp.Or(b.Name, "default"), b.Auth.Mode)
	}
}

// logStart logs the configuration the gateway starts with.
func logStart(logger *slog.Logger, cfg *config) {
	logger.Info("starting ftpgw", "config", cfg)
	for _, b := range cfg.Backends {
		logger.Info("backend", "config", b)
	}
	if cfg.passwordInArgs {
		logger.Warn("the FTP password is in --upstream on the command line, where any user of this machine can read it in the process list: " +
			"give it with --upstream-password-file or in FTPGW_UPSTREAM instead")
	}
	for _, b := range cfg.all() {
		if b.Upstream.TLS != ftpcore.TLSOff && b.TLS.InsecureSkipVerify {
			// Every start, so that a test setting that reached production
			// keeps saying so.
			logger.Warn("--tls-insecure-skip-verify is set: the FTP server's certificate is not verified, "+
				"and anyone on the path can read and change the traffic; for tests only, never in production", "backend", b.Name)
		}
		if host, _, _ := net.SplitHostPort(cfg.Listen); b.Auth.Mode == authNone && !isLoopback(host) {
			logger.Warn("--auth none on an address beyond this machine: anyone who can reach the gateway may read, write and delete every file", "listen", cfg.Listen, "backend", b.Name)
		}
	}
}

// newRegistry is the registry /metrics serves: the Go runtime, the
// process and the build (go_build_info: module path, version, checksum). Each backend's pool and the api register theirs on it.
func newRegistry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return reg, nil
}

// shutdown ends the service in three phases, and logs each. It drains:
// /readyz fails at once (first.Drain) and responses close their
// connections, while requests are still taken for pause, so that the
// endpoints controller and the load balancers stop sending them before the
// listener goes. Then it closes the listener, so new connections are
// refused, and gives the requests in flight up to grace to finish. Then it
// cuts those still running by closing their connections: a download cut
// so ends short of its Content-Length, or without the last chunk of a
// chunked body, so that no client takes it for complete, and an upload cut
// is aborted, its temporary file deleted and its target left as it was
// (api). It returns once Serve, whose result comes on served, has.
func shutdown(srv *http.Server, served <-chan error, first *api.Server, pause, grace time.Duration, logger *slog.Logger) error {
	logger.Info("draining: /readyz fails, requests are still served", "drain_pause", pause.String())
	first.Drain()
	srv.SetKeepAlivesEnabled(false)
	select {
	case <-time.After(pause):
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	}
	logger.Info("shutting down: new connections are refused; waiting for requests in flight", "shutdown_timeout", grace.String())
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		logger.Warn("shutdown timeout over: cutting the requests still in flight")
		srv.Close()
		return fmt.Errorf("shutdown: requests still in flight after %v were cut off", grace)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// apiConfig is the api.Config serving c's upstream through p, with the
// metrics of reg.
func (c *config) apiConfig(p *pool.Pool, reg *prometheus.Registry, logger *slog.Logger) api.Config {
	return api.Config{
		Pool:                p,
		Mount:               c.Mount,
		Root:                c.Upstream.Root,
		Logger:              logger,
		Registerer:          reg,
		Metrics:             promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		ClientIdleTimeout:   c.ClientIdleTimeout,
		MaxUploadSize:       c.MaxUploadSize,
		TusMaxChecksumPiece: c.TusMaxChecksumPiece,
		MinClientRate:       c.MinClientRate,
		MinClientRateWindow: c.MinClientRateWindow,
		MaxTransferTime:     c.MaxTransferTime,
		MaxClockSkew:        c.MaxClockSkew,
		TempMaxAge:          c.TempMaxAge,
		TempSweepInterval:   c.TempSweepInterval,
		UploadKey:           c.UploadKey,
		Links:               c.Links,
		TrustedContent:      c.TrustedContent,
		SignedURLMaxExpiry:  c.Auth.SignedURLMaxExpiry,
		CORS:                c.CORS,
		MaxTransfers:        c.MaxTransfers,
		MaxClientTransfers:  c.MaxClientTransfers,
		TrustedProxies:      c.TrustedProxies,
		MaxRanges:           c.MaxRanges,
		MaxClientUploads:    c.MaxClientUploads,
	}
}

// poolConfig is the pool.Config for c's upstream.
func (c *config) poolConfig(logger *slog.Logger) pool.Config {
	return pool.Config{
		Name:              c.Name,
		Conn:              c.ftpConfig(logger),
		MaxSessions:       c.MaxSessions,
		MinSessions:       c.MinSessions,
		MaxLifetime:       c.MaxSessionLifetime,
		MaxIdleTime:       c.MaxSessionIdle,
		AcquireTimeout:    c.AcquireTimeout,
		BudgetQuietPeriod: c.BudgetQuietPeriod,
		ArmIdle:           c.ArmIdle,
		Logger:            logger,
	}
}

// usersConfig is the pool.UsersConfig of --auth basic: every user's pool
// is poolConfig's, with the login of the user and the sizes of the
// --basic flags.
func (c *config) usersConfig(logger *slog.Logger) pool.UsersConfig {
	pc := c.poolConfig(logger)
	pc.MaxSessions, pc.MinSessions = c.Basic.MaxSessionsPerUser, 0
	return pool.UsersConfig{Pool: pc, MaxUsers: c.Basic.MaxUsers, IdleTimeout: c.Basic.IdleTimeout}
}

// ftpConfig is the ftpcore.Config for c's upstream: login, timeouts, data
// connection mode and TLS. The pool adds the TLS session cache.
func (c *config) ftpConfig(logger *slog.Logger) ftpcore.Config {
	fc := ftpcore.Config{
		Addr:           c.Upstream.Addr,
		User:           c.Upstream.User,
		Password:       c.Upstream.Password,
		DialTimeout:    c.DialTimeout,
		CommandTimeout: c.CommandTimeout,
		DataTimeout:    c.DataTimeout,
		AbortTimeout:   c.AbortTimeout,
		UsePASVAddress: c.UsePASVAddress,
		Active:         c.Active,
		ActiveAddr:     c.ActiveAddr,
		ActivePortMin:  c.ActivePortMin,
		ActivePortMax:  c.ActivePortMax,
		TLS:            c.Upstream.TLS,
		Logger:         logger,
	}
	if fc.TLS != ftpcore.TLSOff {
		fc.TLSConfig = &tls.Config{
			RootCAs:            c.TLS.RootCAs,
			ServerName:         c.TLS.ServerName,
			MinVersion:         c.TLS.MinVersion,
			InsecureSkipVerify: c.TLS.InsecureSkipVerify,
		}
	}
	return fc
}
