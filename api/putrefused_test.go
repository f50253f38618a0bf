package api_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// putRaw sends a request head on a raw connection to the HTTP server at
// url, then body from another goroutine (its errors ignored: the gateway
// may answer and close before taking it all), and reads the first response.
func putRaw(t *testing.T, url, head string, body func(w io.Writer)) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	if body != nil {
		go body(c)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestPutRefusedMidwayIs507: an FTP server that runs out of space in the
// middle of an upload replies 552 or 452 and drops the data connection
// (a reset), before or after the reply. The client gets 507 with the FTP
// reply in the problem, not the 502 of a lost connection; the old file
// stays and the temporary file, which holds what arrived, is deleted.
func TestPutRefusedMidwayIs507(t *testing.T) {
	tests := []struct {
		code       int
		text       string
		resetFirst bool
	}{
		{552, "Exceeded storage allocation.", false},
		{552, "Exceeded storage allocation.", true},
		{452, "Insufficient storage space.", false},
		{452, "Insufficient storage space.", true},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("%d reply first", tc.code)
		if tc.resetFirst {
			name = fmt.Sprintf("%d reset first", tc.code)
		}
		t.Run(name, func(t *testing.T) {
			old := randomBytes(1000, 3)
			srv := ftptest.NewServer(t)
			srv.PutFile("/keep.bin", old, time.Now())
			srv.Handle("STOR", func(c *ftptest.Conn, arg string) {
				c.Reply(150, "Ok to send data.")
				dc, err := c.AcceptData()
				if err != nil {
					c.Reply(425, "No data connection.")
					return
				}
				dc.SetReadDeadline(time.Now().Add(10 * time.Second))
				part := make([]byte, 64<<10)
				n, _ := io.ReadFull(dc, part)
				c.Server().PutFile(arg, part[:n], time.Now()) // what a disk keeps
				reset := func() {
					dc.(*net.TCPConn).SetLinger(0)
					dc.Close()
				}
				if tc.resetFirst {
					reset()
					time.Sleep(100 * time.Millisecond)
					c.Reply(tc.code, tc.text)
					return
				}
				c.Reply(tc.code, tc.text)
				reset()
			})
			ts := fakeGateway(t, srv, nil)
			const size = 16 << 20
			resp := putRaw(t, ts.URL, fmt.Sprintf("PUT /files/keep.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size),
				func(w io.Writer) { w.Write(randomBytes(size, 4)) })
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusInsufficientStorage {
				t.Fatalf("status %d, want 507: %s", resp.StatusCode, b)
			}
			p := problemOf(t, resp.Header, b)
			if p["ftp_code"] != float64(tc.code) || p["ftp_message"] != tc.text {
				t.Errorf("problem %v, want ftp_code %d and its text", p, tc.code)
			}
			if got, ok := srv.File("/keep.bin"); !ok || !bytes.Equal(got, old) {
				t.Errorf("old file: %d bytes (%v), want the %d it had", len(got), ok, len(old))
			}
			if names := srv.List("/"); len(names) != 1 {
				t.Errorf("files left: %q, want keep.bin alone", names)
			}
		})
	}
}

// TestPutStorFailedAfterCreate: the server makes the temporary file and
// then fails the STOR (its data connection broke; the soak saw it when
// vsftpd went down). The PUT fails, and the file it may have left is
// deleted in the background.
func TestPutStorFailedAfterCreate(t *testing.T) {
	srv := ftptest.NewServer(t)
	srv.PutFile("/keep.txt", []byte("old"), time.Now())
	var stored atomic.Value
	srv.Handle("STOR", func(c *ftptest.Conn, arg string) {
		stored.Store(arg)
		srv.PutFile(arg, nil, time.Now())
		c.Reply(425, "Can't open data connection.")
	})
	ts := fakeGateway(t, srv, nil)
	req, err := http.NewRequest(http.MethodPut, ts.URL+"/files/keep.txt", strings.NewReader("new"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502: %s", resp.StatusCode, b)
	}
	made, _ := stored.Load().(string)
	if made == "" {
		t.Fatal("no STOR reached the server")
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Exists(made) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still there 10 s after the failed STOR", made)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, _ := srv.File("/keep.txt"); string(got) != "old" {
		t.Errorf("target %q", got)
	}
}
