package ftpcore

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// statTable answers STAT from a table of "ls -l" lines by argument, inside
// a 213 as vsftpd frames it; "." stands for the working directory's own
// listing, keyed "cwd:" and the directory. An argument not in the table
// gets an empty 213, as vsftpd gives for what it does not find.
func statTable(lines map[string][]string) ftptest.Handler {
	return func(sc *ftptest.Conn, arg string) {
		if arg == "." {
			arg = "cwd:" + sc.Cwd()
		}
		reply := append([]string{"Status follows:"}, lines[arg]...)
		sc.ReplyLines(213, append(reply, "End of status")...)
	}
}

func TestLocate(t *testing.T) {
	mod := time.Date(2023, 11, 24, 4, 12, 33, 0, time.UTC)
	const (
		fileLine = "-rw-r--r--    1 1001     1001            6 Nov 24 04:12 a.txt"
		linkLine = "lrwxrwxrwx    1 1001     1001            5 Nov 24 04:12 l -> a.txt"
	)
	type want struct {
		entry      Entry
		code       int // the error's reply code; 0 for none
		real       string
		parent     string
		dirs       []string
		selfKnown  bool
		selfType   EntryType
		selfTarget string
	}
	tests := []struct {
		name        string
		mlst        bool
		noPipelines bool
		stat        map[string][]string
		path        string
		lstat       bool
		dirs        []string
		want        want
		wantCmds    []string // exactly, in order
	}{
		{
			// The hot path under the link policy: Stat's two commands,
			// where the parent, the path and the root are, and the STAT
			// that tells a link, in one write. STAT goes out once the
			// session has left the parent for the root: vsftpd hides a
			// link in the working directory.
			name:  "file",
			stat:  map[string][]string{"/d/a.txt": {fileLine}},
			path:  "/d/a.txt",
			lstat: true,
			dirs:  []string{"/"},
			want: want{
				entry:  Entry{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: mod},
				parent: "/d", dirs: []string{"/"}, selfKnown: true, selfType: EntryFile,
			},
			wantCmds: []string{
				"SIZE /d/a.txt", "MDTM /d/a.txt",
				"CWD /d", "PWD", "CWD /d/a.txt", "PWD", "CWD /", "PWD",
				"STAT /d/a.txt", "CWD /home/x",
			},
		},
		{
			name:        "file, unpipelined",
			noPipelines: true,
			stat:        map[string][]string{"/d/a.txt": {fileLine}},
			path:        "/d/a.txt",
			lstat:       true,
			dirs:        []string{"/"},
			want: want{
				entry:  Entry{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: mod},
				parent: "/d", dirs: []string{"/"}, selfKnown: true, selfType: EntryFile,
			},
			wantCmds: []string{
				"SIZE /d/a.txt", "MDTM /d/a.txt",
				"CWD /d", "PWD", "CWD /d/a.txt", "PWD", "CWD /", "PWD",
				"STAT /d/a.txt", "CWD /home/x",
			},
		},
		{
			// The file is a link (the fake server's tree has none, so
			// STAT says so alone): SIZE and MDTM describe its target.
			name:  "link",
			stat:  map[string][]string{"/d/l": {linkLine}},
			path:  "/d/l",
			lstat: true,
			want: want{
				entry:  Entry{Name: "l", Type: EntryFile, Size: 6, ModTime: mod},
				parent: "/d", selfKnown: true, selfType: EntryLink, selfTarget: "a.txt",
			},
			wantCmds: []string{
				"SIZE /d/l", "MDTM /d/l",
				"CWD /d", "PWD", "CWD /d/l", "PWD",
				"CWD /", "STAT /d/l", "CWD /home/x",
			},
		},
		{
			// The name holds " -> ": the target starts after the name,
			// not at the first arrow. A name with a space is STATed
			// twice, as is and escaped for pure-ftpd.
			name: "name with an arrow",
			stat: map[string][]string{"/d/x -> y": {
				"lrwxrwxrwx    1 1001     1001            5 Nov 24 04:12 x -> y -> a.txt",
			}},
			path:  "/d/x -> y",
			lstat: true,
			want: want{
				entry:  Entry{Name: "x -> y", Type: EntryFile, Size: 6, ModTime: mod},
				parent: "/d", selfKnown: true, selfType: EntryLink, selfTarget: "a.txt",
			},
			wantCmds: []string{
				"SIZE /d/x -> y", "MDTM /d/x -> y",
				"CWD /d", "PWD", "CWD /d/x -> y", "PWD",
				"CWD /", "STAT /d/x -> y", `STAT /d/x\ ->\ y`, "CWD /home/x",
			},
		},
		{
			// A glob matches more than the name: the exact name counts.
			name: "glob",
			stat: map[string][]string{"/d/st*r": {
				"-rw-r--r--    1 1001     1001            5 Nov 24 04:12 stXr",
				"lrwxrwxrwx    1 1001     1001            6 Nov 24 04:12 st*r -> a.txt",
			}},
			path:  "/d/st*r",
			lstat: true,
			want: want{
				entry:  Entry{Name: "st*r", Type: EntryFile, Size: 6, ModTime: mod},
				parent: "/d", selfKnown: true, selfType: EntryLink, selfTarget: "a.txt",
			},
			wantCmds: []string{
				"SIZE /d/st*r", "MDTM /d/st*r",
				"CWD /d", "PWD", "CWD /d/st*r", "PWD",
				"CWD /", "STAT /d/st*r", `STAT /d/st\*r`, "CWD /home/x",
			},
		},
		{
			// STAT found nothing (vsftpd and a link in its working
			// directory, or braces): the parent is listed from inside.
			name: "listed from inside the parent",
			stat: map[string][]string{"cwd:/d": {
				"drwxr-xr-x    2 1001     1001         4096 Nov 24 04:12 .",
				linkLine,
			}},
			path:  "/d/l",
			lstat: true,
			want: want{
				entry:  Entry{Name: "l", Type: EntryFile, Size: 6, ModTime: mod},
				parent: "/d", selfKnown: true, selfType: EntryLink, selfTarget: "a.txt",
			},
			wantCmds: []string{
				"SIZE /d/l", "MDTM /d/l",
				"CWD /d", "PWD", "CWD /d/l", "PWD",
				"CWD /", "STAT /d/l", "CWD /home/x",
				"CWD /d", "STAT .", "CWD /home/x",
			},
		},
		{
			// Servers with MLST print the path as asked. A line naming
			// only the base name might come from another directory when
			// the argument has a space or a glob (pure-ftpd lists "/d/b"
			// for "/d/b c.txt" if that is a directory): it does not count,
			// and the parent is listed from inside.
			name: "MLST server, base name only, a space",
			mlst: true,
			stat: map[string][]string{
				"/d/b c.txt": {"-rw-r--r--    1 1001     1001            6 Nov 24 04:12 b c.txt"},
				"cwd:/d":     {"-rw-r--r--    1 1001     1001            6 Nov 24 04:12 b c.txt"},
			},
			path:  "/d/b c.txt",
			lstat: true,
			want: want{
				entry:  Entry{Name: "b c.txt", Type: EntryFile, Size: 6, ModTime: mod},
				parent: "/d", selfKnown: true, selfType: EntryFile,
			},
			wantCmds: []string{
				"MLST /d/b c.txt", "SIZE /d/b c.txt", "MDTM /d/b c.txt",
				"CWD /d", "PWD", "CWD /d/b c.txt", "PWD",
				"CWD /", "STAT /d/b c.txt", `STAT /d/b\ c.txt`, "CWD /home/x",
				"CWD /d", "STAT .", "CWD /home/x",
			},
		},
		{
			// Without a space or a glob the argument names one path to
			// any server: the base name is enough (ftpserverlib prints
			// it).
			name:  "MLST server, base name only",
			mlst:  true,
			stat:  map[string][]string{"/d/a.txt": {fileLine}},
			path:  "/d/a.txt",
			lstat: true,
			want: want{
				entry:  Entry{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: mod},
				parent: "/d", selfKnown: true, selfType: EntryFile,
			},
			wantCmds: []string{
				"MLST /d/a.txt", "SIZE /d/a.txt", "MDTM /d/a.txt",
				"CWD /d", "PWD", "CWD /d/a.txt", "PWD",
				"CWD /", "STAT /d/a.txt", "CWD /home/x",
			},
		},
		{
			name: "MLST server, the path as asked",
			mlst: true,
			stat: map[string][]string{"/d/a.txt": {
				" -rw-r--r--   1 ftpgwtest ftpgwtest        6 Nov 24 04:12 /d/a.txt",
			}},
			path:  "/d/a.txt",
			lstat: true,
			want: want{
				entry:  Entry{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: mod},
				parent: "/d", selfKnown: true, selfType: EntryFile,
			},
			wantCmds: []string{
				"MLST /d/a.txt", "SIZE /d/a.txt", "MDTM /d/a.txt",
				"CWD /d", "PWD", "CWD /d/a.txt", "PWD",
				"CWD /", "STAT /d/a.txt", "CWD /home/x",
			},
		},
		{
			// A directory is not STATed: STAT would list it. Its parent
			// is "/", which has no parent to leave it for.
			name: "directory",
			path: "/d",
			want: want{
				entry: Entry{Name: "d", Type: EntryDir, Size: -1},
				real:  "/d", parent: "/",
			},
			wantCmds: []string{
				"SIZE /d", "MDTM /d",
				"CWD /", "PWD", "CWD /d", "PWD", "CWD /home/x",
			},
		},
		{
			name:  "at the top",
			stat:  map[string][]string{"/top.txt": {"-rw-r--r--    1 1001     1001            3 Nov 24 04:12 top.txt"}},
			path:  "/top.txt",
			lstat: true,
			want: want{
				entry:  Entry{Name: "top.txt", Type: EntryFile, Size: 3, ModTime: mod},
				parent: "/", selfKnown: true, selfType: EntryFile,
			},
			wantCmds: []string{
				"SIZE /top.txt", "MDTM /top.txt",
				"CWD /", "PWD", "CWD /top.txt", "PWD",
				"STAT /top.txt", "CWD /home/x",
			},
		},
		{
			// Missing: Stat's 550, with where it would be. No second
			// round trip for what is not there.
			name:  "missing",
			path:  "/d/nope",
			lstat: true,
			dirs:  []string{"/"},
			want:  want{code: 550, parent: "/d", dirs: []string{"/"}},
			wantCmds: []string{
				"SIZE /d/nope", "MDTM /d/nope",
				"CWD /d", "PWD", "CWD /d/nope", "PWD", "CWD /", "PWD",
				"STAT /d/nope", "CWD /home/x",
			},
		},
		{
			name:  "missing parent",
			path:  "/nope/x",
			lstat: true,
			want:  want{code: 550},
			wantCmds: []string{
				"SIZE /nope/x", "MDTM /nope/x",
				"CWD /nope", "PWD", "CWD /nope/x", "PWD",
				"CWD /", "STAT /nope/x", "CWD /home/x",
			},
		},
		{
			// PWD doubles a quote inside the path (RFC 959 Appendix II).
			name: "quote in a directory name",
			path: `/d/q"d`,
			want: want{
				entry: Entry{Name: `q"d`, Type: EntryDir, Size: -1},
				real:  `/d/q"d`, parent: "/d",
			},
			wantCmds: []string{
				`SIZE /d/q"d`, `MDTM /d/q"d`,
				"CWD /d", "PWD", `CWD /d/q"d`, "PWD", "CWD /home/x",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []ftptest.Option{ftptest.WithLoginDir("/home/x")}
			if !tt.mlst {
				opts = append(opts, noMLST)
			}
			s := ftptest.NewServer(t, opts...)
			for _, p := range []string{"/d/a.txt", "/d/b c.txt", "/d/l", "/d/x -> y", "/d/st*r"} {
				s.PutFile(p, []byte("hello\n"), mod)
			}
			s.PutFile("/top.txt", []byte("top"), mod)
			s.Mkdir(`/d/q"d`)
			s.PutFile("/home/x/rel.txt", []byte("relative"), mod)
			s.Handle("STAT", statTable(tt.stat))
			c := dialTest(t, s, func(c *Config) { c.DisablePipelining = tt.noPipelines })
			ctx := testCtx(t)
			before := len(s.Commands())
			loc, err := c.Locate(ctx, tt.path, tt.lstat, tt.dirs...)
			w := tt.want
			if w.code != 0 {
				if ReplyCode(err) != w.code {
					t.Fatalf("Locate = %+v, %v; want a %d", loc, err, w.code)
				}
			} else if err != nil {
				t.Fatalf("Locate: %v", err)
			}
			if loc.Entry.Type == EntryDir {
				loc.Entry.ModTime = time.Time{} // the server's now
			}
			if loc.Entry != w.entry {
				t.Errorf("Entry =\n%+v, want\n%+v", loc.Entry, w.entry)
			}
			if loc.Real != w.real || loc.Parent != w.parent || !slices.Equal(loc.Dirs, w.dirs) {
				t.Errorf("Real %q, Parent %q, Dirs %q; want %q, %q, %q", loc.Real, loc.Parent, loc.Dirs, w.real, w.parent, w.dirs)
			}
			if loc.SelfKnown != w.selfKnown || w.selfKnown && (loc.Self.Type != w.selfType || loc.Self.Target != w.selfTarget) {
				t.Errorf("Self = %+v (known %v), want a %v to %q (known %v)", loc.Self, loc.SelfKnown, w.selfType, w.selfTarget, w.selfKnown)
			}
			if cmds := s.Commands()[before:]; !slices.Equal(cmds, tt.wantCmds) {
				t.Errorf("server saw\n%q, want\n%q", cmds, tt.wantCmds)
			}
			if !c.Usable() {
				t.Fatalf("Conn unusable: %v", c.Err())
			}
			if n, err := c.Size(ctx, "rel.txt"); err != nil || n != 8 {
				t.Fatalf("Size(rel.txt) after Locate = %d, %v: not back in the login directory", n, err)
			}
		})
	}
}

func TestLocateFaults(t *testing.T) {
	bigListing := func(n int) []string {
		lines := make([]string, 0, n+1)
		for i := range n {
			lines = append(lines, "-rw-r--r--    1 1001     1001            6 Nov 24 04:12 other"+strings.Repeat("x", i%50))
		}
		return append(lines, "lrwxrwxrwx    1 1001     1001            5 Nov 24 04:12 a.txt -> b")
	}
	tests := []struct {
		name       string
		noPipeline bool
		listing    int // lines of a STAT reply before the one naming the path
		maxListing int64
		handle     map[string]ftptest.Handler
		path       string
		dirs       []string
		wantErr    func(error) bool
		wantUsable bool
		wantSent   bool // whether anything of Locate's reached the server
		wantTarget string
	}{
		{
			// STAT of a directory lists it on the control connection:
			// far more than a reply may hold, but only the line naming
			// the path is kept, and the session stays in step.
			name:       "a listing larger than a reply",
			listing:    5000,
			path:       "/d/a.txt",
			wantErr:    func(err error) bool { return err == nil },
			wantUsable: true,
			wantSent:   true,
			wantTarget: "b",
		},
		{
			name:       "a listing larger than MaxListing",
			listing:    5000,
			maxListing: 64 << 10,
			path:       "/d/a.txt",
			wantErr:    func(err error) bool { var pe *ProtocolError; return errors.As(err, &pe) },
			wantSent:   true,
		},
		{
			// The session would stand in another directory.
			name: "CWD back refused",
			handle: map[string]ftptest.Handler{"CWD": func(sc *ftptest.Conn, arg string) {
				if arg == "/home/x" {
					sc.Reply(550, "No.")
					return
				}
				sc.Default("CWD", arg)
			}},
			path:     "/d/a.txt",
			wantErr:  func(err error) bool { return ReplyCode(err) == 550 },
			wantSent: true,
		},
		{
			name:     "421 to STAT",
			handle:   map[string]ftptest.Handler{"STAT": func(sc *ftptest.Conn, _ string) { sc.Reply(421, "Bye.") }},
			path:     "/d/a.txt",
			wantErr:  IsConnLost,
			wantSent: true,
		},
		{
			// A CR in any argument stops the whole sequence before
			// anything is sent: half of it would leave the session in
			// another directory.
			name:       "CR in a directory",
			path:       "/d/a.txt",
			dirs:       []string{"/r\r\nDELE /d/a.txt"},
			wantErr:    func(err error) bool { return errors.Is(err, ErrBadArgument) },
			wantUsable: true,
		},
		{
			name:       "CR in a directory, unpipelined",
			noPipeline: true,
			path:       "/d/a.txt",
			dirs:       []string{"/r\r\nDELE /d/a.txt"},
			wantErr:    func(err error) bool { return errors.Is(err, ErrBadArgument) },
			wantUsable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, ftptest.WithLoginDir("/home/x"), noMLST)
			s.PutFile("/d/a.txt", []byte("hello\n"), time.Now())
			s.Handle("STAT", statTable(map[string][]string{"/d/a.txt": bigListing(tt.listing)}))
			for cmd, h := range tt.handle {
				s.Handle(cmd, h)
			}
			c := dialTest(t, s, func(c *Config) {
				c.DisablePipelining = tt.noPipeline
				c.MaxListing = tt.maxListing
			})
			before := len(s.Commands())
			loc, err := c.Locate(testCtx(t), tt.path, true, tt.dirs...)
			if !tt.wantErr(err) {
				t.Fatalf("Locate = %+v, %v", loc, err)
			}
			if c.Usable() != tt.wantUsable {
				t.Errorf("Usable = %v, want %v (%v)", c.Usable(), tt.wantUsable, c.Err())
			}
			if sent := len(s.Commands()) > before; sent != tt.wantSent {
				t.Errorf("server saw %q", s.Commands()[before:])
			}
			if tt.wantTarget != "" && (!loc.SelfKnown || loc.Self.Target != tt.wantTarget) {
				t.Errorf("Self = %+v (known %v), want a link to %q", loc.Self, loc.SelfKnown, tt.wantTarget)
			}
		})
	}
}

// TestLocateWithoutSTAT: a server that refuses STAT of a path cannot say
// whether a path is a link. Locate says so, with the server's reply.
func TestLocateWithoutSTAT(t *testing.T) {
	s := ftptest.NewServer(t, ftptest.WithLoginDir("/home/x"), noMLST)
	s.PutFile("/d/a.txt", []byte("hello\n"), time.Now())
	s.Handle("STAT", func(sc *ftptest.Conn, _ string) { sc.Reply(502, "STAT not implemented.") })
	c := dialTest(t, s)
	before := len(s.Commands())
	loc, err := c.Locate(testCtx(t), "/d/a.txt", true)
	if err != nil {
		t.Fatalf("Locate: %v", err)
	}
	if loc.SelfKnown || ReplyCode(loc.SelfErr) != 502 || loc.Entry.Size != 6 {
		t.Errorf("Locate = %+v, want Self unknown for a 502", loc)
	}
	want := []string{
		"SIZE /d/a.txt", "MDTM /d/a.txt", "CWD /d", "PWD", "CWD /d/a.txt", "PWD",
		"CWD /", "STAT /d/a.txt", "CWD /home/x",
		"CWD /d", "STAT .", "CWD /home/x",
	}
	if cmds := s.Commands()[before:]; !slices.Equal(cmds, want) {
		t.Errorf("server saw\n%q, want\n%q", cmds, want)
	}
	if !c.Usable() {
		t.Fatalf("Conn unusable: %v", c.Err())
	}
}
