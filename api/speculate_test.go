package api_test

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
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

// TestArmedGet: with ArmIdle, a session comes back to the pool with the
// data connection of its next transfer dialled (ftpcore.Conn.Arm), and a
// warm GET, whole or of a range, sends its look, REST and RETR in one
// write with no passive command and no dial of its own: its first byte
// comes one round trip after the request. Uploads, listings and a GET after
// an armed connection went stale (the server restarted) are served right.
func TestArmedGet(t *testing.T) {
	forEachServerWith(t, gatewayOptions{armIdle: true, maxSessions: 1}, func(t *testing.T, g *gateway) {
		writeRandomFile(t, g, "f.bin", 200000, 9)
		data, err := os.ReadFile(g.ftpd.Path("f.bin"))
		if err != nil {
			t.Fatal(err)
		}
		// armed waits for the session to be back in the pool, armed.
		armed := func() {
			t.Helper()
			s, err := g.pool.Acquire(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			ok := s.Conn().Armed()
			s.Release()
			if !ok {
				t.Fatal("the session came back to the pool unarmed")
			}
		}
		if st, _, _ := g.fetch(t, "GET", "/files/f.bin", nil); st != 200 {
			t.Fatalf("warm-up: %d", st)
		}
		for _, c := range []struct {
			hdr      []string
			from, to int
		}{
			{nil, 0, len(data)},
			{[]string{"Range", "bytes=70000-70999"}, 70000, 71000},
			{[]string{"Range", "bytes=-10"}, len(data) - 10, len(data)},
		} {
			armed()
			g.trace.reset()
			_, _, body := g.fetch(t, "GET", "/files/f.bin", nil, c.hdr...)
			if string(body) != string(data[c.from:c.to]) {
				t.Fatalf("%q: %d bytes, not bytes %d-%d", c.hdr, len(body), c.from, c.to)
			}
			g.trace.mu.Lock()
			events, lines := slices.Clone(g.trace.events), slices.Clone(g.trace.lines)
			g.trace.mu.Unlock()
			// The request's own exchanges end at its RETR's final reply;
			// the arming after it (EPSV, dial) follows.
			n := 0
			afterReply := true
			for _, e := range events {
				if e == "ftp data dial" {
					break
				}
				if e == "ftp send" && afterReply {
					n++
				}
				afterReply = e == "ftp recv"
			}
			retr := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "RETR ") })
			if retr < 0 || slices.ContainsFunc(lines[:retr], func(l string) bool { return l == "EPSV" || l == "PASV" }) {
				t.Errorf("%q: the GET sent %q: a passive command before its RETR", c.hdr, lines)
			}
			want := 1
			if c.hdr != nil && strings.HasPrefix(c.hdr[1], "bytes=-") {
				want = 2 // a suffix range needs the size first
			}
			if n < want || n > want+2 { // + the arming's EPSV, + a NOOP owed
				t.Errorf("%q: %d flights before the first dial, want %d then the arming's", c.hdr, n, want)
			}
		}
		// Uploads and listings on armed sessions.
		armed()
		if st, _, _ := g.fetch(t, "PUT", "/files/up.txt", strings.NewReader("hello")); st != 201 {
			t.Fatalf("PUT: %d", st)
		}
		armed()
		if st, _, body := g.fetch(t, "GET", "/files/?format=json", nil); st != 200 || !strings.Contains(string(body), "up.txt") {
			t.Fatalf("listing: %d %.200s", st, body)
		}
		// The server restarts under an armed session: the next GET is
		// served on a fresh one.
		armed()
		g.ftpd.Restart(t)
		if st, _, body := g.fetch(t, "GET", "/files/f.bin", nil, "Range", "bytes=5-9"); st != 206 || string(body) != string(data[5:10]) {
			t.Fatalf("after a restart: %d %q", st, body)
		}
	})
}
