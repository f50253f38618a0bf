// Command gateway serves an FTP server's files over HTTP: GET (with
// ranges and conditional requests), HEAD, PUT (atomic) and DELETE under
// /files/, directory listings as JSON or HTML, and /healthz, /readyz and
// /metrics for whoever runs it.
//
// Every flag has an environment variable: --max-sessions is
// FTPGW_MAX_SESSIONS, and so on. A flag on the command line wins over the
// environment, which wins over the default.
//
// With --demo it needs no FTP server: it starts one of its own on
// 127.0.0.1, serving a directory seeded with sample files.
//
// Exit status: 0 after a clean shutdown on SIGINT or SIGTERM, 1 on a
// runtime error, 2 on bad flags or configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
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
	cfg, err := loadConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ftpgw: %v\n", err)
		os.Exit(2)
	}
	if err := run(context.Background(), cfg, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "ftpgw: %v\n", err)
		os.Exit(1)
	}
}

// config is everything the gateway is told at startup.
type config struct {
	Listen   string
	Upstream upstream // zero in demo mode until the demo server is up

	MaxSessions        int32
	MaxSessionLifetime time.Duration
	MaxSessionIdle     time.Duration
	AcquireTimeout     time.Duration

	DialTimeout    time.Duration
	CommandTimeout time.Duration
	DataTimeout    time.Duration
	UsePASVAddress bool

	ClientIdleTimeout time.Duration
	ShutdownTimeout   time.Duration
	LogLevel          slog.Level

	Demo    bool
	DemoDir string
	// upstreamIgnored says --demo overrode an --upstream that was set.
	upstreamIgnored bool

	// onListening, if set, is called with the HTTP listener's address
	// once it is bound (tests listen on 127.0.0.1:0).
	onListening func(net.Addr)
}

// envName is the environment variable that stands in for a flag.
func envName(flagName string) string {
	return "FTPGW_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// loadConfig reads flags from args and the environment through getenv,
// and the password file if one is named. Every error it returns means bad
// flags or configuration (exit status 2); flag.ErrHelp means -h was asked
// for and usage has been printed to out.
func loadConfig(args []string, getenv func(string) string, out io.Writer) (*config, error) {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(out)
	var (
		rawUpstream  = fs.String("upstream", "", "FTP server to serve: ftp://user:pass@host:port/root (root relative to the login directory; /%2F... for an absolute one)")
		passwordFile = fs.String("upstream-password-file", "", "file holding the upstream password (trailing newline trimmed); wins over a password in --upstream")
		listen       = fs.String("listen", ":8080", "HTTP listen address (with --demo and no --listen: 127.0.0.1:8080)")
		maxSessions  = fs.Int("max-sessions", 8, "most FTP sessions open at once")
		lifetime     = fs.Duration("max-session-lifetime", 30*time.Minute, "FTP sessions are retired after this long (plus up to 10% jitter)")
		idle         = fs.Duration("max-session-idle", 5*time.Minute, "idle FTP sessions are closed after this long")
		acquire      = fs.Duration("acquire-timeout", 10*time.Second, "how long a request waits for an FTP session, dialling included")
		dial         = fs.Duration("dial-timeout", 10*time.Second, "FTP connect timeout, control and data connections")
		command      = fs.Duration("command-timeout", 30*time.Second, "FTP timeout for each reply")
		data         = fs.Duration("data-timeout", 60*time.Second, "FTP data connection idle timeout")
		clientIdle   = fs.Duration("client-idle-timeout", 60*time.Second, "how long a transfer may wait on a stalled HTTP client")
		shutdown     = fs.Duration("shutdown-timeout", 30*time.Second, "how long SIGINT/SIGTERM waits for in-flight requests")
		logLevel     = fs.String("log-level", "info", "log level: debug, info, warn or error (debug shows FTP protocol traces)")
		usePASV      = fs.Bool("use-pasv-address", false, "connect data connections to the address in a PASV reply instead of the control connection's peer")
		demo         = fs.Bool("demo", false, "serve sample files from an embedded FTP server on 127.0.0.1 instead of --upstream")
		demoDir      = fs.String("demo-dir", "", "directory the --demo server serves (default: a temporary directory, removed at exit)")
	)
	fs.VisitAll(func(f *flag.Flag) {
		f.Usage += " [" + envName(f.Name) + "]"
	})
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gateway [flags]\n\n"+
			"Serves an FTP server's files over HTTP under /files/. Every flag can also be set\n"+
			"with the environment variable in brackets; a flag given here wins.\n\n")
		fs.PrintDefaults()
	}

	// The environment is applied first, as if it were flags, so that the
	// command line then overrides it.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		v := getenv(name)
		if v == "" || envErr != nil {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			envErr = fmt.Errorf("%s: invalid value for --%s: %v", name, f.Name, err)
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q; everything is set with flags (see -h)", fs.Arg(0))
	}

	// The demo is a writable file server with no authentication: unless
	// told otherwise, it stays on this machine.
	listenSet := getenv(envName("listen")) != ""
	fs.Visit(func(f *flag.Flag) { listenSet = listenSet || f.Name == "listen" })
	if *demo && !listenSet {
		*listen = "127.0.0.1:8080"
	}
	cfg := &config{
		Listen:             *listen,
		MaxSessionLifetime: *lifetime,
		MaxSessionIdle:     *idle,
		AcquireTimeout:     *acquire,
		DialTimeout:        *dial,
		CommandTimeout:     *command,
		DataTimeout:        *data,
		UsePASVAddress:     *usePASV,
		ClientIdleTimeout:  *clientIdle,
		ShutdownTimeout:    *shutdown,
		Demo:               *demo,
		DemoDir:            *demoDir,
	}
	if *maxSessions < 1 || *maxSessions > math.MaxInt32 {
		return nil, fmt.Errorf("--max-sessions must be at least 1, got %d", *maxSessions)
	}
	cfg.MaxSessions = int32(*maxSessions)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"max-session-lifetime", *lifetime}, {"max-session-idle", *idle}, {"acquire-timeout", *acquire},
		{"dial-timeout", *dial}, {"command-timeout", *command}, {"data-timeout", *data},
		{"client-idle-timeout", *clientIdle}, {"shutdown-timeout", *shutdown},
	} {
		if d.v <= 0 {
			return nil, fmt.Errorf("--%s must be positive, got %v", d.name, d.v)
		}
	}
	switch strings.ToLower(*logLevel) {
	case "debug":
		cfg.LogLevel = slog.LevelDebug
	case "info":
		cfg.LogLevel = slog.LevelInfo
	case "warn", "warning":
		cfg.LogLevel = slog.LevelWarn
	case "error":
		cfg.LogLevel = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", *logLevel)
	}
	if cfg.Listen == "" {
		return nil, errors.New("--listen is empty")
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("--listen %q: %v", cfg.Listen, err)
	}

	if cfg.Demo {
		// The demo makes up its own upstream; --upstream is ignored (and
		// run says so) rather than refused, so that an FTPGW_UPSTREAM left
		// in the environment does not stand in the way of trying it.
		cfg.upstreamIgnored = *rawUpstream != ""
		return cfg, nil
	}
	if *rawUpstream == "" {
		return nil, errors.New("no upstream: set --upstream or FTPGW_UPSTREAM (or use --demo)")
	}
	up, err := parseUpstream(*rawUpstream)
	if err != nil {
		return nil, err
	}
	if *passwordFile != "" {
		pw, err := readPasswordFile(*passwordFile)
		if err != nil {
			return nil, err
		}
		up.Password = pw
	}
	cfg.Upstream = up
	return cfg, nil
}

// readPasswordFile returns the file's contents without the trailing
// newline, the way secrets are mounted.
func readPasswordFile(name string) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("upstream password file: %w", err)
	}
	pw := strings.TrimSuffix(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("upstream password file %s is empty", name)
	}
	if hasCtl(pw) {
		return "", fmt.Errorf("upstream password file %s: the password contains CR, LF or NUL (more than one line?)", name)
	}
	return pw, nil
}

// LogValue implements slog.LogValuer: the startup configuration, with the
// password redacted by upstream's own LogValue.
func (c *config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("listen", c.Listen),
		slog.Any("upstream", c.Upstream),
		slog.Int("max_sessions", int(c.MaxSessions)),
		slog.String("max_session_lifetime", c.MaxSessionLifetime.String()),
		slog.String("max_session_idle", c.MaxSessionIdle.String()),
		slog.String("acquire_timeout", c.AcquireTimeout.String()),
		slog.String("dial_timeout", c.DialTimeout.String()),
		slog.String("command_timeout", c.CommandTimeout.String()),
		slog.String("data_timeout", c.DataTimeout.String()),
		slog.Bool("use_pasv_address", c.UsePASVAddress),
		slog.String("client_idle_timeout", c.ClientIdleTimeout.String()),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
		slog.String("log_level", c.LogLevel.String()),
		slog.Bool("demo", c.Demo),
	}
	if c.Demo {
		attrs = append(attrs, slog.String("demo_dir", c.DemoDir))
	}
	return slog.GroupValue(attrs...)
}

// run runs the gateway until ctx is cancelled or SIGINT or SIGTERM
// arrives, then shuts down: it stops accepting requests and waits up to
// ShutdownTimeout for those in flight, closes the FTP sessions, and stops
// the demo server if there is one. Logs and the demo's instructions go to
// stderr. It returns nil after a clean shutdown.
func run(ctx context.Context, cfg *config, stderr io.Writer) (err error) {
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))

	var demo *demoServer
	if cfg.Demo {
		if cfg.upstreamIgnored {
			logger.Warn("--demo ignores the configured upstream")
		}
		demo, err = startDemo(cfg.DemoDir, logger)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := demo.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("stopping the demo FTP server: %w", cerr)
			}
		}()
		cfg.Upstream = upstream{Addr: demo.addr, User: demo.user, Password: demo.password}
		cfg.DemoDir = demo.dir
	}
	logger.Info("starting ftpgw", "config", cfg)

	p, err := pool.New(pool.Config{
		Conn: ftpcore.Config{
			Addr:           cfg.Upstream.Addr,
			User:           cfg.Upstream.User,
			Password:       cfg.Upstream.Password,
			DialTimeout:    cfg.DialTimeout,
			CommandTimeout: cfg.CommandTimeout,
			DataTimeout:    cfg.DataTimeout,
			UsePASVAddress: cfg.UsePASVAddress,
			Logger:         logger,
		},
		MaxSessions:    cfg.MaxSessions,
		MaxLifetime:    cfg.MaxSessionLifetime,
		MaxIdleTime:    cfg.MaxSessionIdle,
		AcquireTimeout: cfg.AcquireTimeout,
		Logger:         logger,
	})
	if err != nil {
		return err
	}
	// Deferred after demo.Close, so it runs before it: sessions QUIT while
	// the demo server is still there to answer.
	defer p.Close()

	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		pool.NewCollector(p),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering metrics: %w", err)
		}
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	if cfg.onListening != nil {
		cfg.onListening(ln.Addr())
	}
	srv := &http.Server{
		Handler: api.New(api.Config{
			Pool:              p,
			Root:              cfg.Upstream.Root,
			Logger:            logger,
			Registerer:        reg,
			Metrics:           promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
			ClientIdleTimeout: cfg.ClientIdleTimeout,
		}),
		// Only the headers get a deadline: bodies are streamed for as
		// long as they keep moving, which the api enforces chunk by chunk
		// (--client-idle-timeout). There is no BaseContext from ctx, so a
		// signal does not cancel transfers in flight; Shutdown drains them.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())
	if demo != nil {
		printDemo(stderr, demo, ln.Addr())
	}

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	// A second signal now kills the process the default way, for whoever
	// does not want to wait for the drain.
	stopSignals()
	logger.Info("shutting down; waiting for requests in flight", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: requests still in flight after %v were cut off", cfg.ShutdownTimeout)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// printDemo tells a person who just typed "go run ./cmd/gateway --demo"
// what they have and what to try, in plain text rather than JSON.
func printDemo(w io.Writer, d *demoServer, addr net.Addr) {
	base := "http://" + browseHost(addr) + "/files/"
	fmt.Fprintf(w, "\nftpgw demo: serving %s through an embedded FTP server at %s\n\n", d.dir, d.addr)
	fmt.Fprintf(w, "Try:\n")
	for _, ex := range [][2]string{
		{"curl " + base, "list the root (JSON; HTML in a browser)"},
		{"curl -O " + base + "hello.txt", "download a file"},
		{"curl -r 0-99 " + base + "sample.bin -o part.bin", "the first 100 bytes only"},
		{"curl -I " + base + "sample.bin", "headers only: size, ETag, Last-Modified"},
		{"curl -T ./local.txt " + base + "uploaded.txt", "upload (atomic: temporary name, then rename)"},
		{"curl -X DELETE " + base + "uploaded.txt", "delete"},
	} {
		fmt.Fprintf(w, "  %-72s # %s\n", ex[0], ex[1])
	}
	fmt.Fprintf(w, "\nPress Ctrl-C to stop.\n\n")
}

// browseHost is the host:port a local client would use to reach addr: an
// unspecified address ("", 0.0.0.0, ::) becomes localhost.
func browseHost(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// minLevel raises a handler's threshold, for a library that is chattier
// than the rest of the logs.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
