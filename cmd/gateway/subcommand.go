package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// subcommand is the FlagSet of the subcommand name (hash-token, sign,
// sign-key): errors and -h go to stderr, the usage being usage and then
// the flags.
func subcommand(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gateway "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseSubcommand parses a subcommand's args on fs. done is true, with
// the exit status, when there is nothing more to do: 0 after -h (fs has
// printed the usage), 2 after a bad flag (fs has said which).
func parseSubcommand(fs *flag.FlagSet, args []string) (code int, done bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0, true
	case err != nil:
		return 2, true
	}
	return 0, false
}
