package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// signURL is the sign subcommand: it writes a signed URL for a method on a
// path, with the first key of a signing keys file. The key is read from
// the file only, never from the command line, where the process list
// would show it; nothing but the URL is written.
func signURL(args []string, getenv func(string) string, now time.Time, stdout, stderr io.Writer) int {
	fs := subcommand("sign", "Usage: gateway sign [flags] /files/path\n\n"+
		"Writes a signed URL for one method on one path (the mount included, percent-escaped as in a\n"+
		"URL; a final slash for a directory's listing), valid for --expires, that anyone may use\n"+
		"without a token. Make a key with 'gateway sign-key'.\n\n", stderr)
	// The gateway's own variable, so that in its container sign needs no
	// flag.
	signingKeysEnv := envName("signing-keys-file")
	keysFile := fs.String("keys-file", getenv(signingKeysEnv), "the signing keys file, as the gateway's --signing-keys-file ["+signingKeysEnv+"]")
	method := fs.String("method", "GET", "the method the URL is for: GET (which allows HEAD), HEAD, PUT or DELETE")
	expires := fs.Duration("expires", auth.DefaultExpiry, "how long the URL is valid, at most "+auth.MaxExpiry.String()+" (and the gateway's --signed-url-max-expiry)")
	base := fs.String("base-url", "", "the gateway's URL as its clients reach it, such as https://files.example.com; without it the URL is a path and a query")
	fail := func(err error) int {
		fmt.Fprintf(stderr, "ftpgw sign: %v\n", err)
		return 2
	}
	if code, done := parseSubcommand(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		return fail(errors.New("give one path, such as /files/reports/q3.pdf"))
	}
	if *keysFile == "" {
		return fail(fmt.Errorf("--keys-file (or %s) names the signing keys file", signingKeysEnv))
	}
	if !auth.Signable(*method) {
		return fail(fmt.Errorf("--method must be GET, HEAD, PUT or DELETE, got %q", *method))
	}
	if *expires < time.Second || *expires > auth.MaxExpiry {
		return fail(fmt.Errorf("--expires must be between 1s and %v, got %v", auth.MaxExpiry, *expires))
	}
	prefix, err := baseURL(*base)
	if err != nil {
		return fail(err)
	}
	p, err := url.PathUnescape(fs.Arg(0))
	if err != nil || !strings.HasPrefix(p, "/") {
		return fail(errors.New("the path must start with / and be percent-escaped as in a URL (a % in a name is %25)"))
	}
	clean, dir, err := httpsem.CleanPath(p)
	if err != nil {
		return fail(err)
	}
	signer, err := auth.LoadSigner(*keysFile, 0, nil)
	if err != nil {
		return fail(err)
	}
	u := signer.Sign(*method, clean, now.Add(*expires))
	if dir && clean != "/" {
		clean += "/"
	}
	fmt.Fprintln(stdout, prefix+(&url.URL{Path: clean}).EscapedPath()+"?"+u.Query())
	return 0
}

// baseURL checks sign's --base-url and returns it without a final slash:
// http or https, a host, and perhaps a path under which a proxy serves
// the gateway, but no query or fragment.
func baseURL(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("--base-url must be http:// or https:// and a host, with no query, got %q", s)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// signKey is the sign-key subcommand: it writes a new key's line for a
// signing keys file, made from crypto/rand. The id names the key in the
// URLs it signs; by default the time it was made.
func signKey(args []string, now time.Time, stdout, stderr io.Writer) int {
	fs := subcommand("sign-key", "Usage: gateway sign-key [--id ID] >> signing-keys\n\n"+
		"Writes a new random key's line for the signing keys file. The first key of the file signs,\n"+
		"every one verifies: to rotate, put the new line first and remove the old one once the URLs\n"+
		"it signed have expired.\n\n", stderr)
	id := fs.String("id", "k"+now.UTC().Format("20060102-150405"), "the key's id: 1 to 32 letters, digits, - and _")
	if code, done := parseSubcommand(fs, args); done {
		return code
	}
	line, err := auth.NewKeyLine(*id)
	if err == nil && fs.NArg() > 0 {
		err = errors.New("sign-key takes no arguments but --id")
	}
	if err != nil {
		fmt.Fprintf(stderr, "ftpgw sign-key: %v\n", err)
		return 2
	}
	fmt.Fprintln(stdout, line)
	return 0
}
