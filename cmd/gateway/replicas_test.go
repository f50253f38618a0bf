package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// TestReplicasAreStateless: two gateways on one FTP server with the same
// tokens and signing keys, as two replicas of the chart's Deployment
// behind one Service, serve each other's work, on every server of the
// matrix: a URL one signs (POST /signed-urls) the other serves; a file
// one stores the other serves with the same ETag and Last-Modified, so
// that a validator from one holds at the other (304, an If-Match PUT); a
// create-only PUT through one is refused 412 once the other has stored
// the file; and a DELETE through one is seen by the other.
func TestReplicasAreStateless(t *testing.T) {
	keys := writeKeysFile(t, newKeyLine(t, "k1"))
	tokens := writeTokensFile(t, tokenLine(t, testToken, auth.All))
	bearer := map[string]string{"Authorization": "Bearer " + testToken}
	for _, kind := range realftpd.Matrix {
		t.Run(string(kind), func(t *testing.T) {
			ftpd := realftpd.Start(t, kind)
			args := append(upstreamArgs(t, ftpd), "--listen", "127.0.0.1:0", "--tokens-file", tokens, "--signing-keys-file", keys)
			a, stopA := startGateway(t, args)
			defer stopA()
			b, stopB := startGateway(t, args)
			defer stopB()

			body := strings.Repeat("replica ", 1000)
			replicaDo(t, "PUT", a+"/files/shared.txt", body, bearer, http.StatusCreated)
			if got := replicaDo(t, "GET", b+"/files/shared.txt", "", bearer, http.StatusOK); got.body != body {
				t.Fatalf("GET through the other replica: %d bytes, want the %d stored", len(got.body), len(body))
			}
			replicaDo(t, "PUT", b+"/files/shared.txt", "again", with(bearer, "If-None-Match", "*"), http.StatusPreconditionFailed)

			// The validators are the FTP server's facts, not a replica's:
			// those of a file old enough for a strong ETag agree. (Older
			// than --max-clock-skew: the replica that stored shared.txt has
			// measured the server's clock from its read-back, the other
			// not, and gives no ETag to a file younger than that.)
			old := ftpd.Path("old.txt")
			if err := os.WriteFile(old, []byte("old\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			then := time.Now().Add(-3 * time.Hour)
			if err := os.Chtimes(old, then, then); err != nil {
				t.Fatal(err)
			}
			ha := replicaDo(t, "HEAD", a+"/files/old.txt", "", bearer, http.StatusOK)
			hb := replicaDo(t, "HEAD", b+"/files/old.txt", "", bearer, http.StatusOK)
			etag := ha.Header.Get("ETag")
			if etag == "" || etag != hb.Header.Get("ETag") {
				t.Fatalf("ETag %q through one replica, %q through the other", etag, hb.Header.Get("ETag"))
			}
			if lm := ha.Header.Get("Last-Modified"); lm == "" || lm != hb.Header.Get("Last-Modified") {
				t.Errorf("Last-Modified %q through one replica, %q through the other", lm, hb.Header.Get("Last-Modified"))
			}
			replicaDo(t, "GET", b+"/files/old.txt", "", with(bearer, "If-None-Match", etag), http.StatusNotModified)
			replicaDo(t, "PUT", b+"/files/old.txt", "new\n", with(bearer, "If-Match", etag), http.StatusNoContent)
			replicaDo(t, "PUT", a+"/files/old.txt", "lost\n", with(bearer, "If-Match", etag), http.StatusPreconditionFailed)

			// A signed URL made by one replica, used at the other.
			signed := replicaDo(t, "POST", a+"/signed-urls", `{"method":"GET","path":"/files/shared.txt","expires_in":"5m"}`,
				with(bearer, "Content-Type", "application/json"), http.StatusCreated)
			var doc struct{ URL string }
			if err := json.Unmarshal([]byte(signed.body), &doc); err != nil || doc.URL == "" {
				t.Fatalf("POST /signed-urls: %v %q", err, signed.body)
			}
			u := doc.URL
			if i := strings.Index(u, "/files/"); i >= 0 {
				u = b + u[i:] // the other replica's address
			} else {
				t.Fatalf("signed URL %q names no file", doc.URL)
			}
			if got := replicaDo(t, "GET", u, "", nil, http.StatusOK); got.body != body {
				t.Errorf("the signed URL through the other replica got %q", got.body)
			}

			replicaDo(t, "DELETE", a+"/files/shared.txt", "", bearer, http.StatusNoContent)
			replicaDo(t, "GET", b+"/files/shared.txt", "", bearer, http.StatusNotFound)
			if _, err := os.Stat(ftpd.Path("shared.txt")); !os.IsNotExist(err) {
				t.Errorf("the file is still on the FTP server after the DELETE: %v", err)
			}
		})
	}
}

// replicaDo is httpExchange with a body given as a string.
func replicaDo(t *testing.T, method, u, body string, hdr map[string]string, want int) exchange {
	t.Helper()
	return httpExchange(t, method, u, strings.NewReader(body), hdr, want)
}

// with is hdr and one header more.
func with(hdr map[string]string, k, v string) map[string]string {
	h := map[string]string{k: v}
	for k, v := range hdr {
		h[k] = v
	}
	return h
}

// upstreamArgs are the flags that serve ftpd through the gateway: its URL
// (ftpes:// or ftps:// for the FTPS kinds, with their CA and name), and
// its password in a file, never on the command line.
func upstreamArgs(t *testing.T, ftpd *realftpd.Server) []string {
	t.Helper()
	scheme, args := "ftp", []string(nil)
	if ftpd.TLS != nil {
		scheme = "ftpes"
		if ftpd.TLS.Implicit {
			scheme = "ftps"
		}
		args = append(args, "--tls-ca-file", ftpd.TLS.CAFile, "--tls-server-name", ftpd.TLS.ServerName)
	}
	password := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(password, []byte(ftpd.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return append(args, "--upstream", scheme+"://"+ftpd.User+"@"+ftpd.Addr+"/", "--upstream-password-file", password)
}
