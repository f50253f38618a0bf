package imagetest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// root is the module's root, where the Dockerfile is.
const root = "../.."

// buildSources are where the build stage's files come from here.
func buildSources(binary string) map[string]string {
	return map[string]string{
		"/out/ftpgw": binary,
		// The build image is Debian's: its CA bundle is this machine's.
		"/etc/ssl/certs/ca-certificates.crt": "/etc/ssl/certs/ca-certificates.crt",
	}
}

func requirePodman(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("podman")
	if err != nil {
		if os.Getenv(realftpd.RequireEnv) == "1" {
			t.Fatalf("podman not found (%s=1, so this fails instead of skipping; scripts/install-test-deps.sh installs it)", realftpd.RequireEnv)
		}
		t.Skip("podman not found; scripts/install-test-deps.sh installs it")
	}
	return p
}

// finalStage returns the Dockerfile's last stage: its FROM line and the
// instructions after it.
func finalStage(t *testing.T) (from string, lines []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			from, lines = line, nil
			continue
		}
		lines = append(lines, line)
	}
	return from, lines
}

// TestImage builds the image and checks its configuration and contents.
func TestImage(t *testing.T) {
	podman := requirePodman(t)
	dir := t.TempDir()
	binary := filepath.Join(dir, "ftpgw")
	build := exec.Command(filepath.Join(root, "scripts", "build-static.sh"), binary)
	build.Env = append(os.Environ(), "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/build-static.sh: %v\n%s", err, out)
	}
	checkStatic(t, binary)

	from, lines := finalStage(t)
	if from != "FROM scratch" {
		t.Fatalf("the final stage is %q, want FROM scratch", from)
	}
	// The stage as written, its COPY --from=build sources put in the
	// context under their base names.
	ctx := filepath.Join(dir, "context")
	if err := os.Mkdir(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	sources := buildSources(binary)
	stage := []string{from}
	for _, line := range lines {
		if rest, ok := strings.CutPrefix(line, "COPY --from=build "); ok {
			f := strings.Fields(rest)
			if len(f) != 2 {
				t.Fatalf("COPY line %q: want one source and one destination", line)
			}
			src, ok := sources[f[0]]
			if !ok {
				t.Fatalf("COPY line %q: the build stage's %s has no source here; add it to buildSources", line, f[0])
			}
			name := filepath.Base(f[0])
			mode := os.FileMode(0o644)
			if src == binary {
				mode = 0o755
			}
			copyFile(t, src, filepath.Join(ctx, name), mode)
			line = "COPY " + name + " " + f[1]
		}
		stage = append(stage, line)
	}
	if err := os.WriteFile(filepath.Join(ctx, "Containerfile"), []byte(strings.Join(stage, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("localhost/ftpgw-imagetest:%d", os.Getpid())
	run(t, podman, "build", "--quiet", "--pull=never", "-t", tag, ctx)
	t.Cleanup(func() { exec.Command(podman, "rmi", "-f", tag).Run() })

	var inspect []struct {
		Architecture string
		Config       struct {
			User         string
			Entrypoint   []string
			Cmd          []string
			ExposedPorts map[string]struct{}
			Env          []string
		}
	}
	if err := json.Unmarshal(run(t, podman, "image", "inspect", tag), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("podman image inspect: %v", err)
	}
	cfg := inspect[0].Config
	if cfg.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532: numeric (runAsNonRoot checks it) and not root", cfg.User)
	}
	if !slices.Equal(cfg.Entrypoint, []string{"/ftpgw"}) || len(cfg.Cmd) != 0 {
		t.Errorf("entrypoint %q, cmd %q; want [/ftpgw] and none", cfg.Entrypoint, cfg.Cmd)
	}
	if _, ok := cfg.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("exposed ports %v, want 8080/tcp", cfg.ExposedPorts)
	}
	if inspect[0].Architecture != runtime.GOARCH {
		t.Errorf("architecture %q, want %q", inspect[0].Architecture, runtime.GOARCH)
	}

	// The contents: created, never run (running containers is not
	// permitted where the tests run), and exported.
	id := strings.TrimSpace(string(run(t, podman, "create", tag)))
	t.Cleanup(func() { exec.Command(podman, "rm", "-f", id).Run() })
	files := exportedFiles(t, exec.Command(podman, "export", id))
	want := []string{"etc/ssl/certs/ca-certificates.crt", "ftpgw"}
	if !slices.Equal(files, want) {
		t.Errorf("the image holds %q, want only %q (no shell, nothing else)", files, want)
	}
}

// checkStatic fails t unless binary is a static executable: no
// interpreter (dynamic loader) and no shared library needed.
func checkStatic(t *testing.T, binary string) {
	t.Helper()
	f, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s asks for a dynamic loader: not static", binary)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("%s needs shared libraries %q: not static", binary, libs)
	}
	if out, err := exec.Command(binary, "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "Usage: gateway") {
		t.Errorf("%s --help: %v\n%s", binary, err, out)
	}
}

// exportedFiles returns the regular files (and anything but directories)
// of the tar stream cmd writes, sorted, without the entries every
// container gets from the engine (empty mount points).
func exportedFiles(t *testing.T, cmd *exec.Cmd) []string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var files []string
	tr := tar.NewReader(out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the exported image: %v", err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag == tar.TypeDir || (h.Size == 0 && engineMountPoint(name)) {
			continue
		}
		files = append(files, name)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, stderr.String())
	}
	slices.Sort(files)
	return files
}

// engineMountPoint reports whether name is a file the container engine
// adds to every container for its own mounts (empty until it runs).
func engineMountPoint(name string) bool {
	return slices.Contains([]string{"etc/hostname", "etc/hosts", "etc/resolv.conf", "run/.containerenv", ".containerenv"}, name)
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}
