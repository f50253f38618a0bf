package readmetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readme is the README whose examples run.
const readme = "../../README.md"

// requireEnv makes a missing tool a failure, not a skip (make test sets
// it); internal/realftpd's RequireEnv, not imported for one name.
const requireEnv = "FTPGW_REQUIRE_REAL_SERVERS"

const (
	// scriptTimeout bounds one run of bash: the slowest example (the
	// resumable upload's 1.3 MB) takes well under a second.
	scriptTimeout = 60 * time.Second
	// startTimeout bounds a demo's start, until it says "Press Ctrl-C".
	startTimeout = 30 * time.Second
	// stopTimeout bounds a demo's stop after SIGTERM.
	stopTimeout = 15 * time.Second
)

// skips are the README's commands a test machine cannot run, each with
// the reason the test prints. A skip is of one command (a line, with its
// continuation lines), not of its whole block: the rest of the block runs.
var skips = []struct {
	re  *regexp.Regexp
	why string
}{
	{regexp.MustCompile(`^make test\b`), "make test runs the whole suite, this test among it"},
	{regexp.MustCompile(`^(podman|docker|helm|kubectl)\s`), "builds or pushes a container image, or deploys to a Kubernetes cluster (internal/imagetest and internal/charttest test those)"},
	{regexp.MustCompile(`--upstream [a-z]+://[^ ]*\.example\.`), "needs a real FTP server at the example's address"},
}

// demoStart is a README command that starts the gateway in demo mode: the
// test starts the gateway it built with that command's arguments instead,
// and the commands after it talk to that one.
var demoStart = regexp.MustCompile(`^go run \./cmd/gateway --demo\b`)

// demoAccount is how the README writes the account the demo prints under
// --auth basic: the test puts in the one its demo printed.
var demoAccount = regexp.MustCompile(`demo-[0-9a-f]{8}:<the printed password>`)

// README addresses of the demo, which listens on 127.0.0.1:8080 by
// default. The test's demo listens on a port of its own (packages test in
// parallel): these are rewritten to it, and nothing else of a command is.
var readmeAddrs = []string{"localhost:8080", "127.0.0.1:8080"}

// shellLangs are the fenced blocks that run; a "console" block's commands
// are its lines starting with "$ ", the rest being their output.
var shellLangs = map[string]bool{"sh": true, "bash": true, "console": true}

// fileBlock is the first line of a fenced block of another language that
// names the file it is (the config file's "# gateway.yaml"): the test
// writes it in its section's directory for the examples that follow.
var fileBlock = regexp.MustCompile(`^# ([A-Za-z0-9_-]+\.[A-Za-z0-9]+)$`)

// preamble starts every script. Each block runs strictly, as the README's
// reader would want to know of a failure: the first command that fails
// (or pipeline, or unset variable) stops it. go run ./cmd/gateway is the
// gateway the test built; any other go command is not the README's to run.
const preamble = `set -euo pipefail
go() {
	if [[ $# -ge 2 && $1 == run && $2 == ./cmd/gateway ]]; then
		shift 2
		"$READMETEST_GATEWAY" "$@"
	else
		echo "readmetest: go $*: only go run ./cmd/gateway runs here" >&2
		return 127
	fi
}
`

// markerID is the X-Request-Id of the request the test makes after a
// block, to know that the gateway has logged the block's requests.
const markerID = "readmetest-marker-"

// TestReadmeExamples runs every sh, bash and console block of README.md,
// except the commands of skips, with bash against the gateway built from
// ./cmd/gateway in demo mode. The blocks of one section (a heading of level
// 1 or 2, its subsections included) run in order in one fresh directory
// against one demo, as a reader would paste them: a token or file made by
// one block is there for the next. A section starts the demo as the
// README's first command does (--demo) before its first command that needs
// one; a block's own go run ./cmd/gateway --demo ... restarts it with its
// arguments. What makes a block fail is checkBlock's (check_test.go).
func TestReadmeExamples(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "openssl", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv(requireEnv) == "1" {
				t.Fatalf("%s is not installed (%s=1, so this fails instead of skipping)", tool, requireEnv)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	text, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	sections := parseReadme(string(text))
	bin := filepath.Join(t.TempDir(), "gateway")
	if out, err := exec.Command("go", "build", "-C", "../..", "-o", bin, "./cmd/gateway").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	shell := 0
	for _, s := range sections {
		for _, b := range s.blocks {
			if shellLangs[b.lang] {
				shell++
			}
		}
	}
	if shell == 0 {
		t.Fatalf("%s has no sh, bash or console block: the parser or the README is wrong", readme)
	}
	for _, s := range sections {
		t.Run(s.title, func(t *testing.T) { runSection(t, bin, s) })
	}
}

// A block is one fenced block of the README.
type block struct {
	line int    // of its opening fence, from 1
	lang string // what follows the fence's backquotes
	text string // its content, without the fence's indent
}

// A section is the README under a heading of level 1 or 2.
type section struct {
	title  string
	blocks []block
}

var heading = regexp.MustCompile(`^#{1,2} (.+)`)

// parseReadme returns the sections of a Markdown text that hold fenced
// blocks, in order.
func parseReadme(text string) []section {
	var (
		out    []section
		cur    section
		in     bool
		indent string
		b      block
		lines  []string
	)
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case !in && strings.HasPrefix(trimmed, "```"):
			in, indent = true, line[:len(line)-len(trimmed)]
			b, lines = block{line: i + 1, lang: strings.TrimSpace(trimmed[3:])}, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			b.text = strings.Join(lines, "\n") + "\n"
			cur.blocks = append(cur.blocks, b)
		case in:
			lines = append(lines, strings.TrimPrefix(line, indent))
		case heading.MatchString(line):
			if len(cur.blocks) > 0 {
				out = append(out, cur)
			}
			cur = section{title: heading.FindStringSubmatch(line)[1]}
		}
	}
	if len(cur.blocks) > 0 {
		out = append(out, cur)
	}
	return out
}

// commands splits a shell block into its commands, a line with its
// continuation lines each, with the line each starts on.
func commands(b block) (cmds []string, lines []int) {
	var cur []string
	start := 0
	for i, l := range strings.Split(strings.TrimSuffix(b.text, "\n"), "\n") {
		if len(cur) == 0 {
			if b.lang == "console" {
				var ok bool
				if l, ok = strings.CutPrefix(l, "$ "); !ok {
					continue // output
				}
			}
			start = b.line + 1 + i
		}
		cur = append(cur, l)
		if !strings.HasSuffix(l, `\`) {
			cmds, lines = append(cmds, strings.Join(cur, "\n")), append(lines, start)
			cur = nil
		}
	}
	if len(cur) > 0 {
		cmds, lines = append(cmds, strings.Join(cur, "\n")), append(lines, start)
	}
	return cmds, lines
}

// runSection runs a section's blocks in order in a fresh directory.
func runSection(t *testing.T, bin string, s section) {
	dir := t.TempDir()
	home := t.TempDir() // no ~/.curlrc of the developer's
	var gw *gateway
	t.Cleanup(func() {
		if gw != nil {
			gw.stop(t)
		}
	})
	for _, b := range s.blocks {
		if !shellLangs[b.lang] {
			if m := fileBlock.FindStringSubmatch(strings.SplitN(b.text, "\n", 2)[0]); m != nil {
				if err := os.WriteFile(filepath.Join(dir, m[1]), []byte(b.text), 0o600); err != nil {
					t.Fatal(err)
				}
				t.Logf("README.md:%d: written to %s", b.line, m[1])
			}
			continue
		}
		var script strings.Builder
		scriptLine := 0
		flush := func() {
			if strings.TrimSpace(script.String()) == "" {
				script.Reset()
				return
			}
			if gw == nil {
				gw = startGateway(t, bin, dir, home, []string{"--demo"})
			}
			runScript(t, bin, dir, home, gw, b, scriptLine, script.String())
			script.Reset()
		}
		cmds, lines := commands(b)
	cmds:
		for i, c := range cmds {
			line := lines[i]
			for _, sk := range skips {
				if sk.re.MatchString(c) {
					t.Logf("README.md:%d: skipped %q: %s", line, strings.SplitN(c, "\n", 2)[0], sk.why)
					continue cmds
				}
			}
			if demoStart.MatchString(c) {
				flush()
				if gw != nil {
					gw.stop(t)
				}
				gw = startGateway(t, bin, dir, home, demoArgs(t, c))
				continue
			}
			if script.Len() == 0 {
				scriptLine = line
			}
			script.WriteString(c + "\n")
		}
		flush()
	}
}

// demoArgs returns the arguments of a README command that starts the
// demo, as bash reads them (quotes, comments).
func demoArgs(t *testing.T, c string) []string {
	out, err := exec.Command("bash", "-c", `go() { shift 2; printf '%s\0' "$@"; }`+"\n"+c).Output()
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}

// environ is the environment of the gateway and of the scripts: the test's
// own, without what would change what the README's commands do (the
// gateway's FTPGW_ variables, proxies, BASH_ENV), with HOME and CURL_HOME
// empty directories.
func environ(home string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "FTPGW_"), strings.HasSuffix(strings.ToLower(k), "_proxy"),
			k == "BASH_ENV", k == "ENV", k == "HOME", k == "CURL_HOME":
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, "HOME="+home, "CURL_HOME="+home), extra...)
}

// runScript runs commands of block b, from its line line, with bash in
// dir against gw, and checks their exit status and output.
func runScript(t *testing.T, bin, dir, home string, gw *gateway, b block, line int, script string) {
	t.Helper()
	r := strings.NewReplacer(readmeAddrs[0], gw.addr, readmeAddrs[1], gw.addr)
	script = r.Replace(script)
	if demoAccount.MatchString(script) {
		if gw.account == "" {
			t.Fatalf("README.md:%d: the example uses the demo's printed account, and the demo printed none:\n%s", line, gw.output())
		}
		script = demoAccount.ReplaceAllLiteralString(script, gw.account)
	}
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(t.Context(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-c", preamble+script)
	cmd.Dir = dir
	cmd.Env = environ(home, "READMETEST_GATEWAY="+bin)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that what a script leaves running in the
	// background (Live transfers' curl ... &) is stopped with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	from := gw.logLen()
	start := time.Now()
	runErr := cmd.Run()
	took := time.Since(start)
	logged, markErr := gw.mark()
	// What the script left running in the background (Live transfers'
	// curl ... &) is stopped only now, so that its end is not in the log
	// of the block's requests.
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // ESRCH when nothing is left
	}
	output, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("README.md:%d: ran in %v", line, took.Round(time.Millisecond))
	var problems []string
	if runErr != nil {
		problems = append(problems, "bash: "+runErr.Error())
	}
	if markErr != nil {
		problems = append(problems, markErr.Error())
	}
	problems = append(problems, checkBlock(b.text, string(output), gw.logSince(from, logged))...)
	if len(problems) > 0 {
		t.Errorf("README.md:%d: the example fails: %s\n--- script:\n%s--- output:\n%s--- gateway:\n%s",
			line, strings.Join(problems, "; "), script, output, gw.output())
	}
}

// A logRecord is a line of the gateway's JSON log.
type logRecord struct {
	Level, Msg    string
	RequestID     string `json:"request_id"`
	Method, Route string
	Status        int
	line          string
}

// A gateway is the gateway in demo mode, started for a section.
type gateway struct {
	cmd     *exec.Cmd
	addr    string // where it listens, host:port
	account string // user:password for -u the demo printed, under --auth basic
	done    chan struct{}
	marks   int // markers sent

	mu   sync.Mutex
	out  bytes.Buffer // its stdout and stderr
	logs []logRecord  // its JSON log lines
}

// printedAccount is the demo's account in the commands it prints.
var printedAccount = regexp.MustCompile(`-u (demo-[0-9a-f]+:[0-9a-f]+) `)

// startGateway starts bin with args (a README command's, --demo among them)
// in dir, listening on a port of its own, and returns once it is ready.
func startGateway(t *testing.T, bin, dir, home string, args []string) *gateway {
	t.Helper()
	args = append(args, "--listen", "127.0.0.1:0")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	gw := &gateway{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	gw.cmd.Dir = dir
	gw.cmd.Env = environ(home)
	gw.cmd.Stdout, gw.cmd.Stderr = w, w
	if err := gw.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ready := make(chan struct{})
	go func() {
		defer close(gw.done)
		ready := ready
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		addr, account, said := "", "", false
		for sc.Scan() {
			l := sc.Text()
			var rec struct {
				logRecord
				Addr string
			}
			isJSON := json.Unmarshal([]byte(l), &rec) == nil
			rec.line = l
			gw.mu.Lock()
			gw.out.WriteString(l + "\n")
			if isJSON {
				gw.logs = append(gw.logs, rec.logRecord)
			}
			gw.mu.Unlock()
			if ready == nil {
				continue
			}
			if rec.Msg == "listening" {
				addr = rec.Addr
			}
			if m := printedAccount.FindStringSubmatch(l); m != nil {
				account = m[1]
			}
			said = said || strings.Contains(l, "Press Ctrl-C to stop.")
			if addr != "" && said {
				gw.addr, gw.account = addr, account
				close(ready)
				ready = nil
			}
		}
		_ = gw.cmd.Wait()
	}()
	select {
	case <-ready:
	case <-gw.done:
		t.Fatalf("gateway %s exited before it was ready: %v\n%s", strings.Join(args, " "), gw.cmd.ProcessState, gw.output())
	case <-time.After(startTimeout):
		_ = gw.cmd.Process.Kill()
		<-gw.done
		t.Fatalf("gateway %s not ready after %v:\n%s", strings.Join(args, " "), startTimeout, gw.output())
	}
	t.Logf("started gateway %s on %s", strings.Join(args, " "), gw.addr)
	return gw
}

func (gw *gateway) output() string {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	return gw.out.String()
}

func (gw *gateway) logLen() int {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	return len(gw.logs)
}

// logSince returns the log records from index from to index to.
func (gw *gateway) logSince(from, to int) []logRecord {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	return slices.Clone(gw.logs[from:to])
}

// mark makes a request of its own and returns the length of the log once
// the gateway has logged it: the requests of a script that has exited are
// logged by then (each was answered before), and its own is left out.
func (gw *gateway) mark() (int, error) {
	gw.marks++
	id := markerID + strconv.Itoa(gw.marks)
	req, err := http.NewRequest(http.MethodGet, "http://"+gw.addr+"/healthz", nil)
	if err != nil {
		return gw.logLen(), err
	}
	req.Header.Set("X-Request-Id", id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return gw.logLen(), fmt.Errorf("the gateway after the example: %v", err)
	}
	resp.Body.Close()
	for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		gw.mu.Lock()
		for i, r := range gw.logs {
			if r.RequestID == id {
				gw.mu.Unlock()
				return i, nil
			}
		}
		gw.mu.Unlock()
	}
	return gw.logLen(), fmt.Errorf("the gateway did not log the request after the example within %v", startTimeout)
}

// stop stops the gateway as Ctrl-C would, and fails t if it does not exit
// cleanly.
func (gw *gateway) stop(t *testing.T) {
	t.Helper()
	_ = gw.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-gw.done:
	case <-time.After(stopTimeout):
		_ = gw.cmd.Process.Kill()
		<-gw.done
		t.Errorf("gateway did not stop within %v of SIGTERM:\n%s", stopTimeout, gw.output())
		return
	}
	if !gw.cmd.ProcessState.Success() {
		t.Errorf("gateway exited with %v after SIGTERM:\n%s", gw.cmd.ProcessState, gw.output())
	}
	if strings.Contains(gw.output(), "panic:") {
		t.Errorf("gateway panicked:\n%s", gw.output())
	}
}
