package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/contract"
)

// writeBigFile writes size pseudo-random bytes to dir/name and returns
// their SHA-256.
func writeBigFile(t *testing.T, dir, name string, size int) [32]byte {
	t.Helper()
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{7}).Read(data)
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// readSlowly reads body in 256 KiB pieces, one every gap, into a hash,
// and returns the hash, the bytes read and the error that ended it.
func readSlowly(body io.Reader, gap time.Duration) (sum [32]byte, n int64, err error) {
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for {
		var k int
		k, err = io.ReadFull(body, buf)
		h.Write(buf[:k])
		n += int64(k)
		if err != nil {
			break
		}
		time.Sleep(gap)
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF && n%int64(len(buf)) != 0 {
		// ReadFull's way of saying the body ended after a short piece.
		err = nil
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, err
}

// freshGet is a GET on a connection of its own, as a probe or a new
// client makes it.
func freshGet(addr net.Addr, path string) (int, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr.String() + path)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestDrainLetsDownloadFinish: told to stop (SIGTERM) during a slow 64 MiB
// download, the gateway fails /readyz at once while it goes on serving for
// --drain-pause, then refuses new connections, and the download finishes
// byte-identical within --shutdown-timeout; run returns nil.
func TestDrainLetsDownloadFinish(t *testing.T) {
	const size, pause = 64 << 20, time.Second
	dir := t.TempDir()
	want := writeBigFile(t, dir, "big.bin", size)
	if err := os.WriteFile(filepath.Join(dir, "small.txt"), []byte("small\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := startRunning(t, "--demo", "--demo-dir", dir, "--listen", "127.0.0.1:0", "--drain-pause", pause.String(), "--shutdown-timeout", "10s")
	// 256 KiB every 10 ms: 64 MiB in about 2.6 s, beyond the pause.
	downloaded := startSlowDownload(t, g.addr, "/files/big.bin", 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	stopped := time.Now()
	g.stop()
	watchDrain(t, g.addr, stopped, pause)

	if r := <-downloaded; r.err != nil || r.n != size || r.sum != want {
		t.Fatalf("download: %d bytes of %d, identical %v, err %v", r.n, size, r.sum == want, r.err)
	}
	select {
	case <-g.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("run did not return after the download ended\n%s", g.stderr.String())
	}
	if g.err != nil {
		t.Errorf("run = %v, want nil", g.err)
	}
	for _, phase := range []string{"draining", "shutting down", "stopped"} {
		if !strings.Contains(g.stderr.String(), `"msg":"`+phase) {
			t.Errorf("no log line of the phase %q:\n%s", phase, g.stderr.String())
		}
	}
}

// download is what startSlowDownload read.
type download struct {
	sum [32]byte
	n   int64
	err error
}

// startSlowDownload GETs path of the gateway at addr, checks that it is
// 200 and reads its body slowly (readSlowly, a piece every gap) in the
// background.
func startSlowDownload(t *testing.T, addr net.Addr, path string, gap time.Duration) <-chan download {
	t.Helper()
	resp, err := http.Get("http://" + addr.String() + path)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %v", path, resp, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	done := make(chan download, 1)
	go func() {
		sum, n, err := readSlowly(resp.Body, gap)
		done <- download{sum, n, err}
	}()
	return done
}

// watchDrain follows the gateway at addr, told to stop at stopped, through
// its pause: /readyz fails at once and every time, files are still served
// (small.txt), and after the pause new connections are refused.
func watchDrain(t *testing.T, addr net.Addr, stopped time.Time, pause time.Duration) {
	t.Helper()
	var probes int
	for time.Since(stopped) < pause*8/10 {
		code, err := freshGet(addr, "/readyz")
		if err != nil {
			t.Fatalf("/readyz %v after the stop, within the pause: %v", time.Since(stopped), err)
		}
		if code != http.StatusServiceUnavailable {
			if probes > 0 || time.Since(stopped) > 200*time.Millisecond {
				t.Fatalf("/readyz %v after the stop: %d, want 503", time.Since(stopped), code)
			}
			continue // the stop has not reached the gateway yet
		}
		probes++
		time.Sleep(50 * time.Millisecond)
	}
	if probes == 0 {
		t.Fatal("no /readyz answered 503 within the pause")
	}
	if code, err := freshGet(addr, "/files/small.txt"); code != http.StatusOK {
		t.Errorf("GET within the pause: %d %v, want 200", code, err)
	}
	time.Sleep(time.Until(stopped.Add(pause + 300*time.Millisecond)))
	if _, err := freshGet(addr, "/readyz"); err == nil {
		t.Errorf("a new connection %v after the stop, past the pause, was served", time.Since(stopped))
	}
}

// TestSIGTERMDrainsBinary is the "done means" on the built
// gateway: during a slow 1 GiB download, /transfers shows it with a
// percent that grows and an ETA that fits its speed; then SIGTERM drains
// as run does (TestDrainLetsDownloadFinish): /readyz answers 503 at once
// and every time within the pause, new connections are refused after it,
// and the download finishes byte-identical; the gateway exits 0.
func TestSIGTERMDrainsBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and moves 1 GiB")
	}
	const size, pause = 1 << 30, 2 * time.Second
	bin := buildGateway(t)
	dir := t.TempDir()
	want := writeBigFileStream(t, dir, "big.bin", size)
	if err := os.WriteFile(filepath.Join(dir, "small.txt"), []byte("small\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--demo", "--demo-dir", dir, "--listen", "127.0.0.1:0", "--drain-pause", pause.String(), "--shutdown-timeout", "60s")
	logs, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	var addr net.Addr
	sc := bufio.NewScanner(logs)
	for addr == nil && sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
			if addr, err = net.ResolveTCPAddr("tcp", line.Addr); err != nil {
				t.Fatal(err)
			}
		}
	}
	if addr == nil {
		t.Fatalf("the gateway logged no address: %v", sc.Err())
	}
	go io.Copy(io.Discard, logs)
	t.Cleanup(contract.Register(addr.String()))

	// 256 KiB a millisecond or so: 1 GiB in several seconds, beyond the
	// pause.
	downloaded := startSlowDownload(t, addr, "/files/big.bin", time.Millisecond)
	watchLiveDownload(t, addr, "/files/big.bin", size)
	stopped := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	watchDrain(t, addr, stopped, pause)
	if r := <-downloaded; r.err != nil || r.n != size || r.sum != want {
		t.Fatalf("download: %d bytes of %d, identical %v, err %v", r.n, size, r.sum == want, r.err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the gateway exited with %v, want status 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the gateway did not exit after the download ended")
	}
}

// writeBigFileStream is writeBigFile for sizes not to be held in memory.
func writeBigFileStream(t *testing.T, dir, name string, size int64) [32]byte {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.NewChaCha8([32]byte{7}), size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// watchLiveDownload follows the one download of path, size bytes, in the
// gateway's /transfers until it has seen it three times midway: its total
// is the file's size, its percent is its bytes' and grows, and its ETA is
// what is left at its speed (within a second, both being rounded).
func watchLiveDownload(t *testing.T, addr net.Addr, path string, size int64) {
	t.Helper()
	type entry struct {
		Method, Path   string
		Bytes          int64
		Total          *int64
		Percent        *float64
		BytesPerSecond int64  `json:"bytes_per_second"`
		ETASeconds     *int64 `json:"eta_seconds"`
	}
	var seen []entry
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < 3 && time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		req, _ := http.NewRequest("GET", "http://"+addr.String()+"/transfers", nil)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var list struct{ Transfers []entry }
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("/transfers: %d %v", resp.StatusCode, err)
		}
		if len(list.Transfers) != 1 {
			t.Fatalf("/transfers lists %d transfers, want the download: %+v", len(list.Transfers), list.Transfers)
		}
		e := list.Transfers[0]
		if e.Bytes == 0 || e.Bytes == size {
			continue // not started or already done: not midway
		}
		if e.Method != "GET" || e.Path != path || e.Total == nil || *e.Total != size || e.Percent == nil {
			t.Fatalf("entry %+v: want GET of %s with total %d and a percent", e, path, size)
		}
		if want := float64(e.Bytes*1000/size) / 10; *e.Percent != want {
			t.Errorf("percent %v of %d/%d, want %v", *e.Percent, e.Bytes, size, want)
		}
		if e.BytesPerSecond <= 0 || e.ETASeconds == nil {
			t.Fatalf("entry %+v: want a speed and an ETA midway", e)
		}
		if want := (size - e.Bytes) / e.BytesPerSecond; *e.ETASeconds < want-1 || *e.ETASeconds > want+1 {
			t.Errorf("ETA %ds with %d bytes left at %d B/s, want about %ds", *e.ETASeconds, size-e.Bytes, e.BytesPerSecond, want)
		}
		if n := len(seen); n > 0 && (e.Bytes <= seen[n-1].Bytes || *e.Percent < *seen[n-1].Percent) {
			t.Errorf("the download did not move on: %+v after %+v", e, seen[n-1])
		}
		seen = append(seen, e)
	}
	if len(seen) < 3 {
		t.Fatalf("the download was seen midway in /transfers %d times in 20 s: %+v", len(seen), seen)
	}
	t.Logf("/transfers midway: %d%%, %d MB/s, ETA %ds", int(*seen[2].Percent), seen[2].BytesPerSecond/1e6, *seen[2].ETASeconds)
}

// TestShutdownCutsTransfers: a download and an upload still running when
// --shutdown-timeout runs out are cut: the download's client sees its body
// end short with an error, never a complete-looking response, and the
// upload is aborted, its temporary file deleted and its target unchanged.
func TestShutdownCutsTransfers(t *testing.T) {
	const size = 64 << 20
	dir := t.TempDir()
	writeBigFile(t, dir, "big.bin", size)
	old := []byte("the old version\n")
	if err := os.WriteFile(filepath.Join(dir, "target.bin"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	g := startRunning(t, "--demo", "--demo-dir", dir, "--listen", "127.0.0.1:0", "--drain-pause", "0s", "--shutdown-timeout", "1s")
	base := "http://" + g.addr.String()

	resp, err := http.Get(base + "/files/big.bin")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %v %v", resp, err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}

	// An upload of a body that stalls after 1 MiB, the client still there.
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodPut, base+"/files/target.bin", pr)
	req.ContentLength = 8 << 20
	uploaded := make(chan struct{})
	go func() {
		defer close(uploaded)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("the cut upload was answered: %s", resp.Status)
		}
	}()
	if _, err := pw.Write(bytes.Repeat([]byte("n"), 1<<20)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(uploadTemps(t, dir)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the upload made no temporary file")
		}
		time.Sleep(20 * time.Millisecond)
	}

	g.stop()
	select {
	case <-g.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("run did not return after the shutdown timeout\n%s", g.stderr.String())
	}
	if g.err == nil || !strings.Contains(g.err.Error(), "cut off") {
		t.Errorf("run = %v, want the requests cut off", g.err)
	}
	// The download: what the client reads now ends with an error, short.
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || n+1<<20 >= size {
		t.Errorf("the cut download read %d more bytes of %d, err %v: want it short, with an error", n, size, err)
	}
	// Go's client waits for its body to be read or closed before it
	// returns a connection's failure.
	pw.CloseWithError(errors.New("the test is over"))
	<-uploaded
	if left := uploadTemps(t, dir); len(left) > 0 {
		t.Errorf("temporary files left behind: %q", left)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "target.bin")); err != nil || !bytes.Equal(b, old) {
		t.Errorf("the target after the cut upload: %q %v, want it unchanged", b, err)
	}
	if !strings.Contains(g.stderr.String(), "cutting the requests still in flight") {
		t.Errorf("no log line of the cut:\n%s", g.stderr.String())
	}
}

// uploadTemps lists the temporary upload files in dir.
func uploadTemps(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, ".ftpgw-upload-*"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}
