package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// sample is one side's values of one measurement, with what failed.
type sample struct {
	vals           []float64
	errs, timeouts int
	firstErr       string
	skipped        string // why the side did not run
}

// fail counts err, a timeout if it is one: the request's context ran
// out, or curl's --max-time (exit status 28).
func (s *sample) fail(err error) {
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "exit status 28") {
		s.timeouts++
	} else {
		s.errs++
	}
	if s.firstErr == "" {
		s.firstErr = err.Error()
	}
}

// loadSample is one side's runs of a concurrent load: requests/s in vals,
// and latencies in milliseconds.
type loadSample struct {
	sample
	p50, p99 []float64
}

// rttResult is what was measured at one round-trip time.
type rttResult struct {
	rtt time.Duration
	// a: seconds to the first byte and to the end of each range, and the
	// gateway's round trips before its first byte.
	ttfb, total [nSides]sample
	flights     []float64
	guessed     bool // no "ftp data dial" in the trace: a dial per transfer assumed
	// b: bytes per second of each transfer.
	get, put [nSides]sample
	// d and e.
	ranges, small [nSides]loadSample
	// gwErrors is the gateway's own account of what failed in b, d and
	// e: its log lines at level ERROR; ftpdErrors vsftpd's, at this RTT:
	// its "500 OOPS" replies, after which it ends the session;
	// rcloneErrors rclone's lines of this RTT that say ERROR.
	gwErrors, ftpdErrors, rcloneErrors []string
}

// ftpsResult is measurement f at one round-trip time (-1: no proxy).
type ftpsResult struct {
	rtt time.Duration
	get [nSides]sample // gateway and curl; bytes per second
	cpu []float64      // gateway CPU-seconds per GiB
}

// latencyResult is the latency mode's results.
type latencyResult struct {
	ran     bool
	runs    int
	rtts    []rttResult
	capped  [nSides]sample // c: bytes per second
	ftps    []ftpsResult
	multi   sample // g: seconds per request
	mflight []float64
	mguess  bool
	// mtrace is the gateway's trace of g's last request, from mt0.
	mtrace []traceEvent
	mt0    time.Time
	rclone string // why rclone did not run, if it did not
	noFTPS string // why f did not run, if it did not
}

// latencyLab is what the latency measurements share.
type latencyLab struct {
	o          options
	runs       int
	tmp, bin   string
	srv        *realftpd.Server
	net        *network
	rc         *rcloneServer // nil when rclone is not running
	big, small content
	res        *latencyResult
	oopsSeen   int // vsftpd's OOPS lines reported already
	rcloneSeen int // rclone's ERROR lines reported already
}

// runLatency is the latency mode.
func runLatency(ctx context.Context, r *results, tmp, bin string) (err error) {
	o := r.opts
	lr := &r.latency
	lr.ran, lr.runs = true, o.latencyRuns
	logf("latency: starting vsftpd (PASV replies naming %s) and delay proxies for its control port and passive range", proxyHost)
	srv, stopSrv, err := realftpd.Launch(realftpd.Vsftpd, realftpd.Options{PasvAddress: proxyHost})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopSrv()) }()
	nw, err := newNetwork(srv)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, nw.close()) }()
	l := &latencyLab{o: o, runs: o.latencyRuns, tmp: tmp, bin: bin, srv: srv, net: nw, res: lr}
	logf("latency: creating a %d MiB and a 1 KiB file", o.bigSize>>20)
	if err := writeRandom(srv.Path("big.bin"), o.bigSize); err != nil {
		return err
	}
	if err := writeRandom(srv.Path("small.bin"), smallSize); err != nil {
		return err
	}
	if l.big, err = openContent(srv.Path("big.bin")); err != nil {
		return err
	}
	defer l.big.f.Close()
	if l.small, err = openContent(srv.Path("small.bin")); err != nil {
		return err
	}
	defer l.small.f.Close()

	for _, rtt := range o.rtts {
		if err := nw.set(rtt, 0); err != nil {
			return err
		}
		if l.rc == nil && lr.rclone == "" {
			if l.rc, err = startRclone(ctx, tmp, nw.addr(), srv); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				lr.rclone = err.Error()
				logf("latency: rclone: %v; its side is left out", err)
			} else {
				defer l.rc.stop()
			}
		}
		res := rttResult{rtt: rtt}
		if err := l.atRTT(ctx, &res); err != nil {
			return err
		}
		lr.rtts = append(lr.rtts, res)
	}

	if err := nw.set(capRTT, 0); err != nil {
		return err
	}
	if err := l.multirange(ctx); err != nil {
		return err
	}
	if err := nw.set(capRTT, capRate); err != nil {
		return err
	}
	if err := l.capped(ctx); err != nil {
		return err
	}
	if err := nw.close(); err != nil {
		return err
	}
	return l.ftps(ctx)
}

// gateway starts the gateway with its upstream at the proxies; debug
// turns on its protocol trace.
func (l *latencyLab) gateway(ctx context.Context, debug bool) (*gateway, error) {
	upstream := (&url.URL{Scheme: "ftp", User: url.UserPassword(l.srv.User, l.srv.Password), Host: l.net.addr(), Path: "/"}).String()
	var extra []string
	if debug {
		extra = []string{"--log-level", "debug"}
	}
	return startGateway(ctx, l.bin, upstream, filepath.Join(l.tmp, "gateway-latency.log"), nil, extra...)
}

// turns runs the sides runs times, each first in turn.
func turns(ctx context.Context, runs int, sides ...func(i int)) error {
	for i := range runs {
		for k := range sides {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			sides[(i+k)%len(sides)](i)
		}
	}
	return nil
}

// atRTT runs a, b, d and e at the network's round-trip time.
func (l *latencyLab) atRTT(ctx context.Context, res *rttResult) (err error) {
	rtt := res.rtt
	logf("latency: %v RTT: a. one 64 KiB range at a time, the gateway tracing its FTP commands", rtt)
	gw, err := l.gateway(ctx, true)
	if err != nil {
		return err
	}
	urls := [nSides]string{gw.url("/files/big.bin"), l.net.ftpURL("big.bin"), ""}
	if l.rc != nil {
		urls[sideRclone] = l.rc.url("/big.bin")
	}
	err = turns(ctx, l.runs,
		func(i int) { l.ranges1(ctx, res, sideGateway, urls[sideGateway], i, gw) },
		func(i int) { l.ranges1(ctx, res, sideCurl, urls[sideCurl], i, nil) },
		func(i int) { l.ranges1(ctx, res, sideRclone, urls[sideRclone], i, nil) })
	if err := errors.Join(err, gw.stop()); err != nil {
		return err
	}

	if gw, err = l.gateway(ctx, false); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, gw.stop()) }()
	urls[sideGateway] = gw.url("/files/big.bin")
	logf("latency: %v RTT: b. %s GET and PUT", rtt, sizeName(l.o.bigSize))
	if err := turns(ctx, l.runs,
		func(int) { l.transfer(ctx, &res.get[sideGateway], urls[sideGateway], "") },
		func(int) { l.transfer(ctx, &res.get[sideCurl], urls[sideCurl], "") },
		func(int) { l.transfer(ctx, &res.get[sideRclone], urls[sideRclone], "") }); err != nil {
		return err
	}
	res.put[sideRclone].skipped = "read-only (rclone serve http serves no uploads)"
	if err := turns(ctx, l.runs,
		func(int) { l.transfer(ctx, &res.put[sideGateway], gw.url("/files/up.bin"), "up.bin") },
		func(int) { l.transfer(ctx, &res.put[sideCurl], l.net.ftpURL("up-direct.bin"), "up-direct.bin") }); err != nil {
		return err
	}

	client := httpClient(l.o.clients)
	defer client.CloseIdleConnections()
	for _, w := range []struct {
		what string
		into *[nSides]loadSample
		http func(u string) request
		name string
		file content
	}{
		{"d. random 64 KiB ranges", &res.ranges, func(u string) request { return httpRanges(client, u, l.big) }, "big.bin", l.big},
		{"e. 1 KiB files", &res.small, func(u string) request { return httpWhole(client, u, l.small) }, "small.bin", l.small},
	} {
		logf("latency: %v RTT: %s, %d clients, %v per run", rtt, w.what, l.o.clients, l.o.latencyDuration)
		do := [nSides]request{w.http(gw.url("/files/" + w.name)), curlRequest(l.net.ftpURL(w.name), w.file, min(rangeLen, w.file.size)), nil}
		if l.rc != nil {
			do[sideRclone] = w.http(l.rc.url("/" + w.name))
		}
		// The gateway's pool and rclone's connections warm, untimed.
		for _, s := range []int{sideGateway, sideRclone} {
			if do[s] != nil {
				runLoad(ctx, l.o.clients, time.Second, do[s])
			}
		}
		err := turns(ctx, l.runs,
			func(int) { l.load(ctx, &w.into[sideGateway], sideGateway, do[sideGateway]) },
			func(int) { l.load(ctx, &w.into[sideCurl], sideCurl, do[sideCurl]) },
			func(int) { l.load(ctx, &w.into[sideRclone], sideRclone, do[sideRclone]) })
		if err != nil {
			return err
		}
	}
	res.gwErrors = gw.logLines(`"level":"ERROR"`)
	var oops []string
	for _, line := range l.srv.Log() {
		if strings.Contains(line, "OOPS") {
			oops = append(oops, line)
		}
	}
	res.ftpdErrors = oops[l.oopsSeen:]
	l.oopsSeen = len(oops)
	if l.rc != nil {
		all := linesWith(l.rc.logPath, "ERROR")
		res.rcloneErrors = all[l.rcloneSeen:]
		l.rcloneSeen = len(all)
	}
	return nil
}

// ranges1 is one run of measurement a on one side: latRequests ranges of
// 64 KiB, one at a time, at offsets that follow from the run (the same
// for every side), after latWarm untimed ones. With gw it counts the
// gateway's round trips from its trace.
func (l *latencyLab) ranges1(ctx context.Context, res *rttResult, side int, u string, run int, gw *gateway) {
	if u == "" {
		res.ttfb[side].skipped = "not run: " + l.res.rclone
		return
	}
	rng := rand.New(rand.NewPCG(uint64(run), 13))
	pause := 2*res.rtt + 20*time.Millisecond
	maxTime := strconv.Itoa(int(latTimeout / time.Second))
	for k := -latWarm; k < latRequests; k++ {
		off := rng.Int64N(l.big.size - rangeLen + 1)
		t0 := time.Now()
		cr, err := curl(ctx, u, "", "-r", fmt.Sprintf("%d-%d", off, off+rangeLen-1), "--max-time", maxTime)
		t1 := time.Now()
		if err == nil && (cr.bytes != rangeLen || (strings.HasPrefix(u, "http") && cr.code != http.StatusPartialContent)) {
			err = fmt.Errorf("range %d: %d, %d bytes", off, cr.code, cr.bytes)
		}
		time.Sleep(pause) // the end of the transfer settles before the next
		if k < 0 {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				res.ttfb[side].fail(err)
			}
			continue
		}
		res.ttfb[side].vals = append(res.ttfb[side].vals, cr.start)
		res.total[side].vals = append(res.total[side].vals, cr.total)
		if gw != nil {
			if n, guessed, ok := traceFlights(gw, t0, t1, true); ok {
				res.flights = append(res.flights, float64(n))
				res.guessed = res.guessed || guessed
			}
		}
	}
	logf("latency: %v RTT: a. %s: first byte %s s", res.rtt, sideNames[side], list(res.ttfb[side].vals, "%.4f"))
}

// traceFlights counts the round trips in the gateway's trace from t0 to
// t1 (countFlights).
func traceFlights(gw *gateway, t0, t1 time.Time, firstByte bool) (n int, guessed, ok bool) {
	f, err := os.Open(gw.logPath)
	if err != nil {
		return 0, false, false
	}
	defer f.Close()
	evs, err := readTrace(f)
	if err != nil {
		return 0, false, false
	}
	fc := countFlights(between(evs, t0, t1), firstByte, dialsLogged(evs))
	return fc.flights, fc.guessed, fc.data
}

// transfer GETs the big file from u, or PUTs it there when upload names
// the file it becomes on the server, and checks its size; extra are more
// options of curl.
func (l *latencyLab) transfer(ctx context.Context, s *sample, u, upload string, extra ...string) {
	if u == "" {
		s.skipped = "not run: " + l.res.rclone
		return
	}
	src := ""
	if upload != "" {
		src = l.srv.Path("big.bin")
	}
	cr, err := curl(ctx, u, src, append([]string{"--max-time", "300"}, extra...)...)
	okCode := map[bool]bool{true: cr.code == http.StatusOK || cr.code == http.StatusCreated || cr.code == http.StatusNoContent,
		false: cr.code == ftpcore.StatusClosingDataConn}[strings.HasPrefix(u, "http")]
	switch {
	case err == nil && (!okCode || cr.bytes != l.o.bigSize):
		err = fmt.Errorf("%d, %d bytes", cr.code, cr.bytes)
	case err == nil && upload != "":
		err = removeUploaded(l.srv, upload, l.o.bigSize)
	}
	if err != nil {
		if ctx.Err() == nil {
			s.fail(err)
		}
		return
	}
	s.vals = append(s.vals, cr.speed)
	logf("latency: %s %s: %.0f MiB/s", redact(u), map[bool]string{true: "PUT", false: "GET"}[upload != ""], mibs(cr.speed))
}

// load is one run of a concurrent load on one side.
func (l *latencyLab) load(ctx context.Context, s *loadSample, side int, do request) {
	if do == nil {
		s.skipped = "not run: " + l.res.rclone
		return
	}
	var timeouts atomic.Int64
	res := runLoad(ctx, l.o.clients, l.o.latencyDuration, func(ctx context.Context, w int, rng *rand.Rand) (time.Duration, error) {
		d, err := do(ctx, w, rng)
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			timeouts.Add(1)
		}
		return d, err
	})
	if ctx.Err() != nil {
		return
	}
	s.timeouts += int(timeouts.Load())
	s.errs += res.errs - int(timeouts.Load())
	if res.firstErr != nil && s.firstErr == "" {
		s.firstErr = res.firstErr.Error()
	}
	if res.ok == 0 {
		return
	}
	s.vals = append(s.vals, res.rate())
	s.p50 = append(s.p50, ms(res.percentile(50)))
	s.p99 = append(s.p99, ms(res.percentile(99)))
	logf("latency: %v RTT: load, %s: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d failed", l.net.rtt, sideNames[side], res.rate(), ms(res.percentile(50)), ms(res.percentile(99)), res.errs)
}

// curlRequest is a direct curl ftp:// of length bytes of file at u (a
// random range, unless length is the whole file), a login each time.
func curlRequest(u string, file content, length int64) request {
	bufs := newBuffers(maxClients, int(length))
	return func(ctx context.Context, w int, rng *rand.Rand) (time.Duration, error) {
		var off int64
		args := []string{"-sS"}
		if length < file.size {
			off = rng.Int64N(file.size - length + 1)
			args = append(args, "-r", fmt.Sprintf("%d-%d", off, off+length-1))
		}
		cmd := exec.CommandContext(ctx, "curl", append(args, u)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		t0 := time.Now()
		out, err := cmd.Output()
		d := time.Since(t0)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("curl: %v: %s", err, strings.TrimSpace(stderr.String()))
		}
		if int64(len(out)) != length {
			return 0, fmt.Errorf("curl: %d bytes, want %d", len(out), length)
		}
		return d, file.check(out, off, bufs.want[w])
	}
}

// multirange is g: one request of mgParts far-apart ranges, one at a
// time, with the gateway tracing its commands.
func (l *latencyLab) multirange(ctx context.Context) (err error) {
	logf("latency: %v RTT: g. %d ranges of %d KiB far apart in one request", capRTT, mgParts, mrPartLen>>10)
	gw, err := l.gateway(ctx, true)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, gw.stop()) }()
	client := httpClient(1)
	defer client.CloseIdleConnections()
	g := l.res
	for i := range l.runs {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		for k := -latWarm; k < latRequests; k++ {
			offs := make([]int64, mgParts)
			slice := l.big.size / mgParts
			for p := range offs {
				offs[p] = int64(p)*slice + rng.Int64N(slice-mrPartLen)
			}
			rctx, cancel := context.WithTimeout(ctx, latTimeout)
			t0 := time.Now()
			err := getMulti(rctx, client, gw.url("/files/big.bin"), l.big, offs)
			t1 := time.Now()
			cancel()
			time.Sleep(capRTT*2 + 20*time.Millisecond)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if k < 0 {
				continue
			}
			if err != nil {
				g.multi.fail(err)
				continue
			}
			g.multi.vals = append(g.multi.vals, t1.Sub(t0).Seconds())
			if n, guessed, ok := traceFlights(gw, t0, t1, false); ok {
				g.mflight = append(g.mflight, float64(n))
				g.mguess = g.mguess || guessed
			}
			if f, err := os.Open(gw.logPath); err == nil {
				if evs, err := readTrace(f); err == nil {
					g.mtrace, g.mt0 = between(evs, t0, t1), t0
				}
				f.Close()
			}
		}
	}
	logf("latency: g. ms per request %s; round trips %s", list(scaled(g.multi.vals, func(s float64) float64 { return s * 1000 }), "%.1f"), list(g.mflight, "%.0f"))
	return nil
}

// capped is c: the big file through the gateway and by direct curl at
// capRTT with each connection capped at capRate.
func (l *latencyLab) capped(ctx context.Context) (err error) {
	logf("latency: c. %s GET at %v RTT, capped at %d Mbit/s", sizeName(l.o.bigSize), capRTT, capRate*8/1_000_000)
	gw, err := l.gateway(ctx, false)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, gw.stop()) }()
	return turns(ctx, l.runs,
		func(int) { l.transfer(ctx, &l.res.capped[sideGateway], gw.url("/files/big.bin"), "") },
		func(int) { l.transfer(ctx, &l.res.capped[sideCurl], l.net.ftpURL("big.bin"), "") })
}

// ftps is f: explicit FTPS vsftpd (require_ssl_reuse), on loopback and at
// capRTT through proxies of its own: the big file through the gateway
// against curl --ssl-reqd, and the gateway's CPU per GiB.
func (l *latencyLab) ftps(ctx context.Context) (err error) {
	logf("latency: f. explicit FTPS: starting vsftpd with TLS")
	srv, stop, err := realftpd.Launch(realftpd.VsftpdTLS13, realftpd.Options{PasvAddress: proxyHost})
	if err != nil {
		l.res.noFTPS = err.Error()
		logf("latency: f. not run: %v", err)
		return nil
	}
	defer func() { err = errors.Join(err, stop()) }()
	// The same bytes: a link where the file system allows it.
	if err := os.Link(l.srv.Path("big.bin"), srv.Path("big.bin")); err != nil {
		if err := writeRandom(srv.Path("big.bin"), l.o.bigSize); err != nil {
			return err
		}
	}
	nw, err := newNetwork(srv)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, nw.close()) }()
	for _, rtt := range []time.Duration{-1, capRTT} {
		addr := srv.Addr
		if rtt >= 0 {
			if err := nw.set(rtt, 0); err != nil {
				return err
			}
			addr = nw.addr()
		}
		host, port, _ := net.SplitHostPort(addr)
		f := ftpsResult{rtt: rtt}
		upstream := (&url.URL{Scheme: "ftpes", User: url.UserPassword(srv.User, srv.Password), Host: addr, Path: "/"}).String()
		gw, err := startGateway(ctx, l.bin, upstream, filepath.Join(l.tmp, "gateway-ftps.log"), nil,
			"--tls-ca-file", srv.TLS.CAFile, "--tls-server-name", srv.TLS.ServerName)
		if err != nil {
			return err
		}
		// curl checks the certificate for the name in the URL: the
		// certificate's, resolved to where the server (or its proxy) is.
		direct := (&url.URL{Scheme: "ftp", User: url.UserPassword(srv.User, srv.Password), Host: net.JoinHostPort(srv.TLS.ServerName, port), Path: "/big.bin"}).String()
		tlsArgs := []string{"--ssl-reqd", "--cacert", srv.TLS.CAFile, "--resolve", srv.TLS.ServerName + ":" + port + ":" + host}
		err = turns(ctx, l.runs,
			func(int) {
				cpu0, err0 := cpuSeconds(gw.pid)
				l.transfer(ctx, &f.get[sideGateway], gw.url("/files/big.bin"), "")
				cpu1, err1 := cpuSeconds(gw.pid)
				if err0 == nil && err1 == nil {
					f.cpu = append(f.cpu, (cpu1-cpu0)/(float64(l.o.bigSize)/gib))
				}
			},
			func(int) { l.transfer(ctx, &f.get[sideCurl], direct, "", tlsArgs...) })
		if err := errors.Join(err, gw.stop()); err != nil {
			return err
		}
		l.res.ftps = append(l.res.ftps, f)
	}
	return nil
}
