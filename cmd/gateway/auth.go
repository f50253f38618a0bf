package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/ftpgw/ftpgw/auth"
)

// envTokenVar is the environment variable that holds one token with every
// scope, for a deployment that needs no more than one. Only its hash is
// kept; its value is never logged.
const envTokenVar = "FTPGW_TOKEN"

// authMode is how /files/ requests are authenticated.
type authMode int

const (
	authNone  authMode = iota // anyone who reaches the gateway
	authToken                 // a bearer token of the tokens file or FTPGW_TOKEN
	authBasic                 // HTTP Basic credentials, which are the FTP login
)

func (m authMode) String() string {
	switch m {
	case authToken:
		return "token"
	case authBasic:
		return "basic"
	}
	return "none"
}

// basicFlags are the flags of --auth basic.
func basicFlags() []string {
	return []string{"basic-max-users", "basic-idle-timeout", "basic-max-sessions-per-user",
		"login-failures-per-user", "login-failures-per-address", "login-failure-window"}
}

// basicSettings are the settings of Basic passthrough (--auth basic): the
// users' pools (pool.UsersConfig) and the failed-login limits
// (api.Config).
type basicSettings struct {
	MaxUsers           int
	IdleTimeout        time.Duration
	MaxSessionsPerUser int32
	FailuresPerUser    int
	FailuresPerAddress int
	FailureWindow      time.Duration
}

// authSettings are the gateway's one backend's authentication.
type authSettings struct {
	Mode           authMode
	TokensFile     string
	ReloadInterval time.Duration
	// EnvToken is FTPGW_TOKEN's token (its hash), nil if none was given.
	EnvToken *auth.Token
	// SigningKeysFile is the keys of signed URLs, "" for none; reloaded
	// every ReloadInterval. Gateway-wide: every backend verifies with it.
	SigningKeysFile string
	// SignedURLMaxExpiry is api.Config.SignedURLMaxExpiry.
	SignedURLMaxExpiry time.Duration
}

// LogValue implements slog.LogValuer: whether there is an env token,
// never the token.
func (a authSettings) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mode", a.Mode.String()),
		slog.String("tokens_file", a.TokensFile),
		slog.String("tokens_reload_interval", a.ReloadInterval.String()),
		slog.Bool("env_token", a.EnvToken != nil),
		slog.String("signing_keys_file", a.SigningKeysFile),
		slog.String("signed_url_max_expiry", a.SignedURLMaxExpiry.String()),
	)
}

// validateAuth reads --auth, FTPGW_TOKEN and --tokens-file (which it
// loads once, to fail at start rather than at the first request).
func (v *flagValues) validateAuth(getenv func(string) string) error {
	if secret := getenv(envTokenVar); secret != "" {
		tok, err := auth.NewToken(secret, "env", auth.All, "/")
		if err != nil {
			return fmt.Errorf("%s: %w", envTokenVar, err)
		}
		v.envToken = &tok
	}
	given := v.tokensFile != "" || v.envToken != nil
	switch v.auth {
	case "":
		if given {
			v.authMode = authToken
		}
	case "none":
		if given {
			return fmt.Errorf("--auth none, and yet tokens are given (--tokens-file or %s): leave --auth out, or the tokens", envTokenVar)
		}
	case "token":
		if !given {
			return fmt.Errorf("--auth token needs --tokens-file or %s", envTokenVar)
		}
		v.authMode = authToken
	case "basic":
		if given {
			return fmt.Errorf("--auth basic, and yet tokens are given (--tokens-file or %s): a backend takes either Basic credentials or bearer tokens", envTokenVar)
		}
		v.authMode = authBasic
	default:
		return fmt.Errorf("--auth must be token, basic or none, got %q", v.auth)
	}
	if err := v.validateBasic(); err != nil {
		return err
	}
	if v.tokensFile != "" {
		t, err := auth.Load(v.tokensFile, nil, 0, nil)
		if err != nil {
			return fmt.Errorf("--tokens-file: %w", err)
		}
		t.Close()
	}
	return v.validateSigning()
}

// validateSigning reads --signing-keys-file (once, to fail at start) and
// --signed-url-max-expiry.
func (v *flagValues) validateSigning() error {
	if v.signedMax < time.Second || v.signedMax > auth.MaxExpiry {
		return fmt.Errorf("--signed-url-max-expiry must be between 1s and %v, got %v", auth.MaxExpiry, v.signedMax)
	}
	if v.signingKeysFile == "" {
		return nil
	}
	s, err := auth.LoadSigner(v.signingKeysFile, 0, nil)
	if err != nil {
		return fmt.Errorf("--signing-keys-file: %w", err)
	}
	s.Close()
	return nil
}

// checkSigning refuses a signing keys file where no backend of backends
// has tokens: a signed URL stands in for a token, and with no
// authentication every request is let through anyway. The file is the
// gateway's (every backend's config names the same one); a backend
// without tokens beside one with them ignores signatures.
func checkSigning(backends []*config) error {
	if backends[0].Auth.SigningKeysFile == "" || slices.ContainsFunc(backends, func(c *config) bool { return c.Auth.Mode == authToken }) {
		return nil
	}
	return errors.New("--signing-keys-file needs --auth token: a signed URL stands in for a token, and with no authentication every request is let through anyway")
}

// validateBasic checks the flags of --auth basic: given without it, they
// would do nothing; with it, the pool's own limits would.
func (v *flagValues) validateBasic() error {
	if v.authMode != authBasic {
		for _, name := range basicFlags() {
			if v.set[name] {
				return fmt.Errorf("--%s applies to --auth basic only", name)
			}
		}
		return nil
	}
	for _, name := range []string{"max-sessions", "min-sessions"} {
		if v.set[name] {
			return fmt.Errorf("--%s sizes the one pool of a fixed login; with --auth basic each user has a pool of its own: use --basic-max-sessions-per-user and --basic-max-users", name)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"basic-max-users", v.basicMaxUsers}, {"basic-max-sessions-per-user", v.basicPerUser},
		{"login-failures-per-user", v.failuresPerUser}, {"login-failures-per-address", v.failuresPerAddr}} {
		if n.v < 1 || n.v > math.MaxInt32 {
			return fmt.Errorf("--%s must be at least 1, got %d", n.name, n.v)
		}
	}
	if v.basicIdle <= 0 || v.failureWindow <= 0 {
		return errors.New("--basic-idle-timeout and --login-failure-window must be positive")
	}
	return nil
}

// isLoopback reports whether a listen host is this machine's alone: a
// loopback IP address or "localhost". "" and "0.0.0.0" are every
// interface; any other name may resolve to one.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tokens loads the tokens the settings name, reloading the file every
// ReloadInterval; nil for no authentication or Basic passthrough. Close
// the result when done.
func (a authSettings) tokens(logger *slog.Logger) (*auth.Tokens, error) {
	var extra []auth.Token
	if a.EnvToken != nil {
		extra = append(extra, *a.EnvToken)
	}
	switch {
	case a.Mode != authToken:
		return nil, nil
	case a.TokensFile == "":
		return auth.Static(extra...), nil
	}
	return auth.Load(a.TokensFile, extra, a.ReloadInterval, logger)
}

// signer loads the signing keys file the settings name, reloading it
// every ReloadInterval, and logs the key ids (never a key); nil for none.
// Close the result when done.
func (a authSettings) signer(logger *slog.Logger) (*auth.Signer, error) {
	if a.SigningKeysFile == "" {
		return nil, nil
	}
	s, err := auth.LoadSigner(a.SigningKeysFile, a.ReloadInterval, logger)
	if err != nil {
		return nil, err
	}
	logger.Info("signed URLs accepted", "signing_keys_file", a.SigningKeysFile, "key_ids", strings.Join(s.KeyIDs(), ","),
		"max_expiry", a.SignedURLMaxExpiry.String())
	return s, nil
}
