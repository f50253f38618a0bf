// Command bench measures the gateway against a direct FTP client on the
// same vsftpd, side by side in one run, and prints a markdown table of
// medians and ratios: 1 GiB GET and PUT throughput (curl), random 64 KiB
// ranges and 1 KiB files under 16 concurrent clients, peak RSS under mixed
// load, CPU-seconds per GiB moved, and whether the kernel splices the
// download (strace). Then a soak: mixed GET, range, PUT, DELETE and
// listing requests with clients leaving mid-transfer and one vsftpd
// restart, every body and every file left on the server checked, and the
// gateway's descriptors, goroutines and RSS compared before and after.
// Before the soak, a latency mode: the gateway, direct curl and rclone
// serve http reach vsftpd through delay proxies (internal/delayproxy) at
// several round-trip times, FTPS too.
// With -write it appends the results to a file (BENCHMARKS.md), whose
// header explains each row.
//
// It needs root and vsftpd (scripts/install-test-deps.sh, which make bench
// runs first), curl, strace for the splice check and rclone for the
// latency mode. Everything listens on loopback only (the latency mode's
// proxies on 127.0.0.2); every child process (vsftpd, the gateway, curl, strace)
// is stopped when it ends, on Ctrl-C too.
//
//	go run ./bench [-gateway-args '--arm-idle=false'] [-runs 5] [-duration 10s] [-soak 10m] [-soak-only] [-multirange-only] [-resumable-only] [-latency-only] [-rtts 0,1ms,10ms,40ms] [-write BENCHMARKS.md]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// options are the command's flags.
type options struct {
	runs     int           // alternating runs of each side per workload
	duration time.Duration // length of one run of a concurrent load
	clients  int           // concurrent clients in the range and small-file loads
	bigSize  int64         // bytes in the big file
	memUp    int64         // bytes in each upload of the memory load
	strace   bool          // run the splice check
	write    string        // file to append the results to

	soak        time.Duration // length of the soak; 0 skips it
	soakClients int           // concurrent clients of the soak
	soakOnly    bool          // run the soak alone, not the comparisons
	// multirangeOnly runs workload i alone: no comparison with direct
	// FTP, no soak.
	multirangeOnly bool
	// resumableOnly runs workload j alone: no comparison with direct
	// FTP, no soak.
	resumableOnly bool

	// latency runs the latency mode after the comparisons, before the
	// soak; latencyOnly runs it alone.
	latency, latencyOnly bool
	rtts                 []time.Duration // round-trip times of the latency mode
	latencyRuns          int             // runs of each side per measurement of the latency mode
	latencyDuration      time.Duration   // length of one run of its concurrent loads
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 5, "runs of each side (gateway, direct) per workload, alternating; medians are reported")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of one run of the range and small-file loads")
	flag.IntVar(&o.clients, "clients", 16, "concurrent clients of the range and small-file loads")
	sizeMiB := flag.Int64("size-mib", 1024, "size of the big file in MiB (GET, PUT, ranges, memory downloads)")
	upMiB := flag.Int64("mem-upload-mib", 256, "size of each of the two uploads of the memory load, in MiB")
	flag.BoolVar(&o.strace, "strace", true, "run one GET with the gateway under strace to count splice calls")
	flag.StringVar(&o.write, "write", "", "append the results to this markdown file (created with its header if missing)")
	flag.DurationVar(&o.soak, "soak", 10*time.Minute, "length of the soak (mixed requests, client aborts, one vsftpd restart); 0 skips it")
	flag.IntVar(&o.soakClients, "soak-clients", 8, "concurrent clients of the soak")
	flag.BoolVar(&o.soakOnly, "soak-only", false, "run only the soak, not the comparisons with direct FTP")
	flag.BoolVar(&o.multirangeOnly, "multirange-only", false, "run only workload i: several ranges in one request against the same ranges one by one")
	flag.BoolVar(&o.resumableOnly, "resumable-only", false, "run only workload j: a resumable upload in pieces against one PUT of the same file")
	flag.BoolVar(&o.latency, "latency", true, "run the latency mode (the gateway, direct curl and rclone serve http reaching vsftpd through delay proxies) after the comparisons, before the soak")
	flag.BoolVar(&o.latencyOnly, "latency-only", false, "run only the latency mode")
	rtts := flag.String("rtts", "0,1ms,10ms,40ms", "round-trip times of the latency mode, comma-separated (each proxy delays each way by half)")
	flag.IntVar(&o.latencyRuns, "latency-runs", 0, "runs of each side per measurement of the latency mode (0: -runs, at most 3)")
	flag.DurationVar(&o.latencyDuration, "latency-duration", 3*time.Second, "length of one run of the latency mode's concurrent loads")
	gwArgs := flag.String("gateway-args", "", "more flags for every gateway the bench starts, separated by spaces (e.g. --arm-idle=false)")
	flag.Parse()
	gatewayArgs = strings.Fields(*gwArgs)
	var err error
	o.rtts, err = parseRTTs(*rtts)
	if o.latencyRuns == 0 {
		o.latencyRuns = min(o.runs, 3)
	}
	only := 0
	for _, b := range []bool{o.soakOnly, o.multirangeOnly, o.resumableOnly, o.latencyOnly} {
		if b {
			only++
		}
	}
	if flag.NArg() > 0 || o.runs < 1 || o.clients < 1 || o.duration <= 0 || *sizeMiB < 1 || *upMiB < 1 ||
		o.soak < 0 || o.soakClients < 1 || (o.soakOnly && o.soak == 0) || only > 1 ||
		err != nil || o.latencyRuns < 1 || o.latencyDuration <= 0 {
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: -rtts: %v\n", err)
		}
		flag.Usage()
		os.Exit(2)
	}
	o.bigSize = *sizeMiB << 20
	o.memUp = *upMiB << 20

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, o)
	stop()
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "bench: interrupted; everything started has been stopped")
			os.Exit(130)
		}
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// logf reports progress on standard error; the table goes to standard output.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// parseRTTs parses -rtts: durations, comma-separated; "0" is allowed.
func parseRTTs(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		if d < 0 {
			return nil, fmt.Errorf("%v: negative", d)
		}
		out = append(out, d)
	}
	return out, nil
}
