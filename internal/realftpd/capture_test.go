//go:build linux

package realftpd

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

var capture = flag.Bool("capture", false, "capture LIST, MLSD and FEAT from the real servers into "+listingsDir)

// listingsDir is where TestCaptureListings writes, relative to this package.
const listingsDir = "../../ftpcore/testdata/listings"

// listingKinds are the servers captured: the plain ones (the FTPS kinds are
// the same vsftpd).
var listingKinds = []Kind{Vsftpd, PureFTPd, ProFTPD}

// treeEntry is one entry of the captured tree in Root.
type treeEntry struct {
	name   string
	size   int64  // for regular files
	dir    bool   // a directory, holding inner.txt
	target string // for a symlink
	mtime  func(captured time.Time) time.Time
	note   string
}

// The tree, in the order the README lists it. Times derive from the
// capture time so that "recent" stays recent for the servers' LIST format
// (time of day within six months, the year otherwise or when in the future).
func captureTree() []treeEntry {
	recent := func(c time.Time) time.Time {
		d := c.AddDate(0, 0, -2)
		return time.Date(d.Year(), d.Month(), d.Day(), 12, 34, 56, 0, time.UTC)
	}
	old := func(time.Time) time.Time { return time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC) }
	future := func(c time.Time) time.Time {
		d := c.AddDate(0, 0, 30)
		return time.Date(d.Year(), d.Month(), d.Day(), 8, 9, 10, 0, time.UTC)
	}
	return []treeEntry{
		{name: "empty.txt", size: 0, mtime: recent, note: "empty file"},
		{name: "small.txt", size: 13, mtime: recent, note: "`hello, world\\n`"},
		{name: "medium.bin", size: 4099, mtime: recent},
		{name: "large.bin", size: 1<<20 + 7, mtime: recent, note: "1 MiB + 7"},
		{name: "huge.bin", size: 5<<30 + 3, mtime: recent, note: "5 GiB + 3, sparse: beyond 32 bits"},
		{name: "two  spaces.txt", size: 11, mtime: recent, note: "two spaces inside the name"},
		{name: "-dash.txt", size: 5, mtime: recent, note: "leading dash"},
		{name: "café.txt", size: 6, mtime: recent, note: "UTF-8: é is U+00E9, bytes C3 A9"},
		{name: "old.txt", size: 8, mtime: old, note: "old: LIST shows the year"},
		{name: "future.txt", size: 9, mtime: future, note: "30 days ahead of the capture"},
		{name: "dir", dir: true, mtime: recent, note: "directory holding inner.txt (7 bytes), not listed"},
		{name: "link", target: "small.txt", mtime: recent, note: "symbolic link to small.txt"},
	}
}

// buildTree creates the tree in s.Root, owned by the test user.
func buildTree(t *testing.T, s *Server, captured time.Time) {
	t.Helper()
	for _, e := range captureTree() {
		p := s.Path(e.name)
		switch {
		case e.dir:
			s.WriteFile(t, e.name+"/inner.txt", []byte("inside\n"))
		case e.target != "":
			if err := os.Symlink(e.target, p); err != nil {
				t.Fatal(err)
			}
			if err := os.Lchown(p, s.uid, s.gid); err != nil {
				t.Fatal(err)
			}
		case e.name == "small.txt":
			s.WriteFile(t, e.name, []byte("hello, world\n"))
		case e.size > 1<<30:
			s.WriteFile(t, e.name, nil)
			if err := os.Truncate(p, e.size); err != nil {
				t.Fatal(err)
			}
		default:
			data := bytes.Repeat([]byte("x"), int(e.size))
			if e.size > 0 {
				data[e.size-1] = '\n'
			}
			s.WriteFile(t, e.name, data)
		}
		if err := lutimes(p, e.mtime(captured)); err != nil {
			t.Fatalf("setting the time of %s: %v", e.name, err)
		}
	}
	// Root itself, which MLSD reports as the "." entry (type=cdir).
	if err := lutimes(s.Root, captureTree()[0].mtime(captured)); err != nil {
		t.Fatal(err)
	}
}

// lutimes sets the access and modification times of path without
// following a final symlink (os.Chtimes follows it).
func lutimes(path string, t time.Time) error {
	const atFDCWD = -0x64
	const atSymlinkNoFollow = 0x100
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return err
	}
	ts := [2]syscall.Timespec{syscall.NsecToTimespec(t.UnixNano()), syscall.NsecToTimespec(t.UnixNano())}
	fd := atFDCWD
	_, _, errno := syscall.Syscall6(syscall.SYS_UTIMENSAT, uintptr(fd),
		uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&ts)), atSymlinkNoFollow, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// rawReply reads one reply and returns it byte for byte, line ends
// included.
func (c *conn) rawReply() []byte {
	c.t.Helper()
	var b []byte
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading reply: %v", err)
	}
	b = append(b, line...)
	if len(line) > 3 && line[3] == '-' {
		end := line[:3] + " "
		for !strings.HasPrefix(line, end) {
			if line, err = c.r.ReadString('\n'); err != nil {
				c.t.Fatalf("reading multi-line reply: %v", err)
			}
			b = append(b, line...)
		}
	}
	return b
}

// TestCaptureListings, run with -capture, builds a known tree on each plain
// server and writes the raw LIST and MLSD data and the FEAT reply to
// ftpcore/testdata/listings, with a README describing the tree. Without
// -capture it only checks that the committed files cover the whole tree.
func TestCaptureListings(t *testing.T) {
	if !*capture {
		checkCaptured(t)
		return
	}
	captured := time.Now().UTC().Truncate(time.Second)
	if err := os.MkdirAll(listingsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	offers := make(map[Kind]bool)
	for _, kind := range listingKinds {
		t.Run(string(kind), func(t *testing.T) {
			s := Start(t, kind)
			buildTree(t, s, captured)
			c := dial(t, s)
			c.login()
			c.send("FEAT")
			feat := c.rawReply()
			write(t, kind, "FEAT", feat)
			// As ftpcore transfers everything, listings included.
			c.cmd(200, "TYPE I")
			list, _ := c.fetch("LIST", c.epsv())
			write(t, kind, "LIST", list)
			offers[kind] = bytes.Contains(feat, []byte("\r\n MLST "))
			if offers[kind] {
				mlsd, _ := c.fetch("MLSD", c.epsv())
				write(t, kind, "MLSD", mlsd)
			} else {
				c.send("MLSD")
				if code, msg := c.reply(); code != 500 && code != 502 {
					t.Errorf("MLSD on a server whose FEAT has no MLST: %d %s", code, msg)
				}
				os.Remove(filepath.Join(listingsDir, string(kind)+".MLSD"))
			}
			c.cmd(221, "QUIT")
		})
	}
	if t.Failed() {
		return
	}
	readme := captureREADME(captured, offers)
	if err := os.WriteFile(filepath.Join(listingsDir, "README.md"), []byte(readme), 0o644); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, kind Kind, what string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(listingsDir, string(kind)+"."+what), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkCaptured checks the committed captures without any server: each
// LIST and MLSD names every entry of the tree.
func checkCaptured(t *testing.T) {
	for _, kind := range listingKinds {
		for _, what := range []string{"FEAT", "LIST", "MLSD"} {
			data, err := os.ReadFile(filepath.Join(listingsDir, string(kind)+"."+what))
			if what == "MLSD" && kind == Vsftpd {
				if err == nil {
					t.Errorf("%s.MLSD exists, but vsftpd has no MLSD", kind)
				}
				continue
			}
			if err != nil {
				t.Errorf("%v (run: go test ./internal/realftpd -run TestCaptureListings -capture)", err)
				continue
			}
			if what == "FEAT" {
				if !bytes.HasPrefix(data, []byte("211-")) || !bytes.HasSuffix(data, []byte("\r\n")) {
					t.Errorf("%s.FEAT is not a raw 211 reply: %q", kind, data)
				}
				continue
			}
			for _, e := range captureTree() {
				if !bytes.Contains(data, []byte(" "+e.name+"\r\n")) && !bytes.Contains(data, []byte(" "+e.name+" -> ")) {
					t.Errorf("%s.%s does not list %q", kind, what, e.name)
				}
			}
		}
	}
}

func captureREADME(captured time.Time, offers map[Kind]bool) string {
	var b strings.Builder
	b.WriteString(`# Captured listings

Raw output of real FTP servers for parser tests, written by

    go test ./internal/realftpd -run TestCaptureListings -capture

(as root, after scripts/install-test-deps.sh). Do not edit by hand: recapture.

Files, one set per server (` + "`<kind>`" + ` is a realftpd.Kind):

- ` + "`<kind>.FEAT`" + `: the FEAT reply as received on the control connection, CRLF line ends.
- ` + "`<kind>.LIST`" + `: the data connection's bytes for ` + "`LIST`" + ` (no argument, in the login directory), after ` + "`TYPE I`" + `.
- ` + "`<kind>.MLSD`" + `: the same for ` + "`MLSD`" + `, where the server offers it.

`)
	fmt.Fprintf(&b, "Captured at %s (UTC); the servers ran with TZ=UTC.\n\n", captured.Format(time.RFC3339))
	b.WriteString("| server | version (Debian 12) | MLSD |\n|---|---|---|\n")
	versions := map[Kind]string{Vsftpd: "vsftpd 3.0.3", PureFTPd: "pure-ftpd 1.0.50", ProFTPD: "proftpd 1.3.8"}
	for _, k := range listingKinds {
		m := "no (500, not in FEAT)"
		if offers[k] {
			m = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", k, versions[k], m)
	}
	b.WriteString(`
## The tree

Everything belongs to the test user ` + "`ftpgwtest`" + ` (uid and gid 1001 on the capturing
machine); files are mode 0644, directories 0755, the symlink 0777. Times are
UTC; a symlink's own time is set (lutimes), not its target's.

| name | type | size (bytes) | mtime (UTC) | note |
|---|---|---|---|---|
`)
	for _, e := range captureTree() {
		typ, size := "file", fmt.Sprint(e.size)
		switch {
		case e.dir:
			typ, size = "dir", "(as the server reports it)"
		case e.target != "":
			typ, size = "symlink -> "+e.target, fmt.Sprint(len(e.target))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", e.name, typ, size, e.mtime(captured).Format("2006-01-02 15:04:05"), e.note)
	}
	fmt.Fprintf(&b, `
The login directory itself (MLSD's "."/cdir entry) has mtime %s.

## What each server does with it

Captured with default realftpd.Options (no active mode), which matters for
proftpd's FEAT: with PORT/EPRT allowed it adds an `+"`EPRT`"+` line.

- All three: LIST sorted by name (byte order), MLSD in directory order;
  CRLF line ends; the symlink in LIST as `+"`link -> small.txt`"+` with size 9 (its
  own length); sizes beyond 32 bits printed in full.
- vsftpd: LIST only (MLST and MLSD answer 500, FEAT has neither, nor UTF8
  although `+"`OPTS UTF8 ON`"+` is accepted). Owner and group as numbers (its
  text_userdb_names defaults to NO). The year form pads the day with a zero
  (`+"`Mar 04  2019`"+`), and it uses the year form for the file dated in the future.
- pure-ftpd: chrooted to the login directory. LIST prints the owner as a
  number and the group as a name. The year form pads the day with a space
  (`+"`Mar  4  2019`"+`); the file 30 days ahead gets the time-of-day form
  (`+"`Dec 24 08:09`"+` style), so a parser must infer its year. MLSD facts:
  type, size (files), sizd (directories), modify, UNIX.mode, UNIX.uid,
  UNIX.gid, unique; the symlink is `+"`type=OS.unix=slink:`"+` with an empty target,
  and `+"`.`"+` and `+"`..`"+` share one unique (the chroot's root). FEAT advertises
  AUTH TLS, PBSZ and PROT although this instance has no certificate
  (`+"`AUTH TLS`"+` answers 500).
- proftpd: not chrooted. LIST prints owner and group names, pads the day
  with a space and, like pure-ftpd, gives the future file the time-of-day
  form. MLSD facts: modify, perm, size, type, unique, UNIX.group,
  UNIX.groupname, UNIX.mode, UNIX.owner, UNIX.ownername; the symlink is
  `+"`type=OS.unix=symlink`"+` with the unique of its target; `+"`..`"+` (outside the
  login directory, owned by root) shows UNIX.owner=0 and UNIX.group=0 but
  the names of the logged-in user. FEAT lists MLST (implying MLSD) but not
  MLSD itself, nor PASV.

Values that change with every capture: the dates derived from the capture
time, the `+"`unique`"+` facts (device and inode numbers), and everything about
proftpd's `+"`..`"+` entry (the per-instance directory above the login directory).
`, captureTree()[0].mtime(captured).Format("2006-01-02 15:04:05"))
	return b.String()
}
