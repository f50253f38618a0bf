package clienttest

import (
	"path/filepath"
	"testing"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// TestClientsToken: the clients that can send a header reach a gateway
// that takes bearer tokens, each with its own way of adding one, and get
// the same bytes; without it the gateway answers 401.
func TestClientsToken(t *testing.T) {
	ftpd := realftpd.Start(t, realftpd.Vsftpd)
	writeTree(t, ftpd)
	file := randomBytes(1, 1<<20+77)
	ftpd.WriteFile(t, fileName, file)
	g := startGateway(t, ftpd, true)
	header := "Authorization: Bearer " + g.token
	u := g.url("/files/" + fileName)
	t.Run("none", func(t *testing.T) {
		code := run(t, t.TempDir(), "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", u)
		if string(code) != "401" {
			t.Errorf("no token: status %s, want 401", code)
		}
	})
	t.Run("curl", func(t *testing.T) {
		dir := t.TempDir()
		local := filepath.Join(dir, fileName)
		run(t, dir, "curl", "-sS", "-f", "-H", header, "-o", local, u)
		if got := fileSum(t, local); got != sum(file) {
			t.Errorf("download: SHA-256 %s, want %s", got, sum(file))
		}
		data := randomBytes(6, 200<<10)
		up := writeLocal(t, dir, "up.bin", data)
		if code := run(t, dir, "curl", "-sS", "-f", "-H", header, "-T", up, "-w", "%{http_code}", g.url("/files/token-upload.bin")); string(code) != "201" {
			t.Errorf("curl -T: status %s, want 201", code)
		}
		checkUpload(t, g, "token-upload.bin", data)
	})
	t.Run("wget", func(t *testing.T) {
		dir := t.TempDir()
		run(t, dir, "wget", "-q", "--header", header, "-r", "-np", "-nH", "--cut-dirs=2", g.url("/files/"+treeDir+"/"))
		checkWgetMirror(t, dir)
	})
	t.Run("aria2c", func(t *testing.T) {
		dir := t.TempDir()
		run(t, dir, "aria2c", "-q", "-x4", "-s4", "-k1M", "--header", header, "-d", dir, "-o", fileName, u)
		if got := fileSum(t, filepath.Join(dir, fileName)); got != sum(file) {
			t.Errorf("download: SHA-256 %s, want %s", got, sum(file))
		}
	})
	t.Run("rclone", func(t *testing.T) {
		dir := t.TempDir()
		config := writeLocal(t, dir, "rclone.conf", nil)
		local := filepath.Join(dir, "copy")
		run(t, dir, "rclone", "copy", ":http:", local, "--config", config, "--http-url", g.url("/files/"+treeDir+"/"), "--http-headers", "Authorization,Bearer "+g.token)
		compareTrees(t, treeSums(t, local), wantTree())
	})
	t.Run("python", func(t *testing.T) { testJSONAPI(t, g, file, "python3", "jsonapi.py") })
	t.Run("node", func(t *testing.T) { testJSONAPI(t, g, file, "node", "jsonapi.mjs") })
}
