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
// The upstream is ftp:// (plain FTP), ftpes:// (explicit FTPS, AUTH TLS)
// or ftps:// (implicit FTPS); the --tls-* flags apply to the last two
// only. --active makes the FTP server connect to the gateway for data.
//
// Exit status: 0 after a clean shutdown on SIGINT or SIGTERM, 1 on a
// runtime error, 2 on bad flags or configuration.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"slices"
	"strconv"
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
	MinSessions        int32
	MaxSessionLifetime time.Duration
	MaxSessionIdle     time.Duration
	AcquireTimeout     time.Duration

	DialTimeout    time.Duration
	CommandTimeout time.Duration
	DataTimeout    time.Duration
	UsePASVAddress bool

	// Active selects active mode: the FTP server connects to ActiveAddr
	// ("" for the control connection's local address) on a port in
	// ActivePortMin..ActivePortMax (0 and 0 for any port).
	Active                       bool
	ActiveAddr                   string
	ActivePortMin, ActivePortMax int

	// TLS is used only when Upstream.TLS is not TLSOff.
	TLS tlsSettings

	ClientIdleTimeout time.Duration
	ShutdownTimeout   time.Duration
	LogLevel          slog.Level

	Demo    bool
	DemoDir string
	// demoIgnored names the upstream flags that were set and that --demo
	// overrides, for run to warn about.
	demoIgnored []string

	// onListening, if set, is called with the HTTP listener's address
	// once it is bound (tests listen on 127.0.0.1:0).
	onListening func(net.Addr)
}

// tlsSettings is how the gateway checks an FTPS server's certificate.
type tlsSettings struct {
	// CAFile is the PEM bundle RootCAs was loaded from; "" means the
	// system roots (RootCAs nil).
	CAFile  string
	RootCAs *x509.CertPool
	// ServerName is the name the certificate is verified for: the
	// upstream's host unless --tls-server-name says otherwise.
	ServerName string
	// MinVersion is tls.VersionTLS12 or tls.VersionTLS13.
	MinVersion uint16
	// InsecureSkipVerify turns verification off, for tests only.
	InsecureSkipVerify bool
}

// tlsFlags are the flags that mean something only for an FTPS upstream.
func tlsFlags() []string {
	return []string{"tls-ca-file", "tls-server-name", "tls-min-version", "tls-insecure-skip-verify"}
}

// activeFlags are the flags of active mode.
func activeFlags() []string { return []string{"active", "active-addr", "active-ports"} }

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
		rawUpstream  = fs.String("upstream", "", "FTP server to serve: ftp://user:pass@host:port/root (root relative to the login directory; /%2F... for an absolute one); ftpes:// for explicit FTPS, ftps:// for implicit FTPS (port 990)")
		passwordFile = fs.String("upstream-password-file", "", "file holding the upstream password (trailing newline trimmed); wins over a password in --upstream")
		listen       = fs.String("listen", ":8080", "HTTP listen address (with --demo and no --listen: 127.0.0.1:8080)")
		maxSessions  = fs.Int("max-sessions", 8, "most FTP sessions open at once")
		minSessions  = fs.Int("min-sessions", 1, "FTP sessions kept logged in and waiting, even when idle (0: dial on demand only)")
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
		active       = fs.Bool("active", false, "active mode: the FTP server connects to the gateway for data (EPRT, or PORT), instead of passive mode")
		activeAddr   = fs.String("active-addr", "", "with --active: IP address to listen on and announce to the FTP server (default: the control connection's local address)")
		activePorts  = fs.String("active-ports", "", "with --active: local port range for data connections, as 50000-50100 (default: any port)")
		caFile       = fs.String("tls-ca-file", "", "ftps/ftpes: PEM file of CA certificates to trust for the FTP server instead of the system roots")
		serverName   = fs.String("tls-server-name", "", "ftps/ftpes: name to verify the FTP server's certificate for (default: the host in --upstream)")
		minVersion   = fs.String("tls-min-version", "1.2", "ftps/ftpes: oldest TLS version to accept: 1.2 or 1.3")
		insecure     = fs.Bool("tls-insecure-skip-verify", false, "ftps/ftpes: do not verify the FTP server's certificate; for tests only, never in production")
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
	if *minSessions < 0 || *minSessions > *maxSessions {
		return nil, fmt.Errorf("--min-sessions must be between 0 and --max-sessions (%d), got %d", *maxSessions, *minSessions)
	}
	cfg.MinSessions = int32(*minSessions)
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
	tlsVersion, err := parseTLSVersion(*minVersion)
	if err != nil {
		return nil, err
	}
	portMin, portMax, err := parsePortRange(*activePorts)
	if err != nil {
		return nil, err
	}
	if *activeAddr != "" {
		ip := net.ParseIP(*activeAddr)
		if ip == nil {
			return nil, fmt.Errorf("--active-addr must be an IP address, got %q", *activeAddr)
		}
		if ip.IsUnspecified() {
			return nil, fmt.Errorf("--active-addr %s cannot be announced to the FTP server; give the address it should connect to", *activeAddr)
		}
	}
	// Flags that would do nothing are refused rather than ignored: their
	// absence of effect would only show much later, if ever.
	if !*active && (*activeAddr != "" || *activePorts != "") {
		return nil, errors.New("--active-addr and --active-ports apply to active mode only; add --active")
	}
	if *active && *usePASV {
		return nil, errors.New("--use-pasv-address applies to passive mode only, and --active is set")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true }) // the environment included

	if cfg.Demo {
		// The demo makes up its own upstream, plain and passive; the
		// upstream's settings are ignored (and run says so) rather than
		// refused, so that an FTPGW_UPSTREAM left in the environment does
		// not stand in the way of trying it.
		for _, name := range slices.Concat([]string{"upstream", "upstream-password-file"}, activeFlags(), tlsFlags()) {
			if set[name] {
				cfg.demoIgnored = append(cfg.demoIgnored, "--"+name)
			}
		}
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
	cfg.Active, cfg.ActiveAddr, cfg.ActivePortMin, cfg.ActivePortMax = *active, *activeAddr, portMin, portMax

	if up.TLS == ftpcore.TLSOff {
		var given []string
		for _, name := range tlsFlags() {
			if set[name] {
				given = append(given, "--"+name)
			}
		}
		if len(given) > 0 {
			return nil, fmt.Errorf("%s: TLS settings for a plain ftp:// upstream, where they would do nothing; "+
				"use ftpes:// (explicit FTPS) or ftps:// (implicit FTPS)", strings.Join(given, ", "))
		}
		return cfg, nil
	}
	cfg.TLS = tlsSettings{
		CAFile:             *caFile,
		ServerName:         *serverName,
		MinVersion:         tlsVersion,
		InsecureSkipVerify: *insecure,
	}
	if cfg.TLS.ServerName == "" {
		cfg.TLS.ServerName, _, _ = net.SplitHostPort(up.Addr)
	}
	if *caFile != "" {
		if cfg.TLS.RootCAs, err = ftpcore.LoadCAFile(*caFile); err != nil {
			return nil, fmt.Errorf("--tls-ca-file: %w", err)
		}
	}
	return cfg, nil
}

// parseTLSVersion reads --tls-min-version. TLS 1.0 and 1.1 are not on
// offer: Go's client refuses them by default, and so does ftpgw.
func parseTLSVersion(s string) (uint16, error) {
	switch s {
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("--tls-min-version must be 1.2 or 1.3, got %q", s)
}

// tlsVersionName is the --tls-min-version spelling of v.
func tlsVersionName(v uint16) string {
	if v == tls.VersionTLS13 {
		return "1.3"
	}
	return "1.2"
}

// parsePortRange reads --active-ports, "min-max" with 1 <= min <= max <=
// 65535; "" is 0, 0 (any port).
func parsePortRange(s string) (lo, hi int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	bad := func(why string) (int, int, error) {
		return 0, 0, fmt.Errorf("--active-ports %q: %s; write a range such as 50000-50100", s, why)
	}
	los, his, ok := strings.Cut(s, "-")
	if !ok {
		return bad("no range")
	}
	for _, p := range []struct {
		s string
		v *int
	}{{los, &lo}, {his, &hi}} {
		n, err := strconv.Atoi(strings.TrimSpace(p.s))
		if err != nil {
			return bad(fmt.Sprintf("%q is not a port number", p.s))
		}
		if n < 1 || n > 65535 {
			return bad(fmt.Sprintf("port %d is outside 1-65535", n))
		}
		*p.v = n
	}
	if lo > hi {
		return bad("the first port is above the last")
	}
	return lo, hi, nil
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
		slog.Int("min_sessions", int(c.MinSessions)),
		slog.String("max_session_lifetime", c.MaxSessionLifetime.String()),
		slog.String("max_session_idle", c.MaxSessionIdle.String()),
		slog.String("acquire_timeout", c.AcquireTimeout.String()),
		slog.String("dial_timeout", c.DialTimeout.String()),
		slog.String("command_timeout", c.CommandTimeout.String()),
		slog.String("data_timeout", c.DataTimeout.String()),
		slog.Bool("use_pasv_address", c.UsePASVAddress),
		slog.Bool("active", c.Active),
		slog.String("client_idle_timeout", c.ClientIdleTimeout.String()),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
		slog.String("log_level", c.LogLevel.String()),
		slog.Bool("demo", c.Demo),
	}
	if c.Active {
		ports := "any"
		if c.ActivePortMin != 0 {
			ports = fmt.Sprintf("%d-%d", c.ActivePortMin, c.ActivePortMax)
		}
		attrs = append(attrs, slog.String("active_addr", c.ActiveAddr), slog.String("active_ports", ports))
	}
	if c.Upstream.TLS != ftpcore.TLSOff {
		attrs = append(attrs, slog.Group("tls",
			slog.String("ca_file", c.TLS.CAFile),
			slog.String("server_name", c.TLS.ServerName),
			slog.String("min_version", tlsVersionName(c.TLS.MinVersion)),
			slog.Bool("insecure_skip_verify", c.TLS.InsecureSkipVerify),
		))
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
		if len(cfg.demoIgnored) > 0 {
			logger.Warn("--demo ignores the configured upstream and its settings", "ignored", cfg.demoIgnored)
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
	if cfg.Upstream.TLS != ftpcore.TLSOff && cfg.TLS.InsecureSkipVerify {
		// Every start, so that a test setting that reached production
		// keeps saying so.
		logger.Warn("--tls-insecure-skip-verify is set: the FTP server's certificate is not verified, " +
			"and anyone on the path can read and change the traffic; for tests only, never in production")
	}

	p, err := pool.New(pool.Config{
		Conn:           cfg.ftpConfig(logger),
		MaxSessions:    cfg.MaxSessions,
		MinSessions:    cfg.MinSessions,
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
