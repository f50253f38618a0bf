package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// someVersion returns a version of name whose size lies in [lo, hi).
func someVersion(t *testing.T, name string, lo, hi int64) fileVersion {
	t.Helper()
	for v := int64(1); v < 1000; v++ {
		if fv := (fileVersion{name, v}); fv.size() >= lo && fv.size() < hi {
			return fv
		}
	}
	t.Fatalf("no version of %s between %d and %d bytes", name, lo, hi)
	return fileVersion{}
}

func versionBytes(fv fileVersion) []byte {
	b := make([]byte, fv.size())
	fv.fill(0, int64(len(b)), b)
	return b
}

func TestSoakSizes(t *testing.T) {
	big := 0
	for v := int64(1); v <= 2000; v++ {
		fv := fileVersion{"f07.bin", v}
		n := fv.size()
		if n != fv.size() {
			t.Fatalf("version %d: size not the same twice", v)
		}
		if rem := n % soakRecord; n < 2*soakRecord || n > 8<<20 || (rem != 0 && rem < soakHeaderMax) {
			t.Fatalf("version %d: %d bytes", v, n)
		}
		if n >= 1<<20 {
			big++
		}
	}
	// One in ten, so that clients leave in the middle of large transfers.
	if big < 100 || big > 300 {
		t.Errorf("%d of 2000 versions of 1 MiB or more", big)
	}
}

func TestSoakVerify(t *testing.T) {
	fv := someVersion(t, "f03.bin", 40000, 300000)
	other := fileVersion{fv.name, fv.v + 1}
	body := versionBytes(fv)
	size := int64(len(body))
	otherBody := make([]byte, size)
	other.fill(0, other.size(), otherBody[:min(size, other.size())])
	torn := append(bytes.Clone(body[:20000]), otherBody[20000:]...)
	buf := make([]byte, 2*soakMaxRange)

	tests := []struct {
		name     string
		r        io.Reader
		file     string
		off      int64
		wantN    int64
		wantBad  string // a part of checked.bad; "" for none
		wantRead error
	}{
		{name: "whole", r: bytes.NewReader(body), file: fv.name, wantN: size},
		{name: "range", r: bytes.NewReader(body[1280:5000]), file: fv.name, off: 1280, wantN: 5000 - 1280},
		{name: "range to the end", r: bytes.NewReader(body[size/soakRecord*soakRecord-soakRecord:]), file: fv.name, off: size/soakRecord*soakRecord - soakRecord, wantN: size - (size/soakRecord*soakRecord - soakRecord)},
		{name: "one byte at a time", r: iotest.OneByteReader(bytes.NewReader(body[:3000])), file: fv.name, wantN: 3000},
		{name: "torn between versions", r: bytes.NewReader(torn), file: fv.name, wantBad: "differ from version"},
		{name: "another file", r: bytes.NewReader(body), file: "f04.bin", wantBad: "another file"},
		{name: "another offset", r: bytes.NewReader(body[soakRecord:]), file: fv.name, wantBad: "another offset"},
		{name: "not on a record", r: bytes.NewReader(body[10:]), file: fv.name, off: 10, wantBad: "no record header"},
		{name: "longer than the version", r: bytes.NewReader(append(bytes.Clone(body), 'x')), file: fv.name, wantBad: "longer than its version"},
		{name: "empty", r: bytes.NewReader(nil), file: fv.name, wantBad: "empty body"},
		{name: "cut short", r: io.MultiReader(bytes.NewReader(body[:1000]), iotest.ErrReader(io.ErrUnexpectedEOF)), file: fv.name, wantN: 1000, wantRead: io.ErrUnexpectedEOF},
		{name: "cut short, torn first", r: io.MultiReader(bytes.NewReader(torn[:30000]), iotest.ErrReader(io.ErrUnexpectedEOF)), file: fv.name, wantBad: "differ from version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := verify(tt.r, tt.file, tt.off, buf)
			if tt.wantBad != "" {
				if !strings.Contains(c.bad, tt.wantBad) {
					t.Errorf("bad = %q, want %q", c.bad, tt.wantBad)
				}
				return
			}
			if c.bad != "" || !errors.Is(c.read, tt.wantRead) || (tt.wantRead == nil && c.read != nil) {
				t.Fatalf("bad %q, read error %v", c.bad, c.read)
			}
			if c.fv != fv || c.n != tt.wantN {
				t.Errorf("version %v, %d bytes; want %v, %d", c.fv, c.n, fv, tt.wantN)
			}
		})
	}
}

func TestSoakVersionReader(t *testing.T) {
	fv := someVersion(t, "f01.bin", 10000, 200000)
	got, err := io.ReadAll(newVersionReader(fv, fv.size()))
	if err != nil || !bytes.Equal(got, versionBytes(fv)) {
		t.Fatalf("the whole version: %d bytes, %v", len(got), err)
	}
	got, err = io.ReadAll(newVersionReader(fv, 5000))
	if !errors.Is(err, errCut) || !bytes.Equal(got, versionBytes(fv)[:5000]) {
		t.Fatalf("cut at 5000: %d bytes, %v", len(got), err)
	}
}

// TestSoakJudge: a body that is a version's bytes is still wrong when the
// version was never begun.
func TestSoakJudge(t *testing.T) {
	s := &soak{}
	fv := someVersion(t, soakName(3), 1000, 100000)
	c := verify(bytes.NewReader(versionBytes(fv)), fv.name, 0, make([]byte, 2*soakMaxRange))
	if o := s.judge(3, c, ""); !o.wrong {
		t.Errorf("version %d of a file at version 0: %+v", fv.v, o)
	}
	s.next[3].Store(fv.v)
	if o := s.judge(3, c, ""); o.kind != "" || o.body != 1 || o.bytes != fv.size() {
		t.Errorf("version %d of a file at version %d: %+v", fv.v, fv.v, o)
	}
}

func TestSoakKinds(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("get: %w", context.DeadlineExceeded), "client: timed out"},
		{fmt.Errorf("body: %w", io.ErrUnexpectedEOF), "client: body cut short"},
		{&url.Error{Op: "Get", URL: "http://127.0.0.1:8080/x", Err: reset}, "client: connection reset"},
		{errors.New("dial tcp 127.0.0.1:41234: something new"), "client: dial tcp N.N.N.N:N: something new"},
	} {
		if got := clientKind(tt.err); got != tt.want {
			t.Errorf("clientKind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	problem := func(status int, ct, body string) *http.Response {
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {ct}}, Body: io.NopCloser(strings.NewReader(body))}
	}
	for _, tt := range []struct {
		resp *http.Response
		want string
	}{
		{problem(502, "application/problem+json", `{"type":"about:blank","status":502,"detail":"the FTP server said 421 at 12:00","ftp_code":421}`),
			"502 about:blank, ftp 421: the FTP server said N at N:N"},
		{problem(409, "application/problem+json", `{"type":"about:blank","status":409,"detail":"the parent directory does not exist"}`),
			"409 about:blank"},
		{problem(500, "text/plain", "oops"), "500, not a problem document"},
	} {
		if got := problemKind(tt.resp); got != tt.want {
			t.Errorf("problemKind = %q, want %q", got, tt.want)
		}
	}
}

// TestSoakSummary: errors are the restart's when they overlap the window
// from the kill to restartGrace after vsftpd is back, the rest count
// elsewhere; wrong, stale and raced outcomes are counted apart wherever
// they fall.
func TestSoakSummary(t *testing.T) {
	s := &soak{}
	t0 := time.Now()
	down := t0.Add(10 * time.Second)
	back := down.Add(50 * time.Millisecond)
	s.tally.restartStart = down
	s.tally.restartEnd.Store(back.Add(restartGrace).UnixNano())
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	s.tally.add(opGet, outcome{kind: "502 about:blank"}, at(9*time.Second), at(10*time.Second+time.Millisecond))
	s.tally.add(opPut, outcome{kind: "502 about:blank"}, at(14*time.Second), at(14*time.Second+time.Millisecond))
	s.tally.add(opPut, outcome{kind: "502 about:blank"}, at(20*time.Second), at(20*time.Second+time.Millisecond))
	s.tally.add(opGet, outcome{kind: "wrong body: x", wrong: true}, at(time.Second), at(time.Second))
	s.tally.add(opRange, outcome{kind: "stale: y", stale: true}, at(time.Second), at(time.Second))
	s.tally.add(opGet, outcome{kind: "cut short: z", raced: true}, at(time.Second), at(time.Second))
	s.tally.add(opGet, outcome{body: 1, bytes: 10}, at(time.Second), at(time.Second))
	var r soakResult
	r.restarted = true
	s.summarize(&r)
	if r.around != 2 || r.elsewhere != 1 || r.wrong != 1 || r.stale != 1 || r.raced != 1 {
		t.Errorf("around %d, elsewhere %d, wrong %d, stale %d, raced %d; want 2, 1, 1, 1, 1", r.around, r.elsewhere, r.wrong, r.stale, r.raced)
	}
	if r.ok[opGet] != 1 || r.failed[opGet] != 3 || r.failed[opPut] != 2 || r.requests() != 7 {
		t.Errorf("ok %v, failed %v", r.ok, r.failed)
	}
	if len(r.kinds) != 5 || r.kinds[0].kind != "PUT: 502 about:blank" || r.kinds[0].around != 1 || r.kinds[0].elsewhere != 1 {
		t.Errorf("kinds %+v", r.kinds)
	}
}

func TestSoakFlat(t *testing.T) {
	start := soakSnapshot{fds: 30, sessions: 15, goroutines: 11, rssKiB: 20 << 10}
	for _, tt := range []struct {
		name string
		end  soakSnapshot
		flat bool
	}{
		{"same", start, true},
		{"fewer sessions", soakSnapshot{fds: 26, sessions: 11, goroutines: 11, rssKiB: 20 << 10}, true},
		{"descriptors at the limit", soakSnapshot{fds: 32, sessions: 15, goroutines: 11, rssKiB: 20 << 10}, true},
		{"a descriptor over", soakSnapshot{fds: 33, sessions: 15, goroutines: 11, rssKiB: 20 << 10}, false},
		{"goroutines over", soakSnapshot{fds: 30, sessions: 15, goroutines: 16, rssKiB: 20 << 10}, false},
		{"RSS over", soakSnapshot{fds: 30, sessions: 15, goroutines: 11, rssKiB: 36<<10 + 1}, false},
		{"pipes cached", soakSnapshot{fds: 62, pipes: 32, sessions: 15, goroutines: 11, rssKiB: 20 << 10}, true},
		{"pipes over", soakSnapshot{fds: 64, pipes: 34, sessions: 15, goroutines: 11, rssKiB: 20 << 10}, false},
	} {
		r := soakResult{clients: 8, start: start, end: tt.end, okAfter: 1, restarted: true}
		flat, why := r.flat()
		if flat != tt.flat || flat != (len(why) == 0) || r.passed() != tt.flat {
			t.Errorf("%s: flat %v (%q), passed %v; want %v", tt.name, flat, why, r.passed(), tt.flat)
		}
		var b strings.Builder
		renderSoak(&b, r)
		if word := "Resources: **flat**"; strings.Contains(b.String(), word) != tt.flat {
			t.Errorf("%s: report:\n%s", tt.name, b.String())
		}
	}
}

// TestWatchServer: the watch sees a server stop greeting and greet again.
func TestWatchServer(t *testing.T) {
	serve := func(l net.Listener) {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "220 hello\r\n")
			c.Close()
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	go serve(l)
	w := watchServer(addr)
	time.Sleep(50 * time.Millisecond)
	l.Close()
	time.Sleep(100 * time.Millisecond)
	if l, err = net.Listen("tcp", addr); err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer l.Close()
	go serve(l)
	down, back := w.wait()
	if down.IsZero() || back.IsZero() || !back.After(down) {
		t.Errorf("down %v, back %v", down, back)
	}
}

// TestSoakShort runs the soak's machinery end to end for a few seconds,
// without the restart (realftpd's start waits up to 10 s for session
// processes to end, which the gateway's sessions do not): the gateway
// built and run as in the bench, against vsftpd. It checks that every kind
// of request ran and every body and file was checked, not how fast or how
// flat: a short soak on a shared machine says nothing about either.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway")
	}
	srv := realftpd.Start(t, realftpd.Vsftpd)
	ctx := context.Background()
	root, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "gateway")
	if err := buildGateway(ctx, root, bin); err != nil {
		t.Fatal(err)
	}
	upstream := (&url.URL{Scheme: "ftp", User: url.UserPassword(srv.User, srv.Password), Host: srv.Addr, Path: "/"}).String()
	gw, err := startGateway(ctx, bin, upstream, filepath.Join(dir, "gateway.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.stop()
	cfg := ftpcore.Config{Addr: srv.Addr, User: srv.User, Password: srv.Password}
	r, err := runSoak(ctx, gw, srv, cfg, soakPlan{clients: 4, duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for op := range opAny {
		if r.ok[op]+r.failed[op] == 0 {
			t.Errorf("no %s request", opNames[op])
		}
	}
	if r.bodies == 0 || r.left == 0 {
		t.Errorf("%d bodies checked, %d clients left mid-transfer", r.bodies, r.left)
	}
	if r.wrong != 0 {
		t.Errorf("%d wrong bodies or answers: %+v", r.wrong, r.kinds)
	}
	if r.disk.present == 0 || len(r.disk.bad) != 0 {
		t.Errorf("files on the server: %d, not complete versions: %q", r.disk.present, r.disk.bad)
	}
	if r.start.fds == 0 || r.start.goroutines == 0 || r.end.rssKiB == 0 {
		t.Errorf("resources not counted: %+v, %+v", r.start, r.end)
	}
	var b strings.Builder
	renderSoak(&b, r)
	if !strings.Contains(b.String(), "### h. Soak: 2s, 4 clients, vsftpd not restarted") {
		t.Errorf("report:\n%s", b.String())
	}
}
