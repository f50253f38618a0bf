package ftpcore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// TestCapturedListings parses what real servers sent for a known tree
// (testdata/listings/README.md) and checks every entry.
func TestCapturedListings(t *testing.T) {
	captured := time.Date(2026, 11, 24, 5, 6, 44, 0, time.UTC)
	day := time.Date(2026, 11, 22, 12, 34, 56, 0, time.UTC)
	type want struct {
		typ    EntryType
		size   int64 // -2: do not check
		mod    time.Time
		target string
	}
	// LIST has minute precision, and only the day for the year form.
	list := func(future time.Time) map[string]want {
		m := day.Truncate(time.Minute)
		return map[string]want{
			"empty.txt":       {EntryFile, 0, m, ""},
			"small.txt":       {EntryFile, 13, m, ""},
			"medium.bin":      {EntryFile, 4099, m, ""},
			"large.bin":       {EntryFile, 1048583, m, ""},
			"huge.bin":        {EntryFile, 5368709123, m, ""},
			"two  spaces.txt": {EntryFile, 11, m, ""},
			"-dash.txt":       {EntryFile, 5, m, ""},
			"café.txt":        {EntryFile, 6, m, ""},
			"old.txt":         {EntryFile, 8, time.Date(2019, 3, 4, 0, 0, 0, 0, time.UTC), ""},
			"future.txt":      {EntryFile, 9, future, ""},
			"dir":             {EntryDir, -1, m, ""},
			"link":            {EntryLink, 9, m, "small.txt"},
		}
	}
	mlsd := func(linkTarget string) map[string]want {
		w := map[string]want{
			"empty.txt":       {EntryFile, 0, day, ""},
			"small.txt":       {EntryFile, 13, day, ""},
			"medium.bin":      {EntryFile, 4099, day, ""},
			"large.bin":       {EntryFile, 1048583, day, ""},
			"huge.bin":        {EntryFile, 5368709123, day, ""},
			"two  spaces.txt": {EntryFile, 11, day, ""},
			"-dash.txt":       {EntryFile, 5, day, ""},
			"café.txt":        {EntryFile, 6, day, ""},
			"old.txt":         {EntryFile, 8, time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC), ""},
			"future.txt":      {EntryFile, 9, time.Date(2026, 12, 24, 8, 9, 10, 0, time.UTC), ""},
			"dir":             {EntryDir, -2, day, ""},
			"link":            {EntryLink, -2, day, linkTarget},
		}
		return w
	}
	tests := []struct {
		file string
		want map[string]want
	}{
		// vsftpd prints a future date in the year form.
		{"vsftpd.LIST", list(time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC))},
		// pure-ftpd and proftpd print it as a time of day.
		{"pure-ftpd.LIST", list(time.Date(2026, 12, 24, 8, 9, 0, 0, time.UTC))},
		{"proftpd.LIST", list(time.Date(2026, 12, 24, 8, 9, 0, 0, time.UTC))},
		{"pure-ftpd.MLSD", mlsd("")},
		{"proftpd.MLSD", mlsd("")},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "listings", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]Entry{}
			sc := bufio.NewScanner(bytes.NewReader(raw))
			for sc.Scan() {
				line := string(bytes.TrimRight(sc.Bytes(), "\r"))
				var e Entry
				var ok bool
				if filepath.Ext(tc.file) == ".MLSD" {
					e, err = ParseMLSxLine(line)
					ok = true
				} else {
					e, ok, err = ParseListLine(line, captured)
				}
				if err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				if ok && e.Name != "." && e.Name != ".." {
					got[e.Name] = e
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("%d entries, want %d: %v", len(got), len(tc.want), got)
			}
			for name, w := range tc.want {
				e, ok := got[name]
				if !ok {
					t.Errorf("%q missing", name)
					continue
				}
				if e.Type != w.typ || (w.size != -2 && e.Size != w.size) || !e.ModTime.Equal(w.mod) || e.Target != w.target {
					t.Errorf("%q = %+v; want type %v size %d mod %v target %q", name, e, w.typ, w.size, w.mod, w.target)
				}
			}
		})
	}
}

// TestListCancelKeepsSession: a listing whose context ends mid-way is
// ended with ABOR like a download, and the session survives when the
// server answers.
func TestListCancelKeepsSession(t *testing.T) {
	srv := ftptest.NewServer(t, ftptest.WithFeatures("EPSV", "SIZE"))
	srv.Handle("LIST", func(c *ftptest.Conn, arg string) {
		c.Reply(150, "Here comes the directory listing.")
		dc, err := c.AcceptData()
		if err != nil {
			c.Reply(425, "no data connection")
			return
		}
		defer dc.Close()
		for i := 0; ; i++ {
			line := fmt.Sprintf("-rw-r--r--    1 0 0 %d Nov 24 04:12 f%d\r\n", i, i)
			if _, err := io.WriteString(dc, line); err != nil {
				c.Reply(426, "Failure writing network stream.")
				return
			}
			select {
			case <-c.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	c := dialTest(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.List(ctx, "/")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("List: %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("List took %v after its context ended", d)
	}
	if !c.Usable() {
		t.Fatalf("session unusable after an answered ABOR: %v", c.Err())
	}
	if err := c.Noop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(srv.Commands(), "ABOR") {
		t.Errorf("no ABOR sent: %v", srv.Commands())
	}
}
