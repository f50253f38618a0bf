package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat: 100 on every Linux architecture Go supports.
const clockTicks = 100

// childAttr puts a child in a process group of its own (so the whole
// group can be killed) and has the kernel kill it if the bench dies
// without cleaning up.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// childEnv is the bench's environment without FTPGW_ variables, which the
// gateway would take for flags.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FTPGW_") {
			env = append(env, kv)
		}
	}
	return env
}

// gateway is one gateway process listening on 127.0.0.1.
type gateway struct {
	addr    string // 127.0.0.1:port
	pid     int    // the gateway itself (under strace, strace's child)
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	logPath string
}

// startGateway starts bin against upstream and waits for /readyz. wrap,
// if not empty, is a command line the gateway runs under (strace ...);
// extra are more flags, which win over the defaults here (--log-level
// debug).
// gatewayArgs are more flags for every gateway the bench starts
// (-gateway-args), after its own.
var gatewayArgs []string

func startGateway(ctx context.Context, bin, upstream, logPath string, wrap []string, extra ...string) (*gateway, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	g := &gateway{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), logPath: logPath, done: make(chan struct{})}
	args := append(append([]string{}, wrap...), bin,
		"--listen", g.addr,
		"--upstream", upstream,
		"--max-sessions", "16",
		"--log-level", "warn")
	args = append(append(args, extra...), gatewayArgs...)
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	g.cmd = exec.Command(args[0], args[1:]...)
	g.cmd.Env = childEnv()
	g.cmd.Stdout = logFile
	g.cmd.Stderr = logFile
	g.cmd.SysProcAttr = childAttr()
	if err := g.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		g.waitErr = g.cmd.Wait()
		close(g.done)
	}()
	g.pid = g.cmd.Process.Pid
	if len(wrap) > 0 {
		if g.pid, err = g.findChild(); err != nil {
			g.stop()
			return nil, err
		}
	}
	if err := g.waitReady(ctx); err != nil {
		g.stop()
		return nil, fmt.Errorf("%v; gateway log:\n%s", err, g.logTail())
	}
	return g, nil
}

// findChild returns the pid of the process the wrapper started.
func (g *gateway) findChild() (int, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if pids := children(g.cmd.Process.Pid); len(pids) > 0 {
			return pids[0], nil
		}
		select {
		case <-g.done:
			return 0, fmt.Errorf("%s exited: %v; log:\n%s", g.cmd.Args[0], g.waitErr, g.logTail())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("%s started no gateway within 10s", g.cmd.Args[0])
}

// waitReady polls /readyz until it answers 200, for at most 30 s.
func (g *gateway) waitReady(ctx context.Context) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", g.url("/readyz"), nil)
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz: %s", resp.Status)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		select {
		case <-g.done:
			return fmt.Errorf("gateway exited: %v", g.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gateway not ready within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *gateway) url(path string) string { return "http://" + g.addr + path }

// stop ends the gateway with SIGTERM (a clean shutdown, which lets strace
// write its summary), then SIGKILL to its whole process group after 15 s.
func (g *gateway) stop() error {
	_ = syscall.Kill(g.pid, syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
		<-g.done
		return fmt.Errorf("gateway did not exit within 15s of SIGTERM; killed")
	}
	// Whatever the wrapper left behind.
	_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
	return nil
}

// logTail returns the end of the gateway's output.
func (g *gateway) logTail() string { return fileTail(g.logPath) }

// fileTail returns the end of a process's output.
func fileTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return strings.TrimSpace(string(b))
}

// logLines returns the lines of the gateway's output that contain substr.
func (g *gateway) logLines(substr string) []string { return linesWith(g.logPath, substr) }

// linesWith returns the lines of a process's output that contain substr.
func linesWith(path, substr string) []string {
	b, _ := os.ReadFile(path)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

// metric returns the sum of every series of the named metric on /metrics.
func (g *gateway) metric(ctx context.Context, name string) (float64, error) {
	body, err := g.scrape(ctx)
	if err != nil {
		return 0, err
	}
	return sumMetric(body, name)
}

// scrape returns the gateway's /metrics, on a connection of its own that
// is closed after it, so that scrapes leave the gateway as they found it
// (the soak counts its descriptors and goroutines).
func (g *gateway) scrape(ctx context.Context) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", g.url("/metrics"), nil)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}

// sumMetric adds up the samples of metric name in a Prometheus text
// exposition.
func sumMetric(exposition []byte, name string) (float64, error) {
	var (
		sum   float64
		found bool
	)
	sc := bufio.NewScanner(bytes.NewReader(exposition))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		// The value follows the labels, or the name when there are none.
		if i := strings.LastIndexByte(rest, '}'); i >= 0 {
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: %q: %v", name, line, err)
		}
		sum += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("metric %s not exposed", name)
	}
	return sum, nil
}

// cpuSeconds returns the user plus system CPU time process pid has used.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseCPU(string(b))
}

// parseCPU reads utime and stime (fields 14 and 15) from a
// /proc/<pid>/stat line, in seconds.
func parseCPU(stat string) (float64, error) {
	// "pid (comm) state ppid ..."; comm may hold spaces and ')'.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed stat %q", stat)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(utime+stime) / clockTicks, nil
}

// memKiB returns a field of /proc/<pid>/status in KiB: VmHWM (peak
// resident set) or VmRSS.
func memKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return parseStatus(string(b), field)
}

func parseStatus(status, field string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("malformed %q", line)
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("no %s in status", field)
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// freePort asks the kernel for a port on 127.0.0.1 that is free now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// curlResult is what curl's --write-out reports of one transfer.
type curlResult struct {
	code  int     // HTTP status, or the FTP server's final reply
	bytes int64   // bytes downloaded or uploaded
	speed float64 // bytes per second over the whole request, login included
	// start and total are the seconds from the start of the request to
	// the first byte of the response (for FTP: after login, EPSV and RETR
	// or STOR) and to its end.
	start, total float64
}

// dataSpeed is the speed of the data phase alone, from the first byte of
// the response to the end: without the direct client's login, and without
// the gateway's session acquire, SIZE and MDTM.
func (r curlResult) dataSpeed() float64 { return float64(r.bytes) / (r.total - r.start) }

// curl runs one transfer; upload is the file to send with -T, or "" for a
// download; extra are more options (-r, --max-time, TLS). It is bounded by
// ctx and by 10 minutes.
func curl(ctx context.Context, url, upload string, extra ...string) (curlResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	w := "%{response_code} %{size_download} %{speed_download} %{time_starttransfer} %{time_total}"
	args := []string{"-sS", "-o", "/dev/null"}
	if upload != "" {
		w = "%{response_code} %{size_upload} %{speed_upload} %{time_starttransfer} %{time_total}"
		args = append(args, "-T", upload)
	}
	args = append(append(args, extra...), "-w", w, url)
	cmd := exec.CommandContext(ctx, "curl", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return curlResult{}, ctx.Err()
		}
		return curlResult{}, fmt.Errorf("curl %s: %v: %s", redact(url), err, strings.TrimSpace(stderr.String()))
	}
	var r curlResult
	if _, err := fmt.Sscan(string(out), &r.code, &r.bytes, &r.speed, &r.start, &r.total); err != nil {
		return r, fmt.Errorf("curl %s: --write-out %q: %v", redact(url), out, err)
	}
	return r, nil
}

// redact hides the password of an ftp:// URL in messages.
func redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if at := strings.IndexByte(rest, '@'); ok && at >= 0 {
		if user, _, ok := strings.Cut(rest[:at], ":"); ok {
			return scheme + "://" + user + ":xxx" + rest[at:]
		}
	}
	return url
}
