package faultsuite_test

import (
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/logbuf"
)

// The SIGTERM cases run cmd/gateway as a process, built for the test, so
// that the signal, the drain and the exit status are the binary's own.

var gatewayBinary struct {
	once sync.Once
	path string
	err  error
}

// buildGateway builds cmd/gateway once per test binary, into a temporary
// directory that TestMain removes.
func buildGateway(t *testing.T) string {
	t.Helper()
	b := &gatewayBinary
	b.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			b.err = errors.New("the go command is not in PATH, and the SIGTERM cases build cmd/gateway with it")
			return
		}
		dir, err := os.MkdirTemp("", "faultsuite-gateway-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "gateway")
		out, err := exec.Command(goTool, "build", "-o", b.path, "github.com/ftpgw/ftpgw/cmd/gateway").CombinedOutput()
		if err != nil {
			b.err = errors.New("go build ./cmd/gateway: " + err.Error() + "\n" + string(out))
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// gatewayProcess is cmd/gateway running as a child process.
type gatewayProcess struct {
	cmd    *exec.Cmd
	addr   string // where it serves HTTP
	stderr *logbuf.Buffer
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

// startGatewayProcess runs the gateway with the upstream URL (its
// password given in a file, as in production) and extra flags, and
// waits until it listens. The process is killed at cleanup if it is
// still running.
func startGatewayProcess(t *testing.T, upstream *url.URL, password string, flags ...string) *gatewayProcess {
	t.Helper()
	bin := buildGateway(t)
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{
		"--upstream", upstream.String(), "--upstream-password-file", pwFile,
		"--listen", "127.0.0.1:0", "--min-sessions", "0",
	}, flags...)
	g := &gatewayProcess{cmd: exec.Command(bin, args...), stderr: &logbuf.Buffer{}, exited: make(chan struct{})}
	g.cmd.Env = []string{"PATH=/usr/bin:/bin"}
	g.cmd.Stderr = g.stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		g.err = g.cmd.Wait()
		close(g.exited)
	}()
	t.Cleanup(func() {
		g.cmd.Process.Kill()
		<-g.exited
	})
	if !eventually(10*time.Second, func() bool {
		g.addr = g.stderr.ListeningAddr()
		return g.addr != ""
	}) {
		t.Fatalf("the gateway process did not log its address in 10 s:\n%s", g.stderr.String())
	}
	return g
}

// wait waits up to d for the process to exit and returns its exit status
// (-1 if it did not exit).
func (g *gatewayProcess) wait(d time.Duration) int {
	select {
	case <-g.exited:
	case <-time.After(d):
		return -1
	}
	var ee *exec.ExitError
	if errors.As(g.err, &ee) {
		return ee.ExitCode()
	}
	if g.err != nil {
		return -1
	}
	return 0
}

func (g *gatewayProcess) signal(s syscall.Signal) error { return g.cmd.Process.Signal(s) }

// checkLogs checks that the process logged the SIGTERM's drain and never
// the password.
func (g *gatewayProcess) checkLogs(t *testing.T, password string) {
	t.Helper()
	logs := g.stderr.String()
	if strings.Contains(logs, password) {
		t.Error("the gateway logged the FTP password")
	}
	if !strings.Contains(logs, "shutting down") {
		t.Errorf("no shutdown logged after SIGTERM:\n%s", logs)
	}
}
