package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/auth"
)

const secret = "s3cr3t-0123456789abcdefghijkl"

func hashOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

func TestParseFile(t *testing.T) {
	h := hashOf(secret)
	set, err := auth.ParseFile(strings.NewReader("# tokens\n\n" +
		h + " scopes=read,delete prefix=/pub/reports name=ci-bot\n" +
		"  " + hashOf("other-0123456789abcdefghijkl") + "\tscopes=write  \n"))
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 2 {
		t.Fatalf("%d tokens, want 2", set.Len())
	}
	tok, ok := set.Lookup(secret)
	if !ok || tok.Name != "ci-bot" || tok.Scopes != auth.Read|auth.Delete || tok.Prefix != "/pub/reports" {
		t.Fatalf("Lookup: %+v %v", tok, ok)
	}
	if got, want := tok.Line(), h+" scopes=read,delete prefix=/pub/reports name=ci-bot"; got != want {
		t.Errorf("Line %q, want %q", got, want)
	}
	for _, wrong := range []string{"", h, h[7:], secret + "x", secret[:len(secret)-1]} {
		if _, ok := set.Lookup(wrong); ok {
			t.Errorf("Lookup(%q) found a token", wrong)
		}
	}
}

func TestParseFileErrors(t *testing.T) {
	h := hashOf(secret)
	for _, tc := range []struct{ name, file, err string }{
		{"the token itself", secret + " scopes=read", "line 1: does not start with sha256: and 64 hex digits"},
		{"short hash", h[:40] + " scopes=read", "line 1: does not start with sha256:"},
		{"no scopes", h, "line 1: no scopes="},
		{"empty scopes", h + " scopes=", `line 1: scope "" is not read, write or delete`},
		{"unknown scope", "\n" + h + " scopes=read,admin", `line 2: scope "admin" is not read, write or delete`},
		{"unknown key", h + " scopes=read token=" + secret, "line 1: a field is not scopes=, prefix= or name="},
		{"bare field", h + " scopes=read " + secret, "line 1: a field is not scopes=, prefix= or name="},
		{"key twice", h + " scopes=read scopes=write", "line 1: scopes= given twice"},
		{"relative prefix", h + " scopes=read prefix=pub", `line 1: prefix "pub" is not a clean absolute path`},
		{"trailing slash", h + " scopes=read prefix=/pub/", `line 1: prefix "/pub/" is not a clean absolute path`},
		{"dot dot", h + " scopes=read prefix=/pub/../etc", `line 1: prefix "/pub/../etc" is not a clean absolute path`},
		{"bad name", h + " scopes=read name=a/b", "line 1: a name has only"},
		{"same hash twice", h + " scopes=read\n" + h + " scopes=write", "line 2: the same hash as line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.ParseFile(strings.NewReader(tc.file))
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q…", err, tc.err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), h[7:]) {
				t.Errorf("the error quotes a token or hash: %v", err)
			}
		})
	}
}

// TestAllows: a prefix holds itself and what lies below it, on a segment
// boundary.
func TestAllows(t *testing.T) {
	tok, err := auth.NewToken(secret, "", auth.Read|auth.Write, "/pub")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		need auth.Scope
		path string
		want bool
	}{
		{auth.Read, "/pub", true},
		{auth.Read, "/pub/a/b.txt", true},
		{auth.Write, "/pub/x", true},
		{auth.Delete, "/pub/x", false},
		{auth.Read | auth.Delete, "/pub/x", false},
		{auth.Read, "/pubx", false},
		{auth.Read, "/pu", false},
		{auth.Read, "/", false},
		{auth.Read, "", false},
		{auth.Read, "/other/pub", false},
	} {
		if got := tok.Allows(tc.need, tc.path); got != tc.want {
			t.Errorf("Allows(%v, %q) = %v, want %v", tc.need, tc.path, got, tc.want)
		}
	}
	root, err := auth.NewToken(secret, "", auth.Read, "/")
	if err != nil {
		t.Fatal(err)
	}
	if !root.Allows(auth.Read, "/any/where") {
		t.Error("the prefix / does not hold everything")
	}
}

func TestNewTokenRefusesWeakTokens(t *testing.T) {
	for _, s := range []string{"", "short", strings.Repeat("a", auth.MinTokenLen-1), "has space-0123456789abcdef", "tab\t0123456789abcdefghijkl"} {
		if _, err := auth.NewToken(s, "", auth.Read, "/"); err == nil {
			t.Errorf("NewToken(%q) took it", s)
		}
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add(hashOf(secret) + " scopes=read prefix=/a name=n\n# c\n")
	f.Add("sha256:zz scopes=")
	f.Fuzz(func(t *testing.T, file string) {
		if _, err := auth.ParseFile(strings.NewReader(file)); err != nil {
			return
		}
		// Every token parsed writes a line that parses to itself.
		for _, line := range strings.Split(file, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' {
				continue
			}
			one, err := auth.ParseFile(strings.NewReader(line))
			if err != nil || one.Len() != 1 {
				t.Fatalf("line %q of a good file: %v", line, err)
			}
		}
	})
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name+".new", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(name+".new", name); err != nil {
		t.Fatal(err)
	}
}

// TestReloadSameSizeAndTime: a file renamed over the tokens file is
// reloaded even when its size and modification time are the old one's
// (the kernel's clock ticks in milliseconds; two updates in one tick, or
// a copy that keeps times, look alike otherwise).
func TestReloadSameSizeAndTime(t *testing.T) {
	const other = "0ther-0123456789abcdefghijkl" // as long as secret
	name := filepath.Join(t.TempDir(), "tokens")
	line := func(s string) string {
		tok, err := auth.NewToken(s, "", auth.Read, "/")
		if err != nil {
			t.Fatal(err)
		}
		return tok.Line() + "\n"
	}
	writeFile(t, name, line(secret))
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.Load(name, nil, 5*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tokens.Close()
	writeFile(t, name, line(other))
	if err := os.Chtimes(name, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, ok := tokens.Lookup(other); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a file of the same size and time renamed over the tokens file was not reloaded")
		}
	}
	if _, ok := tokens.Lookup(secret); ok {
		t.Error("the old token still works")
	}
}

// TestCloseIsPrompt: Close does not wait for the next look at the file.
func TestCloseIsPrompt(t *testing.T) {
	name := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, name, "")
	tokens, err := auth.Load(name, nil, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tokens.Close()
	tokens.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	var none *auth.Tokens
	none.Close()
}
