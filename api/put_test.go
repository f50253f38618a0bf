package api_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPutCreatesAndReplaces(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		status, h, b := g.fetch(t, http.MethodPut, "/files/new.txt", strings.NewReader("first"))
		if status != http.StatusCreated {
			t.Fatalf("PUT new: %d %s", status, b)
		}
		// A version just written has a date but no ETag yet (settle.go).
		if h.Get("Location") != "/files/new.txt" || h.Get("ETag") != "" || h.Get("Last-Modified") == "" {
			t.Errorf("Location %q, ETag %q, Last-Modified %q", h.Get("Location"), h.Get("ETag"), h.Get("Last-Modified"))
		}
		status, _, b = g.fetch(t, http.MethodPut, "/files/new.txt", strings.NewReader("second, longer"))
		if status != http.StatusNoContent {
			t.Fatalf("PUT replace: %d %s", status, b)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("new.txt")); string(got) != "second, longer" {
			t.Errorf("stored %q", got)
		}
		status, _, b = g.fetch(t, http.MethodGet, "/files/new.txt", nil)
		if status != 200 || string(b) != "second, longer" {
			t.Errorf("GET after PUT: %d %q", status, b)
		}
		// Empty body, and a name that needs escaping in Location.
		status, h, b = g.fetch(t, http.MethodPut, "/files/with%20space%3F.txt", bytes.NewReader(nil))
		if status != http.StatusCreated {
			t.Fatalf("PUT empty: %d %s", status, b)
		}
		if h.Get("Location") != "/files/with%20space%3F.txt" {
			t.Errorf("Location %q", h.Get("Location"))
		}
		if fi, err := os.Stat(g.ftpd.Path("with space?.txt")); err != nil || fi.Size() != 0 {
			t.Errorf("empty upload: %v %v", fi, err)
		}
		if left := tempFilesUnder(t, g.ftpd.Root); len(left) != 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}

func TestPut64MiBByteIdentical(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
				data := randomBytes(64<<20, 11)
				var body io.Reader = bytes.NewReader(data)
				if chunked {
					body = struct{ io.Reader }{body} // hides the length: chunked encoding
				}
				status, _, b := g.fetch(t, http.MethodPut, "/files/big.bin", body)
				if status != http.StatusCreated && status != http.StatusNoContent {
					t.Fatalf("PUT: %d %s", status, b)
				}
				f, err := os.Open(g.ftpd.Path("big.bin"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				h := sha256.New()
				io.Copy(h, f)
				want := sha256.Sum256(data)
				if !bytes.Equal(h.Sum(nil), want[:]) {
					t.Fatal("stored file differs from the upload")
				}
			})
		}
		if left := tempFilesUnder(t, g.ftpd.Root); len(left) != 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}

// rawRequest sends head (with CRLFs) and then body on a raw TCP
// connection, and returns the connection for the test to finish.
func rawRequest(t *testing.T, g *gateway, head string, body []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(g.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	if len(body) > 0 {
		if _, err := c.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPutCutOffKeepsOldFile(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		old := randomBytes(1<<20, 5)
		tests := []struct {
			name string
			head string
			body []byte
		}{
			{"content-length, client vanishes", "PUT /files/keep.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n", randomBytes(3<<20, 6)},
			{"chunked, client vanishes", "PUT /files/keep.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", []byte("100000\r\n" + strings.Repeat("z", 1<<20) + "\r\n100000\r\n" + strings.Repeat("y", 1000))},
			{"expect 100-continue, then nothing", "PUT /files/keep.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n", nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				g.ftpd.WriteFile(t, "keep.bin", old)
				before, sentBefore := len(g.commands()), len(g.trace.sent())
				c := rawRequest(t, g, tc.head, tc.body)
				// Wait until the gateway has the upload going (a STOR reached
				// the server), then cut the connection.
				waitFor(t, "STOR", func() bool {
					// The gateway's own trace: proftpd logs a command only
					// once it has completed.
					for _, cmd := range g.trace.sent()[sentBefore:] {
						if strings.HasPrefix(cmd, "STOR ") {
							return true
						}
					}
					return false
				})
				c.Close()
				waitFor(t, "the temporary file to go", func() bool {
					return len(tempFilesUnder(t, g.ftpd.Root)) == 0 && sawDele(g.commands()[before:])
				})
				got, err := os.ReadFile(g.ftpd.Path("keep.bin"))
				if err != nil || !bytes.Equal(got, old) {
					t.Fatalf("old file changed: %d bytes, err %v", len(got), err)
				}
			})
		}
		// The aborted uploads were reported to the server as such and the
		// sessions were kept.
		if st := g.pool.Stat(); st.DestroyedBroken != 0 {
			t.Errorf("%d sessions destroyed; aborts should leave them usable", st.DestroyedBroken)
		}
	})
}

func sawDele(cmds []string) bool {
	for _, c := range cmds {
		if strings.HasPrefix(c, "DELE ") && strings.Contains(c, ".ftpgw-upload-") {
			return true
		}
	}
	return false
}

func TestPutShortBodyIsRejected(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		g.ftpd.WriteFile(t, "short.txt", []byte("original"))
		// The client half-closes after fewer bytes than it announced: the
		// gateway answers and the file is untouched.
		c := rawRequest(t, g, "PUT /files/short.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\nConnection: close\r\n\r\n", []byte("only twenty bytes..."))
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("short.txt")); string(got) != "original" {
			t.Errorf("file changed: %q", got)
		}
		waitFor(t, "no temporary file", func() bool { return len(tempFilesUnder(t, g.ftpd.Root)) == 0 })
	})
}

func TestPutRefusals(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		if err := os.MkdirAll(g.ftpd.Path("dir/sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		chownTestUser(t, g.ftpd.Path("dir"))
		chownTestUser(t, g.ftpd.Path("dir/sub"))
		// A directory the FTP user cannot write to: owned by root.
		if err := os.Mkdir(g.ftpd.Path("readonly"), 0o755); err != nil {
			t.Fatal(err)
		}
		g.ftpd.WriteFile(t, "plain.txt", []byte("x"))
		tests := []struct {
			name   string
			path   string
			hdr    []string
			status int
		}{
			{"missing parent", "/files/nope/x.txt", nil, http.StatusConflict},
			{"parent is a file", "/files/plain.txt/x.txt", nil, http.StatusConflict},
			{"target is a directory", "/files/dir", nil, http.StatusConflict},
			// A PUT of a directory's path makes a directory (dirs_test.go),
			// with no body.
			{"directory path with a body", "/files/dir/", nil, http.StatusBadRequest},
			{"root", "/files/", nil, http.StatusMethodNotAllowed},
			{"Content-Range", "/files/dir/x.txt", []string{"Content-Range", "bytes 0-0/1"}, http.StatusBadRequest},
			// vsftpd and pure-ftpd: 553 (400); proftpd: 550 Permission denied (403).
			{"no permission", "/files/readonly/x.txt", nil, -1},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				status, h, b := g.fetch(t, http.MethodPut, tc.path, strings.NewReader("body"), tc.hdr...)
				if status != tc.status && !(tc.status == -1 && (status == http.StatusBadRequest || status == http.StatusForbidden)) {
					t.Fatalf("status %d, want %d: %s", status, tc.status, b)
				}
				problemOf(t, h, b)
			})
		}
		if left := tempFilesUnder(t, g.ftpd.Root); len(left) != 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}

func TestPutExpectContinueRefusedBeforeBody(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		// A refused PUT with Expect: 100-continue gets its final status
		// without a 100 first, so the client never sends the body.
		c := rawRequest(t, g, "PUT /files/missing-dir/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n", nil)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict {
			t.Fatalf("status %d, want 409 without 100 Continue", resp.StatusCode)
		}
	})
}
