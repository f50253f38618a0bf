package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/pool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// uploadTemp is the n-th name of the form the gateway gives the file of
// an upload in progress.
func uploadTemp(n int) string { return fmt.Sprintf(".ftpgw-upload-%016x.tmp", n) }

// age sets the modification time of the host path p to age ago.
func age(t *testing.T, p string, age time.Duration) {
	t.Helper()
	when := time.Now().Add(-age)
	if err := os.Chtimes(p, when, when); err != nil {
		t.Fatal(err)
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// waitForTempMetrics waits up to 10 s for the temporary-file metrics of
// reg, for backend, to read pending, removed (by how) and dropped.
func waitForTempMetrics(t *testing.T, reg prometheus.Gatherer, backend string, pending int, removed map[string]int, dropped int) {
	t.Helper()
	want := fmt.Sprintf(`
# HELP ftpgw_upload_temp_pending Temporary upload files queued for deletion from the FTP server, by backend.
# TYPE ftpgw_upload_temp_pending gauge
ftpgw_upload_temp_pending{backend=%[1]q} %[2]d
# HELP ftpgw_upload_temp_dropped_total Temporary upload files dropped from the full deletion queue and left on the FTP server, by backend.
# TYPE ftpgw_upload_temp_dropped_total counter
ftpgw_upload_temp_dropped_total{backend=%[1]q} %[3]d
`, backend, pending, dropped)
	if len(removed) > 0 {
		want += `# HELP ftpgw_upload_temp_removed_total Temporary upload files deleted in the background, by backend and how they were found: a failed upload's deletion retried, or a sweep for old ones.
# TYPE ftpgw_upload_temp_removed_total counter
`
		for _, how := range []string{"retry", "sweep"} {
			if n, ok := removed[how]; ok {
				want += fmt.Sprintf("ftpgw_upload_temp_removed_total{backend=%q,how=%q} %d\n", backend, how, n)
			}
		}
	}
	names := []string{"ftpgw_upload_temp_pending", "ftpgw_upload_temp_removed_total", "ftpgw_upload_temp_dropped_total"}
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for err = testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		err = testutil.GatherAndCompare(reg, strings.NewReader(want), names...)
	}
	if err != nil {
		t.Error(err)
	}
}

// TestTempFileOfCrashedUploadRemoved: the FTP server is killed in the
// middle of a PUT of 16 MiB, and stays down while the gateway answers. The
// PUT fails with a 5xx problem, the old file untouched; the temporary file,
// holding the part of the body that arrived, cannot be deleted then, and
// is deleted once the server is back. Before, it stayed for good.
func TestTempFileOfCrashedUploadRemoved(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		old := randomBytes(1000, 21)
		g.ftpd.WriteFile(t, "target.bin", old)
		const size = 16 << 20
		body := randomBytes(size, 22)
		c, err := net.Dial("tcp", g.http.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "PUT /files/target.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
		if _, err := c.Write(body[:4<<20]); err != nil {
			t.Fatal(err)
		}
		var tmp string
		waitFor(t, "a MiB of the body in the temporary file", func() bool {
			left := tempFilesUnder(t, g.ftpd.Root)
			if len(left) != 1 {
				return false
			}
			tmp = left[0]
			fi, err := os.Stat(tmp)
			return err == nil && fi.Size() >= 1<<20
		})

		g.ftpd.Kill(t)
		go c.Write(body[4<<20:]) // fails once the gateway has answered and closed
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 500 {
			t.Fatalf("status %d, want a 5xx: %s", resp.StatusCode, b)
		}
		problemOf(t, resp.Header, b)
		if !exists(tmp) {
			t.Fatal("the temporary file went while the server was down; the test needs it left")
		}
		// Past the first retry, a second after the failure, which meets
		// the server still down.
		time.Sleep(1500 * time.Millisecond)
		g.ftpd.Revive(t)

		waitFor(t, "the temporary file deleted after the server came back", func() bool { return !exists(tmp) })
		if got, err := os.ReadFile(g.ftpd.Path("target.bin")); err != nil || string(got) != string(old) {
			t.Errorf("target: %d bytes, %v; want the %d it had", len(got), err, len(old))
		}
		waitForTempMetrics(t, g.reg, string(g.ftpd.Kind), 0, map[string]int{"retry": 1}, 0)
	})
}

// TestOldTempFilesSweptAndListed: temporary files unwritten for more than
// TempMaxAge (a day by default) are deleted by the periodic sweep, in the
// root and in a directory uploaded to, and, in a directory the sweep does
// not know, once a listing of it is served. A younger temporary file
// stays, and so do directories with the prefix (locks), a directory named
// like a temporary file, a name of another case and an old temporary file
// in a directory neither uploaded to nor listed.
func TestOldTempFilesSweptAndListed(t *testing.T) {
	const sweep = 200 * time.Millisecond
	forEachServerWith(t, gatewayOptions{tempSweep: sweep}, func(t *testing.T, g *gateway) {
		write := func(rel string, old time.Duration) string {
			g.ftpd.WriteFile(t, rel, []byte("part of an upload"))
			age(t, g.ftpd.Path(rel), old)
			return g.ftpd.Path(rel)
		}
		const day = 24 * time.Hour
		rootOld := write(uploadTemp(1), 2*day)
		upOld := write("up/"+uploadTemp(2), 2*day)
		lOld := write("l/"+uploadTemp(3), 2*day)
		kept := []string{
			write("up/"+uploadTemp(4), time.Hour),
			write("l/"+uploadTemp(5), day-time.Hour),
			write(strings.ToUpper(uploadTemp(6)), 2*day),
			write("never/"+uploadTemp(7), 2*day),
			write("up/.ftpgw-upload-lock-0123/owner", 2*day),
			write("up/"+uploadTemp(8)+"/inner", 2*day),
		}
		for _, dir := range []string{"up/.ftpgw-upload-lock-0123", "up/" + uploadTemp(8)} {
			age(t, g.ftpd.Path(dir), 2*day)
			kept = append(kept, g.ftpd.Path(dir))
		}

		if status, _, b := g.fetch(t, http.MethodPut, "/files/up/new.txt", strings.NewReader("new")); status != http.StatusCreated {
			t.Fatalf("PUT: %d %s", status, b)
		}
		waitFor(t, "the sweep of the root and of up/", func() bool { return !exists(rootOld) && !exists(upOld) })
		if !exists(lOld) {
			t.Fatal("l/'s old temporary file deleted before any listing of l/")
		}

		if names := g.listNames(t, "/files/l/"); len(names) != 0 {
			t.Errorf("listing of l/ = %q, want no entries", names)
		}
		waitFor(t, "l/'s old temporary file deleted after the listing", func() bool { return !exists(lOld) })

		time.Sleep(3 * sweep) // sweeps of up/, and of l/ where the listing does not show dot files
		for _, p := range kept {
			if !exists(p) {
				t.Errorf("%s deleted", strings.TrimPrefix(p, g.ftpd.Root))
			}
		}
		waitForTempMetrics(t, g.reg, string(g.ftpd.Kind), 0, map[string]int{"sweep": 3}, 0)
	})
}

// TestTempQueueFullDropsOldest: with room for two, a third temporary file
// whose deletion failed pushes the first out of the queue, with one log
// line naming it; the other two are deleted, the first stays.
func TestTempQueueFullDropsOldest(t *testing.T) {
	for _, kind := range realftpd.Matrix {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			log := &requestLog{}
			g := startGatewayOn(t, kind, gatewayOptions{apiLog: log})
			api.SetTempQueueLimit(g.api, 2)
			var host, ftp []string
			for i := range 3 {
				rel := "q/" + uploadTemp(i)
				g.ftpd.WriteFile(t, rel, []byte("left behind"))
				host = append(host, g.ftpd.Path(rel))
				ftp = append(ftp, path.Join(g.ftpd.LoginPath, rel))
				api.RetryTempRemoval(g.api, ftp[i])
			}
			waitFor(t, "the second and third deleted", func() bool { return !exists(host[1]) && !exists(host[2]) })
			if !exists(host[0]) {
				t.Error("the first, dropped from the queue, was deleted")
			}
			var drops []map[string]string
			for _, r := range log.all() {
				if strings.Contains(r.msg, "dropped") {
					drops = append(drops, r.attrs)
				}
			}
			if len(drops) != 1 || drops[0]["path"] != ftp[0] || drops[0]["dropped"] != "1" {
				t.Errorf("log lines about drops: %v; want one naming %s", drops, ftp[0])
			}
			waitForTempMetrics(t, g.reg, string(kind), 0, map[string]int{"retry": 2}, 1)
		})
	}
}

// TestOldTempFileWrittenSinceListingKept: the fake server's listing dates
// a temporary file two days back, but MDTM, asked right before the
// deletion, says it was written just now (an upload under way whose
// listing was stale, or a server whose LIST shows local time): it is kept.
// When MDTM agrees with the listing, it is deleted.
func TestOldTempFileWrittenSinceListingKept(t *testing.T) {
	for _, tc := range []struct {
		name        string
		writtenNow  bool
		wantDeleted bool
	}{
		{"written since", true, false},
		{"as listed", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := ftptest.NewServer(t)
			name := "/d/" + uploadTemp(1)
			srv.PutFile(name, []byte("x"), time.Now().Add(-48*time.Hour))
			var mdtm, dele atomic.Int32
			srv.Handle("MDTM", func(c *ftptest.Conn, arg string) {
				mdtm.Add(1)
				if tc.writtenNow {
					c.Reply(213, time.Now().UTC().Format("20060102150405"))
					return
				}
				c.Default("MDTM", arg)
			})
			srv.Handle("DELE", func(c *ftptest.Conn, arg string) {
				dele.Add(1)
				c.Default("DELE", arg)
			})
			reg := prometheus.NewRegistry()
			ts := fakeGatewayMetrics(t, srv, nil, reg)
			if status, _, b := fetchURL(t, http.MethodGet, ts.URL+"/files/d/"); status != http.StatusOK {
				t.Fatalf("listing: %d %s", status, b)
			}
			waitFor(t, "MDTM of the temporary file", func() bool { return mdtm.Load() > 0 })
			removed := map[string]int{}
			if tc.wantDeleted {
				removed["sweep"] = 1
			}
			waitForTempMetrics(t, reg, "fake", 0, removed, 0)
			if deleted := !srv.Exists(name); deleted != tc.wantDeleted || (dele.Load() > 0) != tc.wantDeleted {
				t.Errorf("deleted %v after %d DELE, want %v", deleted, dele.Load(), tc.wantDeleted)
			}
		})
	}
}

// TestCloseEndsTempCleaner: New starts a goroutine, and Close ends it; a
// failed deletion queued after Close neither blocks nor restarts it.
func TestCloseEndsTempCleaner(t *testing.T) {
	srv := ftptest.NewServer(t)
	before := cleanerGoroutines()
	p, err := pool.New(pool.Config{Conn: ftpcore.Config{Addr: srv.Addr, User: "user", Password: "pass"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	h := api.New(api.Config{Pool: p})
	var ours []string
	waitFor(t, "the goroutine New starts", func() bool {
		ours = slices.DeleteFunc(cleanerGoroutines(), func(id string) bool { return slices.Contains(before, id) })
		return len(ours) > 0
	})
	if len(ours) != 1 {
		t.Errorf("New started %d cleaner goroutines, want 1", len(ours))
	}
	h.Close()
	h.Close()
	api.RetryTempRemoval(h, "/"+uploadTemp(1))
	waitFor(t, "the goroutine to end after Close", func() bool {
		return !slices.Contains(cleanerGoroutines(), ours[0])
	})
}

// cleanerGoroutines returns the ids of the goroutines running the
// background deletions of some api.Server.
func cleanerGoroutines() []string {
	buf := make([]byte, 8<<20)
	var ids []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "api.(*tempCleaner).run(") {
			ids = append(ids, strings.Fields(g)[1])
		}
	}
	return ids
}
