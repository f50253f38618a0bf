// Package auth holds the gateway's bearer tokens (RFC 6750): their scopes
// and path prefixes, the file they are kept in, and the lookup of a token a
// client presents; and its signed URLs (sign.go, HMAC-SHA256 of RFC 2104
// and FIPS 180-4), with the file of their keys. It knows nothing of HTTP
// routing or FTP; api calls it.
//
// A token is kept only as its SHA-256. Tokens are random strings of at least
// MinTokenLen characters made by a machine (hash-token's help says how), not
// passwords a person chose: with 128 bits or more of entropy nobody can find
// a token from its hash by guessing, so a fast hash suffices where a
// password would need a slow, salted one (bcrypt, Argon2).
package auth

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// MinTokenLen is the fewest characters a token made with HashToken may
// have: 22 characters of base64 (or 32 hex digits) are 128 bits.
const MinTokenLen = 22

// Scope is a set of the things a token may do.
type Scope uint8

// The scopes: Read is GET and HEAD of files and listings, Write is PUT (and
// the directories it makes), Delete is DELETE of files and directories.
const (
	Read Scope = 1 << iota
	Write
	Delete
	All = Read | Write | Delete
)

var scopeNames = []struct {
	s    Scope
	name string
}{{Read, "read"}, {Write, "write"}, {Delete, "delete"}}

// ParseScopes reads a comma-separated list of scope names.
func ParseScopes(list string) (Scope, error) {
	var s Scope
	for name := range strings.SplitSeq(list, ",") {
		i := -1
		for j, n := range scopeNames {
			if n.name == name {
				i = j
			}
		}
		if i < 0 {
			return 0, fmt.Errorf("scope %q is not read, write or delete", name)
		}
		s |= scopeNames[i].s
	}
	return s, nil
}

// String is the scopes as a comma-separated list, as the tokens file has it.
func (s Scope) String() string {
	var names []string
	for _, n := range scopeNames {
		if s&n.s != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// Token is one token of a Set, without the token itself: its hash, what it
// may do, where, and a name for logs.
type Token struct {
	// Name says whose token it is in the request log ("" if the file
	// gives none). It is not a secret.
	Name string
	// Scopes is what the token may do.
	Scopes Scope
	// Prefix is the clean path (as httpsem.CleanPath makes it) under
	// which the token may act, "/" for everywhere.
	Prefix string
	hash   [sha256.Size]byte
}

// NewToken is a token for secret. It refuses a secret shorter than
// MinTokenLen or one with spaces or control characters, which could not
// travel in an Authorization header as the client wrote it.
func NewToken(secret, name string, scopes Scope, prefix string) (Token, error) {
	if len(secret) < MinTokenLen {
		return Token{}, fmt.Errorf("the token is shorter than %d characters: make one with at least 128 random bits", MinTokenLen)
	}
	for i := 0; i < len(secret); i++ {
		if secret[i] <= ' ' || secret[i] == 0x7f {
			return Token{}, errors.New("the token contains a space or a control character")
		}
	}
	t := Token{Name: name, Scopes: scopes, Prefix: prefix, hash: sha256.Sum256([]byte(secret))}
	return t, t.validate()
}

func (t Token) validate() error {
	if t.Scopes == 0 || t.Scopes&^All != 0 {
		return errors.New("no scopes")
	}
	if clean, _, err := httpsem.CleanPath(t.Prefix); err != nil || clean != t.Prefix {
		return fmt.Errorf("prefix %q is not a clean absolute path such as /pub/reports", t.Prefix)
	}
	for i := 0; i < len(t.Name); i++ {
		if c := t.Name[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '@') {
			return errors.New("a name has only letters, digits and - _ . @")
		}
	}
	return nil
}

// Line is the token's line in a tokens file.
func (t Token) Line() string {
	line := "sha256:" + hex.EncodeToString(t.hash[:]) + " scopes=" + t.Scopes.String()
	if t.Prefix != "/" {
		line += " prefix=" + t.Prefix
	}
	if t.Name != "" {
		line += " name=" + t.Name
	}
	return line
}

// Allows reports whether the token may do need at clean, a path as
// httpsem.CleanPath returns it: clean is the prefix or below it, on a
// segment boundary, so the prefix /a does not grant /ab.
func (t Token) Allows(need Scope, clean string) bool {
	if t.Scopes&need != need {
		return false
	}
	return PathWithin(clean, t.Prefix)
}

// PathWithin reports whether the clean path p is prefix or lies below it.
func PathWithin(p, prefix string) bool {
	if prefix == "/" || p == prefix {
		return true
	}
	return len(p) > len(prefix) && p[len(prefix)] == '/' && p[:len(prefix)] == prefix
}

// Set is a fixed set of tokens. Safe for concurrent use; never changed once
// made.
type Set struct {
	tokens []Token
}

// NewSet is the set of tokens ts.
func NewSet(ts ...Token) *Set { return &Set{tokens: ts} }

// Len is the number of tokens in s.
func (s *Set) Len() int { return len(s.tokens) }

// Lookup returns the token whose hash is secret's. It compares secret's
// hash with every token's in constant time and does not stop at a match,
// so the time it takes tells nothing of which token, or how much of one,
// matched.
func (s *Set) Lookup(secret string) (Token, bool) {
	h := sha256.Sum256([]byte(secret))
	found := -1
	for i := range s.tokens {
		if subtle.ConstantTimeCompare(h[:], s.tokens[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Token{}, false
	}
	return s.tokens[found], true
}

// with is s and the tokens extra.
func (s *Set) with(extra []Token) *Set {
	return &Set{tokens: append(append([]Token(nil), s.tokens...), extra...)}
}

// maxFileSize bounds a tokens file (and a signing keys file): at about
// 100 bytes a line, ten thousand tokens.
const maxFileSize = 1 << 20

// ParseFile reads a tokens file: one token a line,
//
//	sha256:<64 hex digits> scopes=read,write,delete [prefix=/path] [name=ci-bot]
//
// with blank lines and lines starting with # ignored. Keys other than
// these, a key given twice, a hash given twice and a line without scopes
// are errors, which name the line and the key but never quote a hash or
// anything that could be a token pasted by mistake.
func ParseFile(r io.Reader) (*Set, error) {
	var s Set
	seen := map[[sha256.Size]byte]int{}
	err := eachLine(r, func(n int, line string) error {
		t, err := parseLine(line)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if first, dup := seen[t.hash]; dup {
			return fmt.Errorf("line %d: the same hash as line %d", n, first)
		}
		seen[t.hash] = n
		s.tokens = append(s.tokens, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// eachLine calls fn with each line of r (trimmed of spaces) but blank ones
// and # comments, and its number, counting from 1, until fn returns an
// error. A file larger than maxFileSize is an error: the tokens file and
// the signing keys file are read this one way.
func eachLine(r io.Reader, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(io.LimitReader(r, maxFileSize+1))
	sc.Buffer(make([]byte, 0, 4096), maxFileSize+1)
	read := 0
	for n := 1; sc.Scan(); n++ {
		read += len(sc.Bytes()) + 1
		if read > maxFileSize+1 {
			return fmt.Errorf("larger than %d bytes", maxFileSize)
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("larger than %d bytes", maxFileSize)
		}
		return err
	}
	return nil
}

func parseLine(line string) (Token, error) {
	fields := strings.Fields(line)
	hexHash, ok := strings.CutPrefix(fields[0], "sha256:")
	t := Token{Prefix: "/"}
	if b, err := hex.DecodeString(hexHash); !ok || err != nil || len(b) != sha256.Size {
		return Token{}, errors.New("does not start with sha256: and 64 hex digits (the hash of the token, never the token)")
	} else {
		copy(t.hash[:], b)
	}
	given := map[string]bool{}
	for _, f := range fields[1:] {
		key, val, ok := strings.Cut(f, "=")
		known := key == "scopes" || key == "prefix" || key == "name"
		switch {
		case !ok || !known:
			return Token{}, errors.New("a field is not scopes=, prefix= or name=")
		case given[key]:
			return Token{}, fmt.Errorf("%s= given twice", key)
		}
		given[key] = true
		var err error
		switch key {
		case "scopes":
			t.Scopes, err = ParseScopes(val)
		case "prefix":
			t.Prefix = val
		case "name":
			t.Name = val
		}
		if err != nil {
			return Token{}, err
		}
	}
	if !given["scopes"] {
		return Token{}, errors.New("no scopes=")
	}
	return t, t.validate()
}
