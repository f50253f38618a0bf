package clienttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/logbuf"

	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// gatewayBinary is cmd/gateway, built once per test binary into a
// directory TestMain removes.
var gatewayBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if gatewayBinary.dir != "" {
		os.RemoveAll(gatewayBinary.dir)
	}
	os.Exit(code)
}

// buildGateway builds cmd/gateway, once, with the race detector when the
// tests have it.
func buildGateway(t *testing.T) string {
	t.Helper()
	b := &gatewayBinary
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "clienttest-gateway-")
		if err != nil {
			b.err = err
			return
		}
		b.dir = dir
		b.path = filepath.Join(dir, "gateway")
		args := []string{"build", "-o", b.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, "github.com/ftpgw/ftpgw/cmd/gateway")...).CombinedOutput()
		if err != nil {
			b.err = errors.New("go build ./cmd/gateway: " + err.Error() + "\n" + string(out))
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// testToken is the bearer token of the gateways started withToken.
const testToken = "clienttest-token-0123456789abcdef"

// gateway is cmd/gateway running as a process in front of ftpd.
type gateway struct {
	ftpd *realftpd.Server
	base string // "http://127.0.0.1:port"
	// token is the bearer token every /files/ request needs, "" for a
	// gateway without authentication.
	token string
}

// startGateway runs the gateway binary in front of ftpd on 127.0.0.1, with
// no authentication (the default on loopback) or, withToken, with a
// tokens file that gives testToken every scope. The process is stopped at
// t's cleanup.
func startGateway(t *testing.T, ftpd *realftpd.Server, withToken bool) *gateway {
	t.Helper()
	bin := buildGateway(t)
	dir := t.TempDir()
	password := filepath.Join(dir, "password")
	if err := os.WriteFile(password, []byte(ftpd.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	scheme := "ftp"
	args := []string{"--listen", "127.0.0.1:0", "--min-sessions", "0", "--upstream-password-file", password}
	if ftpd.TLS != nil {
		scheme = "ftpes"
		if ftpd.TLS.Implicit {
			scheme = "ftps"
		}
		args = append(args, "--tls-ca-file", ftpd.TLS.CAFile, "--tls-server-name", ftpd.TLS.ServerName)
	}
	args = append(args, "--upstream", scheme+"://"+ftpd.User+"@"+ftpd.Addr+"/")
	g := &gateway{ftpd: ftpd}
	if withToken {
		tok, err := auth.NewToken(testToken, "clienttest", auth.Read|auth.Write|auth.Delete, "/")
		if err != nil {
			t.Fatal(err)
		}
		tokens := filepath.Join(dir, "tokens")
		if err := os.WriteFile(tokens, []byte(tok.Line()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--tokens-file", tokens)
		g.token = testToken
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	stderr := &logbuf.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
		if log := stderr.String(); strings.Contains(log, "WARNING: DATA RACE") {
			t.Errorf("the gateway has a data race:\n%s", log)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if addr := stderr.ListeningAddr(); addr != "" {
			g.base = "http://" + addr
			return g
		}
		select {
		case <-exited:
			t.Fatalf("the gateway exited before listening:\n%s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not log its address in 10 s:\n%s", stderr.String())
		}
	}
}

// url returns the gateway's URL of path (which starts with "/").
func (g *gateway) url(path string) string { return g.base + path }

// requireTool returns the path of the program name, or skips t without
// it (fails t under FTPGW_REQUIRE_REAL_SERVERS=1).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := name + " is not on PATH (scripts/install-test-deps.sh installs it)"
		if os.Getenv(realftpd.RequireEnv) == "1" {
			t.Fatalf("%s (%s=1, so this fails instead of skipping)", msg, realftpd.RequireEnv)
		}
		t.Skip(msg)
	}
	return p
}

// clientTimeout bounds one run of a client: each takes well under a second
// to a few seconds on an idle machine; the margin is for a loaded one.
const clientTimeout = 60 * time.Second

// command is the client name with args, run in dir, bounded by
// clientTimeout and killed at t's end; HOME is dir, so that no user's
// configuration (~/.wgetrc, ~/.curlrc, ~/.lftprc) changes what it does.
func command(t *testing.T, dir, name string, args ...string) *exec.Cmd {
	t.Helper()
	p := requireTool(t, name)
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, p, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LC_ALL=C.UTF-8"}
	return cmd
}

// run runs the client name with args in dir and returns its standard
// output; a failure fails t with what it printed.
func run(t *testing.T, dir, name string, args ...string) []byte {
	t.Helper()
	cmd := command(t, dir, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %q: %v\nstdout:\n%s\nstderr:\n%s", name, args, err, out, stderr.Bytes())
	}
	return out
}

// sum is the hex SHA-256 of data.
func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// fileSum is the hex SHA-256 of the file at path.
func fileSum(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sum(data)
}

// treeSums returns the hex SHA-256 of every regular file under root, by
// its slash-separated path relative to root; anything else but a
// directory fails t.
func treeSums(t *testing.T, root string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			t.Errorf("%s is not a regular file (%v)", p, d.Type())
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		sums[filepath.ToSlash(rel)] = fileSum(t, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// compareTrees fails t unless got and want name the same files with the
// same sums.
func compareTrees(t *testing.T, got, want map[string]string) {
	t.Helper()
	for name, s := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: missing", name)
		case g != s:
			t.Errorf("%s: SHA-256 %s, want %s", name, g, s)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: not on the FTP server", name)
		}
	}
}
