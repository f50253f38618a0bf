package main

import (
	"fmt"
	"strings"
	"time"
)

// Targets of issue 13.
const (
	targetFlights  = 2   // FTP round trips before a warm range's first byte
	targetTTFBRTTs = 3   // a warm range's first byte, in RTTs
	targetCapped   = 0.9 // c: gateway vs direct curl
	targetVsRclone = 10  // d at capRTT: gateway vs rclone, requests/s
	targetFTPS     = 0.7 // f: gateway vs curl --ssl-reqd
)

// failures says what failed of a side's sample, or "".
func (s sample) failures() string {
	var f []string
	if s.errs > 0 {
		f = append(f, fmt.Sprintf("%d errors", s.errs))
	}
	if s.timeouts > 0 {
		f = append(f, fmt.Sprintf("%d timeouts", s.timeouts))
	}
	return strings.Join(f, ", ")
}

// cell is the median of a sample, scaled and formatted, with its failures.
func (s sample) cell(scale func(float64) float64, format string) string {
	if s.skipped != "" {
		return "not run"
	}
	var v string
	if len(s.vals) == 0 {
		v = "failed"
	} else {
		v = fmt.Sprintf(format, scale(median(s.vals)))
	}
	if f := s.failures(); f != "" {
		v += " (" + f + ")"
	}
	return v
}

// ratio is the ratio of two samples' medians, or "" when one is missing.
func ratio(a, b sample) (float64, string) {
	if len(a.vals) == 0 || len(b.vals) == 0 {
		return 0, ""
	}
	x := median(a.vals) / median(b.vals)
	return x, fmt.Sprintf("%.2fx", x)
}

func toMs(s float64) float64 { return s * 1000 }

// loadCell is a load's requests/s and latencies.
func (s loadSample) loadCell() string {
	if s.skipped != "" || len(s.vals) == 0 {
		return s.cell(nil, "")
	}
	c := fmt.Sprintf("%.0f (%.1f / %.1f)", median(s.vals), median(s.p50), median(s.p99))
	if f := s.failures(); f != "" {
		c += " (" + f + ")"
	}
	return c
}

func rttName(d time.Duration) string {
	if d < 0 {
		return "loopback, no proxy"
	}
	if d == 0 {
		return "0 (proxy, no delay)"
	}
	return d.String()
}

// renderLatency writes the latency mode's tables.
func renderLatency(b *strings.Builder, lr latencyResult, o options) {
	if !lr.ran {
		return
	}
	big := sizeName(o.bigSize)
	table := func(title, head string) func(cells ...string) {
		fmt.Fprintf(b, "\n#### %s\n\n| %s |\n|%s\n", title, head, strings.Repeat("---|", strings.Count(head, "|")+1))
		return func(cells ...string) { b.WriteString("| " + strings.Join(cells, " | ") + " |\n") }
	}
	fmt.Fprintf(b, "\n### Latency mode: vsftpd behind delay proxies\n\n")
	fmt.Fprintf(b, "Medians of %d runs of each side, the sides taking turns at going first; %d requests a run in a and g, loads of %d clients for %v a run in d and e. "+
		"Every side reaches vsftpd on 127.0.0.1 through internal/delayproxy on %s (its control port and each port of its passive range; RTT is twice the delay each way; 0 is the proxy without delay). "+
		"A request of a side gives up after %v and counts as a timeout.\n",
		lr.runs, latRequests, o.clients, o.latencyDuration, proxyHost, latTimeout)
	rclone := "rclone serve http with an ftp remote at the proxy (`" + strings.Join(rcloneFlags, " ") + "`), warmed by untimed requests"
	if lr.rclone != "" {
		rclone = "rclone serve http: not run: " + lr.rclone
	}
	fmt.Fprintf(b, "Sides: the gateway (`--max-sessions 16`, its pool warmed by untimed requests); curl ftp:// (a login per request); %s.\n", rclone)

	guessed := lr.mguess
	for _, at := range lr.rtts {
		guessed = guessed || at.guessed
	}
	row := table(fmt.Sprintf("a. one 64 KiB range of the %s file, 1 client, warm: first byte / total, ms", big),
		"RTT | gateway | gateway: FTP round trips before the first byte | gateway: first byte / RTT | curl ftp:// | rclone serve http | Target (RTT ≥ 10 ms) | ")
	for _, at := range lr.rtts {
		both := func(s int) string {
			if at.ttfb[s].skipped != "" || len(at.ttfb[s].vals) == 0 {
				return at.ttfb[s].cell(toMs, "%.1f")
			}
			return at.ttfb[s].cell(toMs, "%.1f") + " / " + at.total[s].cell(toMs, "%.1f")
		}
		flights, perRTT, verdictCell := "", "", ""
		if len(at.flights) > 0 {
			flights = fmt.Sprintf("%.0f", median(at.flights))
		}
		g := at.ttfb[sideGateway]
		if at.rtt > 0 && len(g.vals) > 0 {
			n := median(g.vals) / at.rtt.Seconds()
			perRTT = fmt.Sprintf("%.1f", n)
			if at.rtt >= capRTT {
				var miss []string
				if len(at.flights) == 0 || median(at.flights) > targetFlights {
					miss = append(miss, fmt.Sprintf("round trips %s > %d", flights, targetFlights))
				}
				if n > targetTTFBRTTs {
					miss = append(miss, fmt.Sprintf("first byte %.1f RTT > %d", n, targetTTFBRTTs))
				}
				verdictCell = verdict(len(miss) == 0, strings.Join(miss, "; "))
			}
		}
		row(rttName(at.rtt), both(sideGateway), flights, perRTT, both(sideCurl), both(sideRclone),
			fmt.Sprintf("≤ %d round trips, first byte ≤ %d RTT", targetFlights, targetTTFBRTTs), verdictCell)
	}
	b.WriteString("\nRound trips are counted from the gateway's protocol trace (`--log-level debug`) between the start and the end of each request: a command sent after a reply (or the request's first) starts a flight, and each data connection's dial is one more")
	if guessed {
		b.WriteString("; this gateway does not log its dials (\"ftp data dial\"), so a dial is counted for each transfer the server opened (its 150 reply)")
	}
	b.WriteString(". curl's time_starttransfer is the first byte; the gateway's and rclone's are HTTP, curl ftp://'s includes its login.\n")

	row = table(fmt.Sprintf("b. %s GET and PUT, MiB/s", big),
		"RTT | GET gateway | GET curl ftp:// | GET rclone | gateway vs curl | gateway vs rclone | PUT gateway | PUT curl ftp:// | gateway vs curl")
	for _, at := range lr.rtts {
		_, vsCurl := ratio(at.get[sideGateway], at.get[sideCurl])
		_, vsRclone := ratio(at.get[sideGateway], at.get[sideRclone])
		_, putVs := ratio(at.put[sideGateway], at.put[sideCurl])
		row(rttName(at.rtt), at.get[sideGateway].cell(mibs, "%.0f"), at.get[sideCurl].cell(mibs, "%.0f"), at.get[sideRclone].cell(mibs, "%.0f"),
			vsCurl, vsRclone, at.put[sideGateway].cell(mibs, "%.0f"), at.put[sideCurl].cell(mibs, "%.0f"), putVs)
	}
	b.WriteString("\nSizes checked (curl's byte count, and the uploaded file on the server). rclone serve http is read-only: no PUT.\n")

	row = table(fmt.Sprintf("c. %s GET at %v RTT, each connection capped at 1 Gbit/s, MiB/s", big, capRTT),
		"gateway | curl ftp:// | gateway vs curl | Target | ")
	x, xs := ratio(lr.capped[sideGateway], lr.capped[sideCurl])
	row(lr.capped[sideGateway].cell(mibs, "%.0f"), lr.capped[sideCurl].cell(mibs, "%.0f"), xs,
		fmt.Sprintf("≥ %.1fx", targetCapped), verdict(xs != "" && x >= targetCapped, fmt.Sprintf("%.2fx", targetCapped-x)))

	for _, w := range []struct {
		title  string
		load   func(rttResult) [nSides]loadSample
		target bool
	}{
		{fmt.Sprintf("d. random 64 KiB ranges of the %s file, %d clients: requests/s (p50 / p99 ms)", big, o.clients), func(r rttResult) [nSides]loadSample { return r.ranges }, true},
		{fmt.Sprintf("e. 1 KiB files, %d clients: requests/s (p50 / p99 ms)", o.clients), func(r rttResult) [nSides]loadSample { return r.small }, false},
	} {
		row = table(w.title, "RTT | gateway | curl ftp:// | rclone serve http | gateway vs rclone | Target | ")
		for _, at := range lr.rtts {
			l := w.load(at)
			x, xs := ratio(l[sideGateway].sample, l[sideRclone].sample)
			target, v := "report", ""
			if w.target && at.rtt == capRTT {
				target = fmt.Sprintf("≥ %dx rclone", targetVsRclone)
				v = verdict(xs != "" && x >= targetVsRclone, fmt.Sprintf("%.1fx", targetVsRclone-x))
			}
			row(rttName(at.rtt), l[sideGateway].loadCell(), l[sideCurl].loadCell(), l[sideRclone].loadCell(), xs, target, v)
		}
	}

	row = table(fmt.Sprintf("f. explicit FTPS (vsftpd, require_ssl_reuse), %s GET, MiB/s", big),
		"path | gateway | curl --ssl-reqd | gateway vs curl | gateway CPU-seconds per GiB | Target | ")
	if lr.noFTPS != "" {
		row("not run: "+lr.noFTPS, "", "", "", "", "", "")
	}
	for _, f := range lr.ftps {
		x, xs := ratio(f.get[sideGateway], f.get[sideCurl])
		cpu := ""
		if len(f.cpu) > 0 {
			cpu = f2(median(f.cpu))
		}
		row(rttName(f.rtt), f.get[sideGateway].cell(mibs, "%.0f"), f.get[sideCurl].cell(mibs, "%.0f"), xs, cpu,
			fmt.Sprintf("≥ %.1fx", targetFTPS), verdict(xs != "" && x >= targetFTPS, fmt.Sprintf("%.2fx", targetFTPS-x)))
	}

	row = table(fmt.Sprintf("g. %d ranges of %d KiB far apart in one request, %v RTT, 1 client", mgParts, mrPartLen>>10, capRTT),
		"ms per request | FTP round trips | Target | ")
	flights, v := "", verdict(false, "no trace")
	if len(lr.mflight) > 0 {
		n := median(lr.mflight)
		flights, v = fmt.Sprintf("%.0f", n), verdict(n <= mgParts+1, fmt.Sprintf("%.0f round trips", n-mgParts-1))
	}
	row(lr.multi.cell(toMs, "%.1f"), flights, fmt.Sprintf("≤ N+1 = %d", mgParts+1), v)
	if len(lr.mtrace) > 0 {
		b.WriteString("\nThe gateway's protocol trace of the last request of g (ms after the request was sent):\n\n```\n")
		for _, ev := range lr.mtrace {
			what := ev.Line
			if ev.Msg == traceRecv {
				what = fmt.Sprint(ev.Code)
			}
			fmt.Fprintf(b, "%7.1f  %-13s %s\n", ev.Time.Sub(lr.mt0).Seconds()*1000, ev.Msg, what)
		}
		b.WriteString("```\n")
	}

	b.WriteString("\nEach run, in the order run:\n\n")
	for _, at := range lr.rtts {
		fmt.Fprintf(b, "- %s: a. first byte ms: gateway %s; curl %s; rclone %s; gateway round trips %s\n", rttName(at.rtt),
			list(scaled(at.ttfb[sideGateway].vals, toMs), "%.1f"), list(scaled(at.ttfb[sideCurl].vals, toMs), "%.1f"),
			list(scaled(at.ttfb[sideRclone].vals, toMs), "%.1f"), list(at.flights, "%.0f"))
		fmt.Fprintf(b, "- %s: b. GET MiB/s: gateway %s; curl %s; rclone %s. PUT MiB/s: gateway %s; curl %s\n", rttName(at.rtt),
			list(scaled(at.get[sideGateway].vals, mibs), "%.0f"), list(scaled(at.get[sideCurl].vals, mibs), "%.0f"),
			list(scaled(at.get[sideRclone].vals, mibs), "%.0f"), list(scaled(at.put[sideGateway].vals, mibs), "%.0f"),
			list(scaled(at.put[sideCurl].vals, mibs), "%.0f"))
		fmt.Fprintf(b, "- %s: d. requests/s: gateway %s; curl %s; rclone %s. e. requests/s: gateway %s; curl %s; rclone %s\n", rttName(at.rtt),
			list(at.ranges[sideGateway].vals, "%.0f"), list(at.ranges[sideCurl].vals, "%.0f"), list(at.ranges[sideRclone].vals, "%.0f"),
			list(at.small[sideGateway].vals, "%.0f"), list(at.small[sideCurl].vals, "%.0f"), list(at.small[sideRclone].vals, "%.0f"))
	}
	fmt.Fprintf(b, "- c. MiB/s: gateway %s; curl %s\n", list(scaled(lr.capped[sideGateway].vals, mibs), "%.0f"), list(scaled(lr.capped[sideCurl].vals, mibs), "%.0f"))
	for _, f := range lr.ftps {
		fmt.Fprintf(b, "- f. %s: MiB/s: gateway %s; curl %s; gateway CPU-seconds per GiB %s\n", rttName(f.rtt),
			list(scaled(f.get[sideGateway].vals, mibs), "%.0f"), list(scaled(f.get[sideCurl].vals, mibs), "%.0f"), list(f.cpu, "%.2f"))
	}
	fmt.Fprintf(b, "- g. ms per request %s; round trips %s\n", list(scaled(lr.multi.vals, toMs), "%.1f"), list(lr.mflight, "%.0f"))
	renderLatencyErrors(b, lr)
}

// renderLatencyErrors lists the first error of every sample that had any.
func renderLatencyErrors(b *strings.Builder, lr latencyResult) {
	var lines []string
	note := func(what string, s sample) {
		if s.firstErr != "" {
			lines = append(lines, fmt.Sprintf("- %s: %s; first: %s", what, s.failures(), strings.ReplaceAll(s.firstErr, "\n", " ")))
		}
	}
	for _, at := range lr.rtts {
		if len(at.gwErrors) > 0 {
			lines = append(lines, fmt.Sprintf("- %s: the gateway logged %d errors in b, d and e; first: `%s`", rttName(at.rtt), len(at.gwErrors), at.gwErrors[0]))
		}
		if len(at.rcloneErrors) > 0 {
			lines = append(lines, fmt.Sprintf("- %s: rclone logged %d errors; first: `%s`", rttName(at.rtt), len(at.rcloneErrors), at.rcloneErrors[0]))
		}
		if len(at.ftpdErrors) > 0 {
			lines = append(lines, fmt.Sprintf("- %s: vsftpd ended %d sessions with OOPS (every side's); first: `%s`", rttName(at.rtt), len(at.ftpdErrors), at.ftpdErrors[0]))
		}
		for s := range nSides {
			n := rttName(at.rtt) + ", " + sideNames[s]
			note(n+", a", at.ttfb[s])
			note(n+", b GET", at.get[s])
			note(n+", b PUT", at.put[s])
			note(n+", d", at.ranges[s].sample)
			note(n+", e", at.small[s].sample)
		}
	}
	for s := range nSides {
		note("c, "+sideNames[s], lr.capped[s])
	}
	for _, f := range lr.ftps {
		for s := range nSides {
			note("f, "+rttName(f.rtt)+", "+sideNames[s], f.get[s])
		}
	}
	note("g", lr.multi)
	if len(lines) == 0 {
		b.WriteString("- Errors and timeouts: none.\n")
		return
	}
	b.WriteString("\nErrors and timeouts:\n\n" + strings.Join(lines, "\n") + "\n")
}
