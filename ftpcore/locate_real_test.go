package ftpcore

import (
	"os"
	"path"
	"testing"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// linkTree makes the tree of the link table in locate.go under s's root:
// files and links of every kind, in pub/ and at the top.
func linkTree(t *testing.T, s *realftpd.Server) {
	t.Helper()
	s.WriteFile(t, "pub/in.txt", []byte("inside\n"))
	s.WriteFile(t, "pub/sub/deep.txt", []byte("deep\n"))
	s.WriteFile(t, "pub/sp ace.txt", []byte("space\n"))
	s.WriteFile(t, "secret.txt", []byte("SECRET, outside pub\n"))
	for name, target := range map[string]string{
		"pub/rel":           "in.txt",
		"pub/abs":           path.Join(s.LoginPath, "pub/in.txt"),
		"pub/etc":           "/etc",
		"pub/up":            "../secret.txt",
		"pub/chain":         "rel",
		"pub/dangling":      "nowhere",
		"pub/dirlink":       "sub",
		"pub/sp ace link":   "sp ace.txt",
		"pub/cu{a,b}":       "in.txt",
		"pub/x -> y":        "in.txt",
		"toplink":           "pub/in.txt",
		"pub/sub/uplink":    "../../secret.txt",
		"pub/sub/parentdir": "..",
	} {
		if err := os.Symlink(target, s.Path(name)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLocateReal runs Locate against each server on the tree of linkTree:
// what each says of each path is the table in locate.go.
func TestLocateReal(t *testing.T) {
	for _, kind := range []realftpd.Kind{realftpd.Vsftpd, realftpd.PureFTPd, realftpd.ProFTPD} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := realftpd.Start(t, kind)
			linkTree(t, s)
			c := dialReal(t, s)
			ctx := testCtx(t)
			chroot := kind == realftpd.PureFTPd
			at := func(rel string) string { return path.Join(s.LoginPath, rel) }
			pub := at("pub")
			type want struct {
				entry      EntryType // Entry.Type; -1 for an error
				size       int64     // Entry.Size of a file
				real       string    // Location.Real
				selfKnown  bool
				selfLink   bool
				selfTarget string
			}
			file := func(size int64) want { return want{entry: EntryFile, size: size, selfKnown: true} }
			link := func(size int64, target string) want {
				return want{entry: EntryFile, size: size, selfKnown: true, selfLink: true, selfTarget: target}
			}
			// A link to a directory, not STATed: pure-ftpd's MLST says
			// what it is, without the target.
			dirLink := func(real string) want {
				if chroot {
					return want{entry: EntryDir, real: real, selfKnown: true, selfLink: true}
				}
				return want{entry: EntryDir, real: real}
			}
			tests := []struct {
				path  string
				lstat bool
				want  want
			}{
				{"pub/in.txt", true, file(7)},
				{"pub/sp ace.txt", true, file(6)},
				{"pub/rel", true, link(7, "in.txt")},
				{"pub/abs", true, link(7, at("pub/in.txt"))},
				{"pub/up", true, link(20, "../secret.txt")},
				{"pub/chain", true, link(7, "rel")},
				{"pub/sp ace link", true, link(6, "sp ace.txt")},
				// vsftpd takes the braces for a glob and finds nothing:
				// the listing of pub/ from inside tells.
				{"pub/cu{a,b}", true, link(7, "in.txt")},
				{"pub/x -> y", true, link(7, "in.txt")},
				// In the login directory: vsftpd leaves a link in its
				// working directory out of STAT, so Locate leaves it first.
				{"toplink", true, link(7, "pub/in.txt")},
				{"pub/sub/uplink", true, link(20, "../../secret.txt")},
				{"pub/sub", false, want{entry: EntryDir, real: at("pub/sub")}},
				{"pub/dirlink", false, dirLink(at("pub/sub"))},
				{"pub/sub/parentdir", false, dirLink(pub)},
				{"pub/nope", true, want{entry: -1}},
			}
			if chroot {
				// "/etc" inside the chroot is missing: a dangling link,
				// which pure-ftpd's MLST calls a link.
				tests = append(tests, struct {
					path  string
					lstat bool
					want  want
				}{"pub/etc", true, want{entry: EntryLink, selfKnown: true, selfLink: true, selfTarget: "/etc"}})
			} else {
				tests = append(tests, struct {
					path  string
					lstat bool
					want  want
				}{"pub/etc", false, want{entry: EntryDir, real: "/etc"}})
			}
			for _, tt := range tests {
				t.Run(tt.path, func(t *testing.T) {
					loc, err := c.Locate(ctx, at(tt.path), tt.lstat, s.LoginPath)
					w := tt.want
					if w.entry < 0 {
						if ReplyCode(err) != StatusFileUnavailable {
							t.Fatalf("Locate = %+v, %v; want a 550", loc, err)
						}
					} else {
						if err != nil {
							t.Fatalf("Locate: %v", err)
						}
						if loc.Entry.Type != w.entry || w.entry == EntryFile && loc.Entry.Size != w.size {
							t.Errorf("Entry = %+v, want a %v of %d bytes", loc.Entry, w.entry, w.size)
						}
					}
					if loc.Real != w.real {
						t.Errorf("Real = %q, want %q", loc.Real, w.real)
					}
					if wantParent := path.Dir(at(tt.path)); loc.Parent != wantParent {
						t.Errorf("Parent = %q, want %q", loc.Parent, wantParent)
					}
					if len(loc.Dirs) != 1 || loc.Dirs[0] != s.LoginPath {
						t.Errorf("Dirs = %q, want [%q]", loc.Dirs, s.LoginPath)
					}
					if loc.SelfKnown != w.selfKnown || w.selfKnown &&
						((loc.Self.Type == EntryLink) != w.selfLink || loc.Self.Target != w.selfTarget || loc.Self.Name != path.Base(tt.path)) {
						t.Errorf("Self = %+v (known %v), want link %v to %q (known %v)", loc.Self, loc.SelfKnown, w.selfLink, w.selfTarget, w.selfKnown)
					}
					if !c.Usable() {
						t.Fatalf("Conn unusable: %v", c.Err())
					}
					// Back in the login directory: a relative path
					// resolves there.
					if n, err := c.Size(ctx, "secret.txt"); err != nil || n != 20 {
						t.Fatalf("Size(secret.txt) after Locate = %d, %v", n, err)
					}
				})
			}
		})
	}
}
