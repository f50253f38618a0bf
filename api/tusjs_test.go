package api_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tusJSVersion is the tus-js-client TestTusJSClient runs, from npm.
const tusJSVersion = "4.3.1"

// tusJSModule returns the directory of tus-js-client: under
// FTPGW_TEST_TOOLS_DIR (where scripts/install-test-deps.sh puts it), or
// installed there by npm now, or into the test's temporary directory if
// the tools directory cannot be written. Without node or npm the test is
// skipped, unless real servers are required: then it fails.
func tusJSModule(t *testing.T) (node, module string) {
	t.Helper()
	node, nerr := exec.LookPath("node")
	npm, perr := exec.LookPath("npm")
	if nerr != nil || perr != nil {
		if os.Getenv("FTPGW_REQUIRE_REAL_SERVERS") == "1" {
			t.Fatalf("node or npm missing (%v, %v): scripts/install-test-deps.sh installs them", nerr, perr)
		}
		t.Skip("node or npm missing")
	}
	tools := os.Getenv("FTPGW_TEST_TOOLS_DIR")
	if tools == "" {
		tools = "/opt/ftpgw-test-tools"
	}
	dir := filepath.Join(tools, "tus-js-client-"+tusJSVersion)
	module = filepath.Join(dir, "node_modules", "tus-js-client")
	if _, err := os.Stat(filepath.Join(module, "package.json")); err == nil {
		return node, module
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		dir = t.TempDir()
		module = filepath.Join(dir, "node_modules", "tus-js-client")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "--no-save", "tus-js-client@"+tusJSVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install tus-js-client@%s: %v\n%s", tusJSVersion, err, out)
	}
	return node, module
}

// TestTusJSClient: tus-js-client, run under node, uploads a file through
// the gateway in pieces, is cut off after two of them, and resumes from
// the upload's URL: the file is byte-identical and no temporary file is
// left, on every server of the matrix.
func TestTusJSClient(t *testing.T) {
	node, module := tusJSModule(t)
	script, err := filepath.Abs("testdata/tusjs.js")
	if err != nil {
		t.Fatal(err)
	}
	forEachServer(t, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "up/keep.txt", []byte("the endpoint's directory"))
		data := randomBytes(300_000, 21)
		src := filepath.Join(t.TempDir(), "src.bin")
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, script)
		cmd.Env = append(os.Environ(), "TUS_MODULE="+module, "TUS_FILE="+src, "TUS_ENDPOINT="+g.url("/files/up/"), "TUS_NAME=js upload.bin")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tus-js-client: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "aborted "+g.url("/files/up/js%20upload.bin?upload=")) || !strings.Contains(string(out), "done ") {
			t.Errorf("tus-js-client said %s", out)
		}
		got, err := os.ReadFile(g.ftpd.Path("up/js upload.bin"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("file on the server: %d bytes (err %v), want the %d sent", len(got), err, len(data))
		}
		if left := tempFilesUnder(t, g.ftpd.Path("")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}
