package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
