package main

import (
	"bytes"
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/pool"
)

// The defaults the gateway itself owns. Every other flag's default is the
// Default… constant of the package the value is for (pool, ftpcore, api).
const (
	// defaultListen is --listen when requests are authenticated.
	defaultListen = ":8080"
	// loopbackListen is --listen when they are not (--auth none), and
	// under --demo, when --listen is not given: a file server anyone may
	// write to stays on this machine unless told otherwise.
	loopbackListen = "127.0.0.1:8080"
	// defaultMinSessions keeps one session logged in, so that a request
	// after a quiet spell does not wait for a login. The pool's own
	// default is none.
	defaultMinSessions     = 1
	defaultShutdownTimeout = 30 * time.Second
	// defaultDrainPause is long enough for the endpoints controller and an
	// ingress to see readiness fail, a few seconds on a healthy cluster,
	// and short beside Kubernetes' default 30 s of grace.
	defaultDrainPause    = 5 * time.Second
	defaultLogLevel      = "info"
	defaultTLSMinVersion = "1.2"
	// maxMaxRanges bounds --max-ranges: every part of a multi-range
	// answer may cost a RETR, and no reader asks for anywhere near as
	// many parts.
	maxMaxRanges = 1000
)

// config is everything the gateway is told at startup, for its first (or
// only) backend; the gateway-wide settings (Listen, LogLevel,
// DrainPause, ShutdownTimeout, ClientIdleTimeout) are the first
// backend's.
type config struct {
	// Name is the backend's name (pool and metrics label): "default" when
	// there is no config file. Mount is where it is served, "" for
	// api.DefaultMount.
	Name, Mount string
	// Backends are the backends after the first, from the config file
	// (ConfigFile); nil with flags alone.
	Backends   []*config
	ConfigFile string

	Listen string
	// MetricsListen, when set, is the address /metrics is served on
	// instead of Listen's, so that an ingress routing Listen's port does
	// not publish it.
	MetricsListen string
	Upstream      upstream // zero in demo mode until the demo server is up

	MaxSessions        int32
	MinSessions        int32
	MaxSessionLifetime time.Duration
	MaxSessionIdle     time.Duration
	AcquireTimeout     time.Duration
	BudgetQuietPeriod  time.Duration

	DialTimeout    time.Duration
	CommandTimeout time.Duration
	DataTimeout    time.Duration
	UsePASVAddress bool
	// ArmIdle dials the next transfer's data connection while a session
	// is idle (pool.Config.ArmIdle; passive mode only).
	ArmIdle bool

	// Active selects active mode: the FTP server connects to ActiveAddr
	// ("" for the control connection's local address) on a port in
	// ActivePortMin..ActivePortMax (0 and 0 for any port).
	Active                       bool
	ActiveAddr                   string
	ActivePortMin, ActivePortMax int

	// TLS is used only when Upstream.TLS is not TLSOff.
	TLS tlsSettings

	// AbortTimeout bounds ending a transfer cut short: ABOR or the
	// reset, the server's replies and the NOOP that proves the session in
	// step.
	AbortTimeout time.Duration

	ClientIdleTimeout time.Duration
	// MaxUploadSize is the most bytes a PUT may carry; negative for no
	// limit.
	MaxUploadSize int64
	// TusMaxChecksumPiece is api.Config.TusMaxChecksumPiece: the most
	// bytes a tus request with Upload-Checksum may carry.
	TusMaxChecksumPiece int64
	// MinClientRate (bytes a second, over MinClientRateWindow) and
	// MaxTransferTime are the api's limits on slow clients; negative
	// turns one off.
	MinClientRate       int64
	MinClientRateWindow time.Duration
	MaxTransferTime     time.Duration
	// MaxClockSkew bounds the FTP server's clock's distance from ours
	// until the api has measured it.
	MaxClockSkew time.Duration
	// TempMaxAge and TempSweepInterval are the api's: how old a
	// temporary upload file must be to be deleted as abandoned, and how
	// often the sweep looks for them; negative turns one off.
	TempMaxAge        time.Duration
	TempSweepInterval time.Duration
	// UploadKeyFile is --upload-key-file, "" for none; UploadKey is what
	// it holds (api.Config.UploadKey): nil for none, a random key of the
	// process's own.
	UploadKeyFile string
	UploadKey     []byte
	// Links is the policy for symbolic links on the FTP server.
	Links api.LinkPolicy
	// TrustedContent serves HTML, SVG, XML, JavaScript and PDF inline
	// rather than as attachments (api.Config.TrustedContent).
	TrustedContent bool
	// CORS lets pages of other origins call the gateway from browsers
	// (api.Config.CORS); nil for none.
	CORS *api.CORS
	// MaxTransfers and MaxClientTransfers cap the transfers under way,
	// on the backend and for each client (0: no cap); TrustedProxies are
	// the proxies whose X-Forwarded-For names the client
	// (api.Config's).
	MaxTransfers       int
	MaxClientTransfers int
	TrustedProxies     []netip.Prefix
	// MaxRanges is the most parts of a multipart/byteranges answer
	// (api.Config.MaxRanges).
	MaxRanges int
	// MaxClientUploads is the most resumable uploads one client may have
	// open (api.Config.MaxClientUploads; 0: no cap).
	MaxClientUploads int
	// Auth is how /files/ requests are authenticated.
	Auth authSettings
	// Basic are the settings of --auth basic.
	Basic basicSettings
	// DrainPause is how long, after SIGINT or SIGTERM, the gateway goes
	// on taking requests with /readyz failing; ShutdownTimeout, how long
	// the requests in flight then have before they are cut.
	DrainPause, ShutdownTimeout time.Duration
	LogLevel                    slog.Level

	// Check: validate the configuration, say so, and exit.
	Check bool

	Demo    bool
	DemoDir string
	// demoIgnored names the upstream flags that were set and that --demo
	// overrides, for run to warn about.
	demoIgnored []string

	// listenGiven says --listen was given (in the config file too).
	listenGiven bool
	// passwordInArgs: the upstream's password is in --upstream on the
	// command line, where the process list shows it; run warns.
	passwordInArgs bool

	// onListening, if set, is called with the HTTP listener's address
	// once it is bound (tests listen on 127.0.0.1:0).
	onListening func(net.Addr)
	// onMetricsListening is onListening for --metrics-listen's.
	onMetricsListening func(net.Addr)
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
	fs, v := newFlagSet(out)
	if err := parseEnvAndArgs(fs, args, getenv); err != nil {
		return nil, err
	}
	if v.configFile != "" {
		return loadConfigFile(v.configFile, args, getenv, out)
	}
	v.upstreamInArgs = slices.ContainsFunc(args, func(a string) bool { return isFlag(a, "upstream") })
	v.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { v.set[f.Name] = true }) // the environment included
	if err := v.validateAuth(getenv); err != nil {
		return nil, err
	}
	if (v.demo || v.authMode == authNone) && !v.set["listen"] {
		v.listen = loopbackListen
	}
	if v.demo && !v.set["links"] {
		// The demo's server (ftpserverlib) shows no links: it describes
		// what a link leads to, and PWD reports the path asked. The
		// inside policy could not tell a link from a file there.
		v.links = api.LinksFollow.String()
	}
	if v.demo && !v.set["drain-pause"] {
		// No load balancer sends the demo requests: Ctrl-C frees its
		// port at once, so that it can be started again.
		v.drainPause = 0
	}
	if err := v.validate(); err != nil {
		return nil, err
	}
	cfg := v.config()
	if err := checkSigning([]*config{cfg}); err != nil {
		return nil, err
	}
	return cfg, nil
}

// flagValues are the flags as given, on the command line or in the
// environment. validate checks them and keeps what it parsed; config
// turns them into a config.
type flagValues struct {
	upstream, passwordFile, listen    string
	metricsListen                     string
	maxSessions, minSessions          int
	maxTransfers, maxClientTransfers  int
	maxRanges, maxClientUploads       int
	trustedProxies                    string
	lifetime, idle, acquire, quiet    time.Duration
	dial, command, data, abort        time.Duration
	clientIdle, shutdown, drainPause  time.Duration
	maxUpload, minRate                string
	tusPiece                          string
	rateWindow, maxTransfer, skew     time.Duration
	tempMaxAge, tempSweep             time.Duration
	logLevel, links                   string
	usePASV, active, armIdle          bool
	activeAddr, activePorts           string
	caFile, serverName, tlsMinVersion string
	insecure, demo, trusted           bool
	demoDir                           string
	auth, tokensFile                  string
	configFile                        string
	// upstreamInArgs: --upstream is on the command line (not only in
	// the environment); passwordInArgs: with a password in it, which the
	// process list shows.
	upstreamInArgs, passwordInArgs   bool
	check                            bool
	tokensReload                     time.Duration
	signingKeysFile                  string
	uploadKeyFile                    string
	uploadKey                        []byte
	signedMax                        time.Duration
	basicMaxUsers, basicPerUser      int
	failuresPerUser, failuresPerAddr int
	basicIdle, failureWindow         time.Duration
	corsOrigins, corsHeaders         string
	corsExpose                       string
	corsCredentials                  bool
	corsMaxAge                       time.Duration
	set                              map[string]bool // the flags given, the environment's included

	// Parsed by validate.
	maxUploadSize    int64
	tusPieceSize     int64
	minRateBytes     int64
	level            slog.Level
	linkPolicy       api.LinkPolicy
	tlsVersion       uint16
	portMin, portMax int
	up               upstream // with the password file's password
	rootCAs          *x509.CertPool
	authMode         authMode
	envToken         *auth.Token // FTPGW_TOKEN's, hashed
	cors             *api.CORS
	proxies          []netip.Prefix
}

// newFlagSet defines the gateway's flags on a FlagSet that prints its
// usage to out.
func newFlagSet(out io.Writer) (*flag.FlagSet, *flagValues) {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(out)
	v := &flagValues{}
	fs.StringVar(&v.configFile, "config", "", "YAML file declaring the backends (each with its own upstream, mount and settings) and settings for all; its keys are these flags' names (see the README); flags and FTPGW_ variables given as well apply to every backend")
	fs.BoolVar(&v.check, "check", false, "check the configuration (flags, environment, --config file, and the files they name), print where each backend is served, and exit: 0 when it is valid, 2 when not; nothing is connected to")
	fs.StringVar(&v.upstream, "upstream", "", "FTP server to serve: ftp://user:pass@host:port/root (root relative to the login directory; /%2F... for an absolute one); ftpes:// for explicit FTPS, ftps:// for implicit FTPS (port 990)")
	fs.StringVar(&v.passwordFile, "upstream-password-file", "", "file holding the upstream password (trailing newline trimmed); wins over a password in --upstream")
	fs.StringVar(&v.metricsListen, "metrics-listen", "", "serve /metrics on this address instead of --listen's (e.g. :9090), so that what routes --listen's port to the internet does not publish it; default: on --listen")
	fs.StringVar(&v.listen, "listen", defaultListen, "HTTP listen address (with --auth none or --demo and no --listen: "+loopbackListen+"); with no authentication, only a loopback address unless --auth none is given")
	fs.IntVar(&v.maxSessions, "max-sessions", pool.DefaultMaxSessions, "most FTP sessions open at once")
	fs.IntVar(&v.maxTransfers, "max-transfers", 0, "most transfers (a GET sending a file's bytes, a PUT) under way at once; one more waits up to --acquire-timeout for one to end, then gets 503; HEAD, listings and DELETE pass it (0: no cap but --max-sessions; keep it below that to leave them sessions)")
	fs.IntVar(&v.maxClientTransfers, "max-client-transfers", 0, "most transfers one client (its IP address) may have under way or waiting at once; one more gets 429 at once (0: no cap)")
	fs.IntVar(&v.maxClientUploads, "max-client-uploads", api.DefaultMaxClientUploads, "most resumable uploads (the draft's or tus's) one client (its IP address) may have open, created through this replica and not yet completed, cancelled or expired; one more creation gets 429 (0: no cap)")
	fs.IntVar(&v.maxRanges, "max-ranges", api.DefaultMaxRanges, "most parts of the multipart/byteranges answer to a GET of several ranges, counted after overlapping and adjacent ranges are coalesced; more get the whole file (200); each part may cost a RETR (1: single ranges only; 1000 at most)")
	fs.StringVar(&v.trustedProxies, "trusted-proxies", "", "comma-separated addresses or CIDR prefixes of the reverse proxies in front of the gateway: from them, the client is the right-most address of X-Forwarded-For that is not one of them (default none: the connection's peer)")
	fs.IntVar(&v.minSessions, "min-sessions", defaultMinSessions, "FTP sessions kept logged in and waiting, even when idle (0: dial on demand only)")
	fs.DurationVar(&v.lifetime, "max-session-lifetime", pool.DefaultMaxLifetime, "FTP sessions are retired after this long (plus up to 10% jitter)")
	fs.DurationVar(&v.idle, "max-session-idle", pool.DefaultMaxIdleTime, "idle FTP sessions are closed after this long")
	fs.DurationVar(&v.acquire, "acquire-timeout", pool.DefaultAcquireTimeout, "how long a request waits for an FTP session, dialling included")
	fs.DurationVar(&v.quiet, "budget-quiet-period", pool.DefaultBudgetQuietPeriod, "after the FTP server refuses a session for too many connections, the pool opens no more than it had then, and one more after each period this long without a refusal")
	fs.DurationVar(&v.dial, "dial-timeout", ftpcore.DefaultDialTimeout, "FTP connect timeout, control and data connections")
	fs.DurationVar(&v.command, "command-timeout", ftpcore.DefaultCommandTimeout, "FTP timeout for each reply")
	fs.DurationVar(&v.data, "data-timeout", ftpcore.DefaultDataTimeout, "FTP data connection idle timeout")
	fs.DurationVar(&v.abort, "abort-timeout", ftpcore.DefaultAbortTimeout, "how long ending an FTP transfer cut short may take (ABOR, the server's replies, a NOOP) before the session is given up")
	fs.DurationVar(&v.clientIdle, "client-idle-timeout", api.DefaultClientIdleTimeout, "how long a transfer may wait on a stalled HTTP client")
	fs.StringVar(&v.minRate, "min-client-rate", formatSize(api.DefaultMinClientRate), "fewest bytes a second an HTTP client must move, on average over --min-client-rate-window while the gateway waits on it, to keep its transfer (-1: no minimum)")
	fs.DurationVar(&v.rateWindow, "min-client-rate-window", api.DefaultMinClientRateWindow, "the span --min-client-rate is averaged over")
	fs.DurationVar(&v.maxTransfer, "max-transfer-time", api.DefaultMaxTransferTime, "the longest one upload or download may take (-1s: no limit)")
	fs.DurationVar(&v.skew, "max-clock-skew", api.DefaultMaxClockSkew, "how far the FTP server's clock may be from the gateway's, until the gateway has measured it: a file modified within this span has no ETag until then")
	fs.DurationVar(&v.tempMaxAge, "temp-max-age", api.DefaultTempMaxAge, "a temporary upload file (.ftpgw-upload-*.tmp) unwritten for this long is taken for the leftover of an upload that died and deleted, when a listing shows it or the sweep finds it (-1s: never)")
	fs.DurationVar(&v.tempSweep, "temp-sweep-interval", api.DefaultTempSweepInterval, "how often the root and the directories uploaded to are swept for temporary upload files older than --temp-max-age (-1s: no sweep)")
	fs.StringVar(&v.maxUpload, "max-upload-size", formatSize(api.DefaultMaxUploadSize), "most bytes one PUT may carry, in bytes or with KiB, MiB, GiB or TiB; a larger one gets 413 (-1: no limit)")
	fs.StringVar(&v.tusPiece, "tus-max-checksum-piece", formatSize(api.DefaultTusMaxChecksumPiece), "most bytes a tus request with Upload-Checksum may carry: the gateway holds it in memory to check it before appending it; a larger one gets 413 (a resumable upload's piece with Content-Digest up to this size is held and checked the same way)")
	fs.StringVar(&v.links, "links", api.LinksInside.String(), "symbolic links on the FTP server: inside (follow a link only where it leads to a place inside the root; others are 404), follow (every link, as the FTP server does: whatever the FTP account can read is served) or refuse (none: a path through a link is 404)")
	fs.BoolVar(&v.trusted, "trusted-content", false, "the FTP server's files are trusted: serve HTML, SVG, XML, JavaScript and PDF inline like other files, not as attachments (browsers still run no script from them: the sandbox stays)")
	fs.StringVar(&v.auth, "auth", "", "how /files/ requests are authenticated: token (a bearer token of --tokens-file or "+envTokenVar+"), basic (HTTP Basic credentials, which are the FTP login; --upstream then names no user) or none (anyone who reaches the gateway may read, write and delete); default token when either is given, else none")
	fs.StringVar(&v.tokensFile, "tokens-file", "", "file of bearer tokens, one a line as 'sha256:<hex> scopes=read,write,delete [prefix=/path] [name=who]' (make lines with 'gateway hash-token'); reloaded when it changes")
	fs.DurationVar(&v.tokensReload, "tokens-reload-interval", auth.DefaultReloadInterval, "how often --tokens-file and --signing-keys-file are looked at for a change")
	fs.StringVar(&v.uploadKeyFile, "upload-key-file", "", "file whose content (at least 32 bytes, surrounding white space trimmed) signs the ids of resumable uploads: every replica that is to continue another's uploads needs the same file; without it a random key of the process's own, so that its resumable uploads survive neither a restart nor a move to another replica")
	fs.StringVar(&v.signingKeysFile, "signing-keys-file", "", "file of keys for signed URLs, one a line as '<id> <base64url key>' (make lines with 'gateway sign-key'); the first signs, all verify; with it a request may carry a signed URL instead of a token (needs --auth token); reloaded when it changes")
	fs.DurationVar(&v.signedMax, "signed-url-max-expiry", auth.MaxExpiry, "the longest a signed URL may be valid, at most "+auth.MaxExpiry.String()+"; a URL expiring further ahead is refused")
	fs.IntVar(&v.basicMaxUsers, "basic-max-users", pool.DefaultMaxUsers, "with --auth basic: most users with a pool of FTP sessions open at once; a new user closes the least recently used idle one, and gets 503 when all are busy")
	fs.DurationVar(&v.basicIdle, "basic-idle-timeout", pool.DefaultUserIdleTimeout, "with --auth basic: a user's pool with no request for this long is closed, its sessions with it")
	fs.IntVar(&v.basicPerUser, "basic-max-sessions-per-user", pool.DefaultMaxSessionsPerUser, "with --auth basic: most FTP sessions one user has open at once")
	fs.IntVar(&v.failuresPerUser, "login-failures-per-user", auth.DefaultLoginFailuresPerUser, "with --auth basic: logins the FTP server may refuse one user name within --login-failure-window before its further attempts get 429 without reaching it")
	fs.IntVar(&v.failuresPerAddr, "login-failures-per-address", auth.DefaultLoginFailuresPerAddress, "with --auth basic: the same, for one client IP address (the connection's, or with --trusted-proxies the client they forward for)")
	fs.DurationVar(&v.failureWindow, "login-failure-window", auth.DefaultLoginFailureWindow, "with --auth basic: the window the failed logins are counted in")
	fs.StringVar(&v.corsOrigins, "cors-origins", "", "origins whose pages may call /files/ from browsers (CORS), comma-separated: https://app.example.com, http://localhost:3000, a pattern such as https://*.example.com (one or more labels in place of *), or * for any; default none")
	fs.BoolVar(&v.corsCredentials, "cors-credentials", false, "with --cors-origins: let pages send the cookies and HTTP authentication the browser holds for the gateway (not with --cors-origins '*')")
	fs.DurationVar(&v.corsMaxAge, "cors-max-age", api.DefaultCORSMaxAge, "with --cors-origins: how long browsers may keep a preflight's answer (0s: they ask before every request)")
	fs.StringVar(&v.corsHeaders, "cors-headers", "", "with --cors-origins: request headers pages may send, comma-separated, besides Range, the conditionals, Authorization, Content-Type and those of resumable uploads")
	fs.StringVar(&v.corsExpose, "cors-expose-headers", "", "with --cors-origins: response headers pages may read, comma-separated, besides Content-Range, ETag, Location, WWW-Authenticate and the others the gateway sends")
	fs.DurationVar(&v.drainPause, "drain-pause", defaultDrainPause, "after SIGINT/SIGTERM, how long the gateway goes on taking requests with /readyz failing, so that load balancers stop sending them (0s: none)")
	fs.DurationVar(&v.shutdown, "shutdown-timeout", defaultShutdownTimeout, "after --drain-pause, how long requests in flight have to finish before they are cut")
	fs.StringVar(&v.logLevel, "log-level", defaultLogLevel, "log level: debug, info, warn or error (debug shows FTP protocol traces)")
	fs.BoolVar(&v.armIdle, "arm-idle", true, "in passive mode, have each FTP session that comes back to the pool send EPSV and dial the data connection of its next transfer while it waits, so that a download on a warm session starts one round trip after its request instead of three (the FTP server holds one more connection per idle session)")
	fs.BoolVar(&v.usePASV, "use-pasv-address", false, "connect data connections to the address in a PASV reply instead of the control connection's peer")
	fs.BoolVar(&v.active, "active", false, "active mode: the FTP server connects to the gateway for data (EPRT, or PORT), instead of passive mode")
	fs.StringVar(&v.activeAddr, "active-addr", "", "with --active: IP address to listen on and announce to the FTP server (default: the control connection's local address)")
	fs.StringVar(&v.activePorts, "active-ports", "", "with --active: local port range for data connections, as 50000-50100 (default: any port)")
	fs.StringVar(&v.caFile, "tls-ca-file", "", "ftps/ftpes: PEM file of CA certificates to trust for the FTP server instead of the system roots")
	fs.StringVar(&v.serverName, "tls-server-name", "", "ftps/ftpes: name to verify the FTP server's certificate for (default: the host in --upstream)")
	fs.StringVar(&v.tlsMinVersion, "tls-min-version", defaultTLSMinVersion, "ftps/ftpes: oldest TLS version to accept: 1.2 or 1.3")
	fs.BoolVar(&v.insecure, "tls-insecure-skip-verify", false, "ftps/ftpes: do not verify the FTP server's certificate; for tests only, never in production")
	fs.BoolVar(&v.demo, "demo", false, "serve sample files from an embedded FTP server on 127.0.0.1 instead of --upstream")
	fs.StringVar(&v.demoDir, "demo-dir", "", "directory the --demo server serves (default: a temporary directory, removed at exit)")
	fs.VisitAll(func(f *flag.Flag) {
		f.Usage += " [" + envName(f.Name) + "]"
	})
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gateway [flags]\n\n"+
			"Serves an FTP server's files over HTTP under /files/. Every flag can also be set\n"+
			"with the environment variable in brackets; a flag given here wins.\n\n")
		fs.PrintDefaults()
	}
	return fs, v
}

// all returns every backend's config: c's own, then Backends'.
func (c *config) all() []*config { return append([]*config{c}, c.Backends...) }

// parseEnvAndArgs sets fs's flags from the environment and then from
// args, so that the command line overrides the environment.
func parseEnvAndArgs(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := applyEnv(fs, getenv); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; everything is set with flags (see -h)", fs.Arg(0))
	}
	return nil
}

// applyEnv sets every flag whose environment variable is set and not
// empty, as if it had been given on the command line.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
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
	return envErr
}

// validate checks the flags and returns an error naming the first flag
// that is wrong and why, checking in this order: the pool's limits and
// timeouts, logging and listening, CORS, the FTP connection's options, and the
// upstream with its password and CA files (which it reads). What it
// parses it keeps for config.
func (v *flagValues) validate() error {
	for _, check := range []func() error{v.validateLimits, v.validateServing, v.validateCORS, v.validateFTPOptions, v.validateUpstream, v.validateUploadKey} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (v *flagValues) validateLimits() error {
	if v.maxSessions < 1 || v.maxSessions > math.MaxInt32 {
		return fmt.Errorf("--max-sessions must be at least 1, got %d", v.maxSessions)
	}
	if v.minSessions < 0 || v.minSessions > v.maxSessions {
		return fmt.Errorf("--min-sessions must be between 0 and --max-sessions (%d), got %d", v.maxSessions, v.minSessions)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"max-session-lifetime", v.lifetime}, {"max-session-idle", v.idle}, {"acquire-timeout", v.acquire},
		{"budget-quiet-period", v.quiet},
		{"dial-timeout", v.dial}, {"command-timeout", v.command}, {"data-timeout", v.data}, {"abort-timeout", v.abort},
		{"client-idle-timeout", v.clientIdle}, {"shutdown-timeout", v.shutdown}, {"min-client-rate-window", v.rateWindow},
		{"tokens-reload-interval", v.tokensReload},
	} {
		if d.v <= 0 {
			return fmt.Errorf("--%s must be positive, got %v", d.name, d.v)
		}
	}
	if v.drainPause < 0 {
		return fmt.Errorf("--drain-pause must be 0 or more, got %v", v.drainPause)
	}
	if err := v.validateTransfers(); err != nil {
		return err
	}
	size, err := parseSize(v.maxUpload)
	if err != nil || size == 0 {
		return fmt.Errorf("--max-upload-size must be a size such as 5GiB or 1048576, or -1 for no limit; got %q", v.maxUpload)
	}
	v.maxUploadSize = size
	if v.tusPieceSize, err = parseSize(v.tusPiece); err != nil || v.tusPieceSize <= 0 {
		return fmt.Errorf("--tus-max-checksum-piece must be a positive size such as 8MiB; got %q", v.tusPiece)
	}
	if v.minRateBytes, err = parseSize(v.minRate); err != nil || v.minRateBytes == 0 {
		return fmt.Errorf("--min-client-rate must be bytes a second such as 512 or 1KiB, or -1 for no minimum; got %q", v.minRate)
	}
	if v.maxTransfer == 0 {
		return errors.New("--max-transfer-time must not be zero; give -1s for no limit")
	}
	if v.skew <= 0 {
		return errors.New("--max-clock-skew must be positive")
	}
	return v.validateTemp()
}

// validateTransfers checks the caps on transfers against each other and
// against --max-sessions, refusing a cap that could never be reached, and
// reads --trusted-proxies.
func (v *flagValues) validateTransfers() error {
	switch {
	case v.maxTransfers < 0:
		return fmt.Errorf("--max-transfers must be 0 (no cap) or more, got %d", v.maxTransfers)
	case v.maxTransfers > v.maxSessions:
		return fmt.Errorf("--max-transfers %d is more than --max-sessions (%d), which would always stop transfers first; "+
			"give at most %d, or 0 for no cap of its own", v.maxTransfers, v.maxSessions, v.maxSessions)
	case v.maxClientTransfers < 0:
		return fmt.Errorf("--max-client-transfers must be 0 (no cap) or more, got %d", v.maxClientTransfers)
	case v.maxClientTransfers > 0 && v.maxTransfers > 0 && v.maxClientTransfers > v.maxTransfers:
		return fmt.Errorf("--max-client-transfers %d is more than --max-transfers (%d), which would always stop a client first",
			v.maxClientTransfers, v.maxTransfers)
	case v.maxClientTransfers > v.maxSessions:
		return fmt.Errorf("--max-client-transfers %d is more than --max-sessions (%d), which would always stop a client first",
			v.maxClientTransfers, v.maxSessions)
	case v.maxClientUploads < 0:
		return fmt.Errorf("--max-client-uploads must be 0 (no cap) or more, got %d", v.maxClientUploads)
	case v.maxRanges < 1:
		return fmt.Errorf("--max-ranges must be 1 (single ranges only) or more, got %d", v.maxRanges)
	case v.maxRanges > maxMaxRanges:
		return fmt.Errorf("--max-ranges must be %d or less, got %d: each part may cost the FTP server a RETR, so one request could make it do thousands", maxMaxRanges, v.maxRanges)
	}
	var err error
	v.proxies, err = parsePrefixes(v.trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	return nil
}

// parsePrefixes reads a comma-separated list of CIDR prefixes ("10.0.0.0/8",
// "2001:db8::/32") and addresses (one address each); "" is none. A prefix
// with bits set past its length ("10.1.2.3/8") is refused: it is most
// likely a typo, and netip would read it as another range than meant.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if !strings.Contains(item, "/") {
			a, err := netip.ParseAddr(item)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not an IP address or a CIDR prefix such as 10.0.0.0/8", item)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or a CIDR prefix such as 10.0.0.0/8", item)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("%q has bits set beyond its /%d; did you mean %s?", item, p.Bits(), p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}

// validateTemp checks the flags of the temporary upload files. An upload
// in progress may go --client-idle-timeout or --data-timeout without a
// write, so an age within those could delete one that lives.
func (v *flagValues) validateTemp() error {
	switch {
	case v.tempMaxAge == 0:
		return errors.New("--temp-max-age must not be zero; give -1s to delete no temporary upload file for its age")
	case v.tempMaxAge > 0 && v.tempMaxAge < time.Hour:
		return fmt.Errorf("--temp-max-age must be at least 1h, or -1s for never; got %v", v.tempMaxAge)
	case v.tempMaxAge > 0 && (v.tempMaxAge <= v.clientIdle || v.tempMaxAge <= v.data):
		return fmt.Errorf("--temp-max-age %v must be longer than --client-idle-timeout (%v) and --data-timeout (%v): "+
			"an upload in progress may go that long without a write", v.tempMaxAge, v.clientIdle, v.data)
	case v.tempSweep == 0:
		return errors.New("--temp-sweep-interval must not be zero; give -1s for no sweep")
	case v.tempSweep > 0 && v.tempSweep < time.Minute:
		return fmt.Errorf("--temp-sweep-interval must be at least 1m, or -1s for no sweep; got %v", v.tempSweep)
	}
	return nil
}

// sizeUnits are the suffixes --max-upload-size takes.
var sizeUnits = []struct {
	suffix string
	shift  uint
}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}

// parseSize reads a byte count, plain or with a binary unit; a negative
// count means no limit and is returned as -1.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	shift := uint(0)
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, shift = strings.TrimSpace(num), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return -1, nil
	}
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%s is too large", s)
	}
	return n << shift, nil
}

// formatSize writes n with the largest unit that divides it.
func formatSize(n int64) string {
	for _, u := range sizeUnits {
		if n > 0 && u.shift > 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// minUploadKey is the fewest bytes --upload-key-file may hold: an HMAC
// key shorter than SHA-256's output weakens it.
const minUploadKey = 32

// validateUploadKey reads --upload-key-file, if given, and keeps its
// content. An error never quotes the key.
func (v *flagValues) validateUploadKey() error {
	if v.uploadKeyFile == "" {
		return nil
	}
	b, err := os.ReadFile(v.uploadKeyFile)
	if err != nil {
		return fmt.Errorf("--upload-key-file: %w", err)
	}
	key := bytes.TrimSpace(b)
	if len(key) < minUploadKey {
		return fmt.Errorf("--upload-key-file %s holds %d bytes, fewer than the %d an upload key needs", v.uploadKeyFile, len(key), minUploadKey)
	}
	v.uploadKey = key
	return nil
}

func (v *flagValues) validateServing() error {
	var err error
	if v.level, err = parseLogLevel(v.logLevel); err != nil {
		return err
	}
	if v.linkPolicy, err = api.ParseLinkPolicy(v.links); err != nil {
		return fmt.Errorf("--links must be inside, follow or refuse, got %q", v.links)
	}
	if v.listen == "" {
		return errors.New("--listen is empty")
	}
	host, _, err := net.SplitHostPort(v.listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %v", v.listen, err)
	}
	if v.authMode == authNone && !v.set["auth"] && !isLoopback(host) {
		return fmt.Errorf("--listen %q serves beyond this machine with no authentication: give --tokens-file or %s, "+
			"or --auth none to let anyone who can reach it read, write and delete", v.listen, envTokenVar)
	}
	if v.metricsListen != "" {
		_, port, err := net.SplitHostPort(v.metricsListen)
		if err != nil {
			return fmt.Errorf("--metrics-listen %q: %v", v.metricsListen, err)
		}
		if v.metricsListen == v.listen && port != "0" {
			return fmt.Errorf("--metrics-listen %q is --listen's address", v.metricsListen)
		}
	}
	return nil
}

// corsFlags are the flags of CORS, --cors-origins first.
func corsFlags() []string {
	return []string{"cors-origins", "cors-credentials", "cors-max-age", "cors-headers", "cors-expose-headers"}
}

// corsFlagOf is the flag that sets the field of api.CORS, as a
// CORSError names it.
func corsFlagOf(field string) string {
	switch field {
	case "AllowedHeaders":
		return "cors-headers"
	case "ExposedHeaders":
		return "cors-expose-headers"
	}
	return "cors-origins"
}

// validateCORS makes the CORS policy the --cors- flags describe: none
// without --cors-origins, and then the other --cors- flags, which would do
// nothing, are refused.
func (v *flagValues) validateCORS() error {
	if v.corsOrigins == "" {
		var given []string
		for _, name := range corsFlags()[1:] {
			if v.set[name] {
				given = append(given, "--"+name)
			}
		}
		if len(given) > 0 {
			return fmt.Errorf("%s: CORS settings without --cors-origins, where they would do nothing", strings.Join(given, ", "))
		}
		return nil
	}
	if v.corsMaxAge < 0 {
		return fmt.Errorf("--cors-max-age must not be negative (0s: browsers ask before every request), got %v", v.corsMaxAge)
	}
	c := &api.CORS{
		AllowedOrigins:   splitList(v.corsOrigins),
		AllowedHeaders:   splitList(v.corsHeaders),
		ExposedHeaders:   splitList(v.corsExpose),
		MaxAge:           v.corsMaxAge,
		AllowCredentials: v.corsCredentials,
	}
	if c.MaxAge == 0 {
		c.MaxAge = -1 // api.CORS's zero is its default
	}
	if err := c.Validate(); err != nil {
		name := "cors-origins"
		if ce, ok := errors.AsType[*api.CORSError](err); ok {
			name = corsFlagOf(ce.Field)
		}
		return fmt.Errorf("--%s: %v", name, err)
	}
	v.cors = c
	return nil
}

// splitList reads a comma-separated list, without the spaces around its
// entries or empty ones.
func splitList(s string) []string {
	var list []string
	for e := range strings.SplitSeq(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			list = append(list, e)
		}
	}
	return list
}

func (v *flagValues) validateFTPOptions() error {
	var err error
	if v.tlsVersion, err = parseTLSVersion(v.tlsMinVersion); err != nil {
		return err
	}
	if v.portMin, v.portMax, err = parsePortRange(v.activePorts); err != nil {
		return err
	}
	if v.activeAddr != "" {
		ip := net.ParseIP(v.activeAddr)
		if ip == nil {
			return fmt.Errorf("--active-addr must be an IP address, got %q", v.activeAddr)
		}
		if ip.IsUnspecified() {
			return fmt.Errorf("--active-addr %s cannot be announced to the FTP server; give the address it should connect to", v.activeAddr)
		}
	}
	// Flags that would do nothing are refused rather than ignored: their
	// absence of effect would only show much later, if ever.
	if !v.active && (v.activeAddr != "" || v.activePorts != "") {
		return errors.New("--active-addr and --active-ports apply to active mode only; add --active")
	}
	if v.active && v.usePASV {
		return errors.New("--use-pasv-address applies to passive mode only, and --active is set")
	}
	return nil
}

// validateUpstream checks the upstream and the flags that depend on it,
// except under --demo, which makes up its own upstream, plain and passive.
// The upstream's settings are then ignored (and run says so) rather than
// refused, so that an FTPGW_UPSTREAM left in the environment does not
// stand in the way of trying the demo.
func (v *flagValues) validateUpstream() error {
	if v.demo {
		return nil
	}
	if v.upstream == "" {
		return errors.New("no upstream: set --upstream or FTPGW_UPSTREAM (or use --demo)")
	}
	up, err := parseUpstream(v.upstream)
	if err != nil {
		return err
	}
	if u, _ := url.Parse(v.upstream); v.upstreamInArgs && u != nil && u.User != nil {
		_, v.passwordInArgs = u.User.Password()
	}
	if v.authMode == authBasic {
		// parseUpstream fills in anonymous: whether a user was given is
		// in the URL.
		if u, _ := url.Parse(v.upstream); u.User != nil || v.passwordFile != "" {
			return errors.New("--auth basic logs in as each request's user: leave the user and password out of --upstream (and --upstream-password-file out)")
		}
		up.User, up.Password = "", ""
	}
	if v.passwordFile != "" {
		if up.Password, err = readPasswordFile(v.passwordFile); err != nil {
			return err
		}
	}
	v.up = up
	if up.TLS == ftpcore.TLSOff {
		var given []string
		for _, name := range tlsFlags() {
			if v.set[name] {
				given = append(given, "--"+name)
			}
		}
		if len(given) > 0 {
			return fmt.Errorf("%s: TLS settings for a plain ftp:// upstream, where they would do nothing; "+
				"use ftpes:// (explicit FTPS) or ftps:// (implicit FTPS)", strings.Join(given, ", "))
		}
		return nil
	}
	if v.caFile != "" {
		if v.rootCAs, err = ftpcore.LoadCAFile(v.caFile); err != nil {
			return fmt.Errorf("--tls-ca-file: %w", err)
		}
	}
	return nil
}

// config is the configuration the validated flags describe.
func (v *flagValues) config() *config {
	cfg := &config{
		Listen:              v.listen,
		MetricsListen:       v.metricsListen,
		MaxSessions:         int32(v.maxSessions),
		MinSessions:         int32(v.minSessions),
		MaxSessionLifetime:  v.lifetime,
		MaxSessionIdle:      v.idle,
		AcquireTimeout:      v.acquire,
		BudgetQuietPeriod:   v.quiet,
		DialTimeout:         v.dial,
		CommandTimeout:      v.command,
		DataTimeout:         v.data,
		AbortTimeout:        v.abort,
		UsePASVAddress:      v.usePASV,
		ArmIdle:             v.armIdle && !v.active,
		ClientIdleTimeout:   v.clientIdle,
		MaxUploadSize:       v.maxUploadSize,
		TusMaxChecksumPiece: v.tusPieceSize,
		MinClientRate:       v.minRateBytes,
		MinClientRateWindow: v.rateWindow,
		MaxTransferTime:     v.maxTransfer,
		MaxClockSkew:        v.skew,
		TempMaxAge:          v.tempMaxAge,
		TempSweepInterval:   v.tempSweep,
		Links:               v.linkPolicy,
		TrustedContent:      v.trusted,
		CORS:                v.cors,
		MaxTransfers:        v.maxTransfers,
		MaxClientTransfers:  v.maxClientTransfers,
		TrustedProxies:      v.proxies,
		MaxRanges:           v.maxRanges,
		MaxClientUploads:    v.maxClientUploads,
		Auth:                authSettings{Mode: v.authMode, TokensFile: v.tokensFile, ReloadInterval: v.tokensReload, EnvToken: v.envToken},
		Basic: basicSettings{MaxUsers: v.basicMaxUsers, IdleTimeout: v.basicIdle, MaxSessionsPerUser: int32(v.basicPerUser),
			FailuresPerUser: v.failuresPerUser, FailuresPerAddress: v.failuresPerAddr, FailureWindow: v.failureWindow},
		DrainPause:      v.drainPause,
		ShutdownTimeout: v.shutdown,
		LogLevel:        v.level,
		Check:           v.check,
		Demo:            v.demo,
		DemoDir:         v.demoDir,
	}
	cfg.Auth.SigningKeysFile, cfg.Auth.SignedURLMaxExpiry = v.signingKeysFile, v.signedMax
	cfg.UploadKeyFile, cfg.UploadKey = v.uploadKeyFile, v.uploadKey
	if v.demo {
		for _, name := range slices.Concat([]string{"upstream", "upstream-password-file"}, activeFlags(), tlsFlags()) {
			if v.set[name] {
				cfg.demoIgnored = append(cfg.demoIgnored, "--"+name)
			}
		}
		return cfg
	}
	cfg.Upstream, cfg.passwordInArgs = v.up, v.passwordInArgs
	cfg.Active, cfg.ActiveAddr, cfg.ActivePortMin, cfg.ActivePortMax = v.active, v.activeAddr, v.portMin, v.portMax
	if v.up.TLS == ftpcore.TLSOff {
		return cfg
	}
	cfg.TLS = tlsSettings{
		CAFile:             v.caFile,
		RootCAs:            v.rootCAs,
		ServerName:         v.serverName,
		MinVersion:         v.tlsVersion,
		InsecureSkipVerify: v.insecure,
	}
	if cfg.TLS.ServerName == "" {
		cfg.TLS.ServerName, _, _ = net.SplitHostPort(v.up.Addr)
	}
	return cfg
}

// parseLogLevel reads --log-level.
func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", s)
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
		slog.String("backend", cmp.Or(c.Name, "default")),
		slog.String("mount", cmp.Or(c.Mount, api.DefaultMount)),
		slog.String("listen", c.Listen),
		slog.String("metrics_listen", c.MetricsListen),
		slog.Any("upstream", c.Upstream),
		slog.Int("max_sessions", int(c.MaxSessions)),
		slog.Int("min_sessions", int(c.MinSessions)),
		slog.String("max_session_lifetime", c.MaxSessionLifetime.String()),
		slog.String("max_session_idle", c.MaxSessionIdle.String()),
		slog.String("acquire_timeout", c.AcquireTimeout.String()),
		slog.String("budget_quiet_period", c.BudgetQuietPeriod.String()),
		slog.String("dial_timeout", c.DialTimeout.String()),
		slog.String("command_timeout", c.CommandTimeout.String()),
		slog.String("data_timeout", c.DataTimeout.String()),
		slog.Bool("use_pasv_address", c.UsePASVAddress),
		slog.Bool("arm_idle", c.ArmIdle),
		slog.Bool("active", c.Active),
		slog.String("abort_timeout", c.AbortTimeout.String()),
		slog.String("client_idle_timeout", c.ClientIdleTimeout.String()),
		slog.Int64("max_upload_size", c.MaxUploadSize),
		slog.Int64("min_client_rate", c.MinClientRate),
		slog.String("min_client_rate_window", c.MinClientRateWindow.String()),
		slog.String("max_transfer_time", c.MaxTransferTime.String()),
		slog.String("max_clock_skew", c.MaxClockSkew.String()),
		slog.String("temp_max_age", c.TempMaxAge.String()),
		slog.String("temp_sweep_interval", c.TempSweepInterval.String()),
		slog.String("upload_key_file", c.UploadKeyFile),
		slog.String("links", c.Links.String()),
		slog.Bool("trusted_content", c.TrustedContent),
		slog.Int("max_transfers", c.MaxTransfers),
		slog.Int("max_client_transfers", c.MaxClientTransfers),
		slog.Any("trusted_proxies", append([]netip.Prefix{}, c.TrustedProxies...)), // [] rather than null when none
		slog.Int("max_ranges", c.MaxRanges),
		slog.Int("max_client_uploads", c.MaxClientUploads),
		slog.Any("auth", c.Auth),
		slog.Any("cors", c.CORS),
		slog.String("drain_pause", c.DrainPause.String()),
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
	if c.Auth.Mode == authBasic {
		attrs = append(attrs, slog.Group("basic",
			slog.Int("max_users", c.Basic.MaxUsers),
			slog.String("idle_timeout", c.Basic.IdleTimeout.String()),
			slog.Int("max_sessions_per_user", int(c.Basic.MaxSessionsPerUser)),
			slog.Int("login_failures_per_user", c.Basic.FailuresPerUser),
			slog.Int("login_failures_per_address", c.Basic.FailuresPerAddress),
			slog.String("login_failure_window", c.Basic.FailureWindow.String()),
		))
	}
	if c.ConfigFile != "" {
		attrs = append(attrs, slog.String("config_file", c.ConfigFile))
	}
	return slog.GroupValue(attrs...)
}
