package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/pool"
)

// chunked writes data to w in HTTP/1.1 chunked encoding, 64 KiB a chunk,
// and ends the body.
func chunked(data []byte) func(w io.Writer) {
	return func(w io.Writer) {
		cw := httputil.NewChunkedWriter(w)
		for len(data) > 0 {
			n := min(len(data), 64<<10)
			if _, err := cw.Write(data[:n]); err != nil {
				return
			}
			data = data[n:]
		}
		cw.Close()
		io.WriteString(w, "\r\n")
	}
}

// TestPutSizeLimit runs uploads at and over MaxUploadSize on every server.
// A Content-Length over it is refused before "100 Continue" and before
// anything reaches the FTP server; a chunked body that passes it is cut at
// the limit: 413, the upload aborted and its temporary file deleted, the
// old file untouched, the session kept.
func TestPutSizeLimit(t *testing.T) {
	const limit = 1 << 20
	for _, kind := range realftpd.Matrix {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			g := startGatewayOn(t, kind, gatewayOptions{maxUpload: limit})
			old := randomBytes(1000, 8)
			g.ftpd.WriteFile(t, "keep.bin", old)

			for _, length := range []int64{limit + 1, 1 << 40} {
				t.Run(fmt.Sprintf("Content-Length %d", length), func(t *testing.T) {
					sent := len(g.trace.sent())
					resp := putRaw(t, g.http.URL, fmt.Sprintf("PUT /files/keep.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", length), nil)
					b, _ := io.ReadAll(resp.Body)
					if resp.StatusCode != http.StatusRequestEntityTooLarge {
						t.Fatalf("first response %d, want 413 without 100 Continue: %s", resp.StatusCode, b)
					}
					p := problemOf(t, resp.Header, b)
					if !strings.Contains(fmt.Sprint(p["detail"]), fmt.Sprint(limit)) {
						t.Errorf("problem %v does not name the limit", p)
					}
					for _, line := range g.trace.sent()[sent:] {
						t.Errorf("sent %q to the FTP server for a body over the limit", line)
					}
				})
			}

			t.Run("chunked over the limit", func(t *testing.T) {
				sent := len(g.trace.sent())
				resp := putRaw(t, g.http.URL, "PUT /files/keep.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
					chunked(randomBytes(3*limit, 9)))
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					t.Fatalf("status %d, want 413: %s", resp.StatusCode, b)
				}
				problemOf(t, resp.Header, b)
				if got, err := os.ReadFile(g.ftpd.Path("keep.bin")); err != nil || !bytes.Equal(got, old) {
					t.Errorf("old file: %d bytes, %v; want it untouched", len(got), err)
				}
				if left := tempFilesUnder(t, g.ftpd.Root); len(left) != 0 {
					t.Errorf("temporary files left: %v", left)
				}
				if !sawDele(g.trace.sent()[sent:]) {
					t.Errorf("no DELE of the temporary file in %q", g.trace.sent()[sent:])
				}
			})

			// At the limit exactly, both ways of sending pass.
			for _, tc := range []struct {
				name string
				head string
				body func(w io.Writer)
			}{
				{"Content-Length at the limit", fmt.Sprintf("PUT /files/at.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", limit),
					func(w io.Writer) { w.Write(randomBytes(limit, 10)) }},
				{"chunked at the limit", "PUT /files/at.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
					chunked(randomBytes(limit, 10))},
			} {
				t.Run(tc.name, func(t *testing.T) {
					resp := putRaw(t, g.http.URL, tc.head, tc.body)
					b, _ := io.ReadAll(resp.Body)
					if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
						t.Fatalf("status %d: %s", resp.StatusCode, b)
					}
					if got, err := os.ReadFile(g.ftpd.Path("at.bin")); err != nil || !bytes.Equal(got, randomBytes(limit, 10)) {
						t.Errorf("stored %d bytes, %v; want the %d sent", len(got), err, limit)
					}
				})
			}
			if st := g.pool.Stat(); st.DestroyedBroken != 0 {
				t.Errorf("%d sessions destroyed; a cut upload should leave its session usable", st.DestroyedBroken)
			}
		})
	}
}

// TestMaxUploadSizeZeroAndNegative: zero is DefaultMaxUploadSize, a
// negative value no limit, told apart by what a client that sends
// "Expect: 100-continue" is answered first.
func TestMaxUploadSizeZeroAndNegative(t *testing.T) {
	tests := []struct {
		name   string
		max    int64
		length int64
		status int
	}{
		{"zero: over the default", 0, api.DefaultMaxUploadSize + 1, http.StatusRequestEntityTooLarge},
		{"zero: at the default", 0, api.DefaultMaxUploadSize, http.StatusContinue},
		{"negative: 1 TiB", -1, 1 << 40, http.StatusContinue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := ftptest.NewServer(t)
			p, err := pool.New(pool.Config{
				Name: "fake",
				Conn: ftpcore.Config{Addr: srv.Addr, User: "user", Password: "pass", CommandTimeout: 5 * time.Second},
			})
			if err != nil {
				t.Fatal(err)
			}
			h := api.New(api.Config{Pool: p, MaxUploadSize: tc.max})
			ts := serveGateway(h)
			t.Cleanup(func() {
				ts.Close()
				h.Close()
				p.Close()
			})
			resp := putRaw(t, ts.URL, fmt.Sprintf("PUT /files/f HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", tc.length), nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("first response %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}
