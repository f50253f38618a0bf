package ftpcore

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// These tests run the client against the real vsftpd, the server the
// gateway meets in production. They skip without root and vsftpd, and fail
// instead when FTPGW_REQUIRE_REAL_SERVERS=1.

func dialVsftpd(t *testing.T, s *realftpd.Server) *Conn {
	t.Helper()
	c, err := Dial(testCtx(t), Config{
		Addr:           s.Addr,
		User:           s.User,
		Password:       s.Password,
		DialTimeout:    5 * time.Second,
		CommandTimeout: 10 * time.Second,
		DataTimeout:    10 * time.Second,
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// vsftpdReplied reports whether the server's log shows a reply with code.
func vsftpdReplied(s *realftpd.Server, code string) bool {
	for _, l := range s.Log() {
		if strings.Contains(l, "FTP response: ") && strings.Contains(l, `, "`+code+" ") {
			return true
		}
	}
	return false
}

func TestVsftpdLogin(t *testing.T) {
	s := realftpd.StartVsftpd(t)
	c := dialVsftpd(t, s)
	if c.LoginDir() != s.Root {
		t.Errorf("LoginDir() = %q, want %q", c.LoginDir(), s.Root)
	}
	if c.HasFeature("MLST") || !c.HasFeature("EPSV") || !c.HasFeature("SIZE") || !c.HasFeature("MDTM") {
		t.Errorf("features %q", c.Features())
	}
	if err := c.Noop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(testCtx(t)); err != nil {
		t.Fatalf("Quit: %v", err)
	}
}

func TestVsftpdWrongPassword(t *testing.T) {
	s := realftpd.StartVsftpd(t)
	c, err := Dial(testCtx(t), Config{Addr: s.Addr, User: s.User, Password: "wrong", CommandTimeout: 10 * time.Second})
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded")
	}
	if ReplyCode(err) != 530 {
		t.Fatalf("Dial: %v, want 530", err)
	}
}

func TestVsftpdStat(t *testing.T) {
	s := realftpd.StartVsftpd(t)
	s.WriteFile(t, "a.txt", []byte("hello\n"))
	s.WriteFile(t, "sub dir/inner", []byte("x"))
	mod := time.Date(2023, 11, 24, 4, 12, 33, 0, time.UTC)
	if err := os.Chtimes(s.Path("a.txt"), mod, mod); err != nil {
		t.Fatal(err)
	}
	c := dialVsftpd(t, s)
	ctx := testCtx(t)
	root := c.LoginDir()
	tests := []struct {
		name     string
		path     string
		want     Entry
		wantCode int
	}{
		{name: "file", path: path.Join(root, "a.txt"), want: Entry{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: mod}},
		{name: "relative file", path: "a.txt", want: Entry{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: mod}},
		{name: "dir", path: path.Join(root, "sub dir"), want: Entry{Name: "sub dir", Type: EntryDir, Size: -1}},
		{name: "missing", path: path.Join(root, "nope"), wantCode: 550},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Stat(ctx, tt.path)
			if tt.wantCode != 0 {
				if ReplyCode(err) != tt.wantCode {
					t.Fatalf("Stat = %+v, %v; want %d", got, err, tt.wantCode)
				}
			} else {
				if err != nil {
					t.Fatalf("Stat: %v", err)
				}
				if got.Type == EntryDir {
					got.ModTime = time.Time{}
				}
				if got != tt.want {
					t.Fatalf("Stat = %+v, want %+v", got, tt.want)
				}
			}
			if !c.Usable() {
				t.Fatal(c.Err())
			}
			// Back in the login directory.
			if n, err := c.Size(ctx, "a.txt"); err != nil || n != 6 {
				t.Fatalf("Size(a.txt) after Stat = %d, %v", n, err)
			}
		})
	}
	if !slices.Contains(s.Commands(), "CWD "+root) {
		t.Errorf("no CWD back to %s in %q", root, s.Commands())
	}
}

func TestVsftpdList(t *testing.T) {
	s := realftpd.StartVsftpd(t)
	recent := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Minute)
	old := time.Date(2023, 1, 3, 0, 0, 0, 0, time.UTC)
	files := map[string][]byte{
		"d/a.txt":          []byte("hello\n"),
		"d/b c.bin":        make([]byte, 1000),
		"d/ lead":          []byte("x"),
		"d/semi;colon":     []byte("xy"),
		"d/sub dir/inner":  []byte("in"),
		"d/jun":            []byte("month-named"),
		"d/Nov 24 04:12 x": []byte("date-named"),
	}
	for name, data := range files {
		s.WriteFile(t, name, data)
		if err := os.Chtimes(s.Path(name), recent, recent); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(s.Path("d/b c.bin"), old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", s.Path("d/link")); err != nil {
		t.Fatal(err)
	}
	c := dialVsftpd(t, s)
	got, err := c.List(testCtx(t), path.Join(c.LoginDir(), "d"))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !slices.Contains(s.Commands(), "LIST "+path.Join(c.LoginDir(), "d")) {
		t.Errorf("server saw %q, want LIST", s.Commands())
	}
	want := []Entry{
		{Name: " lead", Type: EntryFile, Size: 1, ModTime: recent},
		{Name: "Nov 24 04:12 x", Type: EntryFile, Size: 10, ModTime: recent},
		{Name: "a.txt", Type: EntryFile, Size: 6, ModTime: recent},
		{Name: "b c.bin", Type: EntryFile, Size: 1000, ModTime: old},
		{Name: "jun", Type: EntryFile, Size: 11, ModTime: recent},
		{Name: "link", Type: EntryLink, Size: 5, Target: "a.txt"},
		{Name: "semi;colon", Type: EntryFile, Size: 2, ModTime: recent},
		{Name: "sub dir", Type: EntryDir, Size: -1},
	}
	slices.SortFunc(got, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	for i := range got {
		if got[i].Type == EntryDir || got[i].Type == EntryLink {
			got[i].ModTime = time.Time{} // set by the server's clock
		}
	}
	if !sameEntries(got, want) {
		t.Errorf("List =\n%+v\nwant\n%+v", got, want)
	}
	if err := c.Noop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// TestVsftpdRetrRangeEarlyClose closes ten ranges early, in a row, on one
// Conn. vsftpd answers each reset with 426; the Conn must stay in step.
func TestVsftpdRetrRangeEarlyClose(t *testing.T) {
	s := realftpd.StartVsftpd(t)
	data := testData(16 << 20)
	s.WriteFile(t, "big.bin", data)
	c := dialVsftpd(t, s)
	readRangesClosedEarly(t, c, "big.bin", data, 10, 100_003, noopAfter(t, c), nil)
	if verbs(s.Commands(), "REST") != 9 {
		t.Errorf("server saw %d REST, want 9", verbs(s.Commands(), "REST"))
	}
	if !vsftpdReplied(s, "426") {
		t.Log("vsftpd never answered 426: it had sent each range's rest before the reset")
	}
}

func TestVsftpdRetrWhole(t *testing.T) {
	s := realftpd.StartVsftpd(t)
	data := testData(3<<20 + 17)
	s.WriteFile(t, "f.bin", data)
	c := dialVsftpd(t, s)
	for _, useWriteTo := range []bool{false, true} {
		tr, err := c.Retr(testCtx(t), "f.bin", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if useWriteTo {
			_, err = tr.WriteTo(&got)
		} else {
			_, err = io.Copy(&got, struct{ io.Reader }{tr})
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("got %d bytes, want %d", got.Len(), len(data))
		}
	}
}

func TestVsftpdStor(t *testing.T) {
	s := realftpd.StartVsftpd(t)
	c := dialVsftpd(t, s)
	ctx := testCtx(t)
	data := testData(2<<20 + 5)

	u, err := c.Stor(ctx, "up.bin", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(u, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := u.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, err := os.ReadFile(s.Path("up.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("server has %d bytes, %v", len(got), err)
	}

	// Resume: keep the first 1000 bytes, send the rest.
	s.WriteFile(t, "resume.bin", data[:1000])
	u, err = c.Stor(ctx, "resume.bin", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(data[1000:]); err != nil {
		t.Fatal(err)
	}
	if err := u.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, err := os.ReadFile(s.Path("resume.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("resumed file has %d bytes, %v", len(got), err)
	}

	s.WriteFile(t, "log.txt", []byte("one\n"))
	u, err = c.Appe(ctx, "log.txt")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(u, "two\n")
	if err := u.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, _ := os.ReadFile(s.Path("log.txt")); string(got) != "one\ntwo\n" {
		t.Fatalf("appended file = %q", got)
	}
}

// TestVsftpdStorAbort resets an upload: vsftpd answers 426, the Conn stays
// usable.
func TestVsftpdStorAbort(t *testing.T) {
	s := realftpd.StartVsftpd(t)
	c := dialVsftpd(t, s)
	ctx := testCtx(t)
	u, err := c.Stor(ctx, "partial.bin", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(testData(1 << 20)); err != nil {
		t.Fatal(err)
	}
	cause := errors.New("the source failed")
	if err := u.Abort(cause); err != cause {
		t.Fatalf("Abort = %v, want the cause", err)
	}
	if !c.Usable() {
		t.Fatalf("Conn unusable after Abort: %v", c.Err())
	}
	if err := c.Noop(ctx); err != nil {
		t.Fatalf("Noop: %v", err)
	}
	if !vsftpdReplied(s, "426") {
		t.Errorf("no 426 in the vsftpd log:\n%s", strings.Join(s.Log(), "\n"))
	}
}

func TestVsftpdFileCommands(t *testing.T) {
	s := realftpd.StartVsftpd(t)
	s.WriteFile(t, "x", []byte("new"))
	s.WriteFile(t, "y", []byte("old contents"))
	c := dialVsftpd(t, s)
	ctx := testCtx(t)

	// Rename over an existing file replaces it (rename(2)).
	if err := c.Rename(ctx, "x", "y"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	if got, err := os.ReadFile(s.Path("y")); err != nil || string(got) != "new" {
		t.Fatalf("y = %q, %v; want the renamed file", got, err)
	}
	if _, err := os.Stat(s.Path("x")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("x still there: %v", err)
	}
	if err := c.Rename(ctx, "x", "z"); ReplyCode(err) != 550 {
		t.Fatalf("Rename of a missing file: %v", err)
	}

	if err := c.Mkdir(ctx, "newdir"); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	if err := c.Mkdir(ctx, "newdir"); ReplyCode(err) != 550 {
		t.Fatalf("Mkdir existing: %v", err)
	}
	if err := c.Rmdir(ctx, "newdir"); err != nil {
		t.Fatalf("Rmdir: %v", err)
	}
	if err := c.Delete(ctx, "y"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := c.Delete(ctx, "y"); ReplyCode(err) != 550 {
		t.Fatalf("Delete missing: %v", err)
	}
	if !c.Usable() {
		t.Fatal(c.Err())
	}
}

// TestVsftpdListAll: vsftpd leaves names starting with a dot out of LIST,
// and shows them to "LIST -a", in a directory whose name has a space too.
func TestVsftpdListAll(t *testing.T) {
	s := realftpd.StartVsftpd(t)
	s.WriteFile(t, "d x/.hidden", []byte("h"))
	s.WriteFile(t, "d x/shown", []byte("s"))
	c := dialVsftpd(t, s)
	dir := path.Join(c.LoginDir(), "d x")
	names := func(es []Entry) []string {
		var n []string
		for _, e := range es {
			n = append(n, e.Name)
		}
		slices.Sort(n)
		return n
	}
	got, err := c.List(testCtx(t), dir)
	if err != nil || !slices.Equal(names(got), []string{"shown"}) {
		t.Errorf("List = %q, %v; want shown alone", names(got), err)
	}
	got, err = c.ListAll(testCtx(t), dir)
	if err != nil || !slices.Equal(names(got), []string{".hidden", "shown"}) {
		t.Errorf("ListAll = %q, %v; want .hidden and shown", names(got), err)
	}
	if !slices.Contains(s.Commands(), "LIST -a "+dir) {
		t.Errorf("server saw %q, want LIST -a", s.Commands())
	}
}
