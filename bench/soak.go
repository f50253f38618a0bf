package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

const (
	// soakDir holds the soak's files, under the FTP server's root.
	soakDir   = "soak"
	soakFiles = 16
	// soakWarmup is the most the mixed load runs before the resources are
	// first counted, so that the start is counted on a warm gateway: pool
	// filled, heap grown to its working size.
	soakWarmup = 10 * time.Second
	// soakRequestTimeout bounds one request of the soak: an 8 MiB body on
	// a loaded machine takes well under a second.
	soakRequestTimeout = 30 * time.Second
	// restartGrace is how long after vsftpd greets again an error still
	// counts as the restart's: requests cut by it, and sessions the pool
	// has yet to find dead.
	restartGrace = 5 * time.Second
	// soakSettle bounds the wait, after a load, for the gateway's
	// descriptors and goroutines to stop changing.
	soakSettle = 15 * time.Second
	// tempGrace bounds the wait, after the soak, for the gateway to remove
	// the temporary files of uploads that failed.
	tempGrace = 30 * time.Second
	// soakMaxRange is the most bytes a ranged request asks for.
	soakMaxRange = 256 << 10
)

// The thresholds of "flat", at rest after the warm-up and after the soak.
// Descriptors and goroutines at rest come back to the same count whatever
// the load did (the FTP sessions the pool keeps are taken out of the
// descriptors, and so are pipes: Go's splice keeps the pipes of finished
// splices for reuse until a garbage collection, which a gateway at rest
// does not run, so they count against their own bound, two pipes of two
// ends per client), so the slack is for a connection still closing. RSS
// keeps heap the runtime has not yet given back, and the scavenger is
// slow: 16 MiB is a quarter of the 64 MiB memory target, and a leak of even
// a hundred bytes a request passes it within a 10-minute soak.
const (
	flatFDs            = 2
	flatPipesPerClient = 4
	flatGoroutines     = 4
	flatRSSKiB         = 16 << 10
)

// soakOp is one kind of request of the soak's mix.
type soakOp int

const (
	opGet soakOp = iota
	opRange
	opPut
	opDelete
	opList
	opGetCut
	opPutCut
	// opAny is the connection rather than one request: bytes that came
	// after a response had ended.
	opAny
	numOps
)

var opNames = [numOps]string{
	opGet:    "GET",
	opRange:  "GET range",
	opPut:    "PUT",
	opDelete: "DELETE",
	opList:   "GET listing",
	opGetCut: "GET, client leaves",
	opPutCut: "PUT, client leaves",
	opAny:    "a connection",
}

// opWeights is the mix, in percent.
var opWeights = [numOps]int{
	opGet:    30,
	opRange:  25,
	opPut:    20,
	opDelete: 5,
	opList:   5,
	opGetCut: 8,
	opPutCut: 7,
}

func pickOp(rng *rand.Rand) soakOp {
	n := rng.IntN(100)
	for op, w := range opWeights {
		if n < w {
			return soakOp(op)
		}
		n -= w
	}
	return opGet
}

func soakName(i int) string { return fmt.Sprintf("f%02d.bin", i) }

// outcome is what one request of the soak came to.
type outcome struct {
	kind  string // "" when the answer was one the op allows
	wrong bool   // a body that is not the bytes it claims to be
	stale bool   // the bytes of a version other than the one the headers describe
	raced bool   // cut short, rightly: the file was replaced by a shorter one during the transfer
	left  bool   // the client left in the middle, as the op meant to
	bytes int64  // body bytes moved and checked
	body  int    // bodies checked: 1 for a download or listing that was
}

// soakError is one request whose outcome had a kind, and when it ran.
type soakError struct {
	kind       string
	start, end time.Time
	wrong      bool
	stale      bool
	raced      bool
}

// soakTally counts the outcomes of the soak's requests. Safe for
// concurrent use.
type soakTally struct {
	mu     sync.Mutex
	ok     [numOps]int
	failed [numOps]int
	left   int
	bodies int
	bytes  int64
	errs   []soakError
	// restartEnd is when errors stop being the restart's (UnixNano; 0
	// until vsftpd is back), and okAfter the requests that began after it
	// and went well.
	restartEnd atomic.Int64
	okAfter    int
	// restartStart is when vsftpd went down; began, when the soak proper
	// (after the warm-up) began.
	restartStart, began time.Time
}

// maxSoakErrors bounds the errors kept one by one; more are only counted.
const maxSoakErrors = 1 << 20

func (t *soakTally) add(op soakOp, o outcome, start, end time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bodies += o.body
	t.bytes += o.bytes
	if o.left {
		t.left++
	}
	if o.kind == "" {
		t.ok[op]++
		if re := t.restartEnd.Load(); re != 0 && start.UnixNano() > re {
			t.okAfter++
		}
		return
	}
	t.failed[op]++
	if len(t.errs) < maxSoakErrors {
		t.errs = append(t.errs, soakError{kind: opNames[op] + ": " + o.kind, start: start, end: end, wrong: o.wrong, stale: o.stale, raced: o.raced})
	}
}

// serverWatch sees a server go down and come back, by dialling it and
// reading its greeting every 20 ms.
type serverWatch struct {
	stop       chan struct{}
	done       chan struct{}
	down, back time.Time
}

// watchServer starts watching the FTP server at addr.
func watchServer(addr string) *serverWatch {
	w := &serverWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			up := greets(addr)
			now := time.Now()
			switch {
			case !up && w.down.IsZero():
				w.down = now
			case up && !w.down.IsZero():
				w.back = now
				return
			}
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return w
}

// wait returns when the server went down and when it was back, waiting at
// most 30 s for it to come back; zero times for what was not seen.
func (w *serverWatch) wait() (down, back time.Time) {
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		close(w.stop)
		<-w.done
	}
	return w.down, w.back
}

// greets reports whether the server at addr sends a 220 greeting.
func greets(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "220")
}

// unsolicitedLog takes what net/http's client logs through the standard
// logger while the soak runs: the line it writes when bytes arrive on an
// idle keep-alive connection, bytes the gateway sent after the end of a
// response, is counted as a wrong answer (it quotes those bytes, so it is
// not passed on); anything else goes to standard error.
type unsolicitedLog struct{ t *soakTally }

func (u unsolicitedLog) Write(p []byte) (int, error) {
	if !bytes.Contains(p, []byte("Unsolicited response received on idle HTTP channel")) {
		return os.Stderr.Write(p)
	}
	now := time.Now()
	u.t.add(opAny, outcome{kind: "wrong answer: bytes after the end of a response", wrong: true}, now, now)
	return len(p), nil
}

// soakSnapshot is the gateway's resources at one moment.
type soakSnapshot struct {
	fds        int     // entries in /proc/<pid>/fd
	pipes      int     // of them, pipe ends
	sessions   float64 // ftpgw_pool_sessions, every state: one descriptor each
	goroutines float64 // go_goroutines
	rssKiB     int64   // VmRSS
	dials      float64 // ftpgw_pool_dials_total
}

// ownFDs are the descriptors neither held by the pool's FTP sessions nor
// pipe ends.
func (s soakSnapshot) ownFDs() int { return s.fds - s.pipes - int(s.sessions) }

// soakKind is one kind of error, and how often it came around the restart
// and elsewhere.
type soakKind struct {
	kind              string
	around, elsewhere int
	first             time.Duration // from the start of the soak proper; < 0 in the warm-up
}

// diskResult is what the soak's directory held at the end.
type diskResult struct {
	present  int        // soak files there
	complete int        // of them, complete versions
	bad      []string   // files that are not, and why
	temps    []tempFile // temporary upload files left after the grace period
	waited   time.Duration
}

// soakPlan is what a soak runs.
type soakPlan struct {
	clients  int
	duration time.Duration // of load after the warm-up
	restart  bool          // restart vsftpd in the middle
}

// tempFile is a temporary upload file left on the server.
type tempFile struct {
	name    string
	size    int64
	written time.Duration // last, from the start of the soak proper
}

// soakResult is the soak phase of the bench.
type soakResult struct {
	skipped   string
	clients   int
	duration  time.Duration // asked for
	loaded    time.Duration // of load, warm-up included
	warmup    time.Duration
	restarted bool // vsftpd was restarted in the middle

	start, end soakSnapshot
	peakKiB    int64 // VmHWM at the end

	restartAt time.Duration // from the start of the soak proper to the kill
	down      time.Duration // from the kill to vsftpd's next greeting
	relaunch  time.Duration // what realftpd's Relaunch took
	okAfter   int           // requests after the restart (and its grace) that went well

	ok, failed [numOps]int
	left       int
	bodies     int
	bytes      int64
	kinds      []soakKind
	wrong      int
	stale      int
	raced      int // transfers cut because the file was replaced by a shorter one
	around     int // errors around the restart
	elsewhere  int // errors anywhere else
	disk       diskResult
}

func (r soakResult) requests() int {
	n := 0
	for op := range opAny {
		n += r.ok[op] + r.failed[op]
	}
	return n
}

// flat reports whether the gateway's resources came back to where they
// were, and if not, why.
func (r soakResult) flat() (bool, []string) {
	var why []string
	if d := r.end.ownFDs() - r.start.ownFDs(); d > flatFDs {
		why = append(why, fmt.Sprintf("%d more descriptors", d))
	}
	if p := r.end.pipes; p > flatPipesPerClient*r.clients {
		why = append(why, fmt.Sprintf("%d pipe ends", p))
	}
	if d := r.end.goroutines - r.start.goroutines; d > flatGoroutines {
		why = append(why, fmt.Sprintf("%.0f more goroutines", d))
	}
	if d := r.end.rssKiB - r.start.rssKiB; d > flatRSSKiB {
		why = append(why, fmt.Sprintf("RSS %.1f MiB higher", float64(d)/1024))
	}
	return len(why) == 0, why
}

// passed reports whether the soak met every expectation: resources flat, no
// wrong body, errors only around the restart, requests served after it,
// every file on the server a complete version and no temporary file left.
func (r soakResult) passed() bool {
	flat, _ := r.flat()
	return flat && r.wrong == 0 && r.stale == 0 && r.elsewhere == 0 && (r.okAfter > 0 || !r.restarted) &&
		len(r.disk.bad) == 0 && len(r.disk.temps) == 0
}

// soak runs mixed requests against the gateway and checks every answer.
type soak struct {
	gw      *gateway
	srv     *realftpd.Server
	client  *http.Client
	clients int
	next    [soakFiles]atomic.Int64 // the last version begun, per file
	size    [soakFiles]atomic.Int64 // a recent size, for ranges (0: none known)
	tally   soakTally
}

// runSoak is the soak: a warm-up, the resources counted at rest, d of mixed
// load with vsftpd restarted in its middle, the resources counted at rest
// again, then every file on the server checked.
func runSoak(ctx context.Context, gw *gateway, srv *realftpd.Server, cfg ftpcore.Config, plan soakPlan) (soakResult, error) {
	clients, d := plan.clients, plan.duration
	r := soakResult{clients: clients, duration: d, warmup: min(soakWarmup, max(d/5, time.Second)), restarted: plan.restart}
	if err := mkdirFTP(ctx, cfg, soakDir); err != nil {
		return r, err
	}
	s := &soak{gw: gw, srv: srv, clients: clients, client: httpClient(clients)}
	defer s.client.CloseIdleConnections()
	log.SetOutput(unsolicitedLog{&s.tally})
	defer log.SetOutput(os.Stderr)

	logf("soak: %d clients, %v of warm-up", clients, r.warmup)
	took, err := s.load(ctx, r.warmup, nil)
	if err != nil {
		return r, err
	}
	r.loaded = took
	if r.start, err = s.rest(ctx); err != nil {
		return r, err
	}
	logf("soak: at rest: %d descriptors (%.0f FTP sessions), %.0f goroutines, RSS %.1f MiB; now %v of load",
		r.start.fds, r.start.sessions, r.start.goroutines, float64(r.start.rssKiB)/1024, d)

	// The errors of the restart are those from the moment Relaunch is
	// called (it kills at once) to restartGrace after the watch sees
	// vsftpd greet again, which is long before Relaunch returns: it waits
	// for the session processes it saw at the start to end, and under load
	// there are always some.
	restart := func(began time.Time) error {
		logf("soak: restarting vsftpd")
		w := watchServer(srv.Addr)
		t0 := time.Now()
		relaunched := make(chan error, 1)
		go func() { relaunched <- srv.Relaunch() }()
		down, back := w.wait()
		if !back.IsZero() {
			s.tally.mu.Lock()
			s.tally.restartStart = t0
			s.tally.mu.Unlock()
			s.tally.restartEnd.Store(back.Add(restartGrace).UnixNano())
		}
		err := <-relaunched
		r.relaunch = time.Since(t0)
		if err == nil && back.IsZero() {
			err = fmt.Errorf("soak: vsftpd at %s was not seen going down and coming back", srv.Addr)
		}
		if err != nil {
			return err
		}
		r.restartAt, r.down = t0.Sub(began), back.Sub(down)
		return nil
	}
	if !plan.restart {
		restart = nil
	}
	s.tally.mu.Lock()
	s.tally.began = time.Now()
	s.tally.mu.Unlock()
	took, err = s.load(ctx, d, restart)
	if err != nil {
		return r, err
	}
	r.loaded += took
	if r.end, err = s.rest(ctx); err != nil {
		return r, err
	}
	if r.peakKiB, err = memKiB(gw.pid, "VmHWM"); err != nil {
		return r, err
	}
	s.summarize(&r)
	logf("soak: at rest: %d descriptors (%.0f FTP sessions), %.0f goroutines, RSS %.1f MiB; %d requests, %d errors, %d wrong bodies",
		r.end.fds, r.end.sessions, r.end.goroutines, float64(r.end.rssKiB)/1024, r.requests(), r.around+r.elsewhere, r.wrong)
	r.disk, err = s.checkDisk(ctx)
	for _, tf := range r.disk.temps {
		// What the gateway said of it, for whoever looks into why; not in
		// the report, since the lines name paths of this machine.
		for _, line := range gw.logLines(tf.name) {
			logf("soak: %s left; the gateway logged: %s", tf.name, line)
		}
	}
	return r, err
}

// mkdirFTP creates dir on the FTP server, as its user.
func mkdirFTP(ctx context.Context, cfg ftpcore.Config, dir string) error {
	c, err := ftpcore.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mkdir(ctx, dir); err != nil {
		return err
	}
	return c.Quit(ctx)
}

// load runs the clients for d and returns how long they ran. If restart is
// not nil it is called once, at d/2, while the clients run.
func (s *soak) load(ctx context.Context, d time.Duration, restart func(began time.Time) error) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	began := time.Now()
	end := began.Add(d)
	var wg sync.WaitGroup
	for w := range s.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(began.UnixNano())))
			buf := make([]byte, 2*soakMaxRange)
			for time.Now().Before(end) && ctx.Err() == nil {
				op := pickOp(rng)
				f := rng.IntN(soakFiles)
				t0 := time.Now()
				rctx, rcancel := context.WithTimeout(ctx, soakRequestTimeout)
				o := s.do(rctx, op, f, rng, buf)
				rcancel()
				if ctx.Err() != nil {
					return // cut by the end of the bench, not the gateway
				}
				s.tally.add(op, o, t0, time.Now())
			}
		}()
	}
	var err error
	if restart != nil {
		select {
		case <-time.After(d / 2):
			err = restart(began)
		case <-ctx.Done():
		}
		if err != nil {
			cancel()
		}
	}
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return time.Since(began), err
}

// rest lets the gateway settle after a load, then counts its resources:
// the load's keep-alive connections are closed, and the count is taken
// once it is the same twice in a row (or after soakSettle).
func (s *soak) rest(ctx context.Context) (soakSnapshot, error) {
	s.client.CloseIdleConnections()
	deadline := time.Now().Add(soakSettle)
	var prev soakSnapshot
	for first := true; ; first = false {
		snap, err := s.snapshot(ctx)
		if err != nil {
			return snap, err
		}
		same := snap.fds == prev.fds && snap.pipes == prev.pipes && snap.sessions == prev.sessions && snap.goroutines == prev.goroutines
		if (!first && same) || time.Now().After(deadline) {
			return snap, nil
		}
		prev = snap
		select {
		case <-ctx.Done():
			return snap, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// snapshot counts the gateway's resources. The descriptors are counted
// before the scrape, whose own connection would be one of them.
func (s *soak) snapshot(ctx context.Context) (soakSnapshot, error) {
	var snap soakSnapshot
	dir := "/proc/" + strconv.Itoa(s.gw.pid) + "/fd/"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return snap, err
	}
	snap.fds = len(fds)
	for _, fd := range fds {
		if l, _ := os.Readlink(dir + fd.Name()); strings.HasPrefix(l, "pipe:") {
			snap.pipes++
		}
	}
	if snap.rssKiB, err = memKiB(s.gw.pid, "VmRSS"); err != nil {
		return snap, err
	}
	body, err := s.gw.scrape(ctx)
	if err != nil {
		return snap, err
	}
	for _, m := range []struct {
		name string
		into *float64
	}{
		{"ftpgw_pool_sessions", &snap.sessions},
		{"go_goroutines", &snap.goroutines},
		{"ftpgw_pool_dials_total", &snap.dials},
	} {
		if *m.into, err = sumMetric(body, m.name); err != nil {
			return snap, err
		}
	}
	return snap, nil
}

// do sends one request of op on file f and checks its answer.
func (s *soak) do(ctx context.Context, op soakOp, f int, rng *rand.Rand, buf []byte) outcome {
	name := soakName(f)
	url := s.gw.url("/files/" + soakDir + "/" + name)
	switch op {
	case opRange:
		size := s.size[f].Load()
		if size == 0 {
			return s.get(ctx, url, f, -1, buf) // nothing known to ask a range of yet
		}
		return s.getRange(ctx, url, f, size, rng, buf)
	case opPut, opPutCut:
		fv := fileVersion{name, s.next[f].Add(1)}
		size := fv.size()
		cut := size
		if op == opPutCut {
			cut = 1 + rng.Int64N(size-1)
		}
		return s.put(ctx, url, f, fv, cut)
	case opDelete:
		req, _ := http.NewRequestWithContext(ctx, "DELETE", url, nil)
		return s.expect(req, http.StatusNoContent, http.StatusNotFound)
	case opList:
		return s.list(ctx)
	case opGetCut:
		return s.get(ctx, url, f, rng.Int64N(1<<62), buf)
	}
	return s.get(ctx, url, f, -1, buf)
}

// expect sends req and accepts the statuses given, with no body to check.
func (s *soak) expect(req *http.Request, ok ...int) outcome {
	resp, err := s.client.Do(req)
	if err != nil {
		return outcome{kind: clientKind(err)}
	}
	defer resp.Body.Close()
	if slices.Contains(ok, resp.StatusCode) {
		io.Copy(io.Discard, resp.Body)
		return outcome{}
	}
	return outcome{kind: problemKind(resp)}
}

// get is a GET of the whole file f; with leave >= 0 the client reads only
// some of the body (leave modulo its length, at least a record's worth)
// and closes the connection.
func (s *soak) get(ctx context.Context, url string, f int, leave int64, buf []byte) outcome {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := s.client.Do(req)
	if err != nil {
		return outcome{kind: clientKind(err)}
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotFound:
		io.Copy(io.Discard, resp.Body)
		return outcome{}
	case http.StatusOK:
	default:
		return outcome{kind: problemKind(resp)}
	}
	cl := resp.ContentLength
	var body io.Reader = resp.Body
	if leave >= 0 && cl > soakRecord {
		body = io.LimitReader(resp.Body, soakRecord+leave%(cl-soakRecord))
	} else {
		leave = -1
	}
	c := verify(body, soakName(f), 0, buf)
	o := s.judge(f, c, "")
	if c.read != nil && o.kind != "" && !o.wrong && c.fv.v != 0 && c.fv.size() < cl {
		// The gateway had said another size: the file was replaced by a
		// shorter one between its SIZE and its RETR, and the response
		// was cut rather than passed off as whole.
		return outcome{kind: "cut short: replaced by a shorter version during the GET", raced: true}
	}
	if o.kind != "" {
		return o
	}
	if leave >= 0 {
		o.left = true
		return o
	}
	if c.n != cl {
		return outcome{kind: fmt.Sprintf("wrong body: %d bytes under Content-Length %d", c.n, cl), wrong: true}
	}
	if size := c.fv.size(); c.n != size {
		// The file was replaced between the gateway's SIZE and its RETR.
		return outcome{kind: fmt.Sprintf("stale: 200 with %s a version of another size", partOf(c.n, size)), stale: true, bytes: c.n, body: 1}
	}
	s.size[f].Store(cl)
	return o
}

// partOf says whether n bytes of a version of size bytes are a prefix of
// it or run past it.
func partOf(n, size int64) string {
	if n < size {
		return "the start of"
	}
	return "more than"
}

// judge turns what verify found in a body of file f into an outcome: a
// read error, bytes that are not those of a version, or a version never
// begun are kinds; otherwise the body counts as checked.
func (s *soak) judge(f int, c checked, what string) outcome {
	switch {
	case c.bad != "":
		return outcome{kind: "wrong body: " + c.bad + what, wrong: true}
	case c.fv.v > s.next[f].Load():
		return outcome{kind: "wrong body: a version never written" + what, wrong: true}
	case c.read != nil:
		return outcome{kind: clientKind(c.read)}
	}
	return outcome{bytes: c.n, body: 1}
}

// contentRangeRE matches "bytes first-last/size" or "bytes */size".
var contentRangeRE = regexp.MustCompile(`^bytes (?:(\d+)-(\d+)|\*)/(\d+)$`)

// getRange asks for a random range of file f, which was size bytes not long
// ago, starting on a record: the file may have been replaced since, so 416
// (the new version is shorter) and 404 (it is gone) are answers too.
func (s *soak) getRange(ctx context.Context, url string, f int, size int64, rng *rand.Rand, buf []byte) outcome {
	off := rng.Int64N((size+soakRecord-1)/soakRecord) * soakRecord
	n := min(size-off, soakRecord+rng.Int64N(soakMaxRange-soakRecord))
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	resp, err := s.client.Do(req)
	if err != nil {
		return outcome{kind: clientKind(err)}
	}
	defer resp.Body.Close()
	m := contentRangeRE.FindStringSubmatch(resp.Header.Get("Content-Range"))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		io.Copy(io.Discard, resp.Body)
		return outcome{}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && m != nil && m[1] == "":
		io.Copy(io.Discard, resp.Body)
		if total, _ := strconv.ParseInt(m[3], 10, 64); total > off {
			return outcome{kind: fmt.Sprintf("wrong answer: 416 to a range inside the %s", resp.Header.Get("Content-Range")), wrong: true}
		}
		s.size[f].Store(0)
		return outcome{}
	case resp.StatusCode == http.StatusOK:
		return outcome{kind: "wrong answer: 200 to a single range", wrong: true}
	case resp.StatusCode != http.StatusPartialContent:
		return outcome{kind: problemKind(resp)}
	case m == nil || m[1] == "":
		return outcome{kind: fmt.Sprintf("wrong answer: 206 with Content-Range %q", resp.Header.Get("Content-Range")), wrong: true}
	}
	first, _ := strconv.ParseInt(m[1], 10, 64)
	last, _ := strconv.ParseInt(m[2], 10, 64)
	total, _ := strconv.ParseInt(m[3], 10, 64)
	if first != off || last > off+n-1 || last < first || last >= total {
		return outcome{kind: fmt.Sprintf("wrong answer: 206 with Content-Range %q to bytes=%d-%d", m[0], off, off+n-1), wrong: true}
	}
	c := verify(resp.Body, soakName(f), off, buf)
	o := s.judge(f, c, " (range)")
	if c.read != nil && o.kind != "" && !o.wrong && c.fv.v != 0 && c.fv.size() < total {
		return outcome{kind: "cut short: replaced by a shorter version during the GET", raced: true}
	}
	if o.kind != "" {
		return o
	}
	if c.n != last-first+1 {
		return outcome{kind: fmt.Sprintf("wrong body: %d bytes for a range of %d", c.n, last-first+1), wrong: true}
	}
	if vs := c.fv.size(); vs != total {
		// The file was replaced between the gateway's SIZE and its RETR.
		return outcome{kind: "stale: 206 with a range of a version of another size", stale: true, bytes: c.n, body: 1}
	}
	return o
}

// put uploads version fv of file f; with cut below its size the client
// leaves after cut bytes.
func (s *soak) put(ctx context.Context, url string, f int, fv fileVersion, cut int64) outcome {
	body := newVersionReader(fv, cut)
	req, _ := http.NewRequestWithContext(ctx, "PUT", url, body)
	req.ContentLength = body.size
	resp, err := s.client.Do(req)
	if err != nil {
		if body.cut < body.size && errors.Is(err, errCut) {
			return outcome{left: true, bytes: body.off}
		}
		return outcome{kind: clientKind(err)}
	}
	defer resp.Body.Close()
	switch {
	case body.cut < body.size && resp.StatusCode/100 == 2:
		return outcome{kind: fmt.Sprintf("wrong answer: %d to an upload cut short", resp.StatusCode), wrong: true}
	case resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusNoContent:
		io.Copy(io.Discard, resp.Body)
		s.size[f].Store(body.size)
		return outcome{bytes: body.size}
	}
	return outcome{kind: problemKind(resp)}
}

// list is a GET of the soak's directory: every entry must be a soak file
// with the size of a version begun, and no upload in progress may show.
func (s *soak) list(ctx context.Context) outcome {
	req, _ := http.NewRequestWithContext(ctx, "GET", s.gw.url("/files/"+soakDir+"/"), nil)
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return outcome{kind: clientKind(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return outcome{kind: problemKind(resp)}
	}
	var l struct {
		Entries []struct {
			Name string `json:"name"`
			Type string `json:"type"`
			Size *int64 `json:"size"`
		} `json:"entries"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			return outcome{kind: clientKind(err)}
		}
		return outcome{kind: "wrong listing: not JSON", wrong: true}
	}
	for _, e := range l.Entries {
		var f int
		if _, err := fmt.Sscanf(e.Name, "f%02d.bin", &f); err != nil || soakName(f) != e.Name || f >= soakFiles {
			return outcome{kind: "wrong listing: a name the soak never wrote", wrong: true}
		}
		if e.Type != "file" || e.Size == nil || !s.aVersionsSize(f, *e.Size) {
			return outcome{kind: "wrong listing: an entry that is no version of its file", wrong: true}
		}
	}
	return outcome{body: 1}
}

// aVersionsSize reports whether some version of file f begun so far has
// size bytes.
func (s *soak) aVersionsSize(f int, size int64) bool {
	for v := s.next[f].Load(); v >= 1; v-- {
		if (fileVersion{soakName(f), v}).size() == size {
			return true
		}
	}
	return false
}

// problemKind names an unexpected answer by its status and, for a problem
// document, its type and FTP reply code.
func problemKind(resp *http.Response) string {
	k := strconv.Itoa(resp.StatusCode)
	var p struct {
		Type    string `json:"type"`
		Detail  string `json:"detail"`
		FTPCode int    `json:"ftp_code"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") || json.Unmarshal(body, &p) != nil {
		return k + ", not a problem document"
	}
	k += " " + p.Type
	if p.FTPCode != 0 {
		k += fmt.Sprintf(", ftp %d", p.FTPCode)
	}
	if resp.StatusCode >= 500 && p.Detail != "" {
		// Only 5xx: a 4xx detail names the request, a 5xx one what failed.
		k += ": " + shorten(p.Detail)
	}
	return k
}

// digitsRE finds the numbers in an error's text, which name ports and
// addresses.
var digitsRE = regexp.MustCompile(`[0-9]+`)

// clientKind names an error the client saw, with no status to go by.
func clientKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "client: timed out"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "client: body cut short"
	case errors.Is(err, syscall.ECONNRESET):
		return "client: connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "client: connection refused"
	case errors.Is(err, io.EOF):
		return "client: connection closed before the answer"
	case strings.Contains(err.Error(), "readLoopPeekFailLocked"):
		// net/http's client found bytes on the connection before it had
		// sent the request, as in unsolicitedLog.
		return "client: bytes came before the request was sent"
	}
	return "client: " + shorten(err.Error())
}

// shorten makes a message a bounded kind: numbers (ports, addresses, byte
// counts) become N, and it is cut at 100 bytes.
func shorten(msg string) string {
	msg = digitsRE.ReplaceAllString(msg, "N")
	if len(msg) > 100 {
		msg = strings.ToValidUTF8(msg[:100], "") + "…"
	}
	return msg
}

// summarize moves the tally into r, each error counted around the restart
// if it overlapped it (from the kill to restartGrace after the greeting).
func (s *soak) summarize(r *soakResult) {
	t := &s.tally
	t.mu.Lock()
	defer t.mu.Unlock()
	r.ok, r.failed, r.left, r.bodies, r.bytes, r.okAfter = t.ok, t.failed, t.left, t.bodies, t.bytes, t.okAfter
	re, rs := time.Unix(0, t.restartEnd.Load()), t.restartStart
	byKind := map[string]*soakKind{}
	for _, e := range t.errs {
		k := byKind[e.kind]
		if k == nil {
			k = &soakKind{kind: e.kind, first: e.start.Sub(t.began)}
			byKind[e.kind] = k
		}
		around := !rs.IsZero() && !e.end.Before(rs) && !e.start.After(re)
		if around {
			k.around++
		} else {
			k.elsewhere++
		}
		switch {
		case e.wrong:
			r.wrong++
		case e.stale:
			r.stale++
		case e.raced:
			r.raced++
		case around:
			r.around++
		default:
			r.elsewhere++
		}
	}
	for _, k := range byKind {
		r.kinds = append(r.kinds, *k)
	}
	slices.SortFunc(r.kinds, func(a, b soakKind) int {
		if c := (b.around + b.elsewhere) - (a.around + a.elsewhere); c != 0 {
			return c
		}
		return strings.Compare(a.kind, b.kind)
	})
}

// checkDisk waits up to tempGrace for the temporary files of failed
// uploads to go, then checks that every soak file on the server's disk is
// a complete version.
func (s *soak) checkDisk(ctx context.Context) (diskResult, error) {
	var d diskResult
	dir := s.srv.Path(soakDir)
	t0 := time.Now()
	var names []string
	for {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return d, err
		}
		names, d.temps = names[:0], d.temps[:0]
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".ftpgw-upload-") {
				tf := tempFile{name: e.Name()}
				if fi, err := e.Info(); err == nil {
					tf.size, tf.written = fi.Size(), fi.ModTime().Sub(s.tally.began)
				}
				d.temps = append(d.temps, tf)
			} else {
				names = append(names, e.Name())
			}
		}
		d.waited = time.Since(t0)
		if len(d.temps) == 0 || d.waited >= tempGrace {
			break
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	buf := make([]byte, 2*soakMaxRange)
	for _, name := range names {
		var f int
		if _, err := fmt.Sscanf(name, "f%02d.bin", &f); err != nil || soakName(f) != name || f >= soakFiles {
			d.bad = append(d.bad, name+": not a soak file")
			continue
		}
		d.present++
		fh, err := os.Open(path.Join(dir, name))
		if err != nil {
			return d, err
		}
		c := verify(fh, name, 0, buf)
		fh.Close()
		switch o := s.judge(f, c, ""); {
		case o.kind != "":
			d.bad = append(d.bad, name+": "+o.kind)
		case c.n != c.fv.size():
			d.bad = append(d.bad, fmt.Sprintf("%s: %d bytes of version %d's %d", name, c.n, c.fv.v, c.fv.size()))
		default:
			d.complete++
		}
	}
	return d, nil
}
