package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// tracedCalls are the system calls that can move a download's bytes.
var tracedCalls = []string{"splice", "read", "write", "sendfile", "copy_file_range"}

// straceWrap is the command line the gateway runs under for the splice
// check: every thread followed, -C for the summary table (what -c prints)
// and the calls themselves, whose return values give the bytes moved; -s 0
// keeps data out of the trace.
func straceWrap(out string) []string {
	return []string{"strace", "-f", "-C", "-s", "0", "-e", "trace=" + strings.Join(tracedCalls, ","), "-o", out, "--"}
}

// syscallStat is one system call in the trace of a gateway.
type syscallStat struct {
	calls, errors int64 // from strace's summary
	bytes         int64 // sum of the successful return values
}

// spliceResult is what the trace of one download through the gateway shows.
type spliceResult struct {
	skipped string // why there is no trace
	calls   map[string]syscallStat
	speed   float64 // of the download under strace, bytes per second
}

// lineRE matches a finished call in strace -f -o output: "PID name(...) =
// ret" or "PID <... name resumed>...) = ret", ret maybe followed by an
// errno.
var lineRE = regexp.MustCompile(`^(?:\d+ +)?(?:([a-z_0-9]+)\(|<\.\.\. ([a-z_0-9]+) resumed>).*\) += (-?\d+)(?: .*)?$`)

// readStrace reads the trace the gateway left at path.
func readStrace(path string) (spliceResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return spliceResult{}, err
	}
	defer f.Close()
	res := spliceResult{calls: make(map[string]syscallStat)}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	summary := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "% time") {
			summary = true
			continue
		}
		if summary {
			// "% time seconds usecs/call calls [errors] syscall"
			fl := strings.Fields(line)
			if len(fl) < 5 || strings.HasPrefix(fl[0], "---") {
				continue
			}
			name := fl[len(fl)-1]
			st := res.calls[name]
			st.calls, _ = strconv.ParseInt(fl[3], 10, 64)
			if len(fl) == 6 {
				st.errors, _ = strconv.ParseInt(fl[4], 10, 64)
			}
			res.calls[name] = st
			continue
		}
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name := m[1] + m[2]
		n, err := strconv.ParseInt(m[3], 10, 64)
		if err != nil || n <= 0 {
			continue
		}
		st := res.calls[name]
		st.bytes += n
		res.calls[name] = st
	}
	if err := sc.Err(); err != nil {
		return res, err
	}
	if !summary {
		return res, fmt.Errorf("%s: no strace summary (did the gateway exit cleanly?)", path)
	}
	return res, nil
}
