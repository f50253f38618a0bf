package api_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/ftpgw/ftpgw/api"
)

// flights counts the round trips to the FTP server in a protocol trace
// up to the first data connection's dial: a command written after a reply
// was read starts a new flight. dialled reports whether a dial came.
func flights(events []string) (n int, dialled bool) {
	afterReply := true
	for _, e := range events {
		switch e {
		case "ftp send":
			if afterReply {
				n++
			}
			afterReply = false
		case "ftp recv":
			afterReply = true
		case "ftp data dial":
			return n, true
		}
	}
	return n, false
}

func (c *commandTrace) reset() {
	c.mu.Lock()
	c.events, c.lines = nil, nil
	c.mu.Unlock()
}

func (c *commandTrace) flights() (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return flights(c.events)
}

// TestSpeculativeRetr: on a warm pool, a plain GET and a GET of a range
// given by its start cost one round trip to the FTP server before the data
// connection is dialled: the look at the file (with the link policy's
// questions) and EPSV, REST and RETR go out in one write. A GET whose
// answer the look decides (a precondition, a suffix range, several
// ranges) looks first, then starts the transfer: two. Every answer is
// right, and the session stays in step through the fallbacks that give
// the speculative transfer up (a directory, a range past the end, a link
// the policy refuses, a missing file).
func TestSpeculativeRetr(t *testing.T) {
	for _, links := range []api.LinkPolicy{api.LinksInside, api.LinksFollow} {
		t.Run(links.String(), func(t *testing.T) {
			forEachServerWith(t, gatewayOptions{links: links, maxSessions: 1}, func(t *testing.T, g *gateway) {
				writeRandomFile(t, g, "sub/f.bin", 300000, 7)
				data, err := os.ReadFile(g.ftpd.Path("sub/f.bin"))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(g.ftpd.Path("sub/dir"), 0o755); err != nil {
					t.Fatal(err)
				}
				outside := http.StatusNotFound // a link out of the root
				if links == api.LinksFollow {
					outside = 0
				}
				if err := os.Symlink("/etc/hostname", g.ftpd.Path("sub/out")); err != nil {
					t.Fatal(err)
				}
				get := func(p string, hdr ...string) (int, []byte) {
					t.Helper()
					st, _, body := g.fetch(t, "GET", p, nil, hdr...)
					return st, body
				}
				if st, _ := get("/files/sub/f.bin"); st != 200 { // warm
					t.Fatalf("warm-up: %d", st)
				}
				for _, c := range []struct {
					hdr     []string
					status  int
					from    int
					to      int
					flights int
				}{
					{nil, 200, 0, len(data), 1},
					{[]string{"Range", "bytes=1000-66535"}, 206, 1000, 66536, 1},
					{[]string{"Range", "bytes=299990-400000"}, 206, 299990, len(data), 1},
					{[]string{"Range", "bytes=250000-"}, 206, 250000, len(data), 1},
					{[]string{"Range", "bytes=-100"}, 206, len(data) - 100, len(data), 2},
					{[]string{"Range", "bytes=0-0", "If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT"}, 206, 0, 1, 2},
				} {
					g.trace.reset()
					st, body := get("/files/sub/f.bin", c.hdr...)
					if st != c.status || string(body) != string(data[c.from:c.to]) {
						t.Fatalf("%q: %d with %d bytes, want %d with bytes %d-%d", c.hdr, st, len(body), c.status, c.from, c.to)
					}
					n, dialled := g.trace.flights()
					if !dialled || n != c.flights {
						t.Errorf("%q: %d round trips before the data connection (dialled %v), want %d", c.hdr, n, dialled, c.flights)
					}
				}
				// Fallbacks, each followed by a GET that must be served
				// right on the one session.
				for _, c := range []struct {
					path   string
					hdr    []string
					status int
				}{
					{"/files/sub/dir", nil, 200}, // 301, followed to the listing
					{"/files/sub/f.bin", []string{"Range", "bytes=300000-"}, 416},
					{"/files/sub/missing", nil, 404},
					{"/files/sub/f.bin", []string{"Range", "bytes=5-4"}, 200}, // malformed: ignored
					{"/files/sub/out", nil, outside},
				} {
					if c.status == 0 {
						continue
					}
					if st, _ := get(c.path, c.hdr...); st != c.status {
						t.Fatalf("%s %q: %d, want %d", c.path, c.hdr, st, c.status)
					}
					if st, body := get("/files/sub/f.bin", "Range", "bytes=10-19"); st != 206 || string(body) != string(data[10:20]) {
						t.Fatalf("after %s %q: %d %q", c.path, c.hdr, st, body)
					}
				}
				if got := fmt.Sprint(g.pool.Stat().TotalSessions()); got != "1" {
					t.Errorf("%s sessions, want the one", got)
				}
			})
		})
	}
}
