package api_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// silentPatch starts a PATCH of loc that announces length bytes, sends
// first, and then sends nothing more with its connection open: a client
// whose network died without a FIN or a RST. It waits until the FTP
// server holds the upload's .lock with offset+len(first) bytes. The
// returned writer sends more (which must reach no file), and done gets
// the PATCH's answer (nil if the connection failed).
func silentPatch(t *testing.T, g *gateway, loc string, offset, length int64, first []byte, hdr ...string) (*io.PipeWriter, <-chan *http.Response) {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	req, err := http.NewRequest(http.MethodPatch, g.url(loc), pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	req.ContentLength = length
	done := sendAsync(t, g, req)
	if _, err := pw.Write(first); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, g, offset+int64(len(first)))
	return pw, done
}

// sendAsync sends req in the background; the channel gets its answer,
// its body read, or nil if it failed.
func sendAsync(t *testing.T, g *gateway, req *http.Request) <-chan *http.Response {
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := g.http.Client().Do(withTest(t, req))
		if err != nil {
			done <- nil
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp
	}()
	return done
}

// waitHeld waits until the FTP server has an upload held (.lock) with
// size bytes.
func waitHeld(t *testing.T, g *gateway, size int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := tempFilesUnder(t, g.ftpd.Path(""))
		for _, p := range left {
			if fi, err := os.Stat(p); err == nil && strings.HasSuffix(p, ".lock") && fi.Size() == size {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no upload held with %d bytes; temporary files %v", size, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkTakenOver checks the answer of a PATCH taken over: 409, or no
// answer at all (the gateway closed the connection whose body it did not
// read).
func checkTakenOver(t *testing.T, done <-chan *http.Response) {
	t.Helper()
	select {
	case resp := <-done:
		if resp != nil && resp.StatusCode != http.StatusConflict {
			t.Errorf("the PATCH taken over: %d, want 409", resp.StatusCode)
		}
	case <-time.After(10 * time.Second):
		t.Error("the PATCH taken over has not ended")
	}
}

// TestResumableRelease: a PATCH whose client went silent holds the
// upload; HEAD from another client makes it give the upload back and
// answers 204 with what the FTP server stored, within seconds (not 409
// until the client idle timeout), and a PATCH from there completes the
// upload byte-identical. What the silent client sends later reaches no
// file, and its PATCH ends with 409. The same in tus.
func TestResumableRelease(t *testing.T) {
	data := randomBytes(300000, 21)
	n := int64(len(data))
	dialects := []struct {
		name string
		// create makes the upload of rel with data's first 1000 bytes.
		create func(t *testing.T, g *gateway, rel string) string
		// patch are a PATCH's headers but Upload-Offset.
		patch []string
		// offset is HEAD's offset.
		offset func(t *testing.T, g *gateway, loc string) int64
		// finish appends the rest from off, and checks the answer.
		finish func(t *testing.T, g *gateway, loc string, off int64)
	}{
		{
			name:   "draft",
			create: func(t *testing.T, g *gateway, rel string) string { return createUpload(t, g, rel, data[:1000]) },
			patch:  []string{"Content-Type", "application/partial-upload", "Upload-Complete", "?1"},
			offset: uploadOffset,
			finish: func(t *testing.T, g *gateway, loc string, off int64) {
				if code, _, body := appendPiece(t, g, loc, off, data[off:], true); code != http.StatusCreated {
					t.Fatalf("PATCH from the offset: %d %s", code, body)
				}
			},
		},
		{
			name: "tus",
			create: func(t *testing.T, g *gateway, rel string) string {
				return tusCreate(t, g, "/files/"+rel, "", n, data[:1000])
			},
			patch:  append([]string{"Content-Type", "application/offset+octet-stream"}, tusHeaders...),
			offset: func(t *testing.T, g *gateway, loc string) int64 { return tusOffset(t, g, loc, n) },
			finish: func(t *testing.T, g *gateway, loc string, off int64) {
				if code, h, body := tusPatch(t, g, loc, off, data[off:]); code != http.StatusNoContent || h.Get("Upload-Offset") != strconv.FormatInt(n, 10) {
					t.Fatalf("PATCH from the offset: %d %v %s", code, h, body)
				}
			},
		},
	}
	forEachServer(t, func(t *testing.T, g *gateway) {
		for _, d := range dialects {
			rel := d.name + ".bin"
			loc := d.create(t, g, rel)
			pw, done := silentPatch(t, g, loc, 1000, n-1000, data[1000:100000], d.patch...)
			start := time.Now()
			off := d.offset(t, g, loc)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("%s: HEAD took %v", d.name, took)
			}
			if off != 100000 {
				t.Fatalf("%s: offset %d, want the 100000 bytes the FTP server stored", d.name, off)
			}
			checkTakenOver(t, done)
			d.finish(t, g, loc, off)
			pw.Write(data[100000:200000])
			pw.Close()
			if got, _ := os.ReadFile(g.ftpd.Path(rel)); !bytes.Equal(got, data) {
				t.Fatalf("%s: file of %d bytes, want the %d sent", d.name, len(got), len(data))
			}
			if left := tempFilesUnder(t, g.ftpd.Path("")); len(left) > 0 {
				t.Errorf("%s: temporary files left: %v", d.name, left)
			}
		}
	})
}

// TestResumableTakeOver: a PATCH of an upload a PATCH of this replica
// holds takes it over, without a HEAD first: the older ends (409) with
// what it had stored, the newer appends from there, and nothing the older
// sends afterwards reaches the file.
func TestResumableTakeOver(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		loc := createUpload(t, g, "o.bin", []byte("0123456789"))
		pw, done := silentPatch(t, g, loc, 10, 6, []byte("abc"),
			"Content-Type", "application/partial-upload", "Upload-Complete", "?1")
		if code, _, body := appendPiece(t, g, loc, 13, []byte("XYZ"), true); code != http.StatusCreated {
			t.Fatalf("the newer PATCH: %d %s, want 201", code, body)
		}
		checkTakenOver(t, done)
		pw.Write([]byte("def"))
		pw.Close()
		if got, _ := os.ReadFile(g.ftpd.Path("o.bin")); string(got) != "0123456789abcXYZ" {
			t.Errorf("file %q, want 0123456789abcXYZ", got)
		}
	})
}

// TestResumableReleaseCreation: the creating PUT is released as an
// append is: its client gone silent after the 104, HEAD of the announced
// upload answers 204 with what the FTP server stored, and the creation
// ends with 409.
func TestResumableReleaseCreation(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		data := randomBytes(200000, 23)
		pr, pw := io.Pipe()
		t.Cleanup(func() { pw.Close() })
		req, err := http.NewRequest(http.MethodPut, g.url("/files/c.bin"), pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Upload-Complete", "?1")
		req.ContentLength = int64(len(data))
		announced := make(chan string, 1)
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			if code == 104 {
				announced <- h.Get("Location")
			}
			return nil
		}}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		done := sendAsync(t, g, req)
		pw.Write(data[:50000])
		var loc string
		select {
		case loc = <-announced:
		case <-time.After(10 * time.Second):
			t.Fatal("no 104")
		}
		waitHeld(t, g, 50000)
		if off := uploadOffset(t, g, loc); off != 50000 {
			t.Fatalf("offset %d, want the 50000 bytes the FTP server stored", off)
		}
		checkTakenOver(t, done)
		if code, _, body := appendPiece(t, g, loc, 50000, data[50000:], true); code != http.StatusCreated {
			t.Fatalf("PATCH from the offset: %d %s", code, body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("c.bin")); !bytes.Equal(got, data) {
			t.Fatalf("file: %d bytes, want the %d sent", len(got), len(data))
		}
	})
}

// TestResumableReleaseAccess: only a request allowed to write the upload
// releases it. With tokens, HEAD and PATCH of a read-only token (403) and
// of none (401) leave the silent PATCH holding it; the write token's HEAD
// releases it. In Basic passthrough the same with a wrong password and
// the user's own credentials (the FTP servers delay a refused login by
// seconds, hence the time the Basic half takes).
func TestResumableReleaseAccess(t *testing.T) {
	run := func(t *testing.T, g *gateway, good []string, bad ...[]string) {
		loc := createUpload(t, g, "a.bin", []byte("abc"), good...)
		pw, done := silentPatch(t, g, loc, 3, 6, []byte("def"),
			append([]string{"Content-Type", "application/partial-upload", "Upload-Complete", "?1"}, good...)...)
		for _, h := range bad {
			for _, m := range []string{http.MethodHead, http.MethodPatch} {
				code, _, _ := g.fetch(t, m, loc, strings.NewReader("ghi"), append([]string{
					"Content-Type", "application/partial-upload", "Upload-Offset", "6", "Upload-Complete", "?1"}, h...)...)
				if code != http.StatusForbidden && code != http.StatusUnauthorized {
					t.Errorf("%s with %v: %d, want 401 or 403", m, h, code)
				}
			}
		}
		waitHeld(t, g, 6)
		if code, h, body := g.fetch(t, http.MethodHead, loc, nil, good...); code != http.StatusNoContent || h.Get("Upload-Offset") != "6" {
			t.Fatalf("HEAD allowed to write: %d %v %s", code, h, body)
		}
		checkTakenOver(t, done)
		pw.Close()
		if code, _, body := appendPiece(t, g, loc, 6, []byte("ghi"), true, good...); code != http.StatusCreated {
			t.Fatalf("PATCH: %d %s", code, body)
		}
		if got, _ := os.ReadFile(g.ftpd.Path("a.bin")); string(got) != "abcdefghi" {
			t.Errorf("file %q", got)
		}
	}
	t.Run("tokens", func(t *testing.T) {
		forEachServerWith(t, gatewayOptions{tokens: authTokens(t)}, func(t *testing.T, g *gateway) {
			run(t, g, []string{"Authorization", "Bearer " + tokAll}, []string{"Authorization", "Bearer " + tokReader}, nil)
		})
	})
	t.Run("basic", func(t *testing.T) {
		forEachServerWith(t, gatewayOptions{basic: &basicOptions{}}, func(t *testing.T, g *gateway) {
			run(t, g, basicAuth(g.ftpd.User, g.ftpd.Password), basicAuth(g.ftpd.User, "wrong password"), nil)
		})
	})
}
