package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/pool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// bigFile is larger than every buffer between the gateway and a client
// that does not read (the kernel's, on both ends, and the client's), so
// that a download of it the client holds unread stays under way.
const bigFile = 16 << 20

// holdDownload starts a GET of p and returns its response once its headers
// are in, the body unread: a transfer under way for as long as the test
// holds it. Closing the body is a client that vanishes mid-transfer.
func holdDownload(t *testing.T, g *gateway, p string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.url(p), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := smallBufferClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s to hold: %d %s", p, resp.StatusCode, b)
	}
	return resp
}

// transferCounts are a backend's transfer metrics.
type transferCounts struct {
	backend                       string
	inFlight, waiting             int
	refusedBackend, refusedClient int
}

// waitForTransferMetrics waits until the transfer metrics are as given, a
// backend's in each of counts, and fails the test if they do not get
// there.
func waitForTransferMetrics(t *testing.T, reg prometheus.Gatherer, counts ...transferCounts) {
	t.Helper()
	var inFlight, waiting, refused strings.Builder
	for _, c := range counts {
		fmt.Fprintf(&inFlight, "ftpgw_transfers_in_flight{backend=%q} %d\n", c.backend, c.inFlight)
		fmt.Fprintf(&waiting, "ftpgw_transfers_waiting{backend=%q} %d\n", c.backend, c.waiting)
		fmt.Fprintf(&refused, "ftpgw_transfers_refused_total{backend=%[1]q,cap=\"backend\"} %[2]d\nftpgw_transfers_refused_total{backend=%[1]q,cap=\"client\"} %[3]d\n",
			c.backend, c.refusedBackend, c.refusedClient)
	}
	want := `
# HELP ftpgw_transfers_in_flight Transfers under way (a GET sending a file's bytes, a PUT), by backend.
# TYPE ftpgw_transfers_in_flight gauge
` + inFlight.String() + `# HELP ftpgw_transfers_waiting Transfers waiting for a place under the backend's cap on transfers, by backend.
# TYPE ftpgw_transfers_waiting gauge
` + waiting.String() + `# HELP ftpgw_transfers_refused_total Transfers refused by a cap, by backend and cap: backend (503, no place came free in time) or client (429, the client has its most under way).
# TYPE ftpgw_transfers_refused_total counter
` + refused.String()
	names := []string{"ftpgw_transfers_in_flight", "ftpgw_transfers_waiting", "ftpgw_transfers_refused_total"}
	deadline := time.Now().Add(5 * time.Second)
	err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...)
	for ; err != nil && time.Now().Before(deadline); err = testutil.GatherAndCompare(reg, strings.NewReader(want), names...) {
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// checkBusy checks a response turned away by a cap: status, Retry-After
// and the problem document's detail.
func checkBusy(t *testing.T, what string, status int, h http.Header, body []byte, wantStatus int, retryAfter, detail string) {
	t.Helper()
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	err := json.Unmarshal(body, &p)
	if status != wantStatus || h.Get("Retry-After") != retryAfter || h.Get("Content-Type") != "application/problem+json" ||
		err != nil || p.Status != wantStatus || p.Detail != detail {
		t.Errorf("%s: %d Retry-After %q %s %s; want %d Retry-After %q and %q", what, status, h.Get("Retry-After"),
			h.Get("Content-Type"), body, wantStatus, retryAfter, detail)
	}
}

// TestTransferCap: with MaxTransfers 2 and two downloads under way, a
// third transfer waits for a place without a session, and gets 503 with
// Retry-After once the acquire timeout has passed, or is served when a
// download ends within it; a HEAD, a listing and a GET answered without a
// body pass meanwhile, on the one session left.
func TestTransferCap(t *testing.T) {
	const acquire = 3 * time.Second
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{maxTransfers: 2, maxSessions: 3, acquireTimeout: acquire})
	backend := string(realftpd.Vsftpd)
	sum := writeRandomFile(t, g, "big.bin", bigFile, 1)
	g.ftpd.WriteFile(t, "small.txt", []byte("small"))
	held := []*http.Response{holdDownload(t, g, "/files/big.bin"), holdDownload(t, g, "/files/big.bin")}
	waitForTransferMetrics(t, g.reg, transferCounts{backend, 2, 0, 0, 0})

	// quick checks that the requests that are no transfers pass the
	// full cap, at once.
	// Old enough to have settled (settle.go), so that it can be answered
	// 304.
	old := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	if err := os.Chtimes(g.ftpd.Path("small.txt"), old, old); err != nil {
		t.Fatal(err)
	}
	lastMod := old.UTC().Format(http.TimeFormat)
	quick := func(t *testing.T) {
		t.Helper()
		for _, q := range []struct {
			method, path string
			hdr          []string
			status       int
		}{
			{http.MethodHead, "/files/big.bin", nil, http.StatusOK},
			{http.MethodGet, "/files/", nil, http.StatusOK},
			{http.MethodGet, "/files/big.bin", []string{"Range", "bytes=99999999-"}, http.StatusRequestedRangeNotSatisfiable},
			{http.MethodGet, "/files/small.txt", []string{"If-Modified-Since", lastMod}, http.StatusNotModified},
			{http.MethodGet, "/files/small.txt", []string{"If-Match", `"other"`}, http.StatusPreconditionFailed},
		} {
			start := time.Now()
			status, _, body := g.fetch(t, q.method, q.path, nil, q.hdr...)
			if took := time.Since(start); status != q.status || took > acquire/2 {
				t.Errorf("%s %s %q with the cap full: %d after %v %s; want %d at once", q.method, q.path, q.hdr, status, took, body, q.status)
			}
		}
	}
	t.Run("quick requests pass", quick)

	t.Run("a third waits, then 503", func(t *testing.T) {
		type result struct {
			what   string
			status int
			h      http.Header
			body   []byte
			took   time.Duration
		}
		results := make(chan result, 2)
		for _, method := range []string{http.MethodGet, http.MethodPut} {
			go func() {
				start := time.Now()
				var body io.Reader
				if method == http.MethodPut {
					body = strings.NewReader("new")
				}
				req, _ := http.NewRequest(method, g.url("/files/small.txt"), body)
				resp, err := testClient.Do(req)
				if err != nil {
					results <- result{what: method + ": " + err.Error()}
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				results <- result{method, resp.StatusCode, resp.Header, b, time.Since(start)}
			}()
		}
		waitForTransferMetrics(t, g.reg, transferCounts{backend, 2, 2, 0, 0})
		// The GET that waits has given its session back: the quick
		// requests have the third.
		quick(t)
		for range 2 {
			r := <-results
			checkBusy(t, r.what, r.status, r.h, r.body, http.StatusServiceUnavailable, "3", "all transfer places of the backend stayed taken")
			if r.took < acquire-100*time.Millisecond || r.took > acquire+2*time.Second {
				t.Errorf("%s: answered after %v; want after the acquire timeout, %v", r.what, r.took, acquire)
			}
		}
		waitForTransferMetrics(t, g.reg, transferCounts{backend, 2, 0, 2, 0})
		if got, _ := os.ReadFile(g.ftpd.Path("small.txt")); string(got) != "small" {
			t.Errorf("after a PUT refused the file holds %q", got)
		}
	})

	t.Run("a third is served when one ends", func(t *testing.T) {
		done := make(chan string, 1)
		go func() {
			status, _, body := fetchURL(t, http.MethodGet, g.url("/files/big.bin"))
			done <- fmt.Sprintf("%d %x", status, sha256.Sum256(body))
		}()
		waitForTransferMetrics(t, g.reg, transferCounts{backend, 2, 1, 2, 0})
		time.Sleep(acquire / 4)
		// The client of the first download vanishes mid-transfer.
		held[0].Body.Close()
		want := fmt.Sprintf("%d %x", http.StatusOK, sum)
		if got := <-done; got != want {
			t.Errorf("the GET that waited: %s, want %s", got, want)
		}
	})

	held[1].Body.Close()
	waitForTransferMetrics(t, g.reg, transferCounts{backend, 0, 0, 2, 0})
}

// TestClientTransferCap: with MaxClientTransfers 1, a client with a
// download under way gets 429 with Retry-After at once for another GET or
// a PUT, whatever it writes left of its address in X-Forwarded-For, while
// its HEAD and listing pass and another client is served. X-Forwarded-For
// counts only from a trusted proxy: without one, every request from the
// same peer is one client. When the clients leave mid-transfer, nothing
// stays counted.
func TestClientTransferCap(t *testing.T) {
	const a, b = "198.51.100.1", "198.51.100.2"
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	backend := string(realftpd.Vsftpd)
	busy := "this client already has the most transfers under way it may have at once: 1"

	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{maxClientTransfers: 1, trustedProxies: loopback, acquireTimeout: 3 * time.Second})
	sum := writeRandomFile(t, g, "big.bin", bigFile, 2)
	g.ftpd.WriteFile(t, "small.txt", []byte("small"))
	held := holdDownload(t, g, "/files/big.bin", "X-Forwarded-For", a)
	for _, row := range []struct {
		name, method, path, xff string
		status                  int
	}{
		{"same client, GET", http.MethodGet, "/files/small.txt", a, http.StatusTooManyRequests},
		{"same client, spoofed left-most entry", http.MethodGet, "/files/small.txt", "203.0.113.9, " + a, http.StatusTooManyRequests},
		{"same client, with a port", http.MethodGet, "/files/small.txt", a + ":4711", http.StatusTooManyRequests},
		{"same client, PUT", http.MethodPut, "/files/new.txt", a, http.StatusTooManyRequests},
		{"same client, HEAD", http.MethodHead, "/files/big.bin", a, http.StatusOK},
		{"same client, listing", http.MethodGet, "/files/", a, http.StatusOK},
		{"another client", http.MethodGet, "/files/small.txt", b, http.StatusOK},
		{"another client naming the first left-most", http.MethodGet, "/files/small.txt", a + ", " + b, http.StatusOK},
		{"another client, PUT", http.MethodPut, "/files/new.txt", b, http.StatusCreated},
	} {
		t.Run(row.name, func(t *testing.T) {
			var body io.Reader
			if row.method == http.MethodPut {
				body = strings.NewReader("new")
			}
			start := time.Now()
			status, h, msg := g.fetch(t, row.method, row.path, body, "X-Forwarded-For", row.xff)
			if took := time.Since(start); took > time.Second {
				t.Errorf("answered after %v; want at once", took)
			}
			if row.status == http.StatusTooManyRequests {
				checkBusy(t, row.name, status, h, msg, row.status, "3", busy)
			} else if status != row.status {
				t.Errorf("%d %s; want %d", status, msg, row.status)
			}
		})
	}
	if n := api.TransferClients(g.api); n != 1 {
		t.Errorf("%d clients counted with one download held, want 1", n)
	}
	waitForTransferMetrics(t, g.reg, transferCounts{backend, 1, 0, 0, 4})
	// The client reads its download to the end, to show it whole.
	got, err := io.ReadAll(held.Body)
	if err != nil || sha256.Sum256(got) != sum {
		t.Errorf("the held download: %d bytes, %v", len(got), err)
	}
	waitForTransferMetrics(t, g.reg, transferCounts{backend, 0, 0, 0, 4})
	if n := api.TransferClients(g.api); n != 0 {
		t.Errorf("%d clients counted after every transfer ended", n)
	}

	t.Run("no trusted proxy", func(t *testing.T) {
		g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{maxClientTransfers: 1, acquireTimeout: 3 * time.Second})
		writeRandomFile(t, g, "big.bin", bigFile, 2)
		g.ftpd.WriteFile(t, "small.txt", []byte("small"))
		held := holdDownload(t, g, "/files/big.bin", "X-Forwarded-For", a)
		status, h, msg := g.fetch(t, http.MethodGet, "/files/small.txt", nil, "X-Forwarded-For", b)
		checkBusy(t, "another X-Forwarded-For from the same peer", status, h, msg, http.StatusTooManyRequests, "3", busy)
		// The client vanishes mid-transfer.
		held.Body.Close()
		waitForTransferMetrics(t, g.reg, transferCounts{backend, 0, 0, 0, 1})
		if n := api.TransferClients(g.api); n != 0 {
			t.Errorf("%d clients counted after the client vanished", n)
		}
		if status, _, msg := g.fetch(t, http.MethodGet, "/files/small.txt", nil); status != http.StatusOK {
			t.Errorf("GET once the download ended: %d %s", status, msg)
		}
	})
}

// TestTransferCapPerBackend: two backends joined on one handler, each with
// its own Config: the cap of the one at /a/ stops a second transfer there,
// while the one at /b/, without a cap, serves two at once; the metrics
// name each backend.
func TestTransferCapPerBackend(t *testing.T) {
	ftpd := realftpd.Start(t, realftpd.Vsftpd, realftpd.Options{})
	g := &gateway{ftpd: ftpd, mounts: []string{"/a/", "/b/"}}
	sum := writeRandomFile(t, g, "big.bin", bigFile, 3)
	ftpd.WriteFile(t, "small.txt", []byte("small"))
	reg := prometheus.NewRegistry()
	var servers []*api.Server
	for _, b := range []struct {
		name         string
		maxTransfers int
	}{{"a", 1}, {"b", 0}} {
		p, err := pool.New(pool.Config{Name: b.name, MaxSessions: 3, AcquireTimeout: 3 * time.Second,
			Conn: ftpcore.Config{Addr: ftpd.Addr, User: ftpd.User, Password: ftpd.Password}})
		if err != nil {
			t.Fatal(err)
		}
		s := api.New(api.Config{Pool: p, Registerer: reg, Mount: "/" + b.name + "/", MaxTransfers: b.maxTransfers})
		t.Cleanup(func() {
			s.Close()
			p.Close()
		})
		servers = append(servers, s)
	}
	ts := httptest.NewServer(api.Join(servers...))
	t.Cleanup(ts.Close)
	holdToContract(ts)
	mountsAt(t, ts.URL, g.mounts...)
	g.http = ts

	holdDownload(t, g, "/a/big.bin")
	holdDownload(t, g, "/b/big.bin")
	waitForTransferMetrics(t, reg, transferCounts{"a", 1, 0, 0, 0}, transferCounts{"b", 1, 0, 0, 0})
	status, h, body := g.fetch(t, http.MethodGet, "/a/small.txt", nil)
	checkBusy(t, "a second transfer on a", status, h, body, http.StatusServiceUnavailable, "3", "all transfer places of the backend stayed taken")
	status, _, body = g.fetch(t, http.MethodGet, "/b/big.bin", nil)
	if status != http.StatusOK || sha256.Sum256(body) != sum {
		t.Errorf("a second transfer on b: %d, %d bytes", status, len(body))
	}
	waitForTransferMetrics(t, reg, transferCounts{"a", 1, 0, 1, 0}, transferCounts{"b", 1, 0, 0, 0})
}

// TestTransferCapOrder: transfers waiting for a place get one in the order
// they came: with MaxTransfers 1 and a download held, three PUTs queued one
// after the other are stored in that order once it ends (the order of
// their renames on the FTP server: the order their answers reach the
// clients is the clients' goroutines' race, as the next is let in while
// one's answer is on its way).
func TestTransferCapOrder(t *testing.T) {
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{maxTransfers: 1, acquireTimeout: 5 * time.Second})
	backend := string(realftpd.Vsftpd)
	writeRandomFile(t, g, "big.bin", bigFile, 4)
	held := holdDownload(t, g, "/files/big.bin")
	waitForTransferMetrics(t, g.reg, transferCounts{backend, 1, 0, 0, 0})
	done := make(chan string, 3)
	for i := range 3 {
		name := fmt.Sprintf("up%d.txt", i)
		go func() {
			status, _, body := fetchURL(t, http.MethodPut, g.url("/files/"+name))
			done <- fmt.Sprintf("%s %d %s", name, status, body)
		}()
		waitForTransferMetrics(t, g.reg, transferCounts{backend, 1, i + 1, 0, 0})
	}
	held.Body.Close()
	var answers []string
	for range 3 {
		answers = append(answers, <-done)
	}
	slices.Sort(answers)
	for i, got := range answers {
		if want := fmt.Sprintf("up%d.txt %d ", i, http.StatusCreated); got != want {
			t.Errorf("answer %q, want %q", got, want)
		}
	}
	var stored []string
	for _, c := range g.commands() {
		if name, ok := strings.CutPrefix(c, "RNTO "); ok && strings.HasPrefix(path.Base(name), "up") {
			stored = append(stored, path.Base(name))
		}
	}
	if want := []string{"up0.txt", "up1.txt", "up2.txt"}; !slices.Equal(stored, want) {
		t.Errorf("stored in the order %q, want %q", stored, want)
	}
	waitForTransferMetrics(t, g.reg, transferCounts{backend, 0, 0, 0, 0})
}

// TestTransferWaitAbandoned: a client that goes away while its download
// waits for a place leaves nothing counted: not its wait, not its client,
// and no refusal. (A PUT's is not seen to go: net/http watches a
// connection for its end only once the request body has been read, and a
// waiting PUT has read none. It waits its acquire timeout out.)
func TestTransferWaitAbandoned(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{maxTransfers: 1, maxClientTransfers: 1, trustedProxies: loopback, acquireTimeout: 5 * time.Second})
	backend := string(realftpd.Vsftpd)
	writeRandomFile(t, g, "big.bin", bigFile, 5)
	held := holdDownload(t, g, "/files/big.bin", "X-Forwarded-For", "198.51.100.1")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.url("/files/big.bin"), nil)
		req.Header.Set("X-Forwarded-For", "198.51.100.2")
		resp, err := testClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitForTransferMetrics(t, g.reg, transferCounts{backend, 1, 1, 0, 0})
	if n := api.TransferClients(g.api); n != 2 {
		t.Errorf("download waiting: %d clients counted, want 2", n)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("download abandoned: %v", err)
	}
	waitForTransferMetrics(t, g.reg, transferCounts{backend, 1, 0, 0, 0})
	deadline := time.Now().Add(5 * time.Second)
	for api.TransferClients(g.api) != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := api.TransferClients(g.api); n != 1 {
		t.Errorf("download abandoned: %d clients counted, want 1", n)
	}
	held.Body.Close()
	waitForTransferMetrics(t, g.reg, transferCounts{backend, 0, 0, 0, 0})
	if n := api.TransferClients(g.api); n != 0 {
		t.Errorf("%d clients counted after every transfer ended", n)
	}
}
