package api_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/pool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// gateway is the whole path under test: a real FTP server, a pool of
// sessions to it, and the api handler on a real loopback HTTP server.
type gateway struct {
	ftpd  *realftpd.Server
	pool  *pool.Pool
	users *pool.Users // in Basic passthrough, pool is nil
	api   *api.Server
	http  *httptest.Server
	reg   *prometheus.Registry
	trace *commandTrace
	// mounts are the backends' mounts, for checking responses against
	// openapi.yaml: api.DefaultMount if nil.
	mounts []string
}

// startGateway runs the gateway in front of vsftpd.
func startGateway(t *testing.T) *gateway {
	t.Helper()
	return startGatewayOn(t, realftpd.Vsftpd)
}

// forEachServer runs fn against a gateway in front of every server of the
// matrix, in parallel subtests named after the server.
func forEachServer(t *testing.T, fn func(t *testing.T, g *gateway)) {
	forEachServerWith(t, gatewayOptions{}, fn)
}

// forEachServerWith is forEachServer with the gateway options o.
func forEachServerWith(t *testing.T, o gatewayOptions, fn func(t *testing.T, g *gateway)) {
	for _, kind := range realftpd.Matrix {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			fn(t, startGatewayOn(t, kind, o))
		})
	}
}

// gatewayOptions vary the server and the client from the defaults.
type gatewayOptions struct {
	server    realftpd.Options
	active    bool  // ftpcore's active mode (EPRT/PORT)
	maxUpload int64 // api.Config.MaxUploadSize
	tusPiece  int64 // api.Config.TusMaxChecksumPiece
	// api.Config.TempMaxAge and TempSweepInterval
	tempMaxAge, tempSweep time.Duration
	apiLog                slog.Handler // api.Config.Logger's handler
	root                  string
	links                 api.LinkPolicy
	trusted               bool          // api.Config.TrustedContent
	tokens                *auth.Tokens  // api.Config.Tokens
	signer                *auth.Signer  // api.Config.Signer
	signedMax             time.Duration // api.Config.SignedURLMaxExpiry
	cors                  *api.CORS     // api.Config.CORS
	maxSessions           int32         // pool.Config.MaxSessions; 4 if 0
	budgetQuiet           time.Duration // pool.Config.BudgetQuietPeriod
	acquireTimeout        time.Duration // pool.Config.AcquireTimeout
	// api.Config.MaxTransfers, MaxClientTransfers and TrustedProxies
	maxTransfers, maxClientTransfers int
	trustedProxies                   []netip.Prefix
	maxRanges                        int // api.Config.MaxRanges
	maxClientUploads                 int // api.Config.MaxClientUploads
	// ftpd, when set, is the FTP server of kind to use instead of a new
	// one: a second gateway on it is another replica.
	ftpd *realftpd.Server
	// basic, when set, serves the backend in Basic passthrough: Users
	// with these settings (the Pool field of which is filled in), and
	// the api's failed-login limits.
	basic     *basicOptions
	uploadKey []byte // api.Config.UploadKey
	armIdle   bool   // pool.Config.ArmIdle
}

// basicOptions are the settings of Basic passthrough in a test.
type basicOptions struct {
	users                  pool.UsersConfig
	failuresPerUser, perIP int
	failureWindow          time.Duration
}

func startGatewayOn(t testing.TB, kind realftpd.Kind, opts ...gatewayOptions) *gateway {
	t.Helper()
	var o gatewayOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	ftpd := o.ftpd
	if ftpd == nil {
		ftpd = realftpd.Start(t, kind, o.server)
	}
	trace := &commandTrace{}
	conn := ftpcore.Config{
		Addr: ftpd.Addr, User: ftpd.User, Password: ftpd.Password,
		CommandTimeout: 10 * time.Second, DataTimeout: 20 * time.Second,
		Logger: slog.New(trace),
		Active: o.active,
	}
	if ftpd.TLS != nil {
		conn.TLS = ftpcore.TLSExplicit
		if ftpd.TLS.Implicit {
			conn.TLS = ftpcore.TLSImplicit
		}
		conn.TLSConfig = ftpd.TLS.ClientConfig()
	}
	pcfg := pool.Config{Name: string(kind), Conn: conn, MaxSessions: cmp.Or(o.maxSessions, 4), BudgetQuietPeriod: o.budgetQuiet,
		AcquireTimeout: o.acquireTimeout, ArmIdle: o.armIdle}
	reg := prometheus.NewRegistry()
	acfg := api.Config{
		Registerer: reg, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		MaxUploadSize: o.maxUpload, TusMaxChecksumPiece: o.tusPiece, TempMaxAge: o.tempMaxAge, TempSweepInterval: o.tempSweep,
		Root: o.root, Links: o.links, TrustedContent: o.trusted, Tokens: o.tokens, CORS: o.cors,
		MaxTransfers: o.maxTransfers, MaxClientTransfers: o.maxClientTransfers, TrustedProxies: o.trustedProxies,
		MaxClientUploads: o.maxClientUploads,
		Signer:           o.signer, SignedURLMaxExpiry: o.signedMax, MaxRanges: o.maxRanges, UploadKey: o.uploadKey,
	}
	var p *pool.Pool
	var users *pool.Users
	var err error
	if o.basic != nil {
		ucfg := o.basic.users
		ucfg.Pool = pcfg
		ucfg.Pool.MaxSessions = cmp.Or(o.maxSessions, 2)
		if users, err = pool.NewUsers(ucfg); err != nil {
			t.Fatal(err)
		}
		reg.MustRegister(pool.NewUsersCollector(users))
		acfg.Users = users
		acfg.LoginFailuresPerUser, acfg.LoginFailuresPerAddress = o.basic.failuresPerUser, o.basic.perIP
		acfg.LoginFailureWindow = o.basic.failureWindow
	} else {
		if p, err = pool.New(pcfg); err != nil {
			t.Fatal(err)
		}
		reg.MustRegister(pool.NewCollector(p))
		acfg.Pool = p
	}
	if o.apiLog != nil {
		acfg.Logger = slog.New(o.apiLog)
	}
	h := api.New(acfg)
	ts := serveGateway(h)
	t.Cleanup(func() {
		ts.Close()
		h.Close()
		if users != nil {
			users.Close()
		} else {
			p.Close()
		}
	})
	return &gateway{ftpd: ftpd, pool: p, users: users, api: h, http: ts, reg: reg, trace: trace}
}

// commands returns the FTP commands that reached the server: from the
// server's own log where it keeps one, else from the gateway's protocol
// trace (what it wrote on the control connection).
func (g *gateway) commands() []string {
	if g.ftpd.HasCommandLog() {
		return g.ftpd.Commands()
	}
	return g.trace.sent()
}

// commandTrace is a slog.Handler that keeps the lines ftpcore traces as
// sent on a control connection.
type commandTrace struct {
	mu    sync.Mutex
	lines []string
	// events are the trace's messages in order ("ftp send", "ftp recv",
	// "ftp data dial"), for counting round trips (flights).
	events []string
}

func (c *commandTrace) Enabled(context.Context, slog.Level) bool { return true }
func (c *commandTrace) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *commandTrace) WithGroup(string) slog.Handler            { return c }

func (c *commandTrace) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "ftp ") {
		c.mu.Lock()
		c.events = append(c.events, r.Message)
		c.mu.Unlock()
	}
	if r.Message != "ftp send" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "line" {
			c.mu.Lock()
			c.lines = append(c.lines, a.Value.String())
			c.mu.Unlock()
		}
		return true
	})
	return nil
}

func (c *commandTrace) sent() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

func (g *gateway) url(p string) string { return g.http.URL + p }

func (g *gateway) do(t *testing.T, method, p string, body io.Reader, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, g.url(p), body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := g.http.Client().Do(withTest(t, req))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// fetch runs a request and returns status, headers and the whole body.
func (g *gateway) fetch(t *testing.T, method, p string, body io.Reader, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	resp := g.do(t, method, p, body, hdr...)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, p, err)
	}
	// do's transport has checked the response against openapi.yaml.
	return resp.StatusCode, resp.Header, b
}

// writeRandomFile writes size deterministic pseudo-random bytes under the
// FTP root, streaming, and returns their SHA-256.
func writeRandomFile(t *testing.T, g *gateway, rel string, size int64, seed uint64) [32]byte {
	t.Helper()
	p := g.ftpd.Path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	r := io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}), size)
	if _, err := io.Copy(io.MultiWriter(f, h), r); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	chownTestUser(t, p)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func chownTestUser(t *testing.T, p string) {
	t.Helper()
	u, err := user.Lookup(realftpd.TestUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(p, uid, gid); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), 1}).Read(b)
	return b
}

// problemOf decodes an RFC 9457 body and checks its media type.
func problemOf(t *testing.T, h http.Header, body []byte) map[string]any {
	t.Helper()
	if ct := h.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %q", ct, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("problem body %q: %v", body, err)
	}
	return m
}

// tempFilesUnder lists upload temporaries left anywhere under dir.
// settle dates the file rel on the server three hours back, past
// api.DefaultMaxClockSkew: a file modified that long ago has settled
// whatever the gateway knows of the server's clock, and has a strong ETag.
func (g *gateway) settle(t *testing.T, rel string) {
	t.Helper()
	old := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	if err := os.Chtimes(g.ftpd.Path(rel), old, old); err != nil {
		t.Fatal(err)
	}
}

func tempFilesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".ftpgw-upload-") {
			found = append(found, p)
		}
		return nil
	})
	return found
}

func TestGetWholeFilesByteIdentical(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		sizes := []struct {
			name string
			size int64
		}{
			{"empty", 0},
			{"1KiB", 1 << 10},
			{"64MiB", 64 << 20},
			{"1GiB", 1 << 30},
		}
		for i, tc := range sizes {
			t.Run(tc.name, func(t *testing.T) {
				if tc.size >= 1<<30 && testing.Short() {
					t.Skip("1 GiB transfer skipped in -short mode")
				}
				want := writeRandomFile(t, g, "get/"+tc.name+".bin", tc.size, uint64(i))
				g.settle(t, "get/"+tc.name+".bin")
				resp := g.do(t, http.MethodGet, "/files/get/"+tc.name+".bin", nil)
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if got := resp.Header.Get("Content-Length"); got != strconv.FormatInt(tc.size, 10) {
					t.Errorf("Content-Length %q, want %d", got, tc.size)
				}
				h := sha256.New()
				n, err := io.Copy(h, resp.Body)
				if err != nil {
					t.Fatalf("body after %d bytes: %v", n, err)
				}
				if n != tc.size || !bytes.Equal(h.Sum(nil), want[:]) {
					t.Fatalf("got %d bytes (sha256 %x), want %d (sha256 %x)", n, h.Sum(nil), tc.size, want)
				}
				for _, k := range []string{"ETag", "Last-Modified", "Accept-Ranges"} {
					if resp.Header.Get(k) == "" {
						t.Errorf("missing %s header", k)
					}
				}
			})
		}
		// Every transfer ended cleanly, so one session served them all.
		if st := g.pool.Stat(); st.Dials != 1 {
			t.Errorf("pool dialled %d sessions for sequential downloads, want 1", st.Dials)
		}
	})
}

func TestRanges(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		const size = 1 << 20
		data := randomBytes(size, 7)
		g.ftpd.WriteFile(t, "r.bin", data)
		g.settle(t, "r.bin")
		_, hdr, _ := g.fetch(t, http.MethodHead, "/files/r.bin", nil)
		etag := hdr.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		s := strconv.Itoa(size)
		tests := []struct {
			name       string
			hdr        []string
			status     int
			start, end int // inclusive; for 206 and the expected body
			rangeHdr   string
		}{
			{"first byte", []string{"Range", "bytes=0-0"}, 206, 0, 0, "bytes 0-0/" + s},
			{"curl -r 1000-1999", []string{"Range", "bytes=1000-1999"}, 206, 1000, 1999, "bytes 1000-1999/" + s},
			{"open ended", []string{"Range", "bytes=1000000-"}, 206, 1000000, size - 1, "bytes 1000000-1048575/" + s},
			{"suffix", []string{"Range", "bytes=-100"}, 206, size - 100, size - 1, "bytes 1048476-1048575/" + s},
			{"suffix longer than file", []string{"Range", "bytes=-2000000"}, 206, 0, size - 1, "bytes 0-1048575/" + s},
			{"end clamped", []string{"Range", "bytes=1048000-9999999"}, 206, 1048000, size - 1, "bytes 1048000-1048575/" + s},
			{"last byte", []string{"Range", "bytes=1048575-1048575"}, 206, size - 1, size - 1, "bytes 1048575-1048575/" + s},
			{"middle 64KiB", []string{"Range", "bytes=65536-131071"}, 206, 65536, 131071, "bytes 65536-131071/" + s},
			{"suffix zero", []string{"Range", "bytes=-0"}, 416, 0, 0, "bytes */" + s},
			{"start at size", []string{"Range", "bytes=1048576-"}, 416, 0, 0, "bytes */" + s},
			{"start past size", []string{"Range", "bytes=2000000-2000001"}, 416, 0, 0, "bytes */" + s},
			{"malformed", []string{"Range", "bytes=5-1"}, 200, 0, size - 1, ""},
			{"garbage", []string{"Range", "bytes=abc"}, 200, 0, size - 1, ""},
			{"unknown unit", []string{"Range", "items=0-1"}, 200, 0, size - 1, ""},
			{"several ranges coalescing into one", []string{"Range", "bytes=0-1,2-6"}, 206, 0, 6, "bytes 0-6/" + s},
			{"If-Range matches", []string{"Range", "bytes=10-19", "If-Range", etag}, 206, 10, 19, "bytes 10-19/" + s},
			{"If-Range differs", []string{"Range", "bytes=10-19", "If-Range", `"other"`}, 200, 0, size - 1, ""},
			{"If-Range old date", []string{"Range", "bytes=10-19", "If-Range", "Mon, 02 Jan 2006 15:04:05 GMT"}, 200, 0, size - 1, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				status, h, body := g.fetch(t, http.MethodGet, "/files/r.bin", nil, tc.hdr...)
				if status != tc.status {
					t.Fatalf("status %d, want %d (body %q)", status, tc.status, body)
				}
				if got := h.Get("Content-Range"); got != tc.rangeHdr {
					t.Errorf("Content-Range %q, want %q", got, tc.rangeHdr)
				}
				if status == 416 {
					problemOf(t, h, body)
					return
				}
				want := data[tc.start : tc.end+1]
				if !bytes.Equal(body, want) {
					t.Fatalf("body: %d bytes, want %d bytes [%d-%d]", len(body), len(want), tc.start, tc.end)
				}
				if h.Get("Content-Length") != strconv.Itoa(len(want)) {
					t.Errorf("Content-Length %q, want %d", h.Get("Content-Length"), len(want))
				}
			})
		}
		// Ranges end transfers early; each must leave its session reusable.
		if st := g.pool.Stat(); st.Dials != 1 || st.DestroyedBroken != 0 {
			t.Errorf("after %d ranged requests: %d dials, %d broken sessions; want 1 and 0", len(tests), st.Dials, st.DestroyedBroken)
		}
	})
}

// TestEmptyFileWithRange: an empty file is served whole whatever the Range
// says. net/http's ServeContent answers the same 200 for "bytes=0-",
// "bytes=0-0" and "bytes=5-"; for a suffix range it answers 206 with
// "Content-Range: bytes 0--1/0", which is no valid Content-Range, so there
// the gateway keeps to 200 (README, GET and HEAD of a file).
func TestEmptyFileWithRange(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "empty.txt", nil)
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			for _, rng := range []string{"bytes=0-", "bytes=0-0", "bytes=-5", "bytes=5-", "bytes=-0", "bytes=0-1,-5"} {
				t.Run(method+" "+rng, func(t *testing.T) {
					status, h, body := g.fetch(t, method, "/files/empty.txt", nil, "Range", rng)
					if status != http.StatusOK {
						t.Fatalf("status %d, want 200 (body %q)", status, body)
					}
					if len(body) != 0 || h.Get("Content-Length") != "0" {
						t.Errorf("body %q, Content-Length %q; want empty, 0", body, h.Get("Content-Length"))
					}
					if cr := h.Get("Content-Range"); cr != "" {
						t.Errorf("Content-Range %q on a 200", cr)
					}
					if h.Get("Accept-Ranges") != "bytes" || h.Get("Content-Type") != "text/plain; charset=utf-8" {
						t.Errorf("Accept-Ranges %q, Content-Type %q", h.Get("Accept-Ranges"), h.Get("Content-Type"))
					}
				})
			}
		}
	})
}

func TestRangesOfLargeFileReuseSession(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		const size = 256 << 20
		writeRandomFile(t, g, "large.bin", size, 3)
		f, err := os.Open(g.ftpd.Path("large.bin"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 20; i++ {
			start := rng.Int64N(size - 65536)
			end := start + 65535
			status, _, body := g.fetch(t, http.MethodGet, "/files/large.bin", nil, "Range", "bytes="+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(end, 10))
			if status != 206 {
				t.Fatalf("status %d", status)
			}
			want := make([]byte, 65536)
			if _, err := f.ReadAt(want, start); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, want) {
				t.Fatalf("range %d-%d differs", start, end)
			}
		}
		if st := g.pool.Stat(); st.Dials != 1 {
			t.Errorf("20 ranges of a 256 MiB file needed %d sessions, want 1", st.Dials)
		}
	})
}

func TestHeadOpensNoDataConnection(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		data := randomBytes(5000, 1)
		g.ftpd.WriteFile(t, "h.txt", data)
		for _, hdr := range [][]string{nil, {"Range", "bytes=0-9"}} {
			status, h, body := g.fetch(t, http.MethodHead, "/files/h.txt", nil, hdr...)
			if len(hdr) == 0 && status != 200 || len(hdr) > 0 && status != 206 {
				t.Fatalf("HEAD %v: status %d", hdr, status)
			}
			if len(body) != 0 {
				t.Errorf("HEAD returned %d body bytes", len(body))
			}
			if len(hdr) == 0 && h.Get("Content-Length") != "5000" {
				t.Errorf("Content-Length %q", h.Get("Content-Length"))
			}
			if h.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", h.Get("Content-Type"))
			}
		}
		for _, c := range g.commands() {
			switch strings.Fields(c)[0] {
			case "EPSV", "PASV", "EPRT", "PORT", "RETR", "LIST", "MLSD":
				t.Errorf("HEAD sent %q to the FTP server", c)
			}
		}
	})
}

func TestConditionalRequests(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "c.txt", []byte("conditional"))
		g.settle(t, "c.txt")
		_, h, _ := g.fetch(t, http.MethodHead, "/files/c.txt", nil)
		etag, lastMod := h.Get("ETag"), h.Get("Last-Modified")
		mod, err := http.ParseTime(lastMod)
		if err != nil {
			t.Fatalf("Last-Modified %q: %v", lastMod, err)
		}
		later := mod.Add(time.Hour).Format(http.TimeFormat)
		earlier := mod.Add(-time.Hour).Format(http.TimeFormat)
		tests := []struct {
			name   string
			method string
			hdr    []string
			status int
		}{
			{"If-None-Match same", "GET", []string{"If-None-Match", etag}, 304},
			{"If-None-Match same with a Range", "GET", []string{"If-None-Match", etag, "Range", "bytes=0-1"}, 304},
			{"If-None-Match weak same", "GET", []string{"If-None-Match", "W/" + etag}, 304},
			{"If-None-Match other", "GET", []string{"If-None-Match", `"x"`}, 200},
			{"If-None-Match star", "HEAD", []string{"If-None-Match", "*"}, 304},
			{"If-Modified-Since now", "GET", []string{"If-Modified-Since", lastMod}, 304},
			{"If-Modified-Since later", "GET", []string{"If-Modified-Since", later}, 304},
			{"If-Modified-Since earlier", "GET", []string{"If-Modified-Since", earlier}, 200},
			{"If-None-Match wins over If-Modified-Since", "GET", []string{"If-None-Match", `"x"`, "If-Modified-Since", later}, 200},
			{"If-Match other", "GET", []string{"If-Match", `"x"`}, 412},
			{"If-Match same", "GET", []string{"If-Match", etag}, 200},
			{"If-Unmodified-Since earlier", "GET", []string{"If-Unmodified-Since", earlier}, 412},
			{"DELETE If-Match other", "DELETE", []string{"If-Match", `"x"`}, 412},
			{"PUT If-None-Match star on existing", "PUT", []string{"If-None-Match", "*"}, 412},
			{"PUT If-Match other", "PUT", []string{"If-Match", `"x"`}, 412},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var body io.Reader
				if tc.method == "PUT" {
					body = strings.NewReader("new content")
				}
				status, h, b := g.fetch(t, tc.method, "/files/c.txt", body, tc.hdr...)
				if status != tc.status {
					t.Fatalf("status %d, want %d (%s)", status, tc.status, b)
				}
				if status == 304 {
					// What net/http's writeNotModified leaves, as RFC
					// 9110 §15.4.5 asks: the ETag, and no Last-Modified
					// beside it.
					if len(b) != 0 || h.Get("ETag") != etag {
						t.Errorf("304 with body %q, ETag %q", b, h.Get("ETag"))
					}
					for _, k := range []string{"Last-Modified", "Content-Length", "Content-Type", "Content-Range", "Accept-Ranges"} {
						if v := h.Get(k); v != "" {
							t.Errorf("304 with %s %q", k, v)
						}
					}
				}
				if status == 412 {
					problemOf(t, h, b)
				}
			})
		}
		if got, _ := os.ReadFile(g.ftpd.Path("c.txt")); string(got) != "conditional" {
			t.Errorf("file changed by refused requests: %q", got)
		}
		// If-None-Match: * lets PUT create, and only create.
		status, _, b := g.fetch(t, "PUT", "/files/created.txt", strings.NewReader("x"), "If-None-Match", "*")
		if status != http.StatusCreated {
			t.Fatalf("create-only PUT: %d %s", status, b)
		}
	})
}
