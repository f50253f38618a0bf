package httpsem

import (
	"errors"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanPath(t *testing.T) {
	seg255 := strings.Repeat("x", 255)
	tests := []struct {
		name  string
		raw   string
		clean string
		dir   bool
	}{
		{"empty is root", "", "/", true},
		{"slash is root", "/", "/", true},
		{"dot is root", ".", "/", true},
		{"many slashes", "///", "/", true},
		{"dot segments only", "/./.", "/", true},
		{"file", "a.txt", "/a.txt", false},
		{"rooted file", "/a.txt", "/a.txt", false},
		{"nested", "a/b/c", "/a/b/c", false},
		{"directory", "a/b/", "/a/b", true},
		{"directory with dot", "a/b/.", "/a/b", true},
		{"double slashes", "a//b///c", "/a/b/c", false},
		{"dot segments", "./a/./b", "/a/b", false},
		{"dash name", "-la", "/-la", false},
		{"dash in dir", "/x/-rf/", "/x/-rf", true},
		{"dotfile", ".hidden", "/.hidden", false},
		{"three-char dot name", ".a.", "/.a.", false},
		{"dots inside", "a..b", "/a..b", false},
		{"dots at ends", "0../..a", "/0../..a", false},
		{"leading space", " a", "/ a", false},
		{"inner space", "a b/c d", "/a b/c d", false},
		{"tilde later", "a/~b", "/a/~b", false},
		{"tilde inside", "a~b", "/a~b", false},
		{"unicode", "ファイル/ça.txt", "/ファイル/ça.txt", false},
		{"percent left alone", "a%2e%2e", "/a%2e%2e", false},
		{"percent dot dot stays literal", "%2e%2e", "/%2e%2e", false},
		{"glob characters", "a*b?[c]", "/a*b?[c]", false},
		{"segment at limit", seg255, "/" + seg255, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clean, dir, err := CleanPath(tt.raw)
			if err != nil {
				t.Fatalf("CleanPath(%q) error: %v", tt.raw, err)
			}
			if clean != tt.clean || dir != tt.dir {
				t.Errorf("CleanPath(%q) = %q, %v; want %q, %v", tt.raw, clean, dir, tt.clean, tt.dir)
			}
		})
	}
}

func TestCleanPathRejects(t *testing.T) {
	tests := []struct {
		name string
		raw  string
	}{
		{"dot dot", ".."},
		{"rooted dot dot", "/.."},
		{"dot dot at end", "a/.."},
		{"dot dot dir", "a/../"},
		{"dot dot in middle", "a/../b"},
		{"dot dot first", "../etc/passwd"},
		{"dot dot after dot", "./../a"},
		{"three dots", "..."},
		{"dot dot space", ".. "},
		{"dot space", "a/. /b"},
		{"space only", "a/ /b"},
		{"trailing space", "a /b"},
		{"trailing space at end", "a/b "},
		{"backslash", `a\b`},
		{"backslash traversal", `..\..\windows`},
		{"backslash alone", `\`},
		{"NUL", "a\x00b"},
		{"CR", "a\rb"},
		{"LF", "a\nb"},
		{"CRLF command", "a\r\nDELE b"},
		{"TAB", "a\tb"},
		{"ESC", "a\x1b[31m"},
		{"DEL", "a\x7f"},
		{"C1 NEL", "a\u0085b"},
		{"C1 CSI", "a\u009b31m"},
		{"invalid UTF-8", "a\xffb"},
		{"overlong UTF-8 slash", "a\xc0\xafb"},
		{"truncated UTF-8", "a\xe3\x83"},
		{"surrogate", "a\xed\xa0\x80"},
		{"tilde user", "~root/x"},
		{"tilde alone", "~"},
		{"rooted tilde", "/~root"},
		{"tilde after dot", "./~ftp/x"},
		{"tilde after empty", "//~"},
		{"segment too long", "a/" + strings.Repeat("x", 256)},
		{"path too long", strings.Repeat("a/", maxPathLen/2+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clean, dir, err := CleanPath(tt.raw)
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("CleanPath(%q) = %q, %v, %v; want ErrBadPath", tt.raw, clean, dir, err)
			}
			if clean != "" || dir {
				t.Errorf("CleanPath(%q) returned %q, %v alongside an error", tt.raw, clean, dir)
			}
			for _, r := range err.Error() {
				if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == utf8.RuneError {
					t.Errorf("error %q echoes control or invalid bytes", err)
				}
			}
		})
	}
}

func TestCleanPathLengthBoundary(t *testing.T) {
	// A rooted path of exactly maxPathLen bytes passes; one more fails,
	// whether the excess comes from the input or from the added "/".
	tests := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"rooted at limit", "/" + strings.Repeat("a/", (maxPathLen-2)/2) + "b", true},
		{"unrooted grows to limit", strings.Repeat("a/", (maxPathLen-2)/2) + "b", true},
		{"unrooted grows past limit", strings.Repeat("a/", (maxPathLen-2)/2) + "bc", false},
		{"rooted past limit", "/" + strings.Repeat("a/", (maxPathLen-2)/2) + "bc", false},
		{"slashes collapse under limit", strings.Repeat("/", maxPathLen-1) + "a", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clean, _, err := CleanPath(tt.raw)
			if (err == nil) != tt.ok {
				t.Fatalf("CleanPath(%d bytes) error = %v, want ok=%v", len(tt.raw), err, tt.ok)
			}
			if err == nil && len(clean) > maxPathLen {
				t.Errorf("clean path is %d bytes, over maxPathLen", len(clean))
			}
		})
	}
}

func TestJoinRoot(t *testing.T) {
	tests := []struct {
		name, root, clean, want string
	}{
		{"slash root", "/", "/a", "/a"},
		{"slash root root", "/", "/", "/"},
		{"root dir", "/srv", "/", "/srv"},
		{"nested", "/srv/data", "/a/b", "/srv/data/a/b"},
		{"trailing slash root", "/srv/", "/a", "/srv/a"},
		{"login dir root", "", "/", "."},
		{"login dir file", "", "/a/b", "./a/b"},
		{"login dir dash", "", "/-la", "./-la"},
		{"dots in names", "", "/0../..a", "./0../..a"},
		// Not produced by CleanPath, but JoinRoot must still confine them.
		{"unclean dot dot", "/srv", "/../etc/passwd", "/srv/etc/passwd"},
		{"unclean relative dot dot", "/srv", "../../etc", "/srv/etc"},
		{"unclean login dir dot dot", "", "../x", "./x"},
		{"unclean empty", "/srv", "", "/srv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JoinRoot(tt.root, tt.clean)
			if got != tt.want {
				t.Errorf("JoinRoot(%q, %q) = %q, want %q", tt.root, tt.clean, got, tt.want)
			}
			if !joinedUnder(tt.root, got) {
				t.Errorf("JoinRoot(%q, %q) = %q escapes the root", tt.root, tt.clean, got)
			}
		})
	}
}

// joinedUnder reports whether p is root or inside it, in JoinRoot's terms.
func joinedUnder(root, p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." {
			return false
		}
	}
	if root == "" {
		return p == "." || strings.HasPrefix(p, "./")
	}
	root = path.Clean(root)
	if p == root {
		return true
	}
	if root == "/" {
		return strings.HasPrefix(p, "/")
	}
	return strings.HasPrefix(p, root+"/")
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{
		"", "/", "a/b/", "./a//b/.", "..", "a/../b", "%2e%2e", "~root/x",
		`a\b`, "a\r\nb", "a\xff", ".. ", "...", "-la", "ファイル",
		strings.Repeat("a/", 2100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		clean, dir, err := CleanPath(raw)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("CleanPath(%q) error %v does not wrap ErrBadPath", raw, err)
			}
			return
		}
		switch {
		case !strings.HasPrefix(clean, "/"):
			t.Fatalf("CleanPath(%q) = %q: not rooted", raw, clean)
		case !utf8.ValidString(clean):
			t.Fatalf("CleanPath(%q) = %q: invalid UTF-8", raw, clean)
		case strings.Contains(clean, "//"):
			t.Fatalf("CleanPath(%q) = %q: contains //", raw, clean)
		case strings.ContainsRune(clean, '\\'):
			t.Fatalf("CleanPath(%q) = %q: contains a backslash", raw, clean)
		case path.Clean(clean) != clean:
			t.Fatalf("CleanPath(%q) = %q: path.Clean gives %q", raw, clean, path.Clean(clean))
		case len(clean) > maxPathLen:
			t.Fatalf("CleanPath(%q) = %d bytes", raw, len(clean))
		case clean == "/" && !dir:
			t.Fatalf("CleanPath(%q) = root but not dir", raw)
		case strings.HasPrefix(clean, "/~"):
			t.Fatalf("CleanPath(%q) = %q: leading tilde", raw, clean)
		}
		for i := 0; i < len(clean); i++ {
			if c := clean[i]; c < 0x20 || c == 0x7f {
				t.Fatalf("CleanPath(%q) = %q: control byte %#x", raw, clean, c)
			}
		}
		for seg := range strings.SplitSeq(clean[1:], "/") {
			if seg == ".." || (clean != "/" && seg == "") || seg == "." {
				t.Fatalf("CleanPath(%q) = %q: segment %q", raw, clean, seg)
			}
		}
		// Cleaning is idempotent, and the clean form names the same kind of thing.
		again, _, err := CleanPath(clean)
		if err != nil || again != clean {
			t.Fatalf("CleanPath(%q) = %q, %v; want %q again", clean, again, err, clean)
		}
		for _, root := range []string{"/", "/srv/ftp", ""} {
			if j := JoinRoot(root, clean); !joinedUnder(root, j) {
				t.Fatalf("JoinRoot(%q, %q) = %q escapes the root", root, clean, j)
			}
		}
	})
}

func BenchmarkCleanPath(b *testing.B) {
	for _, bb := range []struct{ name, raw string }{
		{"short", "docs/report.pdf"},
		{"deep", "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/file.tar.gz"},
		{"messy", "./a//b/./c///d/"},
		{"rejected", "a/b/../c"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				CleanPath(bb.raw)
			}
		})
	}
}
