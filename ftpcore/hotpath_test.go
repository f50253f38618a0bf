package ftpcore

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// writeCounter counts the writes on a control connection.
type writeCounter struct {
	net.Conn
	n atomic.Int64
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.n.Add(1)
	return w.Conn.Write(p)
}

// rangedGet is the gateway's hot path for a ranged GET on a pooled
// session whose last transfer ended early: Stat (the owed NOOP, SIZE and
// MDTM), then Retr of the range (EPSV, REST, RETR), Wait for its data (the
// gateway's status waits for it), read, and an early close that leaves the
// NOOP owed again.
func rangedGet(tb testing.TB, c *Conn, off, n int64) {
	ctx := tb.Context()
	if _, err := c.Stat(ctx, "/f"); err != nil {
		tb.Fatal(err)
	}
	tr, err := c.Retr(ctx, "/f", off, n)
	if err != nil {
		tb.Fatal(err)
	}
	if err := tr.Wait(); err != nil {
		tb.Fatal(err)
	}
	if _, err := tr.WriteTo(io.Discard); err != nil {
		tb.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		tb.Fatal(err)
	}
}

// hotPathServer serves /f without MLST, so Stat is SIZE and MDTM.
func hotPathServer(tb testing.TB) *ftptest.Server {
	srv := ftptest.NewServer(tb, ftptest.WithFeatures("EPSV", "PASV", "SIZE", "MDTM", "REST STREAM"))
	srv.PutFile("/f", testData(1<<20), time.Now())
	return srv
}

// TestHotPathWrites: each pipelined group of the ranged GET goes out in
// one write: NOOP+SIZE+MDTM, then EPSV+REST+RETR.
func TestHotPathWrites(t *testing.T) {
	srv := hotPathServer(t)
	c := dialTest(t, srv)
	rangedGet(t, c, 0, 4096) // leaves the NOOP owed
	wc := &writeCounter{Conn: c.nc}
	c.nc = wc
	before := len(srv.Commands())
	rangedGet(t, c, 8192, 4096)
	if got := wc.n.Load(); got != 2 {
		t.Errorf("%d writes for the ranged GET, want 2", got)
	}
	want := []string{"NOOP", "SIZE /f", "MDTM /f", "EPSV", "REST 8192", "RETR /f"}
	if cmds := srv.Commands()[before:]; len(cmds) != len(want) {
		t.Errorf("server saw %q, want %q", cmds, want)
	} else {
		for i := range want {
			if cmds[i] != want[i] {
				t.Errorf("server saw %q, want %q", cmds, want)
				break
			}
		}
	}
}

// BenchmarkRangedGet measures the client's side of the hot path; the
// in-process server's allocations are counted too, the same before and
// after a change of the client.
func BenchmarkRangedGet(b *testing.B) {
	srv := hotPathServer(b)
	cfg := testConfig(srv)
	c, err := Dial(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	rangedGet(b, c, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		rangedGet(b, c, 8192, 4096)
	}
}
