package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ftpgw/ftpgw/auth"
)

// hashToken is the hash-token subcommand: it reads a token from stdin
// (never from the command line, where the process list would show it)
// and writes its line for the tokens file. With --new it makes a token
// itself and writes it on a line of its own first.
func hashToken(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := subcommand("hash-token", fmt.Sprintf("Usage: gateway hash-token [flags] < token\n\n"+
		"Writes the tokens-file line of the token read from stdin (at least %d characters, made at\n"+
		"random: openssl rand -base64 32). With --new, makes the token and writes it first.\n\n", auth.MinTokenLen), stderr)
	scopes := fs.String("scopes", "read", "what the token may do: read, write, delete, comma-separated")
	prefix := fs.String("prefix", "/", "the path under /files/ the token is limited to, such as /pub/reports")
	name := fs.String("name", "", "a name for the request log, such as ci-bot")
	makeNew := fs.Bool("new", false, "make a new random token (256 bits) and print it first, instead of reading one from stdin")
	fail := func(err error) int {
		fmt.Fprintf(stderr, "ftpgw hash-token: %v\n", err)
		return 2
	}
	if code, done := parseSubcommand(fs, args); done {
		return code
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
