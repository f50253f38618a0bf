package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

const (
	gib       = 1 << 30
	smallSize = 1 << 10
	// memGets and memPuts are the concurrent transfers of the memory load.
	memGets = 8
	memPuts = 2
	// maxDials is the most logins the gateway may make for the whole run:
	// one per pooled session (--max-sessions 16).
	maxDials = 16
	// seqDuration caps the runs of the one-client range load.
	seqDuration = 5 * time.Second
	// warmup is the untimed load of each side before the range and
	// small-file loads.
	warmup = 2 * time.Second
)

// results is everything measured in one run of the bench.
type results struct {
	env  envInfo
	opts options

	// Per run, in bytes per second (curl's speed, and that of the data
	// phase alone), and gateway CPU-seconds per GiB.
	getGW, getFTP, getCPU []float64
	getGWData, getFTPData []float64
	putGW, putFTP, putCPU []float64
	putGWData, putFTPData []float64

	rangeGW, rangeFTP []loadResult
	// The same ranges from one client: latency without queueing.
	seqGW, seqFTP     []loadResult
	smallGW, smallFTP []loadResult
	// Redials of the direct sessions: requests that left one unusable.
	rangeRedials, smallRedials int64
	// The gateway's ftpgw_pool_dials_total before the range load, after
	// it and after the small-file load.
	dialsBefore, dialsRanges, dialsSmall float64

	mem        memResult
	splice     spliceResult
	multirange multirangeResult
	resumable  resumableResult

	compared bool // a to g, i and j ran (not -soak-only)
	// multirangeOnly: i alone ran (-multirange-only).
	multirangeOnly bool
	// resumableOnly: j alone ran (-resumable-only).
	resumableOnly bool
	// latencyOnly: the latency mode alone ran (-latency-only).
	latencyOnly bool
	latency     latencyResult
	soak        soakResult
}

// memResult is the memory load.
type memResult struct {
	idleKiB, peakKiB int64 // VmRSS when ready, VmHWM at the end
	elapsed          time.Duration
	moved            int64 // bytes through the gateway
}

func run(ctx context.Context, o options) (err error) {
	r := &results{opts: o, env: environment()}
	if o.clients > maxClients {
		return fmt.Errorf("-clients %d: at most %d", o.clients, maxClients)
	}
	tmp, err := os.MkdirTemp("", "ftpgw-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	r.env.revision = revision(ctx, root)
	logf("building the gateway at %s", r.env.revision)
	bin := filepath.Join(tmp, "gateway")
	if err := buildGateway(ctx, root, bin); err != nil {
		return err
	}

	logf("starting vsftpd on 127.0.0.1")
	srv, stopSrv, err := realftpd.Launch(realftpd.Vsftpd, realftpd.Options{})
	var u *realftpd.UnavailableError
	if errors.As(err, &u) {
		return fmt.Errorf("%v (make bench installs it: it runs scripts/install-test-deps.sh first)", err)
	}
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopSrv()) }()

	upstream := (&url.URL{Scheme: "ftp", User: url.UserPassword(srv.User, srv.Password), Host: srv.Addr, Path: "/"}).String()
	gws := &gateways{bin: bin, upstream: upstream, log: filepath.Join(tmp, "gateway.log")}
	defer func() { err = errors.Join(err, gws.stop()) }()

	switch {
	case o.multirangeOnly:
		if err := multirangeAlone(ctx, r, tmp, srv, gws); err != nil {
			return err
		}
	case o.resumableOnly:
		if err := resumableAlone(ctx, r, srv, gws); err != nil {
			return err
		}
	case o.latencyOnly:
		r.latencyOnly = true
		if err := runLatency(ctx, r, tmp, bin); err != nil {
			return err
		}
	case !o.soakOnly:
		if err := compare(ctx, r, tmp, srv, gws); err != nil {
			return err
		}
		if err := gws.stop(); err != nil {
			return err
		}
		if o.latency {
			if err := runLatency(ctx, r, tmp, bin); err != nil {
				return err
			}
		}
	}

	if o.latencyOnly {
		r.soak.skipped = "not run (-latency-only)"
	} else if o.multirangeOnly {
		r.soak.skipped = "not run (-multirange-only)"
	} else if o.resumableOnly {
		r.soak.skipped = "not run (-resumable-only)"
	} else if o.soak <= 0 {
		r.soak.skipped = "not run (-soak 0)"
	} else {
		logf("soak: restarting the gateway")
		gw, err := gws.restart(ctx, nil)
		if err != nil {
			return err
		}
		ftpCfg := ftpcore.Config{Addr: srv.Addr, User: srv.User, Password: srv.Password}
		plan := soakPlan{clients: o.soakClients, duration: o.soak, restart: true}
		if r.soak, err = runSoak(ctx, gw, srv, ftpCfg, plan); err != nil {
			return err
		}
	}

	report := render(r)
	fmt.Print(report)
	if o.write != "" {
		if err := appendResults(o.write, report); err != nil {
			return err
		}
		logf("results appended to %s", o.write)
	}
	return nil
}

// compare runs the workloads that measure the gateway against direct FTP
// (a to g), i and j, each gateway started by gws.
func compare(ctx context.Context, r *results, tmp string, srv *realftpd.Server, gws *gateways) error {
	o := r.opts
	r.compared = true
	logf("creating a %d MiB file, a %d MiB upload source and a 1 KiB file", o.bigSize>>20, o.memUp>>20)
	bigPath, smallPath, memSrc := srv.Path("big.bin"), srv.Path("small.bin"), filepath.Join(tmp, "upload-src.bin")
	for _, f := range []struct {
		path string
		size int64
	}{{bigPath, o.bigSize}, {smallPath, smallSize}, {memSrc, o.memUp}} {
		if err := writeRandom(f.path, f.size); err != nil {
			return err
		}
	}
	big, err := openContent(bigPath)
	if err != nil {
		return err
	}
	defer big.f.Close()
	small, err := openContent(smallPath)
	if err != nil {
		return err
	}
	defer small.f.Close()

	direct := func(name string) string {
		return (&url.URL{Scheme: "ftp", User: url.UserPassword(srv.User, srv.Password), Host: srv.Addr, Path: "/" + name}).String()
	}
	ftpCfg := ftpcore.Config{Addr: srv.Addr, User: srv.User, Password: srv.Password}

	logf("starting the gateway")
	gw, err := gws.restart(ctx, nil)
	if err != nil {
		return err
	}

	// Warm up both paths (and the page cache) once, untimed.
	if _, err := curl(ctx, gw.url("/files/big.bin"), ""); err != nil {
		return err
	}
	if _, err := curl(ctx, direct("big.bin"), ""); err != nil {
		return err
	}

	if err := measureGet(ctx, r, gw, direct("big.bin")); err != nil {
		return err
	}
	if err := measureLoads(ctx, r, gw, ftpCfg, big, small); err != nil {
		return err
	}
	if err := measureMultirange(ctx, r, gw, big); err != nil {
		return err
	}
	if err := measurePut(ctx, r, gw, srv, direct("up-direct.bin"), bigPath); err != nil {
		return err
	}
	if err := measureResumable(ctx, r, gw, srv, bigPath); err != nil {
		return err
	}

	logf("memory: restarting the gateway, then %d downloads of %d MiB and %d uploads of %d MiB at once",
		memGets, o.bigSize>>20, memPuts, o.memUp>>20)
	if gw, err = gws.restart(ctx, nil); err != nil {
		return err
	}
	if err := measureMemory(ctx, r, gw, srv, memSrc); err != nil {
		return err
	}

	if !o.strace {
		r.splice.skipped = "not run (-strace=false)"
	} else if _, err := exec.LookPath("strace"); err != nil {
		r.splice.skipped = "not run: strace is not installed (make bench installs it)"
	} else {
		logf("splice: one GET with the gateway under strace")
		trace := filepath.Join(tmp, "strace.out")
		if gw, err = gws.restart(ctx, straceWrap(trace)); err != nil {
			return err
		}
		res, err := curl(ctx, gw.url("/files/big.bin"), "")
		if err != nil {
			return err
		}
		if res.code != http.StatusOK || res.bytes != o.bigSize {
			return fmt.Errorf("GET under strace: %d, %d bytes", res.code, res.bytes)
		}
		if err := gws.stop(); err != nil {
			return err
		}
		if r.splice, err = readStrace(trace); err != nil {
			return err
		}
		r.splice.speed = res.speed
	}
	return multirangeSplice(ctx, r, tmp, gws, big)
}

// multirangeAlone runs workload i on its own (-multirange-only).
func multirangeAlone(ctx context.Context, r *results, tmp string, srv *realftpd.Server, gws *gateways) error {
	r.multirangeOnly = true
	logf("creating a %d MiB file", r.opts.bigSize>>20)
	if err := writeRandom(srv.Path("big.bin"), r.opts.bigSize); err != nil {
		return err
	}
	big, err := openContent(srv.Path("big.bin"))
	if err != nil {
		return err
	}
	defer big.f.Close()
	logf("starting the gateway")
	gw, err := gws.restart(ctx, nil)
	if err != nil {
		return err
	}
	if err := measureMultirange(ctx, r, gw, big); err != nil {
		return err
	}
	return multirangeSplice(ctx, r, tmp, gws, big)
}

// gateways runs the gateway under test, one process at a time. Not safe
// for concurrent use.
type gateways struct {
	bin, upstream, log string
	gw                 *gateway // the one running, or nil
}

// restart stops the running gateway, if any, and starts a new one, under
// wrap if that is not empty (startGateway).
func (g *gateways) restart(ctx context.Context, wrap []string) (*gateway, error) {
	if err := g.stop(); err != nil {
		return nil, err
	}
	gw, err := startGateway(ctx, g.bin, g.upstream, g.log, wrap)
	if err != nil {
		return nil, err
	}
	g.gw = gw
	return gw, nil
}

// stop stops the running gateway, if any.
func (g *gateways) stop() error {
	if g.gw == nil {
		return nil
	}
	err := g.gw.stop()
	g.gw = nil
	return err
}

// moduleRoot returns the directory of the module the bench runs in.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the bench inside the ftpgw module (go run ./bench)")
	}
	return filepath.Dir(gomod), nil
}

// revision names the commit of the tree in dir, and whether tracked files
// differ from it.
func revision(ctx context.Context, dir string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown (not a git checkout)"
	}
	rev := strings.TrimSpace(string(out))
	if out, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(out) > 0 {
		rev += " with uncommitted changes"
	}
	return rev
}

// buildGateway builds ./cmd/gateway of the module in root.
func buildGateway(ctx context.Context, root, bin string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gateway")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/gateway: %v\n%s", err, out)
	}
	return nil
}

// writeRandom writes size pseudo-random bytes to path.
func writeRandom(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{'f', 't', 'p', 'g', 'w'})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		rng.Read(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		left -= n
	}
	return f.Close()
}

func openContent(path string) (content, error) {
	f, err := os.Open(path)
	if err != nil {
		return content{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return content{}, err
	}
	return content{f: f, size: fi.Size()}, nil
}

// alternate runs gateway and direct runs times each, alternating and
// swapping which goes first every other round (ABBA), so that a drift in
// the machine's load does not favour one side.
func alternate(runs int, gateway, direct func(i int) error) error {
	for i := range runs {
		first, second := gateway, direct
		if i%2 == 1 {
			first, second = direct, gateway
		}
		if err := first(i); err != nil {
			return err
		}
		if err := second(i); err != nil {
			return err
		}
	}
	return nil
}

// measureGet is workload a, with the gateway's CPU for f.
func measureGet(ctx context.Context, r *results, gw *gateway, directURL string) error {
	size := r.opts.bigSize
	return alternate(r.opts.runs, func(i int) error {
		cpu0, err := cpuSeconds(gw.pid)
		if err != nil {
			return err
		}
		res, err := curl(ctx, gw.url("/files/big.bin"), "")
		if err != nil {
			return err
		}
		cpu1, err := cpuSeconds(gw.pid)
		if err != nil {
			return err
		}
		if res.code != http.StatusOK || res.bytes != size {
			return fmt.Errorf("gateway GET: %d, %d bytes", res.code, res.bytes)
		}
		r.getGW = append(r.getGW, res.speed)
		r.getGWData = append(r.getGWData, res.dataSpeed())
		r.getCPU = append(r.getCPU, (cpu1-cpu0)/(float64(size)/gib))
		logf("GET run %d: gateway %.0f MiB/s (data phase %.0f MiB/s; first byte at %.3fs)", i+1, mibs(res.speed), mibs(res.dataSpeed()), res.start)
		return nil
	}, func(i int) error {
		res, err := curl(ctx, directURL, "")
		if err != nil {
			return err
		}
		if res.code != ftpcore.StatusClosingDataConn || res.bytes != size {
			return fmt.Errorf("direct GET: %d, %d bytes", res.code, res.bytes)
		}
		r.getFTP = append(r.getFTP, res.speed)
		r.getFTPData = append(r.getFTPData, res.dataSpeed())
		logf("GET run %d: direct  %.0f MiB/s (data phase %.0f MiB/s; first byte at %.3fs)", i+1, mibs(res.speed), mibs(res.dataSpeed()), res.start)
		return nil
	})
}

// measurePut is workload d, with the gateway's CPU for f.
func measurePut(ctx context.Context, r *results, gw *gateway, srv *realftpd.Server, directURL, src string) error {
	size := r.opts.bigSize
	checkSize := func(name string) error { return removeUploaded(srv, name, size) }
	return alternate(r.opts.runs, func(i int) error {
		cpu0, err := cpuSeconds(gw.pid)
		if err != nil {
			return err
		}
		res, err := curl(ctx, gw.url("/files/up.bin"), src)
		if err != nil {
			return err
		}
		cpu1, err := cpuSeconds(gw.pid)
		if err != nil {
			return err
		}
		if (res.code != http.StatusCreated && res.code != http.StatusNoContent) || res.bytes != size {
			return fmt.Errorf("gateway PUT: %d, %d bytes", res.code, res.bytes)
		}
		if err := checkSize("up.bin"); err != nil {
			return err
		}
		r.putGW = append(r.putGW, res.speed)
		r.putGWData = append(r.putGWData, res.dataSpeed())
		r.putCPU = append(r.putCPU, (cpu1-cpu0)/(float64(size)/gib))
		logf("PUT run %d: gateway %.0f MiB/s (data phase %.0f MiB/s; first byte at %.3fs)", i+1, mibs(res.speed), mibs(res.dataSpeed()), res.start)
		return nil
	}, func(i int) error {
		res, err := curl(ctx, directURL, src)
		if err != nil {
			return err
		}
		if res.code != ftpcore.StatusClosingDataConn || res.bytes != size {
			return fmt.Errorf("direct PUT: %d, %d bytes", res.code, res.bytes)
		}
		if err := checkSize("up-direct.bin"); err != nil {
			return err
		}
		r.putFTP = append(r.putFTP, res.speed)
		r.putFTPData = append(r.putFTPData, res.dataSpeed())
		logf("PUT run %d: direct  %.0f MiB/s (data phase %.0f MiB/s; first byte at %.3fs)", i+1, mibs(res.speed), mibs(res.dataSpeed()), res.start)
		return nil
	})
}

// removeUploaded checks that the file name on srv has size bytes, and
// removes it: dropped now, its dirty pages are never written back, so
// writeback does not run into the next measurement.
func removeUploaded(srv *realftpd.Server, name string, size int64) error {
	fi, err := os.Stat(srv.Path(name))
	if err != nil {
		return err
	}
	if fi.Size() != size {
		return fmt.Errorf("%s: %d bytes stored, want %d", name, fi.Size(), size)
	}
	return os.Remove(srv.Path(name))
}

// measureLoads is workloads b and c.
func measureLoads(ctx context.Context, r *results, gw *gateway, cfg ftpcore.Config, big, small content) error {
	o := r.opts
	client := httpClient(o.clients)
	defer client.CloseIdleConnections()
	var err error
	if r.dialsBefore, err = gw.metric(ctx, "ftpgw_pool_dials_total"); err != nil {
		return err
	}
	sess, err := dialSessions(ctx, cfg, o.clients)
	if err != nil {
		return fmt.Errorf("direct sessions: %v", err)
	}
	defer sess.close()

	one := func(what string, clients int, d time.Duration, do request, into *[]loadResult) func(int) error {
		return func(i int) error {
			res := runLoad(ctx, clients, d, do)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if res.ok == 0 || res.errs > 0 {
				return fmt.Errorf("%s: %d requests failed of %d, first: %v", what, res.errs, res.ok+res.errs, res.firstErr)
			}
			logf("%s run %d: %.0f req/s, p50 %.2f ms, p99 %.2f ms", what, i+1, res.rate(), ms(res.percentile(50)), ms(res.percentile(99)))
			res.lat = summarize(res)
			*into = append(*into, res)
			return nil
		}
	}

	// Untimed, so that the first timed run finds both sides warm: the
	// gateway's pool holds one session when the load starts and dials the
	// rest on demand, which would land in that run's tail.
	warm := func(what string, do request) error {
		res := runLoad(ctx, o.clients, warmup, do)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if res.errs > 0 {
			return fmt.Errorf("%s warm-up: %d requests failed of %d, first: %v", what, res.errs, res.ok+res.errs, res.firstErr)
		}
		return nil
	}

	logf("ranges: %d clients, random %d KiB ranges, %v per run, after %v untimed", o.clients, rangeLen>>10, o.duration, warmup)
	if err := warm("ranges gateway", httpRanges(client, gw.url("/files/big.bin"), big)); err != nil {
		return err
	}
	if err := warm("ranges direct", sess.retr("big.bin", rangeLen, big, false)); err != nil {
		return err
	}
	redials := sess.redials.Load()
	if err := alternate(o.runs,
		one("ranges gateway", o.clients, o.duration, httpRanges(client, gw.url("/files/big.bin"), big), &r.rangeGW),
		one("ranges direct ", o.clients, o.duration, sess.retr("big.bin", rangeLen, big, false), &r.rangeFTP),
	); err != nil {
		return err
	}
	seq := min(o.duration, seqDuration)
	logf("ranges: 1 client, random %d KiB ranges, %v per run", rangeLen>>10, seq)
	if err := alternate(o.runs,
		one("ranges 1 client gateway", 1, seq, httpRanges(client, gw.url("/files/big.bin"), big), &r.seqGW),
		one("ranges 1 client direct ", 1, seq, sess.retr("big.bin", rangeLen, big, false), &r.seqFTP),
	); err != nil {
		return err
	}
	r.rangeRedials = sess.redials.Load() - redials
	if r.dialsRanges, err = gw.metric(ctx, "ftpgw_pool_dials_total"); err != nil {
		return err
	}

	logf("small files: %d clients, 1 KiB GET, %v per run, after %v untimed", o.clients, o.duration, warmup)
	if err := warm("small gateway", httpWhole(client, gw.url("/files/small.bin"), small)); err != nil {
		return err
	}
	if err := warm("small direct", sess.retr("small.bin", smallSize, small, true)); err != nil {
		return err
	}
	redials = sess.redials.Load()
	if err := alternate(o.runs,
		one("small gateway", o.clients, o.duration, httpWhole(client, gw.url("/files/small.bin"), small), &r.smallGW),
		one("small direct ", o.clients, o.duration, sess.retr("small.bin", smallSize, small, true), &r.smallFTP),
	); err != nil {
		return err
	}
	r.smallRedials = sess.redials.Load() - redials
	if r.dialsSmall, err = gw.metric(ctx, "ftpgw_pool_dials_total"); err != nil {
		return err
	}
	return nil
}

// summarize keeps only the percentiles the report needs of a run's
// latencies: p50 at [0], p99 at [1].
func summarize(r loadResult) []time.Duration {
	return []time.Duration{r.percentile(50), r.percentile(99)}
}

// measureMemory is workload e: the gateway's peak RSS while it serves
// memGets downloads of the big file and memPuts uploads at once.
func measureMemory(ctx context.Context, r *results, gw *gateway, srv *realftpd.Server, src string) error {
	var err error
	if r.mem.idleKiB, err = memKiB(gw.pid, "VmRSS"); err != nil {
		return err
	}
	type job struct {
		url, upload string
		want        int64
	}
	var jobs []job
	for range memGets {
		jobs = append(jobs, job{gw.url("/files/big.bin"), "", r.opts.bigSize})
	}
	for i := range memPuts {
		jobs = append(jobs, job{gw.url(fmt.Sprintf("/files/mem-up-%d.bin", i)), src, r.opts.memUp})
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	start := time.Now()
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := curl(ctx, j.url, j.upload)
			switch {
			case err != nil:
				errs[i] = err
			case res.bytes != j.want || (j.upload == "" && res.code != http.StatusOK) ||
				(j.upload != "" && res.code != http.StatusCreated && res.code != http.StatusNoContent):
				errs[i] = fmt.Errorf("memory load: %s: %d, %d bytes", j.url, res.code, res.bytes)
			}
		}()
	}
	wg.Wait()
	r.mem.elapsed = time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.mem.moved = memGets*r.opts.bigSize + memPuts*r.opts.memUp
	if r.mem.peakKiB, err = memKiB(gw.pid, "VmHWM"); err != nil {
		return err
	}
	for i := range memPuts {
		if err := os.Remove(srv.Path(fmt.Sprintf("mem-up-%d.bin", i))); err != nil {
			return err
		}
	}
	logf("memory: peak RSS %.1f MiB (%.1f MiB when idle), %.1f GiB in %.1fs",
		float64(r.mem.peakKiB)/1024, float64(r.mem.idleKiB)/1024, float64(r.mem.moved)/gib, r.mem.elapsed.Seconds())
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
