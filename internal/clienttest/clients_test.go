package clienttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// backends are the FTP servers the clients are run against: plain FTP,
// and explicit FTPS over TLS 1.3 (the gateway's data connections resume
// the control connection's TLS session, as vsftpd requires).
var backends = []realftpd.Kind{realftpd.Vsftpd, realftpd.VsftpdTLS13}

// tree is the directory the mirroring clients copy, under treeDir on the
// FTP server: nested directories, names with spaces and non-ASCII (UTF-8)
// characters, and a file of a few hundred KiB among small ones.
const treeDir = "tree"

var tree = map[string][]byte{
	"top.txt":                         []byte("top\n"),
	"with space.txt":                  []byte("a name with a space\n"),
	"ünï cødé.txt":                    []byte("non-ASCII name\n"),
	"nested/level2/deep.bin":          randomBytes(3, 300<<10),
	"nested/Ω dir/ß.txt":              []byte("non-ASCII directory\n"),
	"nested/Ω dir/Грузовик 100%.txt":  []byte("Cyrillic and a percent sign\n"),
	"nested/level2/level3/empty.file": {},
}

// Other files, outside the tree: file.bin for resumes and ranges, big.bin
// for aria2c's segments.
const (
	fileName = "file.bin"
	bigName  = "big.bin"
	bigSize  = 64 << 20
)

// randomBytes returns n bytes of a seeded random stream.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed)})
	r.Read(b)
	return b
}

// TestClients runs every client against the gateway on each backend.
func TestClients(t *testing.T) {
	for _, kind := range backends {
		t.Run(string(kind), func(t *testing.T) {
			ftpd := realftpd.Start(t, kind)
			writeTree(t, ftpd)
			file := randomBytes(1, 3<<20+12345)
			ftpd.WriteFile(t, fileName, file)
			big := randomBytes(2, bigSize)
			ftpd.WriteFile(t, bigName, big)
			g := startGateway(t, ftpd, false)
			t.Run("curl", func(t *testing.T) { testCurl(t, g, file) })
			t.Run("wget", func(t *testing.T) { testWget(t, g, file) })
			t.Run("aria2c", func(t *testing.T) { testAria2(t, g, big) })
			t.Run("rclone", func(t *testing.T) { testRclone(t, g) })
			t.Run("lftp", func(t *testing.T) { testLftp(t, g) })
			t.Run("python", func(t *testing.T) { testJSONAPI(t, g, file, "python3", "jsonapi.py") })
			t.Run("node", func(t *testing.T) { testJSONAPI(t, g, file, "node", "jsonapi.mjs") })
		})
	}
}

// writeTree puts tree on ftpd, under treeDir.
func writeTree(t *testing.T, ftpd *realftpd.Server) {
	t.Helper()
	for name, data := range tree {
		ftpd.WriteFile(t, filepath.Join(treeDir, filepath.FromSlash(name)), data)
	}
}

// wantTree is tree's SHA-256s by path.
func wantTree() map[string]string {
	want := map[string]string{}
	for name, data := range tree {
		want[name] = sum(data)
	}
	return want
}

// writeLocal writes data to dir/name and returns the path.
func writeLocal(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkUpload fails t unless the FTP server holds rel with data's bytes.
func checkUpload(t *testing.T, g *gateway, rel string, data []byte) {
	t.Helper()
	if got := fileSum(t, g.ftpd.Path(rel)); got != sum(data) {
		t.Errorf("%s on the FTP server: SHA-256 %s, want %s (what the client sent)", rel, got, sum(data))
	}
}

func testCurl(t *testing.T, g *gateway, file []byte) {
	u := g.url("/files/" + fileName)
	t.Run("resume", func(t *testing.T) {
		dir := t.TempDir()
		local := writeLocal(t, dir, fileName, file[:1<<20+7])
		run(t, dir, "curl", "-sS", "-f", "-C", "-", "-o", local, u)
		if got := fileSum(t, local); got != sum(file) {
			t.Errorf("resumed download: SHA-256 %s, want %s", got, sum(file))
		}
	})
	t.Run("ranges", func(t *testing.T) {
		dir := t.TempDir()
		n := len(file)
		for _, tc := range []struct {
			spec       string
			start, end int // of the bytes wanted, end exclusive
		}{
			{"0-99", 0, 100},
			{"1000-", 1000, n},
			{"-500", n - 500, n},
			{fmt.Sprintf("%d-%d", n-10, n+1000), n - 10, n},
			{"2000000-2999999", 2000000, 3000000},
		} {
			out := run(t, dir, "curl", "-sS", "-f", "-r", tc.spec, u)
			if !bytes.Equal(out, file[tc.start:tc.end]) {
				t.Errorf("-r %s: %d bytes (SHA-256 %s), want bytes %d to %d (SHA-256 %s)", tc.spec, len(out), sum(out), tc.start, tc.end, sum(file[tc.start:tc.end]))
			}
		}
		// Several ranges: one multipart/byteranges answer, each part the
		// bytes it names.
		body := filepath.Join(dir, "parts")
		ctype := string(run(t, dir, "curl", "-sS", "-f", "-r", "0-9,100-199,-50", "-o", body, "-w", "%{content_type}", u))
		mt, params, err := mime.ParseMediaType(ctype)
		if err != nil || mt != "multipart/byteranges" {
			t.Fatalf("-r 0-9,100-199,-50: Content-Type %q, want multipart/byteranges", ctype)
		}
		data, err := os.ReadFile(body)
		if err != nil {
			t.Fatal(err)
		}
		mr := multipart.NewReader(bytes.NewReader(data), params["boundary"])
		want := []struct {
			cr         string
			start, end int
		}{
			{fmt.Sprintf("bytes 0-9/%d", n), 0, 10},
			{fmt.Sprintf("bytes 100-199/%d", n), 100, 200},
			{fmt.Sprintf("bytes %d-%d/%d", n-50, n-1, n), n - 50, n},
		}
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				if i != len(want) {
					t.Errorf("%d parts, want %d", i, len(want))
				}
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(p)
			if err != nil {
				t.Fatal(err)
			}
			if i >= len(want) {
				t.Errorf("part %d: more parts than ranges asked for", i)
				continue
			}
			if cr := p.Header.Get("Content-Range"); cr != want[i].cr || !bytes.Equal(got, file[want[i].start:want[i].end]) {
				t.Errorf("part %d: Content-Range %q with %d bytes, want %q with bytes %d to %d", i, cr, len(got), want[i].cr, want[i].start, want[i].end)
			}
		}
	})
	t.Run("upload", func(t *testing.T) {
		dir := t.TempDir()
		data := randomBytes(4, 1<<20+3)
		local := writeLocal(t, dir, "up.bin", data)
		code := run(t, dir, "curl", "-sS", "-f", "-T", local, "-w", "%{http_code}", g.url("/files/curl-upload.bin"))
		if string(code) != "201" {
			t.Errorf("curl -T: status %s, want 201", code)
		}
		checkUpload(t, g, "curl-upload.bin", data)
	})
}

func testWget(t *testing.T, g *gateway, file []byte) {
	t.Run("resume", func(t *testing.T) {
		dir := t.TempDir()
		local := writeLocal(t, dir, fileName, file[:1<<20+7])
		run(t, dir, "wget", "-q", "-c", g.url("/files/"+fileName))
		if got := fileSum(t, local); got != sum(file) {
			t.Errorf("resumed download: SHA-256 %s, want %s", got, sum(file))
		}
	})
	t.Run("mirror", func(t *testing.T) {
		dir := t.TempDir()
		run(t, dir, "wget", "-q", "-r", "-np", "-nH", "--cut-dirs=2", g.url("/files/"+treeDir+"/"))
		checkWgetMirror(t, dir)
	})
}

// checkWgetMirror fails t unless dir holds what wget -r -np -nH
// --cut-dirs=2 makes of the tree: wget saves each directory's HTML
// listing there as index.html, as it does with any web server's
// directory pages (wget -r keeps every HTML page it follows links from);
// it must be the listing, and beyond those pages there is nothing but the
// files, byte for byte.
func checkWgetMirror(t *testing.T, dir string) {
	t.Helper()
	got := treeSums(t, dir)
	dirs := map[string]bool{"": true}
	for name := range tree {
		for d := filepath.Dir(filepath.FromSlash(name)); d != "."; d = filepath.Dir(d) {
			dirs[filepath.ToSlash(d)+"/"] = true
		}
	}
	for d := range dirs {
		p := d + "index.html"
		if _, ok := got[p]; !ok {
			t.Errorf("%s: missing (wget saves each directory's page)", p)
			continue
		}
		delete(got, p)
		page, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) {
			t.Errorf("%s is not the HTML listing:\n%.300s", p, page)
		}
	}
	compareTrees(t, got, wantTree())
}

func testAria2(t *testing.T, g *gateway, big []byte) {
	u := g.url("/files/" + bigName)
	t.Run("segmented", func(t *testing.T) {
		dir := t.TempDir()
		// -k1M: segments of 1 MiB, so that all eight connections are
		// used (the default, 20 MiB, makes three of 64 MiB).
		run(t, dir, "aria2c", "-q", "-x8", "-s8", "-k1M", "--file-allocation=none", "-d", dir, "-o", bigName, u)
		if got := fileSum(t, filepath.Join(dir, bigName)); got != sum(big) {
			t.Errorf("segmented download: SHA-256 %s, want %s", got, sum(big))
		}
	})
	t.Run("resume", func(t *testing.T) {
		dir := t.TempDir()
		local := filepath.Join(dir, bigName)
		control := local + ".aria2"
		// Slowed down so that it is stopped mid-way, as a person stops it
		// (Ctrl-C: SIGINT), which makes aria2c save its control file.
		cmd := command(t, dir, "aria2c", "-q", "-x8", "-s8", "-k1M", "--file-allocation=none", "--max-overall-download-limit=4M", "-d", dir, "-o", bigName, u)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			if fi, err := os.Stat(local); err == nil && fi.Size() > 0 {
				if _, err := os.Stat(control); err == nil {
					break
				}
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("aria2c made no %s and %s in 20 s:\n%s", local, control, out.Bytes())
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Second)
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		cmd.Wait() // aria2c exits 7 when stopped with downloads unfinished
		if _, err := os.Stat(control); err != nil {
			t.Fatalf("no control file after the interruption: %v\n%s", err, out.Bytes())
		}
		if got := fileSum(t, local); got == sum(big) {
			t.Fatal("the download finished before it was interrupted")
		}
		// Whether aria2c resumed or began again, the gateway cannot
		// tell by its byte count: that counts what it handed to the
		// sockets, and eight connections' loopback buffers hold many MiB
		// that aria2c, stopped, never read (a check of "fewer bytes than
		// the file" failed now and then). What is checked is that the
		// interrupted download completes, byte-identical.
		run(t, dir, "aria2c", "-q", "-c", "-x8", "-s8", "-k1M", "--file-allocation=none", "-d", dir, "-o", bigName, u)
		if got := fileSum(t, local); got != sum(big) {
			t.Errorf("resumed download: SHA-256 %s, want %s", got, sum(big))
		}
		if _, err := os.Stat(control); err == nil {
			t.Errorf("%s left after the download completed", control)
		}
	})
}

func testRclone(t *testing.T, g *gateway) {
	dir := t.TempDir()
	// A throwaway, empty configuration: nothing of a user's applies.
	config := writeLocal(t, dir, "rclone.conf", nil)
	remote := []string{"--config", config, "--http-url", g.url("/files/" + treeDir + "/")}
	rclone := func(t *testing.T, args ...string) []byte {
		t.Helper()
		return run(t, dir, "rclone", append(args, remote...)...)
	}
	t.Run("lsf", func(t *testing.T) {
		got := strings.Split(strings.TrimSuffix(string(rclone(t, "lsf", "-R", ":http:")), "\n"), "\n")
		want := []string{}
		seen := map[string]bool{}
		for name := range tree {
			want = append(want, name)
			for d := filepath.Dir(name); d != "."; d = filepath.Dir(d) {
				if !seen[d] {
					seen[d] = true
					want = append(want, d+"/")
				}
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("rclone lsf -R lists\n%q\nwant\n%q", got, want)
		}
	})
	local := filepath.Join(dir, "copy")
	t.Run("copy", func(t *testing.T) {
		rclone(t, "copy", ":http:", local)
		compareTrees(t, treeSums(t, local), wantTree())
	})
	t.Run("check", func(t *testing.T) {
		// Sizes (the http backend has no hashes), then every byte.
		rclone(t, "check", ":http:", local)
		rclone(t, "check", "--download", ":http:", local)
	})
}

func testLftp(t *testing.T, g *gateway) {
	dir := t.TempDir()
	run(t, dir, "lftp", "-c", "open "+g.url("/files/"+treeDir+"/")+"; mirror . local")
	compareTrees(t, treeSums(t, filepath.Join(dir, "local")), wantTree())
}

// jsonResult is what testdata/jsonapi.py and jsonapi.mjs print.
type jsonResult struct {
	Status      int      `json:"status"`
	ContentType string   `json:"content_type"`
	Names       []string `json:"names"`
	SHA256      string   `json:"sha256"`
}

// testJSONAPI runs the program script (testdata/jsonapi.py or .mjs) with
// interpreter: it lists the tree as JSON, downloads a file, uploads one
// with PUT and deletes it.
func testJSONAPI(t *testing.T, g *gateway, file []byte, interpreter, script string) {
	dir := t.TempDir()
	scriptPath, err := filepath.Abs(filepath.Join("testdata", script))
	if err != nil {
		t.Fatal(err)
	}
	call := func(t *testing.T, op, path string, extra ...string) jsonResult {
		t.Helper()
		cmd := command(t, dir, interpreter, append([]string{scriptPath, op, g.url(path)}, extra...)...)
		if g.token != "" {
			cmd.Env = append(cmd.Env, "FTPGW_TOKEN="+g.token)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s %s: %v\n%s%s", script, op, path, err, out, stderr.Bytes())
		}
		var r jsonResult
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%s %s %s printed %q: %v", script, op, path, out, err)
		}
		return r
	}
	escaped := "/files/" + treeDir + "/" + url.PathEscape("ünï cødé.txt")
	t.Run("list", func(t *testing.T) {
		r := call(t, "list", "/files/"+treeDir+"/")
		want := []string{"nested/", "top.txt", "with space.txt", "ünï cødé.txt"}
		slices.Sort(r.Names)
		if r.Status != 200 || !strings.HasPrefix(r.ContentType, "application/json") || !slices.Equal(r.Names, want) {
			t.Errorf("list: %d %s %q, want 200 application/json %q", r.Status, r.ContentType, r.Names, want)
		}
	})
	t.Run("get", func(t *testing.T) {
		if r := call(t, "get", "/files/"+fileName); r.Status != 200 || r.SHA256 != sum(file) {
			t.Errorf("get: %d with SHA-256 %s, want 200 with %s", r.Status, r.SHA256, sum(file))
		}
		if r := call(t, "get", escaped); r.Status != 200 || r.SHA256 != sum(tree["ünï cødé.txt"]) {
			t.Errorf("get %s: %d with SHA-256 %s, want 200 with %s", escaped, r.Status, r.SHA256, sum(tree["ünï cødé.txt"]))
		}
	})
	name := interpreter + "-upload.bin"
	data := randomBytes(5, 512<<10+1)
	local := writeLocal(t, dir, name, data)
	t.Run("put", func(t *testing.T) {
		if r := call(t, "put", "/files/"+name, local); r.Status != 201 {
			t.Errorf("put: %d, want 201", r.Status)
		}
		checkUpload(t, g, name, data)
		if r := call(t, "put", "/files/"+name, local); r.Status != 204 {
			t.Errorf("put again: %d, want 204 (replaced)", r.Status)
		}
		checkUpload(t, g, name, data)
	})
	t.Run("delete", func(t *testing.T) {
		if r := call(t, "delete", "/files/"+name); r.Status != 204 {
			t.Errorf("delete: %d, want 204", r.Status)
		}
		if _, err := os.Stat(g.ftpd.Path(name)); !os.IsNotExist(err) {
			t.Errorf("%s still on the FTP server after DELETE (stat: %v)", name, err)
		}
		if r := call(t, "get", "/files/"+name); r.Status != 404 {
			t.Errorf("get after delete: %d, want 404", r.Status)
		}
	})
}
