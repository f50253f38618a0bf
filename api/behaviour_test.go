package api_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestFTPFailureAfterHeadersAbortsResponse: when the FTP data ends before
// the promised length, the client must see a broken response, not a
// complete-looking short one.
func TestFTPFailureAfterHeadersAbortsResponse(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		writeRandomFile(t, g, "shrinks.bin", 64<<20, 9)
		resp := g.do(t, http.MethodGet, "/files/shrinks.bin", nil)
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if _, err := io.ReadFull(resp.Body, make([]byte, 100<<10)); err != nil {
			t.Fatal(err)
		}
		// The file shrinks under the running transfer: vsftpd sends what is
		// left and reports success, but the gateway promised 64 MiB.
		if err := os.Truncate(g.ftpd.Path("shrinks.bin"), 1<<20); err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil {
			t.Fatalf("read %d more bytes and a clean end; want an aborted response", n)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Logf("client error: %v", err)
		}
	})
}

// TestFileGrowsUnderDownload: when the file grows while it is sent (here
// appended to; under load, replaced by a longer version between the
// gateway's SIZE and its RETR), the response still ends where its
// Content-Length says, and not one byte of the file follows it on the
// connection: a keep-alive client, or a proxy that reuses the connection,
// would read those bytes as the next response (the soak in bench/ saw
// net/http's "Unsolicited response received on idle HTTP channel").
func TestFileGrowsUnderDownload(t *testing.T) {
	const size, head = 64 << 20, 100 << 10
	forEachServer(t, func(t *testing.T, g *gateway) {
		for _, tc := range []struct{ name, rangeHdr string }{
			{"whole", ""},
			{"range to the end", "Range: bytes=1000-\r\n"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				name := strings.ReplaceAll(tc.name, " ", "-") + ".bin"
				writeRandomFile(t, g, name, size, 11)
				c, err := net.Dial("tcp", g.http.Listener.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := io.WriteString(c, "GET /files/"+name+" HTTP/1.1\r\nHost: gw\r\n"+tc.rangeHdr+"\r\n"); err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(c)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode/100 != 2 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if _, err := io.ReadFull(resp.Body, make([]byte, head)); err != nil {
					t.Fatal(err)
				}
				f, err := os.OpenFile(g.ftpd.Path(name), os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				_, err = f.Write(bytes.Repeat([]byte("HTTP/1.1 200 OK\r\n\r\n"), 64<<10))
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					t.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				if err != nil {
					t.Logf("the response was aborted after %d more bytes: %v", n, err)
					return // cut, not overrun: the connection is gone with it
				}
				if got := head + n; got != resp.ContentLength {
					t.Fatalf("body of %d bytes under Content-Length %d", got, resp.ContentLength)
				}
				// The connection is kept or closed; either way nothing but
				// the gateway's next response may come on it.
				if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
					return // closed
				}
				next, err := http.ReadResponse(br, nil)
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
					return // closed
				}
				if err != nil {
					t.Fatalf("after the response: %v", err)
				}
				body, _ := io.ReadAll(io.LimitReader(next.Body, 64))
				if next.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" || next.Header.Get("X-Request-Id") == "" {
					t.Fatalf("after the response came another than the gateway's to /healthz: %s %q %q", next.Status, next.Header, body)
				}
			})
		}
	})
}

// TestStaleSessionIsReplaced kills the server side of an idle pooled
// session; the next request must still succeed, on a fresh session.
func TestStaleSessionIsReplaced(t *testing.T) {
	g := startGateway(t)
	g.ftpd.WriteFile(t, "s.txt", []byte("stale?"))
	if status, _, _ := g.fetch(t, http.MethodGet, "/files/s.txt", nil); status != 200 {
		t.Fatalf("first GET: %d", status)
	}
	if n := killSessionProcesses(t, g); n == 0 {
		t.Fatal("found no vsftpd session process to kill")
	}
	status, _, body := g.fetch(t, http.MethodGet, "/files/s.txt", nil)
	if status != 200 || string(body) != "stale?" {
		t.Fatalf("GET after the session died: %d %q", status, body)
	}
	if st := g.pool.Stat(); st.StaleRetries != 1 || st.Dials != 2 {
		t.Errorf("StaleRetries %d, Dials %d; want 1 and 2", st.StaleRetries, st.Dials)
	}
}

// killSessionProcesses kills every vsftpd process of g's instance except
// the listener (the test process's own child), ending its sessions.
func killSessionProcesses(t *testing.T, g *gateway) int {
	t.Helper()
	conf := filepath.Join(filepath.Dir(g.ftpd.Root), "vsftpd.conf")
	procs, _ := filepath.Glob("/proc/[0-9]*")
	var killed []int
	for _, p := range procs {
		cmd, err := os.ReadFile(p + "/cmdline")
		if err != nil || !strings.Contains(string(cmd), conf) {
			continue
		}
		stat, err := os.ReadFile(p + "/stat")
		if err != nil {
			continue
		}
		// Fields after the ")" of the command name: state, ppid, ...
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		ppid, _ := strconv.Atoi(f[1])
		pid, _ := strconv.Atoi(filepath.Base(p))
		if ppid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed = append(killed, pid)
		}
	}
	// kill(2) returns before the process is gone; its sockets close as
	// it exits. Wait for that, so that the next request meets a dead
	// session rather than one that dies under it.
	waitFor(t, "the killed sessions to exit", func() bool {
		return !slices.ContainsFunc(killed, func(pid int) bool {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			return err == nil && strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))[0] != "Z"
		})
	})
	return len(killed)
}

func TestConcurrentRangesShareFewSessions(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) { // MaxSessions 4
		data := randomBytes(4<<20, 13)
		g.ftpd.WriteFile(t, "conc.bin", data)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for j := 0; j < 10; j++ {
					start := (i*10 + j) * 20000
					req, _ := http.NewRequest(http.MethodGet, g.url("/files/conc.bin"), nil)
					req.Header.Set("Range", "bytes="+strconv.Itoa(start)+"-"+strconv.Itoa(start+9999))
					resp, err := g.http.Client().Do(req)
					if err != nil {
						errs <- err
						return
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 206 || !bytes.Equal(b, data[start:start+10000]) {
						errs <- errors.New("bad range response " + strconv.Itoa(resp.StatusCode))
						return
					}
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if st := g.pool.Stat(); st.Dials > 4 || st.DestroyedBroken != 0 {
			t.Errorf("160 ranged requests: %d dials, %d broken; want at most 4 and 0", st.Dials, st.DestroyedBroken)
		}
	})
}

func TestMetricsExposition(t *testing.T) {
	g := startGateway(t)
	g.ftpd.WriteFile(t, "m.txt", bytes.Repeat([]byte("m"), 1000))
	g.fetch(t, http.MethodGet, "/files/m.txt", nil)
	g.fetch(t, http.MethodPut, "/files/up.txt", strings.NewReader("0123456789"))
	g.fetch(t, http.MethodGet, "/files/missing", nil)
	want := `
# HELP ftpgw_transfer_bytes_total File bytes moved between HTTP clients and FTP servers, by backend and direction.
# TYPE ftpgw_transfer_bytes_total counter
ftpgw_transfer_bytes_total{backend="vsftpd",direction="download"} 1000
ftpgw_transfer_bytes_total{backend="vsftpd",direction="upload"} 10
# HELP ftpgw_ftp_errors_total Requests that failed with an FTP error reply, by backend and reply code class.
# TYPE ftpgw_ftp_errors_total counter
ftpgw_ftp_errors_total{backend="vsftpd",code_class="5xx"} 1
# HELP ftpgw_http_requests_total HTTP requests served, by method, route pattern and status code.
# TYPE ftpgw_http_requests_total counter
ftpgw_http_requests_total{code="200",method="GET",route="/files/*"} 1
ftpgw_http_requests_total{code="201",method="PUT",route="/files/*"} 1
ftpgw_http_requests_total{code="404",method="GET",route="/files/*"} 1
`
	if err := testutil.GatherAndCompare(g.reg, strings.NewReader(want),
		"ftpgw_transfer_bytes_total", "ftpgw_ftp_errors_total", "ftpgw_http_requests_total"); err != nil {
		t.Error(err)
	}
	status, _, body := g.fetch(t, http.MethodGet, "/metrics", nil)
	if status != 200 || !strings.Contains(string(body), `ftpgw_pool_sessions{backend="vsftpd",state="idle"}`) {
		t.Errorf("/metrics: %d\n%s", status, body)
	}
	if problems, err := testutil.GatherAndLint(g.reg); err != nil || len(problems) != 0 {
		t.Errorf("metric lint: %v %v", problems, err)
	}
}

// TestFTPSFiftyFilesOnOneSession: with vsftpd's require_ssl_reuse, every
// data connection must resume the control connection's TLS session; fifty
// downloads in a row must all succeed on the one pooled session.
func TestFTPSFiftyFilesOnOneSession(t *testing.T) {
	for _, kind := range []realftpd.Kind{realftpd.VsftpdTLS12, realftpd.VsftpdTLS13, realftpd.VsftpdImplicit} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			g := startGatewayOn(t, kind)
			files := make([][]byte, 50)
			for i := range files {
				files[i] = randomBytes(1000+i*997, uint64(i))
				g.ftpd.WriteFile(t, "tls/f"+strconv.Itoa(i), files[i])
			}
			for i, want := range files {
				status, _, body := g.fetch(t, http.MethodGet, "/files/tls/f"+strconv.Itoa(i), nil)
				if status != 200 || !bytes.Equal(body, want) {
					t.Fatalf("file %d: status %d, %d bytes", i, status, len(body))
				}
			}
			if st := g.pool.Stat(); st.Dials != 1 || st.DestroyedBroken != 0 {
				t.Errorf("50 FTPS downloads: %d dials, %d broken sessions; want 1 and 0", st.Dials, st.DestroyedBroken)
			}
		})
	}
}

// TestActiveModeAndIPv6 runs downloads, ranges, listings and uploads over
// active-mode data connections and over IPv6 control connections.
func TestActiveModeAndIPv6(t *testing.T) {
	cases := []struct {
		name string
		kind realftpd.Kind
		opts gatewayOptions
	}{
		{"vsftpd active", realftpd.Vsftpd, gatewayOptions{server: realftpd.Options{ActiveMode: true}, active: true}},
		{"proftpd active", realftpd.ProFTPD, gatewayOptions{server: realftpd.Options{ActiveMode: true}, active: true}},
		{"pure-ftpd active", realftpd.PureFTPd, gatewayOptions{server: realftpd.Options{ActiveMode: true}, active: true}},
		{"vsftpd IPv6", realftpd.Vsftpd, gatewayOptions{server: realftpd.Options{IPv6: true}}},
		{"proftpd IPv6 active", realftpd.ProFTPD, gatewayOptions{server: realftpd.Options{IPv6: true, ActiveMode: true}, active: true}},
		{"vsftpd FTPS IPv6 active", realftpd.VsftpdTLS13, gatewayOptions{server: realftpd.Options{IPv6: true, ActiveMode: true}, active: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := startGatewayOn(t, tc.kind, tc.opts)
			data := randomBytes(300000, 21)
			g.ftpd.WriteFile(t, "m/data.bin", data)
			status, _, body := g.fetch(t, http.MethodGet, "/files/m/data.bin", nil)
			if status != 200 || !bytes.Equal(body, data) {
				t.Fatalf("GET: %d, %d bytes", status, len(body))
			}
			status, _, body = g.fetch(t, http.MethodGet, "/files/m/data.bin", nil, "Range", "bytes=1000-1999")
			if status != 206 || !bytes.Equal(body, data[1000:2000]) {
				t.Fatalf("range: %d, %d bytes", status, len(body))
			}
			if status, _, b := g.fetch(t, http.MethodPut, "/files/m/up.bin", bytes.NewReader(data)); status != http.StatusCreated {
				t.Fatalf("PUT: %d %s", status, b)
			}
			if got, _ := os.ReadFile(g.ftpd.Path("m/up.bin")); !bytes.Equal(got, data) {
				t.Fatal("uploaded file differs")
			}
			status, _, body = g.fetch(t, http.MethodGet, "/files/m/", nil, "Accept", "application/json")
			if status != 200 || !strings.Contains(string(body), `"up.bin"`) {
				t.Fatalf("listing: %d %s", status, body)
			}
			sawActive := false
			for _, c := range g.trace.sent() {
				sawActive = sawActive || strings.HasPrefix(c, "EPRT ") || strings.HasPrefix(c, "PORT ")
			}
			if sawActive != tc.opts.active {
				t.Errorf("active mode used: %v, want %v", sawActive, tc.opts.active)
			}
			if st := g.pool.Stat(); st.Dials != 1 || st.DestroyedBroken != 0 {
				t.Errorf("%d dials, %d broken; want 1 and 0", st.Dials, st.DestroyedBroken)
			}
		})
	}
}

// TestSymlinks: a link is served as what it points to, with the target's
// size, whatever the server's MLST says about the link itself.
func TestSymlinks(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		data := randomBytes(5000, 33)
		g.ftpd.WriteFile(t, "target.bin", data)
		g.ftpd.WriteFile(t, "d/inner.txt", []byte("inner"))
		if err := os.Symlink("target.bin", g.ftpd.Path("link.bin")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("d", g.ftpd.Path("dirlink")); err != nil {
			t.Fatal(err)
		}
		status, h, body := g.fetch(t, http.MethodGet, "/files/link.bin", nil)
		if status != 200 || !bytes.Equal(body, data) || h.Get("Content-Length") != "5000" {
			t.Fatalf("GET link: %d, Content-Length %q, %d bytes", status, h.Get("Content-Length"), len(body))
		}
		status, _, body = g.fetch(t, http.MethodGet, "/files/link.bin", nil, "Range", "bytes=4990-")
		if status != 206 || !bytes.Equal(body, data[4990:]) {
			t.Fatalf("range of link: %d, %d bytes", status, len(body))
		}
		status, _, body = g.fetch(t, http.MethodGet, "/files/dirlink/", nil, "Accept", "application/json")
		if status != 200 || !strings.Contains(string(body), `"inner.txt"`) {
			t.Fatalf("GET dirlink/: %d %s", status, body)
		}
	})
}

// TestTransferMetrics: transfers begun and ended, by direction and result,
// their durations, and downloads whole or ranged, counted as they happen:
// a client that leaves mid-download is client_gone.
func TestTransferMetrics(t *testing.T) {
	g := startGateway(t)
	g.ftpd.WriteFile(t, "small.txt", bytes.Repeat([]byte("s"), 1000))
	writeRandomFile(t, g, "big.bin", 64<<20, 7)
	g.fetch(t, http.MethodGet, "/files/small.txt", nil)
	g.fetch(t, http.MethodGet, "/files/small.txt", nil, "Range", "bytes=0-9")
	g.fetch(t, http.MethodPut, "/files/up.txt", strings.NewReader("0123456789"))
	g.fetch(t, http.MethodHead, "/files/small.txt", nil) // no transfer
	g.fetch(t, http.MethodGet, "/files/missing", nil)    // no transfer either

	// A client that reads a little of a large file and leaves.
	resp := g.do(t, http.MethodGet, "/files/big.bin", nil)
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	want := `
# HELP ftpgw_downloads_total Downloads begun, by backend and kind: full (the whole file) or range (a 206 of part of it).
# TYPE ftpgw_downloads_total counter
ftpgw_downloads_total{backend="vsftpd",kind="full"} 2
ftpgw_downloads_total{backend="vsftpd",kind="range"} 1
# HELP ftpgw_transfers_started_total Transfers begun (a GET sending a file's bytes, a PUT whose STOR is open), by backend and direction.
# TYPE ftpgw_transfers_started_total counter
ftpgw_transfers_started_total{backend="vsftpd",direction="download"} 3
ftpgw_transfers_started_total{backend="vsftpd",direction="upload"} 1
# HELP ftpgw_transfers_finished_total Transfers ended, by backend, direction and result: ok, client_gone (the client left, or was too slow), ftp_error (the FTP server failed or refused), timeout (it did not answer in time), error (anything else).
# TYPE ftpgw_transfers_finished_total counter
ftpgw_transfers_finished_total{backend="vsftpd",direction="download",result="client_gone"} 1
ftpgw_transfers_finished_total{backend="vsftpd",direction="download",result="ok"} 2
ftpgw_transfers_finished_total{backend="vsftpd",direction="upload",result="ok"} 1
`
	names := []string{"ftpgw_downloads_total", "ftpgw_transfers_started_total", "ftpgw_transfers_finished_total"}
	// The ends are counted once the handlers return, a moment after the
	// clients have their responses.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := testutil.GatherAndCompare(g.reg, strings.NewReader(want), names...)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := testutil.CollectAndCount(g.reg, "ftpgw_transfer_duration_seconds"); n != 2 {
		t.Errorf("ftpgw_transfer_duration_seconds has %d series, want download and upload", n)
	}
}
