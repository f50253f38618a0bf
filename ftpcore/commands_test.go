package ftpcore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// noMLST is a FEAT list without MLST, as vsftpd sends: List uses LIST and
// Stat uses SIZE, MDTM and CWD.
var noMLST = ftptest.WithFeatures("EPSV", "PASV", "SIZE", "MDTM", "REST STREAM", "UTF8")

// serveListing answers a listing command with body on the data connection.
func serveListing(body string) ftptest.Handler {
	return func(sc *ftptest.Conn, _ string) {
		sc.Reply(150, "Here comes the directory listing.")
		dc, err := sc.AcceptData()
		if err != nil {
			sc.Reply(425, "No data connection.")
			return
		}
		dc.Write([]byte(body))
		dc.Close()
		sc.Reply(226, "Directory send OK.")
	}
}

// sameEntries compares listings as both protocols can render them: LIST
// times have minute precision.
func sameEntries(a, b []Entry) bool {
	return slices.EqualFunc(a, b, func(x, y Entry) bool {
		return x.Name == y.Name && x.Type == y.Type && x.Size == y.Size && x.Target == y.Target &&
			x.ModTime.Truncate(time.Minute).Equal(y.ModTime.Truncate(time.Minute))
	})
}

// TestListMLSDAndLIST lists one tree through MLSD and through LIST: the
// entries must be the same.
func TestListMLSDAndLIST(t *testing.T) {
	recent := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Minute)
	old := time.Date(2023, 1, 3, 0, 0, 0, 0, time.UTC)
	tree := func(s *ftptest.Server) {
		s.PutFile("/d/a.txt", []byte("hello\n"), recent)
		s.PutFile("/d/b c.bin", make([]byte, 1000), old)
		s.PutFile("/d/ lead", []byte("x"), recent)
		s.PutFile("/d/semi;colon=x", []byte("xy"), recent)
		s.PutFile("/d/sub dir/inner", []byte("in"), recent)
		s.Mkdir("/d/empty")
	}
	want := []Entry{
		{Name: " lead", Type: EntryFile, Size: 1, ModTime: recent},
		{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: recent},
		{Name: "b c.bin", Type: EntryFile, Size: 1000, ModTime: old},
		{Name: "empty", Type: EntryDir, Size: -1},
		{Name: "semi;colon=x", Type: EntryFile, Size: 2, ModTime: recent},
		{Name: "sub dir", Type: EntryDir, Size: -1},
	}
	var lists [][]Entry
	for _, tc := range []struct {
		name string
		opts []ftptest.Option
		verb string
	}{
		{"MLSD", nil, "MLSD"},
		{"LIST", []ftptest.Option{noMLST}, "LIST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ftptest.NewServer(t, tc.opts...)
			tree(s)
			c := dialTest(t, s)
			got, err := c.List(testCtx(t), "/d")
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if verbs(s.Commands(), tc.verb) != 1 {
				t.Errorf("server saw %q, want one %s", s.Commands(), tc.verb)
			}
			slices.SortFunc(got, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
			// The directories' times are the server's now; take them as
			// they come and check the rest.
			for i := range got {
				if got[i].Type == EntryDir {
					if time.Since(got[i].ModTime) > time.Hour {
						t.Errorf("%q: ModTime %v", got[i].Name, got[i].ModTime)
					}
					got[i].ModTime = time.Time{}
				}
			}
			if !sameEntries(got, want) {
				t.Errorf("List =\n%+v\nwant\n%+v", got, want)
			}
			lists = append(lists, got)
			if !c.Usable() {
				t.Fatalf("Conn unusable: %v", c.Err())
			}
		})
	}
	if len(lists) == 2 && !sameEntries(lists[0], lists[1]) {
		t.Errorf("MLSD and LIST differ:\n%+v\n%+v", lists[0], lists[1])
	}
}

func TestListEdgeCases(t *testing.T) {
	tests := []struct {
		name      string
		mlst      bool
		body      string // served on the data connection
		want      []string
		wantProto bool
	}{
		{
			name: "MLSD drops cdir and pdir",
			mlst: true,
			body: "type=cdir;modify=20231124041200; .\r\ntype=pdir;modify=20231124041200; ..\r\ntype=file;size=1; f\r\n",
			want: []string{"f"},
		},
		{
			name: "LIST skips total and drops . and ..",
			body: "total 8\r\n" +
				"drwxr-xr-x    2 0 0 4096 Nov 24 04:12 .\r\n" +
				"drwxr-xr-x    9 0 0 4096 Nov 24 04:12 ..\r\n" +
				"-rw-r--r--    1 0 0    6 Nov 24 04:12 f\r\n",
			want: []string{"f"},
		},
		{
			name: "bare LF, blank lines, no final newline",
			body: "-rw-r--r-- 1 0 0 6 Nov 24 04:12 a\n\n-rw-r--r-- 1 0 0 6 Nov 24 04:12 b",
			want: []string{"a", "b"},
		},
		{name: "empty", body: ""},
		{
			name:      "unparsable LIST line",
			body:      "-rw-r--r-- 1 0 0 6 Nov 24 04:12 a\r\nthis is not ls\r\n",
			wantProto: true,
		},
		{
			name:      "unparsable MLSD line",
			mlst:      true,
			body:      "type=file;size=x; a\r\n",
			wantProto: true,
		},
		{
			name:      "line over 4096 bytes",
			body:      "-rw-r--r-- 1 0 0 6 Nov 24 04:12 " + strings.Repeat("n", 5000) + "\r\n",
			wantProto: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []ftptest.Option
			verb := "MLSD"
			if !tt.mlst {
				opts, verb = append(opts, noMLST), "LIST"
			}
			s := ftptest.NewServer(t, opts...)
			s.Handle(verb, serveListing(tt.body))
			c := dialTest(t, s)
			got, err := c.List(testCtx(t), "/")
			if tt.wantProto {
				var pe *ProtocolError
				if !errors.As(err, &pe) || pe.Cmd != verb {
					t.Fatalf("List = %v, %v; want a %s *ProtocolError", got, err, verb)
				}
			} else {
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				var names []string
				for _, e := range got {
					names = append(names, e.Name)
				}
				if !slices.Equal(names, tt.want) {
					t.Fatalf("List names %q, want %q", names, tt.want)
				}
			}
			// The listing was read through or cut short and the reply
			// read: the Conn is in step either way.
			if err := c.Noop(testCtx(t)); err != nil {
				t.Fatalf("Noop: %v", err)
			}
		})
	}
}

func TestListMaxListing(t *testing.T) {
	for _, opts := range [][]ftptest.Option{nil, {noMLST}} {
		name := "MLSD"
		if opts != nil {
			name = "LIST"
		}
		t.Run(name, func(t *testing.T) {
			s := ftptest.NewServer(t, opts...)
			for i := range 2000 {
				s.PutFile(fmt.Sprintf("/big/file-%04d", i), []byte("x"), time.Now())
			}
			s.PutFile("/small/a", []byte("x"), time.Now())
			c := dialTest(t, s, func(c *Config) { c.MaxListing = 4096 })
			ctx := testCtx(t)
			got, err := c.List(ctx, "/big")
			var pe *ProtocolError
			if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "longer than 4096") {
				t.Fatalf("List = %d entries, %v; want a *ProtocolError for the size", len(got), err)
			}
			if !c.Usable() {
				t.Fatalf("Conn unusable: %v", c.Err())
			}
			if got, err := c.List(ctx, "/small"); err != nil || len(got) != 1 {
				t.Fatalf("List after = %v, %v", got, err)
			}
		})
	}
}

func TestListRefused(t *testing.T) {
	tests := []struct {
		name     string
		opts     []ftptest.Option
		path     string
		wantCode int
	}{
		{name: "MLSD missing", path: "/nope", wantCode: 550},
		{name: "MLSD on a file", path: "/f", wantCode: 501},
		{name: "LIST missing", opts: []ftptest.Option{noMLST}, path: "/nope", wantCode: 550},
		{name: "no data connection", opts: []ftptest.Option{ftptest.WithNoDataConn425()}, path: "/", wantCode: 425},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, tt.opts...)
			s.PutFile("/f", []byte("x"), time.Now())
			c := dialTest(t, s)
			_, err := c.List(testCtx(t), tt.path)
			if ReplyCode(err) != tt.wantCode || !c.Usable() {
				t.Fatalf("List: %v, usable %v; want %d and usable", err, c.Usable(), tt.wantCode)
			}
		})
	}
}

func TestStat(t *testing.T) {
	mod := time.Date(2023, 11, 24, 4, 12, 33, 0, time.UTC)
	tests := []struct {
		name        string
		mlst        bool
		noPipelines bool // Config.DisablePipelining
		path        string
		want        Entry
		wantCode    int
		wantCmds    []string // exactly, in order
	}{
		{
			name:     "MLST file",
			mlst:     true,
			path:     "/d/a.txt",
			want:     Entry{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: mod},
			wantCmds: []string{"MLST /d/a.txt", "SIZE /d/a.txt"},
		},
		{
			name:     "MLST dir",
			mlst:     true,
			path:     "/d/sub dir",
			want:     Entry{Name: "sub dir", Type: EntryDir, Size: -1},
			wantCmds: []string{"MLST /d/sub dir", "SIZE /d/sub dir"},
		},
		{
			name:     "MLST missing",
			mlst:     true,
			path:     "/d/nope",
			wantCode: 550,
			wantCmds: []string{"MLST /d/nope", "SIZE /d/nope"},
		},
		{
			name:     "fallback file",
			path:     "/d/a.txt",
			want:     Entry{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: mod},
			wantCmds: []string{"SIZE /d/a.txt", "MDTM /d/a.txt"},
		},
		{
			// The CWD into the directory is undone at once, back to the
			// login directory.
			name:     "fallback dir",
			path:     "/d/sub dir",
			want:     Entry{Name: "sub dir", Type: EntryDir, Size: -1},
			wantCmds: []string{"SIZE /d/sub dir", "MDTM /d/sub dir", "CWD /d/sub dir", "CWD /home/x"},
		},
		{
			name:     "fallback missing",
			path:     "/d/nope",
			wantCode: 550,
			wantCmds: []string{"SIZE /d/nope", "MDTM /d/nope", "CWD /d/nope"},
		},
		// Without pipelining, MDTM is asked only once SIZE said "file",
		// or once CWD said "directory".
		{
			name:        "unpipelined file",
			noPipelines: true,
			path:        "/d/a.txt",
			want:        Entry{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: mod},
			wantCmds:    []string{"SIZE /d/a.txt", "MDTM /d/a.txt"},
		},
		{
			name:        "unpipelined dir",
			noPipelines: true,
			path:        "/d/sub dir",
			want:        Entry{Name: "sub dir", Type: EntryDir, Size: -1},
			wantCmds:    []string{"SIZE /d/sub dir", "CWD /d/sub dir", "CWD /home/x", "MDTM /d/sub dir"},
		},
		{
			name:        "unpipelined missing",
			noPipelines: true,
			path:        "/d/nope",
			wantCode:    550,
			wantCmds:    []string{"SIZE /d/nope", "CWD /d/nope"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// With MLST, SIZE goes out with it (pipelined): the bytes RETR
			// sends are what SIZE says.
			opts := []ftptest.Option{ftptest.WithLoginDir("/home/x")}
			if !tt.mlst {
				opts = append(opts, noMLST)
			}
			s := ftptest.NewServer(t, opts...)
			s.PutFile("/d/a.txt", []byte("hello\n"), mod)
			s.PutFile("/d/sub dir/inner", []byte("x"), mod)
			s.PutFile("/home/x/rel.txt", []byte("relative"), mod)
			c := dialTest(t, s, func(c *Config) { c.DisablePipelining = tt.noPipelines })
			ctx := testCtx(t)
			before := len(s.Commands())
			got, err := c.Stat(ctx, tt.path)
			if tt.wantCode != 0 {
				if ReplyCode(err) != tt.wantCode {
					t.Fatalf("Stat = %+v, %v; want a %d", got, err, tt.wantCode)
				}
			} else {
				if err != nil {
					t.Fatalf("Stat: %v", err)
				}
				if got.Type == EntryDir {
					got.ModTime = time.Time{} // the server's now
				}
				if got != tt.want {
					t.Fatalf("Stat =\n%+v, want\n%+v", got, tt.want)
				}
			}
			if cmds := s.Commands()[before:]; !slices.Equal(cmds, tt.wantCmds) {
				t.Errorf("server saw %q, want %q", cmds, tt.wantCmds)
			}
			if !c.Usable() {
				t.Fatalf("Conn unusable: %v", c.Err())
			}
			// Still in the login directory: a relative path resolves there.
			if n, err := c.Size(ctx, "rel.txt"); err != nil || n != 8 {
				t.Fatalf("Size(rel.txt) after Stat = %d, %v", n, err)
			}
		})
	}
}

func TestStatFaults(t *testing.T) {
	tests := []struct {
		name       string
		opts       []ftptest.Option
		cmd        string
		h          ftptest.Handler
		wantProto  bool
		wantUsable bool
	}{
		{
			name:       "MLST without a fact line",
			cmd:        "MLST",
			h:          func(sc *ftptest.Conn, _ string) { sc.ReplyLines(250, "Listing /f", "End") },
			wantProto:  true,
			wantUsable: true,
		},
		{
			name:       "MLST with a bad fact line",
			cmd:        "MLST",
			h:          func(sc *ftptest.Conn, _ string) { sc.ReplyLines(250, "Listing /f", " type=file;size=big; /f", "End") },
			wantProto:  true,
			wantUsable: true,
		},
		{
			name:       "SIZE not a number",
			opts:       []ftptest.Option{noMLST},
			cmd:        "SIZE",
			h:          func(sc *ftptest.Conn, _ string) { sc.Reply(213, "big") },
			wantProto:  true,
			wantUsable: true,
		},
		{
			name:       "MDTM not a time",
			opts:       []ftptest.Option{noMLST},
			cmd:        "MDTM",
			h:          func(sc *ftptest.Conn, _ string) { sc.Reply(213, "yesterday") },
			wantProto:  true,
			wantUsable: true,
		},
		{
			// The session would stand in the wrong directory: give it up.
			name: "CWD back refused",
			opts: []ftptest.Option{noMLST},
			cmd:  "CWD",
			h: func(sc *ftptest.Conn, arg string) {
				if arg == "/" {
					sc.Reply(550, "No.")
					return
				}
				sc.Default("CWD", arg)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, tt.opts...)
			s.PutFile("/f", []byte("x"), time.Now())
			s.Mkdir("/d")
			s.Handle(tt.cmd, tt.h)
			c := dialTest(t, s)
			path := "/f"
			if tt.cmd == "CWD" {
				path = "/d"
			}
			_, err := c.Stat(testCtx(t), path)
			if err == nil {
				t.Fatal("Stat succeeded")
			}
			var pe *ProtocolError
			if errors.As(err, &pe) != tt.wantProto {
				t.Errorf("Stat: %v; want *ProtocolError: %v", err, tt.wantProto)
			}
			if c.Usable() != tt.wantUsable {
				t.Errorf("Usable = %v, want %v", c.Usable(), tt.wantUsable)
			}
		})
	}
}

func TestSizeAndModTime(t *testing.T) {
	s := ftptest.NewServer(t)
	mod := time.Date(2023, 11, 24, 4, 12, 33, 0, time.UTC)
	s.PutFile("/f", make([]byte, 12345), mod)
	c := dialTest(t, s)
	ctx := testCtx(t)
	if n, err := c.Size(ctx, "/f"); err != nil || n != 12345 {
		t.Errorf("Size = %d, %v", n, err)
	}
	if m, err := c.ModTime(ctx, "/f"); err != nil || !m.Equal(mod) {
		t.Errorf("ModTime = %v, %v", m, err)
	}
	if _, err := c.Size(ctx, "/nope"); ReplyCode(err) != 550 {
		t.Errorf("Size of a missing file: %v", err)
	}
	if _, err := c.ModTime(ctx, "/nope"); ReplyCode(err) != 550 {
		t.Errorf("ModTime of a missing file: %v", err)
	}
	s.Handle("MDTM", func(sc *ftptest.Conn, _ string) { sc.Reply(213, "20231124041233.250") })
	if m, err := c.ModTime(ctx, "/f"); err != nil || !m.Equal(mod.Add(250*time.Millisecond)) {
		t.Errorf("ModTime with a fraction = %v, %v", m, err)
	}
	if !c.Usable() {
		t.Fatal(c.Err())
	}
}

func TestFileCommands(t *testing.T) {
	tests := []struct {
		name     string
		call     func(context.Context, *Conn) error
		wantCode int
		wantCmd  string // the command whose reply was refused
		check    func(*ftptest.Server) error
	}{
		{
			name: "rename",
			call: func(ctx context.Context, c *Conn) error { return c.Rename(ctx, "/d/a", "/d/b") },
			check: func(s *ftptest.Server) error {
				if s.Exists("/d/a") || !s.Exists("/d/b") {
					return errors.New("not renamed")
				}
				return nil
			},
		},
		{
			name: "rename over an existing file",
			call: func(ctx context.Context, c *Conn) error { return c.Rename(ctx, "/d/a", "/d/other") },
			check: func(s *ftptest.Server) error {
				if b, _ := s.File("/d/other"); string(b) != "aaa" || s.Exists("/d/a") {
					return fmt.Errorf("/d/other = %q", b)
				}
				return nil
			},
		},
		{name: "rename a missing file", call: func(ctx context.Context, c *Conn) error { return c.Rename(ctx, "/d/nope", "/d/b") }, wantCode: 550, wantCmd: "RNFR"},
		{name: "rename into a missing dir", call: func(ctx context.Context, c *Conn) error { return c.Rename(ctx, "/d/a", "/x/b") }, wantCode: 550, wantCmd: "RNTO"},
		{
			name: "delete",
			call: func(ctx context.Context, c *Conn) error { return c.Delete(ctx, "/d/a") },
			check: func(s *ftptest.Server) error {
				if s.Exists("/d/a") {
					return errors.New("not deleted")
				}
				return nil
			},
		},
		{name: "delete a missing file", call: func(ctx context.Context, c *Conn) error { return c.Delete(ctx, "/d/nope") }, wantCode: 550, wantCmd: "DELE"},
		{name: "delete a directory", call: func(ctx context.Context, c *Conn) error { return c.Delete(ctx, "/d") }, wantCode: 550, wantCmd: "DELE"},
		{
			name: "mkdir",
			call: func(ctx context.Context, c *Conn) error { return c.Mkdir(ctx, "/d/new") },
			check: func(s *ftptest.Server) error {
				if s.List("/d/new") == nil && !s.Exists("/d/new") {
					return errors.New("not created")
				}
				return nil
			},
		},
		{name: "mkdir existing", call: func(ctx context.Context, c *Conn) error { return c.Mkdir(ctx, "/d") }, wantCode: 550, wantCmd: "MKD"},
		{name: "mkdir in a missing dir", call: func(ctx context.Context, c *Conn) error { return c.Mkdir(ctx, "/x/y") }, wantCode: 550, wantCmd: "MKD"},
		{
			name: "rmdir",
			call: func(ctx context.Context, c *Conn) error { return c.Rmdir(ctx, "/e") },
			check: func(s *ftptest.Server) error {
				if s.Exists("/e") {
					return errors.New("not removed")
				}
				return nil
			},
		},
		{name: "rmdir not empty", call: func(ctx context.Context, c *Conn) error { return c.Rmdir(ctx, "/d") }, wantCode: 550, wantCmd: "RMD"},
		{name: "rmdir missing", call: func(ctx context.Context, c *Conn) error { return c.Rmdir(ctx, "/nope") }, wantCode: 550, wantCmd: "RMD"},
		{name: "cwd", call: func(ctx context.Context, c *Conn) error { return c.Cwd(ctx, "/d") }},
		{name: "cwd missing", call: func(ctx context.Context, c *Conn) error { return c.Cwd(ctx, "/nope") }, wantCode: 550, wantCmd: "CWD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t)
			s.PutFile("/d/a", []byte("aaa"), time.Now())
			s.PutFile("/d/other", []byte("other"), time.Now())
			s.Mkdir("/e")
			c := dialTest(t, s)
			err := tt.call(testCtx(t), c)
			if tt.wantCode != 0 {
				var fe *Error
				if !errors.As(err, &fe) || fe.Code != tt.wantCode || fe.Cmd != tt.wantCmd {
					t.Fatalf("error %v, want %s *Error %d", err, tt.wantCmd, tt.wantCode)
				}
				if fe.Temporary() {
					t.Errorf("%d reported as temporary", fe.Code)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				if err := tt.check(s); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Noop(testCtx(t)); err != nil {
				t.Fatalf("Noop: %v", err)
			}
		})
	}
}

// TestStatSizeWinsOverMLST: proftpd answers MLST of a symbolic link with
// type=file and the link's own size and time; the size that counts is
// what SIZE (and so RETR) says, and the time MDTM's, which follows the
// link too. Locate (the link policy's Stat) reads them alike.
func TestStatSizeWinsOverMLST(t *testing.T) {
	target := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	srv := ftptest.NewServer(t)
	srv.PutFile("/link.bin", make([]byte, 5000), target)
	srv.Handle("MLST", func(c *ftptest.Conn, arg string) {
		c.ReplyLines(250, "Start of list for "+arg, " modify=20261124061610;perm=adfrw;size=10;type=file;UNIX.mode=0777; "+arg, "End of list")
	})
	c := dialTest(t, srv)
	e, err := c.Stat(testCtx(t), "/link.bin")
	if err != nil || e.Type != EntryFile || e.Size != 5000 || !e.ModTime.Equal(target) {
		t.Fatalf("Stat = %+v, %v; want a file of 5000 bytes of %v", e, err, target)
	}
	c2 := dialTest(t, srv, func(c *Config) { c.DisablePipelining = true })
	if e, err := c2.Stat(testCtx(t), "/link.bin"); err != nil || e.Size != 5000 || !e.ModTime.Equal(target) {
		t.Fatalf("unpipelined Stat = %+v, %v; want SIZE's 5000 and MDTM's %v", e, err, target)
	}
	if loc, err := c.Locate(testCtx(t), "/link.bin", false); err != nil || loc.Entry.Size != 5000 || !loc.Entry.ModTime.Equal(target) {
		t.Fatalf("Locate = %+v, %v; want SIZE's 5000 and MDTM's %v", loc.Entry, err, target)
	}
}

// TestDescribe: SIZE and MDTM of many paths, pipelined or not: each
// path's facts, a refusal leaving that fact unknown, and a malformed 213
// a ProtocolError.
func TestDescribe(t *testing.T) {
	mod := time.Date(2023, 11, 24, 4, 12, 33, 0, time.UTC)
	for _, pipelined := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipelined=%v", pipelined), func(t *testing.T) {
			s := ftptest.NewServer(t)
			s.PutFile("/a", make([]byte, 7), mod)
			s.PutFile("/b", nil, mod.Add(time.Second))
			s.Mkdir("/d")
			c := dialTest(t, s, func(cfg *Config) { cfg.DisablePipelining = !pipelined })
			ctx := testCtx(t)
			got, err := c.Describe(ctx, []string{"/a", "/nope", "/b", "/d"})
			if err != nil {
				t.Fatal(err)
			}
			want := []Facts{{7, mod}, {-1, time.Time{}}, {0, mod.Add(time.Second)}, {-1, time.Time{}}}
			if len(got) != len(want) {
				t.Fatalf("%d facts, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i].Size != want[i].Size || !got[i].ModTime.Equal(want[i].ModTime) {
					t.Errorf("facts %d = %+v, want %+v", i, got[i], want[i])
				}
			}
			if got, err := c.Describe(ctx, nil); got != nil || err != nil {
				t.Errorf("Describe of nothing = %v, %v", got, err)
			}
			s.Handle("MDTM", func(sc *ftptest.Conn, _ string) { sc.Reply(213, "yesterday") })
			var pe *ProtocolError
			if _, err := c.Describe(ctx, []string{"/a"}); !errors.As(err, &pe) {
				t.Errorf("a malformed MDTM: %v, want a ProtocolError", err)
			}
			if !c.Usable() {
				t.Fatal(c.Err())
			}
			if _, err := c.Describe(ctx, []string{"/a\r\nDELE /a"}); !errors.Is(err, ErrBadArgument) {
				t.Errorf("a path with CR LF: %v", err)
			}
		})
	}
}
