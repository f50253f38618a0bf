package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Workload i: several ranges of the big file in one request (206
// multipart/byteranges) against the same ranges fetched one by one, by one
// client over a kept-alive connection, in two shapes: parts far apart
// (a RETR each) and parts near each other (one RETR reads through the
// gaps). The gap below which the gateway reads through rather than start
// another RETR (partGap in api/multirange.go) is judged by the break-even
// gap: what an extra RETR costs, times how fast the gateway reads a file.
const (
	mrParts    = 8       // ranges per request
	mrPartLen  = 4 << 10 // bytes per range
	mrNearStep = 32 << 10
	mrSets     = 40 // sets of ranges per run of each shape and side
	// mrSpeedLen is the range whose GET measures how fast the gateway
	// reads through a file.
	mrSpeedLen = 64 << 20
)

// multirangeResult is workload i: per run, the median milliseconds to get
// one set of mrParts ranges, and the gateway's read speed in bytes per
// second; and the trace of one GET of mrSpliceParts large ranges.
type multirangeResult struct {
	far, farOne, near, nearOne []float64
	speed                      []float64
	splice                     spliceResult
}

// mrSpliceParts ranges of an eighth of the big file each, one in every
// other eighth, make the GET whose parts must be spliced.
const mrSpliceParts = 4

// multirangeSplice GETs mrSpliceParts ranges of the big file in one
// request with the gateway (restarted) under strace, as g does the whole
// file, unless strace is not to be run.
func multirangeSplice(ctx context.Context, r *results, tmp string, gws *gateways, big content) error {
	m := &r.multirange
	if r.splice.skipped != "" || !r.opts.strace {
		m.splice.skipped = "not run (no strace)"
		return nil
	}
	if _, err := exec.LookPath("strace"); err != nil {
		m.splice.skipped = "not run: strace is not installed (make bench installs it)"
		return nil
	}
	logf("multi-range splice: one GET of %d ranges with the gateway under strace", mrSpliceParts)
	trace := filepath.Join(tmp, "strace-multirange.out")
	gw, err := gws.restart(ctx, straceWrap(trace))
	if err != nil {
		return err
	}
	eighth := big.size / 8
	specs := make([]string, mrSpliceParts)
	for i := range specs {
		specs[i] = fmt.Sprintf("%d-%d", int64(2*i)*eighth, int64(2*i+1)*eighth-1)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", gw.url("/files/big.bin"), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", "bytes="+strings.Join(specs, ","))
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusPartialContent || n != resp.ContentLength || n < mrSpliceParts*eighth {
		return fmt.Errorf("multi-range GET under strace: %s, %d of %d bytes, %v", resp.Status, n, resp.ContentLength, err)
	}
	speed := float64(n) / time.Since(t0).Seconds()
	if err := gws.stop(); err != nil {
		return err
	}
	m.splice, err = readStrace(trace)
	m.splice.speed = speed
	return err
}

// retrCost is what one more RETR costs inside a multi-range request, in
// milliseconds: the far shape takes a RETR per part, the near one a single
// RETR for all of them, and both send the same bytes.
func (m multirangeResult) retrCost() float64 {
	return (median(m.far) - median(m.near)) / (mrParts - 1)
}

// breakEven is the gap, in bytes, that the gateway reads in the time one
// more RETR costs: below it one RETR through the gap is cheaper.
func (m multirangeResult) breakEven() float64 {
	return m.retrCost() / 1000 * median(m.speed)
}

// rangeSet is mrParts ranges of a file of size bytes, sorted: far apart
// (one in each of mrParts equal slices of the file), or near (mrNearStep
// apart from a random start).
func rangeSet(rng *rand.Rand, size int64, near bool) []int64 {
	offs := make([]int64, mrParts)
	if near {
		start := rng.Int64N(size - mrParts*mrNearStep)
		for i := range offs {
			offs[i] = start + int64(i)*mrNearStep
		}
		return offs
	}
	slice := size / mrParts
	for i := range offs {
		offs[i] = int64(i)*slice + rng.Int64N(slice-mrPartLen)
	}
	return offs
}

func measureMultirange(ctx context.Context, r *results, gw *gateway, big content) error {
	if big.size < 2*mrParts*mrNearStep || big.size < mrSpeedLen {
		return fmt.Errorf("multi-range: the big file is smaller than %d MiB", mrSpeedLen>>20)
	}
	client := httpClient(1)
	defer client.CloseIdleConnections()
	url := gw.url("/files/big.bin")
	m := &r.multirange
	logf("multi-range: %d ranges of %d KiB in one request and one by one, far apart and %d KiB apart, %d sets per run",
		mrParts, mrPartLen>>10, mrNearStep>>10, mrSets)
	for _, near := range []bool{false, true} {
		multi, one := &m.far, &m.farOne
		shape := "far "
		if near {
			multi, one, shape = &m.near, &m.nearOne, "near"
		}
		set := func(i int, each bool, into *[]float64) error {
			rng := rand.New(rand.NewPCG(uint64(i), 1)) // the same sets for both sides
			lat := make([]float64, 0, mrSets)
			for range mrSets {
				offs := rangeSet(rng, big.size, near)
				t0 := time.Now()
				var err error
				if each {
					err = getEach(ctx, client, url, big, offs)
				} else {
					err = getMulti(ctx, client, url, big, offs)
				}
				if err != nil {
					return err
				}
				lat = append(lat, ms(time.Since(t0)))
			}
			*into = append(*into, median(lat))
			logf("multi-range %s run %d, %s: %.2f ms per set", shape, i+1, map[bool]string{true: "one by one", false: "one request"}[each], median(lat))
			return nil
		}
		// Untimed, so that both sides find the session and the page cache warm.
		if err := set(-1, false, new([]float64)); err != nil {
			return err
		}
		if err := alternate(r.opts.runs,
			func(i int) error { return set(i, false, multi) },
			func(i int) error { return set(i, true, one) },
		); err != nil {
			return err
		}
	}
	for i := range r.opts.runs {
		t0 := time.Now()
		if err := getEach(ctx, client, url, big, []int64{0}, mrSpeedLen); err != nil {
			return err
		}
		m.speed = append(m.speed, mrSpeedLen/time.Since(t0).Seconds())
		logf("multi-range: read speed run %d: %.0f MiB/s", i+1, mibs(m.speed[i]))
	}
	return nil
}

// getEach GETs each range (of mrPartLen bytes, or of the length given)
// at offs on its own, and checks it.
func getEach(ctx context.Context, client *http.Client, url string, file content, offs []int64, length ...int64) error {
	n := int64(mrPartLen)
	if len(length) > 0 {
		n = length[0]
	}
	got, want := make([]byte, n+1), make([]byte, n)
	for _, off := range offs {
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		err = readBody(resp.Body, got, int(n))
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusPartialContent {
			return fmt.Errorf("range %d: %s", off, resp.Status)
		}
		if err := file.check(got[:n], off, want); err != nil {
			return err
		}
	}
	return nil
}

// getMulti GETs the ranges at offs in one request and checks every part
// with a multipart reader.
func getMulti(ctx context.Context, client *http.Client, url string, file content, offs []int64) error {
	specs := make([]string, len(offs))
	for i, off := range offs {
		specs[i] = fmt.Sprintf("%d-%d", off, off+mrPartLen-1)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", "bytes="+strings.Join(specs, ","))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusPartialContent || err != nil || mt != "multipart/byteranges" {
		return fmt.Errorf("multi-range: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	got, want := make([]byte, mrPartLen+1), make([]byte, mrPartLen)
	// The parts come in the order asked, offs being sorted and apart.
	for _, off := range offs {
		p, err := mr.NextRawPart()
		if err != nil {
			return fmt.Errorf("multi-range: part at %d: %w", off, err)
		}
		cr := fmt.Sprintf("bytes %d-%d/%d", off, off+mrPartLen-1, file.size)
		if p.Header.Get("Content-Range") != cr {
			return fmt.Errorf("multi-range: part Content-Range %q, want %q", p.Header.Get("Content-Range"), cr)
		}
		if err := readBody(p, got, mrPartLen); err != nil {
			return err
		}
		if err := file.check(got[:mrPartLen], off, want); err != nil {
			return err
		}
	}
	if _, err := mr.NextRawPart(); err != io.EOF {
		return fmt.Errorf("multi-range: after the %d parts asked for: %v", len(offs), err)
	}
	return nil
}

// renderMultirange writes workload i's rows with row.
func renderMultirange(row func(cells ...string), m multirangeResult, bigSize int64) {
	for _, s := range []struct {
		name       string
		multi, one []float64
	}{
		{fmt.Sprintf("i. %d ranges of %d KiB far apart, 1 client", mrParts, mrPartLen>>10), m.far, m.farOne},
		{fmt.Sprintf("i. %d ranges of %d KiB %d KiB apart, 1 client", mrParts, mrPartLen>>10, mrNearStep>>10), m.near, m.nearOne},
	} {
		g, o := median(s.multi), median(s.one)
		row(s.name, "ms per set: one request / one by one", f2(g), f2(o), fmt.Sprintf("%.2fx", g/o), "report", "")
	}
	data := mrSpliceParts * (bigSize / 8)
	row(fmt.Sprintf("i. %d ranges of an eighth of the file in one GET, under strace", mrSpliceParts), "splice calls / bytes spliced",
		spliceCell(m.splice, data), "", "", "parts spliced", spliceVerdict(m.splice, data))
	row("i. break-even gap", "one RETR's cost × read speed", fmt.Sprintf("%.2f ms × %.0f MiB/s = %.0f KiB", m.retrCost(), mibs(median(m.speed)), m.breakEven()/1024),
		"", "", "above the gateway's 64 KiB", verdict(m.breakEven() >= 64<<10, fmt.Sprintf("%.0f KiB", 64-m.breakEven()/1024)))
}

// multirangeDetail is workload i's line of each run.
func multirangeDetail(m multirangeResult) string {
	return fmt.Sprintf("i. multi-range ms per set, far: one request %s, one by one %s; near: one request %s, one by one %s; read speed MiB/s %s. Multi-range %s",
		list(m.far, "%.2f"), list(m.farOne, "%.2f"), list(m.near, "%.2f"), list(m.nearOne, "%.2f"), list(scaled(m.speed, mibs), "%.0f"), spliceDetail(m.splice))
}
