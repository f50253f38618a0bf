package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// envInfo describes the machine a run was measured on.
type envInfo struct {
	date, kernel, cpu, goVersion, vsftpd, curl, load string
	cores                                            int
	revision                                         string // of the gateway measured
}

func environment() envInfo {
	e := envInfo{
		date:      time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		cores:     runtime.NumCPU(),
		goVersion: runtime.Version(),
		kernel:    "unknown",
		cpu:       "unknown",
		vsftpd:    "unknown",
		curl:      "unknown",
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				e.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	// vsftpd -v writes its version to standard input; ask the package.
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "vsftpd").Output(); err == nil && len(out) > 0 {
		e.vsftpd = string(out)
	}
	if out, err := exec.Command("curl", "--version").Output(); err == nil {
		if f := strings.Fields(string(out)); len(f) > 1 {
			e.curl = f[1]
		}
	}
	e.load = loadAverage()
	return e
}

// loadAverage returns the 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// stat extracts one number from each run of a load.
func stat(rs []loadResult, f func(loadResult) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func rate(r loadResult) float64 { return r.rate() }
func p50(r loadResult) float64  { return ms(r.lat[0]) }
func p99(r loadResult) float64  { return ms(r.lat[1]) }

func mibs(bps float64) float64 { return bps / (1 << 20) }

// list formats the values of each run.
func list(xs []float64, format string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, " ")
}

func scaled(xs []float64, f func(float64) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// verdict says whether a target is met and by how much it is missed.
func verdict(ok bool, miss string) string {
	if ok {
		return "met"
	}
	return "**missed** by " + miss
}

// render formats the results as a markdown section.
func render(r *results) string {
	o, e := r.opts, r.env
	var b strings.Builder
	fmt.Fprintf(&b, "## Results %s\n\n", e.date)
	fmt.Fprintf(&b, "Gateway built from %s.\n", e.revision)
	fmt.Fprintf(&b, "Linux %s, %s, %d cores; %s; vsftpd %s; curl %s. Load average at the start: %s; at the end: %s.\n",
		e.kernel, e.cpu, e.cores, e.goVersion, e.vsftpd, e.curl, e.load, loadAverage())
	// alone is the table of one workload run on its own.
	alone := func(name, flag, sides string, rows func(row func(cells ...string)), detail string) string {
		fmt.Fprintf(&b, "Workload %s alone (%s): medians of %d runs of each side, taking turns at going first. Big file %s.\n\n", name, flag, o.runs, sizeName(o.bigSize))
		b.WriteString("| Workload | Metric | " + sides + " | Ratio | Target | |\n")
		b.WriteString("|---|---|--:|--:|--:|---|---|\n")
		rows(func(cells ...string) { b.WriteString("| " + strings.Join(cells, " | ") + " |\n") })
		fmt.Fprintf(&b, "\n- %s\n", detail)
		return b.String()
	}
	switch {
	case r.multirangeOnly:
		return alone("i", "-multirange-only", "Gateway | One by one",
			func(row func(cells ...string)) { renderMultirange(row, r.multirange, o.bigSize) }, multirangeDetail(r.multirange))
	case r.latencyOnly:
		b.WriteString("The latency mode alone (-latency-only).\n")
		renderLatency(&b, r.latency, o)
		return b.String()
	case r.resumableOnly:
		return alone("j", "-resumable-only", "Resumable | One PUT",
			func(row func(cells ...string)) { renderResumable(row, r.resumable, o.bigSize) }, resumableDetail(r.resumable))
	}
	if !r.compared {
		b.WriteString("The soak alone (-soak-only): no comparison with direct FTP.\n")
		renderSoak(&b, r.soak)
		return b.String()
	}
	fmt.Fprintf(&b, "Medians of %d runs of each side, alternating (ABBA); the loads ran %d clients for %v per run. Big file %s.\n\n",
		o.runs, o.clients, o.duration, sizeName(o.bigSize))

	big := sizeName(o.bigSize)
	getG, getD := median(r.getGW), median(r.getFTP)
	putG, putD := median(r.putGW), median(r.putFTP)
	getRatio, putRatio := getG/getD, putG/putD
	rgRate, rdRate := median(stat(r.rangeGW, rate)), median(stat(r.rangeFTP, rate))
	rg50, rd50 := median(stat(r.rangeGW, p50)), median(stat(r.rangeFTP, p50))
	rg99, rd99 := median(stat(r.rangeGW, p99)), median(stat(r.rangeFTP, p99))
	sgRate, sdRate := median(stat(r.smallGW, rate)), median(stat(r.smallFTP, rate))
	sg50, sd50 := median(stat(r.smallGW, p50)), median(stat(r.smallFTP, p50))
	sg99, sd99 := median(stat(r.smallGW, p99)), median(stat(r.smallFTP, p99))
	overhead := rg50 - rd50
	peakMiB := float64(r.mem.peakKiB) / 1024

	b.WriteString("| Workload | Metric | Gateway | Direct FTP | Gateway vs direct | Target | |\n")
	b.WriteString("|---|---|--:|--:|--:|---|---|\n")
	row := func(cells ...string) { b.WriteString("| " + strings.Join(cells, " | ") + " |\n") }
	row("a. "+big+" GET (curl)", "MiB/s", f0(mibs(getG)), f0(mibs(getD)), fmt.Sprintf("%.2fx", getRatio),
		"≥ 0.65x", verdict(getRatio >= 0.65, fmt.Sprintf("%.2fx", 0.65-getRatio)))
	row(fmt.Sprintf("b. random 64 KiB ranges of %s, %d clients", big, o.clients), "requests/s",
		f0(rgRate), f0(rdRate), fmt.Sprintf("%.2fx", rgRate/rdRate), "report", "")
	row("", "p50 latency, ms", f2(rg50), f2(rd50), fmt.Sprintf("%+.2f ms", overhead), "report", "")
	row("", "p99 latency, ms", f2(rg99), f2(rd99), fmt.Sprintf("%+.2f ms", rg99-rd99), "report", "")
	qg50, qd50 := median(stat(r.seqGW, p50)), median(stat(r.seqFTP, p50))
	own := qg50 - qd50
	row("b. the same, 1 client", "p50 latency, ms", f2(qg50), f2(qd50), fmt.Sprintf("%+.2f ms", own),
		"gateway's own time ≤ 1 ms", verdict(own <= 1, fmt.Sprintf("%.2f ms", own-1)))
	row(fmt.Sprintf("c. 1 KiB GET, %d clients", o.clients), "requests/s",
		f0(sgRate), f0(sdRate), fmt.Sprintf("%.2fx", sgRate/sdRate), "report", "")
	row("", "p50 / p99 latency, ms", f2(sg50)+" / "+f2(sg99), f2(sd50)+" / "+f2(sd99), fmt.Sprintf("%+.2f ms", sg50-sd50), "report", "")
	row("", "FTP logins (pool dials, whole run)", f0(r.dialsSmall), fmt.Sprintf("%d", int64(o.clients)+r.rangeRedials+r.smallRedials), "",
		fmt.Sprintf("≤ %d, none per request", maxDials), verdict(r.dialsSmall <= maxDials, fmt.Sprintf("%.0f logins", r.dialsSmall-maxDials)))
	row("d. "+big+" PUT (curl -T)", "MiB/s", f0(mibs(putG)), f0(mibs(putD)), fmt.Sprintf("%.2fx", putRatio),
		"≥ 0.6x", verdict(putRatio >= 0.6, fmt.Sprintf("%.2fx", 0.6-putRatio)))
	row(fmt.Sprintf("e. %d× %s GET + %d× %s PUT at once", memGets, big, memPuts, sizeName(o.memUp)), "gateway peak RSS (VmHWM), MiB",
		f1(peakMiB), "", "", "≤ 64 MiB", verdict(peakMiB <= 64, fmt.Sprintf("%.1f MiB", peakMiB-64)))
	row("f. gateway CPU, GET", "CPU-seconds per GiB", f2(median(r.getCPU)), "", "", "report", "")
	row("f. gateway CPU, PUT", "CPU-seconds per GiB", f2(median(r.putCPU)), "", "", "report", "")
	row("g. "+big+" GET under strace", "splice calls / bytes spliced", spliceCell(r.splice, o.bigSize), "", "",
		"body spliced", spliceVerdict(r.splice, o.bigSize))
	renderMultirange(row, r.multirange, o.bigSize)
	renderResumable(row, r.resumable, o.bigSize)
	if q := r.soak; q.skipped != "" {
		row("h. soak", "", q.skipped, "", "", "", "")
	} else {
		row(fmt.Sprintf("h. soak, %v, %d clients, one vsftpd restart", q.duration, q.clients), "resources at rest; bodies; errors; files",
			soakCell(q), "", "", "flat; none wrong; errors only at the restart; files whole", soakVerdict(q))
	}

	b.WriteString("\nEach run, in the order run:\n\n")
	fmt.Fprintf(&b, "- a. GET MiB/s: gateway %s; direct %s\n", list(scaled(r.getGW, mibs), "%.0f"), list(scaled(r.getFTP, mibs), "%.0f"))
	fmt.Fprintf(&b, "- a. GET, data phase only (from the first byte to the end: no login for the direct client, no session acquire, SIZE or MDTM for the gateway), MiB/s: gateway %s; direct %s; ratio of medians %.2fx\n",
		list(scaled(r.getGWData, mibs), "%.0f"), list(scaled(r.getFTPData, mibs), "%.0f"), median(r.getGWData)/median(r.getFTPData))
	fmt.Fprintf(&b, "- b. ranges requests/s: gateway %s; direct %s\n", list(stat(r.rangeGW, rate), "%.0f"), list(stat(r.rangeFTP, rate), "%.0f"))
	fmt.Fprintf(&b, "- b. ranges p50 ms: gateway %s; direct %s\n", list(stat(r.rangeGW, p50), "%.2f"), list(stat(r.rangeFTP, p50), "%.2f"))
	fmt.Fprintf(&b, "- b. ranges p99 ms: gateway %s; direct %s\n", list(stat(r.rangeGW, p99), "%.2f"), list(stat(r.rangeFTP, p99), "%.2f"))
	fmt.Fprintf(&b, "- b. one client: requests/s gateway %s, direct %s; p50 ms gateway %s, direct %s; p99 ms gateway %s, direct %s\n",
		list(stat(r.seqGW, rate), "%.0f"), list(stat(r.seqFTP, rate), "%.0f"),
		list(stat(r.seqGW, p50), "%.2f"), list(stat(r.seqFTP, p50), "%.2f"),
		list(stat(r.seqGW, p99), "%.2f"), list(stat(r.seqFTP, p99), "%.2f"))
	fmt.Fprintf(&b, "- c. small requests/s: gateway %s; direct %s\n", list(stat(r.smallGW, rate), "%.0f"), list(stat(r.smallFTP, rate), "%.0f"))
	fmt.Fprintf(&b, "- c. pool dials: %.0f before the range load, %.0f after it, %.0f after the small-file load; direct sessions redialled %d times in b, %d in c\n",
		r.dialsBefore, r.dialsRanges, r.dialsSmall, r.rangeRedials, r.smallRedials)
	fmt.Fprintf(&b, "- d. PUT MiB/s: gateway %s; direct %s\n", list(scaled(r.putGW, mibs), "%.0f"), list(scaled(r.putFTP, mibs), "%.0f"))
	fmt.Fprintf(&b, "- d. PUT, data phase only (from curl's first byte to the end), MiB/s: gateway %s; direct %s; ratio of medians %.2fx\n",
		list(scaled(r.putGWData, mibs), "%.0f"), list(scaled(r.putFTPData, mibs), "%.0f"), median(r.putGWData)/median(r.putFTPData))
	fmt.Fprintf(&b, "- e. gateway RSS %.1f MiB when ready, peak %.1f MiB; %.2f GiB moved in %.1f s\n",
		float64(r.mem.idleKiB)/1024, peakMiB, float64(r.mem.moved)/gib, r.mem.elapsed.Seconds())
	fmt.Fprintf(&b, "- f. gateway CPU-seconds per GiB: GET %s; PUT %s\n", list(r.getCPU, "%.2f"), list(r.putCPU, "%.2f"))
	fmt.Fprintf(&b, "- g. %s\n", spliceDetail(r.splice))
	fmt.Fprintf(&b, "- %s\n", multirangeDetail(r.multirange))
	fmt.Fprintf(&b, "- %s\n", resumableDetail(r.resumable))
	renderLatency(&b, r.latency, o)
	renderSoak(&b, r.soak)
	return b.String()
}

// soakCell sums up the soak in the results table.
func soakCell(q soakResult) string {
	flat, _ := q.flat()
	word := "flat"
	if !flat {
		word = "not flat"
	}
	return fmt.Sprintf("%s; %d wrong, %d stale; %d errors elsewhere", word, q.wrong, q.stale, q.elsewhere)
}

func soakVerdict(q soakResult) string {
	if q.passed() {
		return "met"
	}
	return "**missed**: " + strings.Join(soakMisses(q), "; ")
}

// soakMisses lists what the soak found wrong.
func soakMisses(q soakResult) []string {
	_, why := q.flat()
	if q.wrong > 0 {
		why = append(why, fmt.Sprintf("%d wrong bodies or answers", q.wrong))
	}
	if q.stale > 0 {
		why = append(why, fmt.Sprintf("%d bodies of a version other than their headers'", q.stale))
	}
	if q.elsewhere > 0 {
		why = append(why, fmt.Sprintf("%d errors away from the restart", q.elsewhere))
	}
	if q.okAfter == 0 && q.restarted {
		why = append(why, "no request served after the restart")
	}
	if len(q.disk.bad) > 0 {
		why = append(why, fmt.Sprintf("%d files on the server not a complete version", len(q.disk.bad)))
	}
	if len(q.disk.temps) > 0 {
		why = append(why, fmt.Sprintf("%d temporary upload files left", len(q.disk.temps)))
	}
	return why
}

// renderSoak writes the soak's own section.
func renderSoak(b *strings.Builder, q soakResult) {
	if q.skipped != "" {
		fmt.Fprintf(b, "\nh. Soak: %s.\n", q.skipped)
		return
	}
	restart := "vsftpd not restarted"
	if q.restarted {
		restart = fmt.Sprintf("vsftpd restarted at %v", q.restartAt.Round(100*time.Millisecond))
	}
	fmt.Fprintf(b, "\n### h. Soak: %v, %d clients, %s\n\n", q.duration, q.clients, restart)
	flat, why := q.flat()
	if flat {
		b.WriteString("Resources: **flat**.")
	} else {
		b.WriteString("Resources: **not flat**: " + strings.Join(why, ", ") + ".")
	}
	if q.passed() {
		b.WriteString(" Every body and every file right, errors only around the restart: **met**.\n\n")
	} else {
		b.WriteString(" Soak **missed**: " + strings.Join(soakMisses(q), "; ") + ".\n\n")
	}
	fmt.Fprintf(b, "| The gateway at rest | after the %v warm-up | after the soak | change | flat if |\n", q.warmup)
	b.WriteString("|---|--:|--:|--:|---|\n")
	fmt.Fprintf(b, "| descriptors (/proc/<pid>/fd) less pipes and one per pooled FTP session | %d (%d − %d − %.0f) | %d (%d − %d − %.0f) | %+d | ≤ +%d |\n",
		q.start.ownFDs(), q.start.fds, q.start.pipes, q.start.sessions, q.end.ownFDs(), q.end.fds, q.end.pipes, q.end.sessions, q.end.ownFDs()-q.start.ownFDs(), flatFDs)
	fmt.Fprintf(b, "| pipe ends (Go's splice keeps them until a GC) | %d | %d | %+d | ≤ %d |\n",
		q.start.pipes, q.end.pipes, q.end.pipes-q.start.pipes, flatPipesPerClient*q.clients)
	fmt.Fprintf(b, "| goroutines (go_goroutines) | %.0f | %.0f | %+.0f | ≤ +%d |\n",
		q.start.goroutines, q.end.goroutines, q.end.goroutines-q.start.goroutines, flatGoroutines)
	fmt.Fprintf(b, "| RSS (VmRSS), MiB | %.1f | %.1f | %+.1f | ≤ +%d |\n",
		float64(q.start.rssKiB)/1024, float64(q.end.rssKiB)/1024, float64(q.end.rssKiB-q.start.rssKiB)/1024, flatRSSKiB>>10)
	fmt.Fprintf(b, "| FTP logins since the gateway started (ftpgw_pool_dials_total) | %.0f | %.0f | %+.0f | report |\n",
		q.start.dials, q.end.dials, q.end.dials-q.start.dials)

	n := q.requests()
	var ops []string
	for op := range opAny {
		ops = append(ops, fmt.Sprintf("%s %d (%d failed)", opNames[op], q.ok[op]+q.failed[op], q.failed[op]))
	}
	fmt.Fprintf(b, "\n- Requests: %d in %v of load (warm-up included), %.0f/s: %s.\n", n, q.loaded.Round(100*time.Millisecond), float64(n)/q.loaded.Seconds(), strings.Join(ops, "; "))
	fmt.Fprintf(b, "- Bodies and listings checked: %d, %.1f MiB moved; clients that left in the middle: %d. Peak RSS (VmHWM) %.1f MiB.\n",
		q.bodies, float64(q.bytes)/(1<<20), q.left, float64(q.peakKiB)/1024)
	if q.restarted {
		fmt.Fprintf(b, "- vsftpd was down for %.2f s (realftpd's Relaunch returned after %.1f s); errors count as the restart's from the kill to %v after it greeted again. After that, %d requests went well.\n",
			q.down.Seconds(), q.relaunch.Seconds(), restartGrace, q.okAfter)
	}
	fmt.Fprintf(b, "- Transfers cut short, rightly, because the file was replaced by a shorter version between the gateway's SIZE and its RETR: %d.\n", q.raced)
	fmt.Fprintf(b, "- Files on the server: %d of %d present, %d complete versions", q.disk.present, soakFiles, q.disk.complete)
	for _, bad := range q.disk.bad[:min(len(q.disk.bad), 10)] {
		fmt.Fprintf(b, "; %s", bad)
	}
	fmt.Fprintf(b, ". Temporary upload files left after %.1f s: %d", q.disk.waited.Seconds(), len(q.disk.temps))
	for _, tf := range q.disk.temps[:min(len(q.disk.temps), 10)] {
		fmt.Fprintf(b, "; %s, %d bytes, last written %.1f s into the soak", tf.name, tf.size, tf.written.Seconds())
	}
	if len(q.disk.temps) > 0 {
		fmt.Fprintf(b, " (waited up to %v for them to go)", tempGrace)
	}
	b.WriteString(".\n")
	if len(q.kinds) == 0 {
		b.WriteString("- Errors: none.\n")
		return
	}
	b.WriteString("\n| Error | around the restart | elsewhere | first, s into the soak |\n|---|--:|--:|--:|\n")
	for _, k := range q.kinds {
		first := "warm-up"
		if k.first >= 0 {
			first = fmt.Sprintf("%.1f", k.first.Seconds())
		}
		fmt.Fprintf(b, "| %s | %d | %d | %s |\n", strings.ReplaceAll(k.kind, "|", `\|`), k.around, k.elsewhere, first)
	}
}

func f0(x float64) string { return fmt.Sprintf("%.0f", x) }
func f1(x float64) string { return fmt.Sprintf("%.1f", x) }
func f2(x float64) string { return fmt.Sprintf("%.2f", x) }

func sizeName(n int64) string {
	if n >= gib && n%gib == 0 {
		return fmt.Sprintf("%d GiB", n/gib)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

func spliceCell(s spliceResult, size int64) string {
	if s.skipped != "" {
		return "not run"
	}
	st := s.calls["splice"]
	return fmt.Sprintf("%d / %.2f GiB", st.calls, float64(st.bytes)/gib)
}

// spliced reports whether the body went through splice: each byte is
// spliced twice (socket to pipe, pipe to socket).
func spliced(s spliceResult, size int64) bool {
	return s.calls["splice"].bytes >= 2*size*9/10
}

func spliceVerdict(s spliceResult, size int64) string {
	switch {
	case s.skipped != "":
		return s.skipped
	case spliced(s, size):
		return "met"
	case s.calls["splice"].calls > 0:
		return "**missed**: only part of the body was spliced"
	}
	return "**missed**: splice is not used"
}

func spliceDetail(s spliceResult) string {
	if s.skipped != "" {
		return "strace: " + s.skipped
	}
	var parts []string
	for _, name := range tracedCalls {
		st := s.calls[name]
		parts = append(parts, fmt.Sprintf("%s %d calls (%d errors) %.1f MiB", name, st.calls, st.errors, float64(st.bytes)/(1<<20)))
	}
	return fmt.Sprintf("strace -f of the gateway during one GET (bytes are the sum of successful return values; a spliced byte counts twice, socket→pipe and pipe→socket): %s. The GET ran at %.0f MiB/s under strace.",
		strings.Join(parts, "; "), mibs(s.speed))
}

// resultsMarker separates the generated header of the results file from the
// results, which are kept as they are.
const resultsMarker = "<!-- Results below: appended by go run ./bench -write; everything under this line is kept. -->"

const header = `# Benchmarks

` + "`make bench`" + ` (as root, on an otherwise idle machine if you can) installs the
test servers like ` + "`make test`" + ` and strace, then runs ` + "`go run ./bench -write BENCHMARKS.md`" + `,
which prints a table and appends it here. ` + "`go run ./bench -h`" + ` lists the knobs
(` + "`-runs`" + `, ` + "`-duration`" + `, ` + "`-clients`" + `, ` + "`-size-mib`" + `, ` + "`-strace`" + `, ` + "`-soak`" + `,
` + "`-soak-clients`" + `, ` + "`-soak-only`" + `, ` + "`-multirange-only`" + `,
` + "`-resumable-only`" + `, ` + "`-latency`" + `, ` + "`-latency-only`" + `, ` + "`-rtts`" + `,
` + "`-latency-runs`" + `, ` + "`-latency-duration`" + `). A run takes about twenty-five minutes with the
defaults, ten of them the soak (h) and eleven the latency mode (k); ` + "`make bench SOAK=0`" + ` leaves the soak out.

In one run the bench builds ` + "`./cmd/gateway`" + `, starts vsftpd on 127.0.0.1
(` + "`internal/realftpd.Launch`" + `), creates a 1 GiB and a 1 KiB file of random
bytes in its root, and starts the gateway as its own process on 127.0.0.1
(` + "`--max-sessions 16 --log-level warn`" + `). Every workload runs on the gateway and on a
direct FTP client of the same vsftpd, alternating run by run (ABBA), five
runs each; the table shows medians and the gateway's ratio or difference to
the direct runs of the same run. The machine is shared and noisy: only
compare numbers within one results section.

- **a. GET**: ` + "`curl -o /dev/null`" + ` of the whole big file, through the gateway
  and as ` + "`curl ftp://`" + `; curl's average speed. Target: ≥ 0.65x direct.
- **b. ranges**: 16 clients, each with one keep-alive connection, GET random
  64 KiB ranges (206, length, Content-Range and bytes checked) back to back
  for the run's duration. Direct: 16 logged-in ftpcore sessions dialled
  before the run, each request a REST+RETR of 64 KiB ended early
  (` + "`Conn.Retr(ctx, path, off, 65536)`" + `, read, Close). Both sides first
  run the load untimed for 2 s, so that the gateway's pool is warm.
  Requests/s and p50/p99 latency are reported. The target, the gateway's
  own time per request (beyond moving the bytes) at the median on a warm
  pool, is measured by the row "1 client", which repeats the load with a
  single client (at most 5 s per run): its p50 minus the direct p50. With
  16 clients on 2 cores both cores are saturated and the latencies are
  mostly queueing behind the CPU that every process (vsftpd, the gateway,
  the load client) needs, so the 16-client p50 difference is what the
  gateway's CPU per request costs under saturation, not time it adds to a
  request.
- **c. small files**: the same with GET of the whole 1 KiB file (direct: RETR
  of it). The logins row is the gateway's ` + "`ftpgw_pool_dials_total`" + ` at the end
  (it counts every login since the gateway started): at most 16, the pool
  size, means no login per request.
- **d. PUT**: ` + "`curl -T`" + ` of the big file to the gateway and as ` + "`curl -T ftp://`" + `;
  each upload's size is checked, then the file removed. Target: ≥ 0.6x.
- **e. memory**: the gateway is restarted (to reset its high-water mark), then
  serves 8 downloads of the big file and 2 uploads of 256 MiB at once
  (concurrent curl processes); the row is VmHWM from /proc/<pid>/status.
  Target: ≤ 64 MiB.
- **f. CPU**: the gateway's utime+stime (/proc/<pid>/stat) across each GET and
  PUT run of a and d, per GiB moved.
- **g. splice**: the gateway, restarted under
  ` + "`strace -f -C -s 0 -e trace=splice,read,write,sendfile,copy_file_range`" + `,
  serves one GET of the big file; the calls come from strace's summary table (what ` + "`-c`" + ` prints), the
  bytes from the calls' return values. Met when at least 90% of the body
  went through splice (each spliced byte counts twice: socket→pipe→socket).
- **i. multi-range** (` + "`-multirange-only`" + ` runs it alone): one client on
  one keep-alive connection GETs 8 ranges of 4 KiB of the big file in one
  request (206 multipart/byteranges, every part's Content-Range and bytes
  checked with a multipart reader), and the same 8 ranges one by one (8
  GETs of one range), 40 sets per run, the same sets for both sides; the
  row is the median time per set, and the ratio one request / one by one.
  Two shapes: far apart (one range in each eighth of the file, a RETR each)
  and 32 KiB apart (one RETR reads through the gaps). The break-even gap
  judges the gateway's 64 KiB gap below which it reads through rather than
  start another RETR: one more RETR costs (far − near) / 7 ms, in which the
  gateway reads (speed of a GET of a 64 MiB range) that many bytes. Met
  when it is above 64 KiB. Last, as in g, the gateway restarted under
  strace serves one GET of 4 ranges, each an eighth of the big file, one
  in every other eighth; met when at least 90% of their bytes went
  through splice.
- **j. resumable upload** (` + "`-resumable-only`" + ` runs it alone): one client on
  one keep-alive connection uploads the big file through the gateway as a
  resumable upload (draft-ietf-httpbis-resumable-upload: an empty PUT with
  Upload-Complete: ?0, then PATCHes of 64 MiB at the offset reached, the
  last with ?1), and as one plain PUT, both read from the same file in the
  page cache and checked for size on the server; the row is each side's
  MiB/s and their ratio. What it shows is what a creation and, per piece,
  the taking and giving back of the upload (two renames), its SIZE and an
  APPE cost against one STOR; and that a plain PUT hashes its body with
  SHA-256 (api/digest.go: its Repr-Digest), which a resumable upload's
  pieces do not, so that on a machine short of cores the PUT can be the
  slower. A second row: the same resumable upload created with the file's
  Repr-Digest, which the gateway checks at completion by reading the
  upload back from the FTP server (api/uploaddigest.go): what checking a
  resumable upload's digest costs. The three sides take turns at going
  first.
- **k. latency mode** (` + "`-latency=false`" + ` leaves it out, ` + "`-latency-only`" + `
  runs it alone): what a network between the gateway and the FTP server
  costs (issue 13). vsftpd on 127.0.0.1 is reached through delay proxies
  on 127.0.0.2 (` + "`internal/delayproxy`" + `, user space: the kernel's netem is
  not available here), one for its control port and one for each port of
  its passive range, so that the data connections cross the same path
  (EPSV replies name no address; PASV replies name 127.0.0.2, vsftpd's
  pasv_address). Each byte is delayed by half the round-trip time each
  way, and a connection's handshake too. The proxies run in the bench's
  own process, on the cores every side shares: at 0 ms what they add is
  their copying, not a network. At each RTT of ` + "`-rtts`" + ` (0, 1, 10
  and 40 ms; 0 is the proxy without delay) three sides take turns at
  going first, ` + "`-latency-runs`" + ` runs each (default ` + "`-runs`" + `, at most 3):
  the gateway with its upstream at the proxy, its pool warmed by untimed
  requests; a direct ` + "`curl ftp://`" + ` through the proxy, which logs in for each
  request; and ` + "`rclone serve http`" + ` (Debian's rclone) with an ftp remote at
  the proxy, warmed too, run with the flags the table names. A request
  of any side gives up after 10 s and counts as a timeout; a side that
  fails is reported in its cell, not the end of the run.
  **a.** One 64 KiB range of the big file at a time (5 a run, after 3
  untimed), curl -r for all three: time to the first byte and to the end
  (curl's time_starttransfer and time_total; for curl ftp:// the login
  is in it). For this the gateway runs with ` + "`--log-level debug`" + `, and its
  FTP round trips before the first byte are counted from its protocol
  trace: a command sent after a reply, or the request's first, starts a
  flight, a data connection's dial is one more (when the gateway does not
  log its dials, each 150 reply counts one). Target at 10 ms and above:
  at most 2 round trips and a first byte within 3 RTT. **b.** The big file
  GET by each side and PUT by the gateway and curl (rclone serve http is
  read-only), sizes checked; MiB/s. **c.** At 10 ms, every connection
  capped at 1 Gbit/s each way: the big file's GET through the gateway
  against curl. Target: ≥ 0.9x. **d.** Random 64 KiB ranges, 16 clients
  for ` + "`-latency-duration`" + ` (3 s) a run after 1 s untimed; curl's clients run
  one curl process a request. Requests/s and p50/p99. Target at 10 ms:
  ≥ 10x rclone's requests/s. **e.** The same with the 1 KiB file.
  **f.** Explicit FTPS (vsftpd with require_ssl_reuse, TLS 1.3), on
  loopback without the proxy and at 10 ms: the big file through the
  gateway (` + "`ftpes://`" + `, the test CA) against ` + "`curl --ssl-reqd`" + `, and the
  gateway's CPU-seconds per GiB. Target: ≥ 0.7x. **g.** At 10 ms, one
  request of 4 ranges of 4 KiB far apart (one in each quarter of the
  file), 5 a run: the time and the round trips counted as in a. Target:
  at most N+1 = 5.
- **h. soak** (` + "`-soak`" + `, 10 minutes; ` + "`-soak-only`" + ` runs it alone): the gateway is
  restarted, then 8 clients send back to back, on 16 files under soak/,
  GETs of a whole file (30%), of a range (25%), PUTs (20%), DELETEs (5%),
  listings (5%), and GETs and PUTs that the client leaves in the middle (8%,
  7%). Each PUT writes a new version of its file, whose bytes follow from
  the name and the version: records of 128 bytes that name the file, the
  version, the record's offset and the version's size, so that every body,
  range and file can be checked to be one version or part of one. Sizes run
  from 256 B to 256 KiB, and one version in ten is 1 to 8 MiB. In the middle
  vsftpd is killed with its sessions and started again; a probe dialling it
  every 20 ms times the outage. An error that overlaps the kill or the 5 s
  after vsftpd greets again is the restart's; any other error misses. Apart
  from errors: wrong bodies or answers (bytes of no version, or bytes after
  a response's end, which net/http's client logs as an unsolicited
  response), stale ones (a version other than the one the headers describe:
  the file was replaced between the gateway's SIZE and its RETR, a race FTP
  gives the gateway no way to see), and transfers cut short because the
  file was replaced by a shorter one (the right answer to that race, not
  counted as a miss). The gateway's descriptors (/proc/<pid>/fd, less one
  per pooled FTP session and less pipe ends), goroutines
  (` + "`go_goroutines`" + `) and RSS (VmRSS) are counted at rest (load stopped, its
  connections closed, counts steady) after a warm-up of up to 10 s and after
  the soak. Flat: descriptors and goroutines within +2 and +4 (a connection
  still closing); pipe ends at most 4 per client (Go's splice keeps the
  pipes of finished splices until a garbage collection, which a gateway at
  rest does not run); RSS within
  +16 MiB (heap the runtime has not given back; a quarter of the memory
  target, and less than a leak of a hundred bytes a request adds over a
  10-minute soak at its rate). Last, after up to 30 s for the gateway to
  delete the temporary files of failed uploads, every file under soak/ must
  be a complete version, and no ` + "`.ftpgw-upload-`" + ` file may be left.
`

// appendResults appends section to the markdown file at path, refreshing
// the header above resultsMarker; a file without the marker is only
// appended to.
func appendResults(path, section string) error {
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		old = nil
	case err != nil:
		return err
	}
	var out string
	if old == nil {
		out = header + "\n" + resultsMarker + "\n\n" + section
	} else if _, kept, ok := strings.Cut(string(old), resultsMarker+"\n"); ok {
		out = header + "\n" + resultsMarker + "\n" + strings.TrimRight(kept, "\n") + "\n\n" + section
	} else {
		out = strings.TrimRight(string(old), "\n") + "\n\n" + section
	}
	return os.WriteFile(path, []byte(out), 0o644)
}
