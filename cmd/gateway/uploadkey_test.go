package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// TestUploadKeyFile: --upload-key-file is read at start, its content
// trimmed, refused when short or missing without quoting it, and given to
// the api (and in a config file, at the top level only, to every
// backend); without it the api makes a key of its own.
func TestUploadKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := strings.Repeat("s3cr3t-", 6)
	good := write("good", "  "+key+"\n")
	short := write("short", "short-key-0123456789\n")
	up := []string{"--upstream", "ftp://host/"}
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    []byte
		wantErr string
	}{
		{name: "none"},
		{name: "flag", args: []string{"--upload-key-file", good}, want: []byte(key)},
		{name: "environment", env: map[string]string{"FTPGW_UPLOAD_KEY_FILE": good}, want: []byte(key)},
		{name: "short", args: []string{"--upload-key-file", short}, wantErr: "holds 20 bytes, fewer than the 32"},
		{name: "missing", args: []string{"--upload-key-file", filepath.Join(dir, "nope")}, wantErr: "--upload-key-file: open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(append(append([]string(nil), up...), tc.args...), envFrom(tc.env), io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "short-key") {
					t.Errorf("the error quotes the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.apiConfig(nil, nil, nil).UploadKey; !bytes.Equal(got, tc.want) {
				t.Errorf("api UploadKey %q, want %q", got, tc.want)
			}
		})
	}

	cfg, err := loadConfig([]string{"--config", writeConfigFile(t, "upload-key-file: "+good+`
backends:
  - name: one
    upstream: ftp://u:p@127.0.0.1:21/
`)}, envFrom(nil), io.Discard)
	if err != nil || !bytes.Equal(cfg.UploadKey, []byte(key)) {
		t.Fatalf("config file: %v, key %q", err, cfg.UploadKey)
	}
	_, err = loadConfig([]string{"--config", writeConfigFile(t, `
backends:
  - name: one
    upstream: ftp://u:p@127.0.0.1:21/
    upload-key-file: `+good+`
`)}, envFrom(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "upload-key-file is the gateway's") {
		t.Errorf("upload-key-file in a backend's entry: %v, want it refused", err)
	}
}

// TestReplicasResumeUploads: a resumable upload one gateway began,
// another with the same --upload-key-file continues, and the first,
// restarted between the pieces, completes, on every server of the
// matrix: the upload's state is on the FTP server. Gateways without the
// file do not know each other's uploads (404).
func TestReplicasResumeUploads(t *testing.T) {
	tokens := writeTokensFile(t, tokenLine(t, testToken, auth.All))
	keyFile := filepath.Join(t.TempDir(), "upload-key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("0123456789", 4)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bearer := map[string]string{"Authorization": "Bearer " + testToken}
	for _, kind := range realftpd.Matrix {
		t.Run(string(kind), func(t *testing.T) {
			ftpd := realftpd.Start(t, kind)
			args := append(upstreamArgs(t, ftpd), "--listen", "127.0.0.1:0", "--tokens-file", tokens)
			keyed := append(args[:len(args):len(args)], "--upload-key-file", keyFile)
			data := strings.Repeat("resumable replica ", 200)

			a, stopA := startGateway(t, keyed)
			b, stopB := startGateway(t, keyed)
			defer stopB()
			created := replicaDo(t, "PUT", a+"/files/r.bin", data[:1000], with(bearer, "Upload-Complete", "?0"), http.StatusCreated)
			loc := created.Header.Get("Location")
			if got := replicaDo(t, "HEAD", b+loc, "", bearer, http.StatusNoContent).Header.Get("Upload-Offset"); got != "1000" {
				t.Fatalf("the other replica says offset %q, want 1000", got)
			}
			patch := func(base string, from, to int, complete string, want int) {
				t.Helper()
				h := with(with(with(bearer, "Content-Type", "application/partial-upload"), "Upload-Offset", strconv.Itoa(from)), "Upload-Complete", complete)
				replicaDo(t, "PATCH", base+loc, data[from:to], h, want)
			}
			patch(b, 1000, 2000, "?0", http.StatusNoContent)
			stopA()
			a, stopA = startGateway(t, keyed)
			defer stopA()
			patch(a, 2000, len(data), "?1", http.StatusCreated)
			if got, err := os.ReadFile(ftpd.Path("r.bin")); err != nil || string(got) != data {
				t.Fatalf("the file has %d bytes (%v), want the %d sent", len(got), err, len(data))
			}

			c, stopC := startGateway(t, args)
			defer stopC()
			d, stopD := startGateway(t, args)
			defer stopD()
			loc = replicaDo(t, "PUT", c+"/files/s.bin", "abc", with(bearer, "Upload-Complete", "?0"), http.StatusCreated).Header.Get("Location")
			replicaDo(t, "HEAD", d+loc, "", bearer, http.StatusNotFound)
		})
	}
}
