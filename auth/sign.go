package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Signed URLs, in the manner of S3's presigned URLs: a URL for one method
// on one path until an expiry, which anyone who has it may use without a
// token of their own. The gateway adds four query parameters to the
// file's URL:
//
//	ftpgw-method=PUT&ftpgw-expires=1767225600&ftpgw-key=k1&ftpgw-signature=<43 characters of base64url>
//
// The signature is HMAC-SHA256, under the key named by ftpgw-key, of
//
//	"ftpgw-signed-url-v1\n" + method + "\n" + path + "\n" + expires + "\n" + key id
//
// with expires the decimal Unix time as the URL carries it and path the
// URL's path decoded and cleaned as httpsem.CleanPath makes it, the
// backend's mount included and no final slash ("/files/a/b.txt"; "/files"
// for the mount's own directory). So the equivalent spellings a client or
// a proxy may turn a path into (%41 for A, %2F for a slash, a doubled
// slash, a "." segment, a final slash) verify, since they name the same
// file to the gateway, and a path that names another file never does: a
// ".." segment is refused by the gateway whatever the signature.
//
// Keys are kept in a file (ParseKeyFile), one a line; the first signs,
// every one verifies, so that a key is replaced by putting the new one
// first and taking the old one out once the URLs it signed have expired.

// The query parameters of a signed URL.
const (
	ParamMethod    = "ftpgw-method"
	ParamExpires   = "ftpgw-expires"
	ParamKey       = "ftpgw-key"
	ParamSignature = "ftpgw-signature"
)

// DefaultExpiry is how long a signed URL is valid when whoever asks for
// one does not say: long enough to start a download or an upload.
const DefaultExpiry = 15 * time.Minute

// MaxExpiry is the longest a signed URL may be valid: S3's seven days. It
// is also the default of the gateway's --signed-url-max-expiry, which may
// only shorten it.
const MaxExpiry = 7 * 24 * time.Hour

// ExpirySlack is how far beyond now plus the gateway's maximum expiry a
// URL's expiry may lie and still be accepted: the clock of the machine
// that signed it may be that far ahead of the gateway's.
const ExpirySlack = 5 * time.Minute

// MinKeyLen is the fewest bytes a signing key has: the 256 bits of the
// hash HMAC-SHA256 is built on.
const MinKeyLen = 32

// maxKeyLen bounds a key; HMAC hashes a longer one down anyway.
const maxKeyLen = 1024

// signedPrefix is the first line of every string signed: its version, and
// no string signed for another purpose can collide with it.
const signedPrefix = "ftpgw-signed-url-v1\n"

// The reasons Verify refuses a signed URL. None carries the signature.
var (
	ErrSignatureMalformed = errors.New("the signed URL's ftpgw- parameters are missing, repeated or malformed")
	ErrUnknownKey         = errors.New("the signed URL's key is not one the gateway has (it may have been retired)")
	ErrBadSignature       = errors.New("the signature does not match the URL's path, method, expiry and key")
	ErrExpired            = errors.New("the signed URL has expired")
	ErrExpiryTooFar       = errors.New("the signed URL expires further ahead than the gateway allows")
	ErrWrongMethod        = errors.New("the signed URL is for another method")
)

// Signable reports whether a URL may be signed for method: GET, HEAD,
// PUT or DELETE, in capitals. One signed for GET allows HEAD too, as a
// GET's headers without the body.
func Signable(method string) bool {
	switch method {
	case "GET", "HEAD", "PUT", "DELETE":
		return true
	}
	return false
}

// SignedURL is the ftpgw- parameters of a request, as the URL carries
// them.
type SignedURL struct {
	Method, Expires, KeyID, Signature string
}

// Query is u as a URL's query, in the order Sign writes it. No value
// needs escaping: methods, digits, key ids and base64url are all
// unreserved characters.
func (u SignedURL) Query() string {
	return ParamMethod + "=" + u.Method + "&" + ParamExpires + "=" + u.Expires + "&" +
		ParamKey + "=" + u.KeyID + "&" + ParamSignature + "=" + u.Signature
}

// Key is one signing key: an id, which URLs name it by, and the secret.
type Key struct {
	ID     string
	secret []byte
}

// String is the key's id: a key printed, in a log line or an error, never
// shows its secret.
func (k Key) String() string { return k.ID }

// GoString is String, for %#v.
func (k Key) GoString() string { return k.ID }

// NewKey is the key id with the secret secret, at least MinKeyLen bytes.
func NewKey(id string, secret []byte) (Key, error) {
	if err := validKeyID(id); err != nil {
		return Key{}, err
	}
	if len(secret) < MinKeyLen || len(secret) > maxKeyLen {
		return Key{}, fmt.Errorf("a key has %d to %d bytes", MinKeyLen, maxKeyLen)
	}
	return Key{ID: id, secret: bytes.Clone(secret)}, nil
}

// NewKeyLine makes a key of MinKeyLen random bytes with the id id and
// returns its line for a signing keys file.
func NewKeyLine(id string) (string, error) {
	if err := validKeyID(id); err != nil {
		return "", err
	}
	var b [MinKeyLen]byte
	rand.Read(b[:])
	return id + " " + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// validKeyID checks a key id: 1 to 32 of letters, digits, - and _, which
// travel in a query unescaped.
func validKeyID(id string) error {
	ok := len(id) >= 1 && len(id) <= 32
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
	}
	if !ok {
		return errors.New("a key id is 1 to 32 letters, digits, - and _")
	}
	return nil
}

// KeySet is the keys of a signing keys file, the signing one first. Never
// changed once made; safe for concurrent use.
type KeySet struct {
	keys []Key
}

// NewKeySet is the set of keys ks, ks[0] signing. It needs one key at
// least, and no id twice.
func NewKeySet(ks ...Key) (*KeySet, error) {
	if len(ks) == 0 {
		return nil, errors.New("no keys")
	}
	for i := range ks {
		for j := range i {
			if ks[j].ID == ks[i].ID {
				return nil, fmt.Errorf("key id %q given twice", ks[i].ID)
			}
		}
	}
	return &KeySet{keys: ks}, nil
}

// String is the keys' ids, the signing one first: a KeySet printed never
// shows a secret (fmt would print the unexported keys field raw).
func (ks KeySet) String() string { return strings.Join(ks.IDs(), ",") }

// GoString is String, for %#v.
func (ks KeySet) GoString() string { return ks.String() }

// IDs are the ids of the keys, the signing one first. They are not
// secret.
func (ks KeySet) IDs() []string {
	ids := make([]string, len(ks.keys))
	for i, k := range ks.keys {
		ids[i] = k.ID
	}
	return ids
}

// ParseKeyFile reads a signing keys file: one key a line,
//
//	<key id> <the key as base64url, padded or not: at least 32 bytes>
//
// with blank lines and lines starting with # ignored. The first key signs.
// An error names the line (and, for an id given twice, the line that had
// it first), never quotes a key.
func ParseKeyFile(r io.Reader) (*KeySet, error) {
	var keys []Key
	seen := map[string]int{}
	err := eachLine(r, func(n int, line string) error {
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return fmt.Errorf("line %d: not a key id and a key, separated by a space", n)
		}
		secret, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(fields[1], "="))
		if err != nil {
			return fmt.Errorf("line %d: the key is not base64url", n)
		}
		k, err := NewKey(fields[0], secret)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if first, dup := seen[k.ID]; dup {
			return fmt.Errorf("line %d: key id %s given on line %d already", n, k.ID, first)
		}
		seen[k.ID] = n
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return NewKeySet(keys...)
}

// Signer signs URLs with the first key of a signing keys file and
// verifies them with any of its keys, reloading the file when it changes.
// Safe for concurrent use; Close stops the reloading.
type Signer struct {
	f watched[KeySet]
}

// NewSigner is a Signer of the keys ks, never reloaded.
func NewSigner(ks *KeySet) *Signer {
	s := &Signer{}
	s.f.cur.Store(ks)
	return s
}

// LoadSigner reads the signing keys file name, and with interval positive
// reloads it as Load does a tokens file: a file that does not parse
// leaves the keys as they were, and is logged on log by its line number.
// Its reload log lines name the key ids, never a key.
func LoadSigner(name string, interval time.Duration, log *slog.Logger) (*Signer, error) {
	s := &Signer{f: watched[KeySet]{
		what: "signing keys file", items: "keys",
		parse: func(data []byte) (*KeySet, error) { return ParseKeyFile(bytes.NewReader(data)) },
		describe: func(ks *KeySet) slog.Attr {
			return slog.String("key_ids", strings.Join(ks.IDs(), ","))
		},
	}}
	if err := s.f.load(name, interval, log); err != nil {
		return nil, err
	}
	return s, nil
}

// KeyIDs are the ids of the keys in use, the signing one first.
func (s *Signer) KeyIDs() []string { return s.f.cur.Load().IDs() }

// Close stops the reloading and waits for it. Close may be called more
// than once, and on a nil *Signer.
func (s *Signer) Close() {
	if s != nil {
		s.f.close()
	}
}

// Sign returns the ftpgw- parameters that make a URL for method on path
// valid until expires (to the second), with the first key. path is the
// URL's path decoded and cleaned, the mount included (see above); method
// Signable. The caller bounds expires.
func (s *Signer) Sign(method, path string, expires time.Time) SignedURL {
	k := s.f.cur.Load().keys[0]
	u := SignedURL{Method: method, Expires: strconv.FormatInt(expires.Unix(), 10), KeyID: k.ID}
	u.Signature = base64.RawURLEncoding.EncodeToString(mac(k, u, path))
	return u
}

// mac is the HMAC-SHA256 of u for path under k.
func mac(k Key, u SignedURL, path string) []byte {
	h := hmac.New(sha256.New, k.secret)
	io.WriteString(h, signedPrefix+u.Method+"\n"+path+"\n"+u.Expires+"\n"+u.KeyID)
	return h.Sum(nil)
}

// Verify reports whether u authorises a request of method on path (as
// Sign takes it) at now, with an expiry no further than maxExpiry (plus
// ExpirySlack) from now. Its error is one of the Err variables above, in
// this order of checks: malformed parameters, an unknown key, a signature
// that does not match (any byte of the method, path, expiry, key id or
// signature changed), expired, expiring too far ahead, another method.
// The signature is compared in constant time (hmac.Equal).
func (s *Signer) Verify(u SignedURL, method, path string, now time.Time, maxExpiry time.Duration) error {
	exp, err := strconv.ParseInt(u.Expires, 10, 64)
	if err != nil || strconv.FormatInt(exp, 10) != u.Expires || !Signable(u.Method) || validKeyID(u.KeyID) != nil {
		return ErrSignatureMalformed
	}
	// Strict: the last of the 43 characters has 2 padding bits, which a
	// lenient decoder ignores, so that four spellings would verify.
	sig, err := base64.RawURLEncoding.Strict().DecodeString(u.Signature)
	if err != nil || len(sig) != sha256.Size {
		return ErrSignatureMalformed
	}
	var key *Key
	ks := s.f.cur.Load()
	for i := range ks.keys {
		if ks.keys[i].ID == u.KeyID {
			key = &ks.keys[i]
		}
	}
	if key == nil {
		return ErrUnknownKey
	}
	if !hmac.Equal(sig, mac(*key, u, path)) {
		return ErrBadSignature
	}
	switch t := now.Unix(); {
	case t >= exp:
		return ErrExpired
	case exp-t > int64((maxExpiry+ExpirySlack)/time.Second):
		return ErrExpiryTooFar
	}
	if u.Method != method && !(u.Method == "GET" && method == "HEAD") {
		return ErrWrongMethod
	}
	return nil
}
