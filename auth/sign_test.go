package auth_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/auth"
)

// Two keys for the tests, as base64url of 32 bytes.
var (
	key1 = base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	key2 = base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
)

func keySet(t *testing.T, file string) *auth.KeySet {
	t.Helper()
	ks, err := auth.ParseKeyFile(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestParseKeyFile(t *testing.T) {
	ks := keySet(t, "# rotation: new first\n\nk2 "+key2+"\n  k1 "+key1+"==  \n")
	if got := strings.Join(ks.IDs(), ","); got != "k2,k1" {
		t.Errorf("ids %s, want k2,k1", got)
	}
	s := auth.NewSigner(ks)
	if u := s.Sign("GET", "/files/a", time.Unix(1e9, 0)); u.KeyID != "k2" {
		t.Errorf("signed with %s, want the first key k2", u.KeyID)
	}
}

func TestParseKeyFileErrors(t *testing.T) {
	short := base64.RawURLEncoding.EncodeToString(make([]byte, 31))
	for _, row := range []struct{ name, file, want string }{
		{"empty", "# none\n", "no keys"},
		{"one field", "k1\n", "line 1: not a key id and a key"},
		{"three fields", "k1 " + key1 + " x\n", "line 1: not a key id and a key"},
		{"short key", "\nk1 " + short + "\n", "line 2: a key has 32 to 1024 bytes"},
		{"not base64url", "k1 " + strings.Repeat("+", 43) + "\n", "line 1: the key is not base64url"},
		{"bad id", "k.1 " + key1 + "\n", "line 1: a key id is 1 to 32 letters"},
		{"long id", strings.Repeat("k", 33) + " " + key1 + "\n", "line 1: a key id is 1 to 32"},
		{"duplicate id", "k1 " + key1 + "\n#\nk1 " + key2 + "\n", "line 3: key id k1 given on line 1 already"},
	} {
		_, err := auth.ParseKeyFile(strings.NewReader(row.file))
		if err == nil || !strings.Contains(err.Error(), row.want) {
			t.Errorf("%s: %v, want %q", row.name, err, row.want)
			continue
		}
		for _, k := range []string{key1, key2, short} {
			if strings.Contains(err.Error(), k) {
				t.Errorf("%s: the error quotes a key: %v", row.name, err)
			}
		}
	}
}

// TestKeysPrintNoSecret: a key or a key set formatted in any way a log
// line or an error might shows the ids only.
func TestKeysPrintNoSecret(t *testing.T) {
	ks := keySet(t, "k2 "+key2+"\nk1 "+key1+"\n")
	k, err := auth.NewKey("k3", bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{ks, k, *ks} {
			got := fmt.Sprintf(f, v)
			if strings.Contains(got, "[1 1 1") || strings.Contains(got, "[2 2 2") || strings.Contains(got, "[3 3 3") || strings.Contains(got, "\x01") || strings.Contains(got, "0x1, 0x1") || strings.Contains(got, "0x3, 0x3") {
				t.Errorf("%s of %T shows a secret: %s", f, v, got)
			}
		}
	}
}

func TestNewKeyLine(t *testing.T) {
	line, err := auth.NewKeyLine("k-2026_11")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := auth.NewKeyLine("k-2026_11")
	if line == other {
		t.Error("two new keys are the same")
	}
	ks := keySet(t, line+"\n")
	if ids := ks.IDs(); len(ids) != 1 || ids[0] != "k-2026_11" {
		t.Errorf("ids %v", ids)
	}
	if _, err := auth.NewKeyLine("a b"); err == nil {
		t.Error("an id with a space was taken")
	}
}

// TestVerify: a URL verifies for its method and path until it expires;
// any byte of its method, path, expiry, key id or signature changed makes
// it fail, and each failure says which class it is.
func TestVerify(t *testing.T) {
	s := auth.NewSigner(keySet(t, "k2 "+key2+"\nk1 "+key1+"\n"))
	now := time.Unix(1_800_000_000, 0)
	const p = "/files/a/b.txt"
	good := s.Sign("PUT", p, now.Add(time.Hour))
	get := s.Sign("GET", p, now.Add(time.Hour))
	// flip changes a character of v for another of the same alphabet
	// (digits stay digits, base64url stays base64url), so that the URL
	// still parses and only the signature can refuse it.
	flip := func(v string) string {
		b := []byte(v)
		b[len(b)/2] = otherChar(b[len(b)/2])
		return string(b)
	}
	// The last of 43 base64url characters carries 4 bits of the MAC and
	// 2 padding bits: this spelling differs in a padding bit only.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := good.Signature[len(good.Signature)-1]
	padded := good.Signature[:len(good.Signature)-1] + string(alphabet[strings.IndexByte(alphabet, last)^1])
	// A signature for k1's key claiming to be k2's, and one by k1 itself.
	old := auth.NewSigner(keySet(t, "k1 "+key1+"\n")).Sign("PUT", p, now.Add(time.Hour))
	relabeled := old
	relabeled.KeyID = "k2"
	for _, row := range []struct {
		name   string
		u      auth.SignedURL
		method string
		path   string
		now    time.Time
		max    time.Duration
		want   error
	}{
		{"valid", good, "PUT", p, now, auth.MaxExpiry, nil},
		{"valid second key", old, "PUT", p, now, auth.MaxExpiry, nil},
		{"GET allows HEAD", get, "HEAD", p, now, auth.MaxExpiry, nil},
		{"GET", get, "GET", p, now, auth.MaxExpiry, nil},
		{"last second", good, "PUT", p, now.Add(time.Hour - time.Second), auth.MaxExpiry, nil},
		{"expired", good, "PUT", p, now.Add(time.Hour), auth.MaxExpiry, auth.ErrExpired},
		{"too far ahead", good, "PUT", p, now, time.Hour - auth.ExpirySlack - time.Second, auth.ErrExpiryTooFar},
		{"within the slack", good, "PUT", p, now, time.Hour - auth.ExpirySlack, nil},
		{"GET URL for PUT", get, "PUT", p, now, auth.MaxExpiry, auth.ErrWrongMethod},
		{"GET URL for DELETE", get, "DELETE", p, now, auth.MaxExpiry, auth.ErrWrongMethod},
		{"PUT URL for GET", good, "GET", p, now, auth.MaxExpiry, auth.ErrWrongMethod},
		{"other path", good, "PUT", "/files/a/c.txt", now, auth.MaxExpiry, auth.ErrBadSignature},
		{"parent path", good, "PUT", "/files/a", now, auth.MaxExpiry, auth.ErrBadSignature},
		{"other mount", good, "PUT", "/other/a/b.txt", now, auth.MaxExpiry, auth.ErrBadSignature},
		{"method changed", withField(good, "method", "GET"), "GET", p, now, auth.MaxExpiry, auth.ErrBadSignature},
		{"method changed to DELETE", withField(good, "method", "DELETE"), "DELETE", p, now, auth.MaxExpiry, auth.ErrBadSignature},
		{"expiry changed", withField(good, "expires", flip(good.Expires)), "PUT", p, now, auth.MaxExpiry, auth.ErrBadSignature},
		{"expiry with a leading zero", withField(good, "expires", "0"+good.Expires), "PUT", p, now, auth.MaxExpiry, auth.ErrSignatureMalformed},
		{"expiry with a sign", withField(good, "expires", "+"+good.Expires), "PUT", p, now, auth.MaxExpiry, auth.ErrSignatureMalformed},
		{"expiry not a number", withField(good, "expires", "soon"), "PUT", p, now, auth.MaxExpiry, auth.ErrSignatureMalformed},
		{"key relabeled", relabeled, "PUT", p, now, auth.MaxExpiry, auth.ErrBadSignature},
		{"unknown key", withField(good, "key", "k3"), "PUT", p, now, auth.MaxExpiry, auth.ErrUnknownKey},
		{"bad key id", withField(good, "key", "k 2"), "PUT", p, now, auth.MaxExpiry, auth.ErrSignatureMalformed},
		{"signature changed", withField(good, "signature", flip(good.Signature)), "PUT", p, now, auth.MaxExpiry, auth.ErrBadSignature},
		{"signature's padding bit changed", withField(good, "signature", padded), "PUT", p, now, auth.MaxExpiry, auth.ErrSignatureMalformed},
		{"signature cut", withField(good, "signature", good.Signature[:42]), "PUT", p, now, auth.MaxExpiry, auth.ErrSignatureMalformed},
		{"signature as hex", withField(good, "signature", strings.Repeat("ab", 32)), "PUT", p, now, auth.MaxExpiry, auth.ErrSignatureMalformed},
		{"no signature", withField(good, "signature", ""), "PUT", p, now, auth.MaxExpiry, auth.ErrSignatureMalformed},
		{"unknown method", withField(good, "method", "POST"), "POST", p, now, auth.MaxExpiry, auth.ErrSignatureMalformed},
		{"lower-case method", withField(good, "method", "put"), "PUT", p, now, auth.MaxExpiry, auth.ErrSignatureMalformed},
	} {
		err := s.Verify(row.u, row.method, row.path, row.now, row.max)
		if !errors.Is(err, row.want) {
			t.Errorf("%s: %v, want %v", row.name, err, row.want)
		}
	}
	if !strings.HasPrefix(good.Query(), "ftpgw-method=PUT&ftpgw-expires=1800003600&ftpgw-key=k2&ftpgw-signature=") || len(good.Signature) != 43 {
		t.Errorf("query %s", good.Query())
	}
}

// otherChar is a character other than c of c's kind: a digit for a
// digit, a letter for anything else (base64url has both).
func otherChar(c byte) byte {
	switch {
	case c == '0':
		return '1'
	case c >= '0' && c <= '9':
		return '0'
	case c == 'A':
		return 'B'
	}
	return 'A'
}

func withField(u auth.SignedURL, field, v string) auth.SignedURL {
	switch field {
	case "method":
		u.Method = v
	case "expires":
		u.Expires = v
	case "key":
		u.KeyID = v
	case "signature":
		u.Signature = v
	}
	return u
}

// TestSignerReload: a URL signed with the old key verifies while the key
// is in the file and fails once it is taken out; a broken file leaves the
// keys as they were; no log line holds a key.
func TestSignerReload(t *testing.T) {
	name := filepath.Join(t.TempDir(), "keys")
	writeFile(t, name, "k1 "+key1+"\n")
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	s, err := auth.LoadSigner(name, 5*time.Millisecond, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	u := s.Sign("GET", "/files/a", now.Add(time.Hour))
	waitIDs := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); strings.Join(s.KeyIDs(), ",") != want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("keys %v, want %s", s.KeyIDs(), want)
			}
		}
	}
	writeFile(t, name, "k2 "+key2+"\nk1 "+key1+"\n")
	waitIDs("k2,k1")
	if err := s.Verify(u, "GET", "/files/a", now, auth.MaxExpiry); err != nil {
		t.Errorf("the old key's URL while the old key is in the file: %v", err)
	}
	if got := s.Sign("GET", "/files/a", now.Add(time.Hour)).KeyID; got != "k2" {
		t.Errorf("signed with %s after the rotation", got)
	}
	writeFile(t, name, "k2 "+key2+"\nk2 "+key1+"\n")
	for deadline := time.Now().Add(2 * time.Second); !strings.Contains(locked(&mu, &logs), "signing keys file not reloaded"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a broken keys file was not logged: %s", locked(&mu, &logs))
		}
	}
	if err := s.Verify(u, "GET", "/files/a", now, auth.MaxExpiry); err != nil {
		t.Errorf("a broken file changed the keys: %v", err)
	}
	writeFile(t, name, "k2 "+key2+"\n")
	waitIDs("k2")
	if err := s.Verify(u, "GET", "/files/a", now, auth.MaxExpiry); !errors.Is(err, auth.ErrUnknownKey) {
		t.Errorf("the old key's URL after the old key left the file: %v", err)
	}
	text := locked(&mu, &logs)
	if !strings.Contains(text, "key_ids=k2,k1") {
		t.Errorf("the reload's log line does not name the keys: %s", text)
	}
	for _, k := range []string{key1, key2, u.Signature} {
		if strings.Contains(text, k) {
			t.Errorf("the log holds a key or signature:\n%s", text)
		}
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func locked(mu *sync.Mutex, b *bytes.Buffer) string {
	mu.Lock()
	defer mu.Unlock()
	return b.String()
}

// FuzzVerify: whatever a client puts in the parameters and the path,
// Verify returns one of its errors or nil, never panics, and accepts
// nothing but what was signed.
func FuzzVerify(f *testing.F) {
	ks, err := auth.ParseKeyFile(strings.NewReader("k1 " + key1 + "\n"))
	if err != nil {
		f.Fatal(err)
	}
	s := auth.NewSigner(ks)
	now := time.Unix(1_800_000_000, 0)
	good := s.Sign("GET", "/files/a", now.Add(time.Hour))
	f.Add(good.Method, good.Expires, good.KeyID, good.Signature, "/files/a")
	f.Add("PUT", "99999999999999999999", "k1", "", "/")
	f.Fuzz(func(t *testing.T, method, expires, key, sig, p string) {
		u := auth.SignedURL{Method: method, Expires: expires, KeyID: key, Signature: sig}
		err := s.Verify(u, "GET", p, now, auth.MaxExpiry)
		if err == nil && (u != good || p != "/files/a") {
			t.Fatalf("%+v on %q verified", u, p)
		}
	})
}
