package api_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
	"github.com/ftpgw/ftpgw/pool"
)

// Downloads that fail properly: a server that never starts sending gets
// the client a problem document, and a client that leaves frees its FTP
// session at once, however slowly the server sends. Only the fake server
// can stall or drip on demand.

// withAbortTimeout is b with ftpcore's AbortTimeout set to d.
func withAbortTimeout(b idleBackend, d time.Duration) idleBackend {
	tune := b.tune
	b.tune = func(c *ftpcore.Config) {
		if tune != nil {
			tune(c)
		}
		c.AbortTimeout = d
	}
	return b
}

// TestGetStalledBeforeFirstByte: RETR answered 150 and then nothing on the
// data connection. The gateway has not committed to a status before the
// first byte, so when DataTimeout passes the client gets a 504 problem
// document (it got an empty reply, a closed connection). The session,
// whose transfer is in an unknown state, is not pooled: the server never
// answers the reset data connection, so it is destroyed once AbortTimeout
// passes, and the next request succeeds on a fresh one.
func TestGetStalledBeforeFirstByte(t *testing.T) {
	const dataTimeout, abortTimeout = 300 * time.Millisecond, 500 * time.Millisecond
	for _, b := range idleBackends(t) {
		for _, ranged := range []bool{false, true} {
			name := b.name + "/whole"
			if ranged {
				name = b.name + "/range"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				data := randomBytes(64<<10, 21)
				srv := ftptest.NewServer(t, b.opts...)
				srv.PutFile("/f.bin", data, time.Now())
				var retrs atomic.Int32
				srv.Handle("RETR", func(c *ftptest.Conn, arg string) {
					if retrs.Add(1) > 1 {
						c.Default("RETR", arg)
						return
					}
					c.Reply(150, "Opening BINARY mode data connection.")
					dc, err := c.AcceptData()
					if err != nil {
						return
					}
					defer dc.Close()
					<-c.Done() // nothing on dc, and no final reply
				})
				ts, _ := idleGatewayData(t, srv, withAbortTimeout(b, abortTimeout), 10*time.Second, true, dataTimeout)
				var hdr []string
				want, wantStatus := data, http.StatusOK
				if ranged {
					hdr = []string{"Range", "bytes=10-99"}
					want, wantStatus = data[10:100], http.StatusPartialContent
				}

				start := time.Now()
				status, h, body := fetchURL(t, http.MethodGet, ts.URL+"/files/f.bin", hdr...)
				took := time.Since(start)
				if status != http.StatusGatewayTimeout {
					t.Fatalf("status %d after %v, want 504: %q", status, took, body)
				}
				p := problemOf(t, h, body)
				if p["status"] != float64(http.StatusGatewayTimeout) {
					t.Errorf("problem status %v, want 504", p["status"])
				}
				if cr := h.Get("Content-Range"); cr != "" {
					t.Errorf("the problem document has Content-Range %q", cr)
				}
				if took < dataTimeout {
					t.Errorf("504 after %v, before the %v data timeout", took, dataTimeout)
				}

				status, _, got := fetchURL(t, http.MethodGet, ts.URL+"/files/f.bin", hdr...)
				if status != wantStatus || !bytes.Equal(got, want) {
					t.Fatalf("next GET: %d with %d bytes (equal: %v), want %d", status, len(got), bytes.Equal(got, want), wantStatus)
				}
				if n := srv.Logins(); n != 2 {
					t.Errorf("%d logins, want 2: the stalled session must be replaced, not pooled", n)
				}
			})
		}
	}
}

// TestGetRetrRefusedHasNoContentRange: a range whose RETR is refused is
// answered with a problem document, and a problem document describes no
// range of the file. The file is there at every look, so the refusal is a
// denial (403).
func TestGetRetrRefusedHasNoContentRange(t *testing.T) {
	srv := ftptest.NewServer(t)
	srv.PutFile("/f.bin", randomBytes(1000, 23), time.Now())
	srv.Handle("RETR", func(c *ftptest.Conn, arg string) {
		c.Reply(550, "Failed to open file.")
	})
	ts := fakeGateway(t, srv, nil)
	status, h, body := fetchURL(t, http.MethodGet, ts.URL+"/files/f.bin", "Range", "bytes=0-9")
	if status != http.StatusForbidden {
		t.Fatalf("status %d, want 403: %q", status, body)
	}
	problemOf(t, h, body)
	if cr := h.Get("Content-Range"); cr != "" {
		t.Errorf("the problem document has Content-Range %q", cr)
	}
}

// TestGetClientGoneWhileServerDrips: the FTP server sends 1 KiB every
// drip, and the client reads the first bytes and closes. The handler
// waited on the data connection and noticed only when a write to the
// client failed, at least one drip later (two or more: writes to a closed
// peer fail only after its reset, and a small write may sit in a buffer).
// Now the transfer is aborted as soon as net/http sees the client go, and
// the only session, proven in step after the ABOR, serves the next
// request well within a drip.
func TestGetClientGoneWhileServerDrips(t *testing.T) {
	const drip, prompt = 600 * time.Millisecond, 300 * time.Millisecond
	forEachIdleShape(t, func(t *testing.T, b idleBackend, wired bool) {
		srv := ftptest.NewServer(t, append([]ftptest.Option{ftptest.WithSlowData(1<<10, drip)}, b.opts...)...)
		srv.PutFile("/big.bin", randomBytes(1<<20, 22), time.Now())
		ts, _ := idleGatewayData(t, srv, b, 10*time.Second, wired, 10*time.Second)

		conn, resp := getOnOwnConn(t, ts.URL+"/files/big.bin", 0)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if _, err := io.ReadFull(resp.Body, make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		gone := time.Now()

		status, _, _ := fetchURL(t, http.MethodHead, ts.URL+"/files/big.bin")
		if took := time.Since(gone); status != http.StatusOK || took > prompt {
			t.Fatalf("the next request (%d) had the only session %v after the client left; want it within %v", status, took, prompt)
		}
		if !slices.Contains(srv.Commands(), "ABOR") {
			t.Errorf("the server saw no ABOR: %q", srv.Commands())
		}
		if n := srv.Logins(); n != 1 {
			t.Errorf("%d logins, want 1: the session proven in step after the ABOR is kept", n)
		}
	})
}

// TestGetClientLeavesAfterEveryByte: a client that closes its connection
// once it has the whole file, while the gateway still waits for the FTP
// server's end of data, left nothing cut short: the request is logged as
// the complete 200 it was, not as an aborted response (which is what a
// client that leaves mid-file gets).
func TestGetClientLeavesAfterEveryByte(t *testing.T) {
	data := randomBytes(10<<10, 24)
	srv := ftptest.NewServer(t)
	srv.PutFile("/f.bin", data, time.Now())
	srv.Handle("RETR", func(c *ftptest.Conn, arg string) {
		c.Reply(150, "Opening BINARY mode data connection.")
		dc, err := c.AcceptData()
		if err != nil {
			return
		}
		defer dc.Close()
		dc.Write(data)
		// The end of data is held back until the gateway resets the data
		// connection.
		io.Copy(io.Discard, dc)
		c.Reply(426, "Connection closed; transfer aborted.")
	})
	p, err := pool.New(pool.Config{
		Name: "fake",
		Conn: ftpcore.Config{
			Addr: srv.Addr, User: "user", Password: "pass",
			CommandTimeout: 5 * time.Second, DataTimeout: 2 * time.Second, DialTimeout: 5 * time.Second,
		},
		MaxSessions: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	log := &requestLog{}
	h := api.New(api.Config{Pool: p, Logger: slog.New(log)})
	ts := serveGateway(h)
	t.Cleanup(func() {
		ts.Close()
		h.Close()
		p.Close()
	})

	conn, resp := getOnOwnConn(t, ts.URL+"/files/f.bin", 0)
	got, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d of %d bytes (equal: %v): %v", len(got), len(data), bytes.Equal(got, data), err)
	}
	conn.Close()
	waitFor(t, "the request's log line", func() bool { return len(log.lines()) > 0 })
	l := log.lines()[0]
	if l.level != slog.LevelInfo || l.attrs["status"] != "200" || l.attrs["aborted"] != "" {
		t.Errorf("logged at %v with %v; want a complete 200 at Info", l.level, l.attrs)
	}
}

// requestLog is a slog.Handler that keeps the gateway's log lines.
type requestLog struct {
	mu   sync.Mutex
	recs []logLine
}

type logLine struct {
	msg   string
	level slog.Level
	attrs map[string]string
}

func (h *requestLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *requestLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *requestLog) WithGroup(string) slog.Handler            { return h }

func (h *requestLog) Handle(_ context.Context, r slog.Record) error {
	l := logLine{msg: r.Message, level: r.Level, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		l.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, l)
	h.mu.Unlock()
	return nil
}

// lines returns the request lines, one per request.
func (h *requestLog) lines() []logLine {
	return slices.DeleteFunc(h.all(), func(l logLine) bool { return l.msg != "request" })
}

// all returns every line.
func (h *requestLog) all() []logLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.recs)
}

// TestGetClientGoneMidFile: on every real server, a client that closes its
// connection in the middle of a large file has the transfer aborted (or
// cut by the failed write, whichever the gateway sees first) and its
// session kept, proven in step: none is destroyed, and the next request
// is served on it.
func TestGetClientGoneMidFile(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		writeRandomFile(t, g, "big.bin", 64<<20, 25)
		g.ftpd.WriteFile(t, "small.txt", []byte("small"))
		conn, resp := getOnOwnConn(t, g.url("/files/big.bin"), 64<<10)
		if _, err := io.ReadFull(resp.Body, make([]byte, 256<<10)); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, reading: %v", resp.StatusCode, err)
		}
		conn.Close()
		waitFor(t, "the session's release", func() bool { return g.pool.Stat().AcquiredSessions() == 0 })
		status, _, body := g.fetch(t, http.MethodGet, "/files/small.txt", nil)
		if status != http.StatusOK || string(body) != "small" {
			t.Fatalf("next GET: %d %q", status, body)
		}
		if st := g.pool.Stat(); st.DestroyedBroken != 0 || st.Dials != 1 {
			t.Errorf("%d sessions destroyed as broken, %d dialled; want the one session kept", st.DestroyedBroken, st.Dials)
		}
	})
}

// getOnOwnConn sends a GET of url on a connection of its own, with a
// receive buffer of rbuf bytes unless 0, and returns the connection, for
// the test to close when it likes, and the response.
func getOnOwnConn(t *testing.T, url string, rbuf int) (net.Conn, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	conn, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if rbuf > 0 {
		conn.(*net.TCPConn).SetReadBuffer(rbuf)
	}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	return conn, resp
}

// TestGetFileReplacedByLongerOne: the file is replaced by a longer one
// between the gateway's look at it and its RETR, as concurrent uploads do
// all the time (the soak in bench/ saw it over and over). The response
// ends where its Content-Length says, and nothing of the longer file
// follows it on the connection, where a pipelining client, or a proxy
// reusing the connection, would read it as the next response. On the fake
// server the data comes over plain TCP, the spliced path.
func TestGetFileReplacedByLongerOne(t *testing.T) {
	old := randomBytes(1000, 31)
	longer := append(slices.Clone(old), []byte("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsmuggled!")...)
	for _, tc := range []struct{ name, rangeHdr string }{
		{"whole", ""},
		{"range to the end", "Range: bytes=100-\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := ftptest.NewServer(t)
			srv.PutFile("/f.bin", old, time.Now())
			srv.Handle("RETR", func(c *ftptest.Conn, arg string) {
				srv.PutFile("/f.bin", longer, time.Now())
				c.Default("RETR", arg)
			})
			ts := fakeGateway(t, srv, nil)
			resps, bodies, _ := pipeline(t, ts.Listener.Addr().String(),
				"GET /files/f.bin HTTP/1.1\r\nHost: gw\r\n"+tc.rangeHdr+"\r\n"+
					"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
			if len(resps) == 0 {
				t.Fatal("no response")
			}
			if got := int64(len(bodies[0])); got != resps[0].ContentLength {
				t.Errorf("first body %d bytes, Content-Length %d", got, resps[0].ContentLength)
			}
			for i, r := range resps[1:] {
				if r.Header.Get("X-Request-Id") == "" || strings.TrimSpace(bodies[i+1]) != "ok" {
					t.Errorf("response %d is not the gateway's to /healthz: %s %q %q", i+2, r.Status, r.Header, bodies[i+1])
				}
			}
			if len(resps) > 2 {
				t.Errorf("%d responses to 2 requests", len(resps))
			}
		})
	}
}

// TestGetEndOfDataLate: the server closes the data connection a while after
// the file's last byte. A GET of the whole file, or of a range to its end,
// which the gateway reads only as far as the size it promised, still
// waits for that end and completes the transfer: no early end, so no NOOP
// to prove the session in step, and no round trip more than a GET needs.
func TestGetEndOfDataLate(t *testing.T) {
	data := randomBytes(100000, 32)
	for _, tc := range []struct{ name, rng string }{
		{"whole", ""},
		{"range to the end", "bytes=1000-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := ftptest.NewServer(t)
			srv.PutFile("/f.bin", data, time.Now())
			srv.Handle("RETR", func(c *ftptest.Conn, arg string) {
				c.Reply(150, "Opening BINARY mode data connection.")
				dc, err := c.AcceptData()
				if err != nil {
					return
				}
				off := 0
				if tc.rng != "" {
					off = 1000
				}
				dc.Write(data[off:])
				time.Sleep(50 * time.Millisecond)
				dc.Close()
				c.Reply(226, "Transfer complete.")
			})
			// One session, so that the second GET runs where the first
			// would have left its NOOP, sent ahead of the next command.
			ts := fakeGateway(t, srv, func(c *pool.Config) { c.MaxSessions = 1 })
			var hdr []string
			if tc.rng != "" {
				hdr = []string{"Range", tc.rng}
			}
			for range 2 {
				code, _, body := fetchURL(t, http.MethodGet, ts.URL+"/files/f.bin", hdr...)
				if code/100 != 2 || len(body) == 0 || !bytes.HasSuffix(data, body) {
					t.Fatalf("GET: %d, %d bytes", code, len(body))
				}
			}
			cmds := srv.Commands()
			if after := cmds[slices.Index(cmds, "RETR /f.bin"):]; slices.Contains(after, "NOOP") || slices.Contains(after, "ABOR") {
				t.Errorf("a transfer was ended early: %q", after)
			}
		})
	}
}

// TestGetFileChangedUnderIt: the file is replaced by another version
// between the gateway's look at it and its RETR (an upload finishing in
// between; the soak saw it hundreds of times a minute). The RETR's reply
// names the new size, or the data ends at once where some was due: the
// gateway looks again and answers for the new version, headers and body
// of one version; a file that changes at every look gets 503.
func TestGetFileChangedUnderIt(t *testing.T) {
	old := randomBytes(1000, 41)
	longer := randomBytes(3000, 42)
	shorter := randomBytes(100, 43)
	tests := []struct {
		name     string
		rangeHdr string
		next     []byte // what the first RETR finds; nil: a new version at every RETR
		status   int
		body     []byte
	}{
		{"longer, whole", "", longer, 200, longer},
		{"longer, range", "Range: bytes=10-19\r\n", longer, 206, longer[10:20]},
		{"shorter, whole", "", shorter, 200, shorter},
		{"shorter, range past its end", "Range: bytes=500-\r\n", shorter, 416, nil},
		{"always changing", "", nil, 503, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := ftptest.NewServer(t)
			srv.PutFile("/f.bin", old, time.Now())
			var mu sync.Mutex
			retrs := 0
			srv.Handle("RETR", func(c *ftptest.Conn, arg string) {
				mu.Lock()
				retrs++
				switch {
				case tc.next == nil:
					srv.PutFile("/f.bin", randomBytes(1000+retrs, uint64(retrs)), time.Now())
				case retrs == 1:
					srv.PutFile("/f.bin", tc.next, time.Now())
				}
				mu.Unlock()
				c.Default("RETR", arg)
			})
			ts := fakeGateway(t, srv, nil)
			resps, bodies, _ := pipeline(t, ts.Listener.Addr().String(),
				"GET /files/f.bin HTTP/1.1\r\nHost: gw\r\n"+tc.rangeHdr+"\r\n"+
					"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
			if len(resps) != 2 {
				t.Fatalf("%d responses to 2 requests", len(resps))
			}
			r, b := resps[0], []byte(bodies[0])
			if r.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %.100q", r.StatusCode, tc.status, b)
			}
			switch {
			case tc.body != nil && !bytes.Equal(b, tc.body):
				t.Errorf("body of %d bytes is not the new version's", len(b))
			case tc.body != nil && r.ContentLength != int64(len(tc.body)):
				t.Errorf("Content-Length %d, want %d", r.ContentLength, len(tc.body))
			case tc.status == 503:
				problemOf(t, r.Header, b)
				if r.Header.Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
			}
			if strings.TrimSpace(bodies[1]) != "ok" {
				t.Errorf("second response %s %q, want /healthz's", resps[1].Status, bodies[1])
			}
		})
	}
}
