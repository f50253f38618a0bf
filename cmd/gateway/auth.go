package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
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
)

func (m authMode) String() string {
	if m == authToken {
		return "token"
	}
	return "none"
}

// authSettings are the gateway's one backend's authentication.
type authSettings struct {
	Mode           authMode
	TokensFile     string
	ReloadInterval time.Duration
	// EnvToken is FTPGW_TOKEN's token (its hash), nil if none was given.
	EnvToken *auth.Token
}

// LogValue implements slog.LogValuer: whether there is an env token,
// never the token.
func (a authSettings) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mode", a.Mode.String()),
		slog.String("tokens_file", a.TokensFile),
		slog.String("tokens_reload_interval", a.ReloadInterval.String()),
		slog.Bool("env_token", a.EnvToken != nil),
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
	default:
		return fmt.Errorf("--auth must be token or none, got %q", v.auth)
	}
	if v.tokensFile != "" {
		t, err := auth.Load(v.tokensFile, nil, 0, nil)
		if err != nil {
			return fmt.Errorf("--tokens-file: %w", err)
		}
		t.Close()
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
// ReloadInterval; nil for no authentication. Close the result when done.
func (a authSettings) tokens(logger *slog.Logger) (*auth.Tokens, error) {
	var extra []auth.Token
	if a.EnvToken != nil {
		extra = append(extra, *a.EnvToken)
	}
	switch {
	case a.Mode == authNone:
		return nil, nil
	case a.TokensFile == "":
		return auth.Static(extra...), nil
	}
	return auth.Load(a.TokensFile, extra, a.ReloadInterval, logger)
}

// hashToken is the hash-token subcommand: it reads a token from stdin
// (never from the command line, where the process list would show it)
// and writes its line for the tokens file. With --new it makes a token
// itself and writes it on a line of its own first.
func hashToken(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway hash-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scopes := fs.String("scopes", "read", "what the token may do: read, write, delete, comma-separated")
	prefix := fs.String("prefix", "/", "the path under /files/ the token is limited to, such as /pub/reports")
	name := fs.String("name", "", "a name for the request log, such as ci-bot")
	makeNew := fs.Bool("new", false, "make a new random token (256 bits) and print it first, instead of reading one from stdin")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gateway hash-token [flags] < token\n\n"+
			"Writes the tokens-file line of the token read from stdin (at least %d characters, made at\n"+
			"random: openssl rand -base64 32). With --new, makes the token and writes it first.\n\n", auth.MinTokenLen)
		fs.PrintDefaults()
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "ftpgw hash-token: %v\n", err)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		return fail(errors.New("the token is read from stdin, never from the command line (the process list shows it)"))
	}
	sc, err := auth.ParseScopes(*scopes)
	if err != nil {
		return fail(fmt.Errorf("--scopes: %w", err))
	}
	var secret string
	if *makeNew {
		var b [32]byte
		rand.Read(b[:])
		secret = base64.RawURLEncoding.EncodeToString(b[:])
	} else {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && err != io.EOF {
			return fail(err)
		}
		secret = strings.TrimRight(line, "\r\n")
	}
	tok, err := auth.NewToken(secret, *name, sc, *prefix)
	if err != nil {
		return fail(err)
	}
	if *makeNew {
		fmt.Fprintln(stdout, secret)
	}
	fmt.Fprintln(stdout, tok.Line())
	return 0
}
