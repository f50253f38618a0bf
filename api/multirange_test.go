package api_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// byteRange is a part's range, inclusive, as Content-Range writes it.
type byteRange struct{ start, end int64 }

// readByteranges parses a multipart/byteranges response with Go's
// mime/multipart reader and checks it against data, the whole file: the
// Content-Length is the body's, every part has the file's Content-Type
// (ctype) and a Content-Range of data's size, and its bytes are that range
// of data. It returns the parts' ranges, in order.
func readByteranges(t *testing.T, h http.Header, body, data []byte, ctype string) []byteRange {
	t.Helper()
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" || params["boundary"] == "" {
		t.Fatalf("Content-Type %q (%v), want multipart/byteranges with a boundary", h.Get("Content-Type"), err)
	}
	if cl := h.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %q, body %d bytes", cl, len(body))
	}
	if cr := h.Get("Content-Range"); cr != "" {
		t.Errorf("Content-Range %q beside multipart/byteranges", cr)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var got []byteRange
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part %d: %v", len(got), err)
		}
		if ct := p.Header.Get("Content-Type"); ct != ctype {
			t.Errorf("part %d: Content-Type %q, want %q", len(got), ct, ctype)
		}
		var r byteRange
		var size int64
		if _, err := fmt.Sscanf(p.Header.Get("Content-Range"), "bytes %d-%d/%d", &r.start, &r.end, &size); err != nil || size != int64(len(data)) {
			t.Fatalf("part %d: Content-Range %q (%v), want one of size %d", len(got), p.Header.Get("Content-Range"), err, len(data))
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("part %d: %v", len(got), err)
		}
		if r.start > r.end || r.end >= size || !bytes.Equal(b, data[r.start:r.end+1]) {
			t.Fatalf("part %d (%d-%d): %d bytes that are not the file's", len(got), r.start, r.end, len(b))
		}
		got = append(got, r)
	}
	return got
}

// countSent counts the lines of sent (the gateway's protocol trace) that
// begin with the command cmd.
func countSent(sent []string, cmd string) int {
	n := 0
	for _, l := range sent {
		if l == cmd || strings.HasPrefix(l, cmd+" ") {
			n++
		}
	}
	return n
}

// spread is n one-byte ranges step bytes apart, from 0.
func spread(n, step int) string {
	var b strings.Builder
	b.WriteString("bytes=")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d-%d", i*step, i*step)
	}
	return b.String()
}

// TestMultiRange: a GET of several ranges gets 206 multipart/byteranges
// that Go's multipart reader parses, every part with the file's type and
// bytes; ranges are sorted, overlapping and adjacent ones coalesced (one
// left is a plain 206), unsatisfiable ones dropped (none left: 416), more
// than the cap the whole file. Every request is served by the one session
// the pool ever dialled, with a RETR per run of parts less than 64 KiB
// apart and no more; HEAD sends the GET's headers and no RETR. On every
// server of the matrix.
func TestMultiRange(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		const size = 1 << 20
		data := randomBytes(size, 12)
		g.ftpd.WriteFile(t, "m.bin", data)
		g.settle(t, "m.bin")
		const ctype = "application/octet-stream"
		s := strconv.Itoa(size)
		// The pool's one session, dialled before the requests counted.
		if status, _, _ := g.fetch(t, http.MethodHead, "/files/m.bin", nil); status != 200 {
			t.Fatalf("HEAD: status %d", status)
		}
		for _, tc := range []struct {
			name, rng string
			status    int
			parts     []byteRange // of a multipart 206
			one       string      // Content-Range of a 206 of one range
			retrs     int
		}{
			{"the issue's example", "bytes=0-99,1000-1099", 206, []byteRange{{0, 99}, {1000, 1099}}, "", 1},
			{"far apart", "bytes=0-99,500000-500099,-100", 206, []byteRange{{0, 99}, {500000, 500099}, {size - 100, size - 1}}, "", 3},
			{"out of order, sorted", "bytes=500000-500099,0-99", 206, []byteRange{{0, 99}, {500000, 500099}}, "", 2},
			{"suffix and open-ended", "bytes=-10,1000-1999,1048000-", 206, []byteRange{{1000, 1999}, {1048000, size - 1}}, "", 2},
			{"near and far", "bytes=0-0,65537-65537,300000-300009", 206, []byteRange{{0, 0}, {65537, 65537}, {300000, 300009}}, "", 2},
			{"just too far", "bytes=0-0,65538-65538", 206, []byteRange{{0, 0}, {65538, 65538}}, "", 2},
			{"overlapping coalesced", "bytes=0-99,50-149,1000-1099", 206, []byteRange{{0, 149}, {1000, 1099}}, "", 1},
			{"adjacent coalesced into one", "bytes=0-99,100-199", 206, nil, "bytes 0-199/" + s, 1},
			{"unsatisfiable dropped", "bytes=0-9,5000000-,20-29", 206, []byteRange{{0, 9}, {20, 29}}, "", 1},
			{"one satisfiable", "bytes=5000000-,20-29", 206, nil, "bytes 20-29/" + s, 1},
			{"none satisfiable", "bytes=2000000-,3000000-3000001", 416, nil, "bytes */" + s, 0},
			{"at the cap, one RETR", spread(api.DefaultMaxRanges, 65536), 206, nil, "", 1},
			{"over the cap", spread(api.DefaultMaxRanges+1, 2), 200, nil, "", 1},
			{"over the cap, coalescing to under it", "bytes=" + strings.Repeat("0-9,", 40) + "100-109", 206, []byteRange{{0, 9}, {100, 109}}, "", 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := g.trace.sent()
				status, h, body := g.fetch(t, http.MethodGet, "/files/m.bin", nil, "Range", tc.rng)
				sent := g.trace.sent()[len(before):]
				if status != tc.status {
					t.Fatalf("status %d, want %d (body %q)", status, tc.status, body[:min(len(body), 200)])
				}
				if n := countSent(sent, "RETR"); n != tc.retrs {
					t.Errorf("%d RETRs, want %d: %q", n, tc.retrs, sent)
				}
				if n := countSent(sent, "USER"); n != 0 {
					t.Errorf("%d logins for one request", n)
				}
				switch {
				case status == 416:
					problemOf(t, h, body)
					if cr := h.Get("Content-Range"); cr != tc.one {
						t.Errorf("Content-Range %q, want %q", cr, tc.one)
					}
				case status == 200:
					if !bytes.Equal(body, data) || h.Get("Content-Range") != "" {
						t.Errorf("200 of %d bytes, Content-Range %q: not the whole file", len(body), h.Get("Content-Range"))
					}
				case tc.one != "":
					var r byteRange
					fmt.Sscanf(tc.one, "bytes %d-%d/", &r.start, &r.end)
					if cr := h.Get("Content-Range"); cr != tc.one || !bytes.Equal(body, data[r.start:r.end+1]) || h.Get("Content-Type") != ctype {
						t.Errorf("Content-Range %q, Content-Type %q, %d bytes; want %q, %q, the range's", cr, h.Get("Content-Type"), len(body), tc.one, ctype)
					}
				default:
					got := readByteranges(t, h, body, data, ctype)
					want := tc.parts
					if want == nil { // the cap: one byte every 64 KiB
						for i := range api.DefaultMaxRanges {
							want = append(want, byteRange{int64(i) * 65536, int64(i) * 65536})
						}
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("parts %v, want %v", got, want)
					}
					if h.Get("ETag") == "" || h.Get("Last-Modified") == "" || h.Get("Accept-Ranges") != "bytes" {
						t.Errorf("ETag %q, Last-Modified %q, Accept-Ranges %q", h.Get("ETag"), h.Get("Last-Modified"), h.Get("Accept-Ranges"))
					}
					// HEAD: the same headers, but for the boundary, drawn
					// afresh; no data connection.
					before := g.trace.sent()
					hs, hh, hb := g.fetch(t, http.MethodHead, "/files/m.bin", nil, "Range", tc.rng)
					if n := countSent(g.trace.sent()[len(before):], "RETR"); hs != 206 || len(hb) != 0 || n != 0 {
						t.Errorf("HEAD: status %d, %d body bytes, %d RETRs", hs, len(hb), n)
					}
					for _, k := range []string{"Content-Length", "ETag", "Last-Modified", "Accept-Ranges", "Content-Range", "Content-Disposition"} {
						if hh.Get(k) != h.Get(k) {
							t.Errorf("HEAD %s %q, GET's %q", k, hh.Get(k), h.Get(k))
						}
					}
					if _, p, _ := mime.ParseMediaType(hh.Get("Content-Type")); !strings.HasPrefix(hh.Get("Content-Type"), "multipart/byteranges; boundary=") ||
						len(p["boundary"]) != len(h.Get("Content-Type"))-len("multipart/byteranges; boundary=") {
						t.Errorf("HEAD Content-Type %q, GET's %q", hh.Get("Content-Type"), h.Get("Content-Type"))
					}
				}
			})
		}
		// Every part ended its transfer early but the last: each left the
		// session reusable.
		if st := g.pool.Stat(); st.Dials != 1 || st.DestroyedBroken != 0 {
			t.Errorf("%d dials, %d broken sessions; want 1 and 0", st.Dials, st.DestroyedBroken)
		}
	})
}

// TestMultiRangeIfRange: If-Range works for several ranges as for one: a
// validator that matches gets the parts, one that does not the whole
// file (200).
func TestMultiRangeIfRange(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		data := randomBytes(200000, 13)
		g.ftpd.WriteFile(t, "i.txt", data)
		g.settle(t, "i.txt")
		_, h, _ := g.fetch(t, http.MethodHead, "/files/i.txt", nil)
		etag, lastmod := h.Get("ETag"), h.Get("Last-Modified")
		if etag == "" || lastmod == "" {
			t.Fatalf("ETag %q, Last-Modified %q", etag, lastmod)
		}
		const rng = "bytes=10-19,150000-150099"
		for _, tc := range []struct {
			name, ifRange string
			status        int
		}{
			{"ETag matches", etag, 206},
			{"date matches", lastmod, 206},
			{"ETag differs", `"other"`, 200},
			{"date differs", "Mon, 02 Jan 2006 15:04:05 GMT", 200},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, h, body := g.fetch(t, http.MethodGet, "/files/i.txt", nil, "Range", rng, "If-Range", tc.ifRange)
				if status != tc.status {
					t.Fatalf("status %d, want %d", status, tc.status)
				}
				if status == 200 {
					if !bytes.Equal(body, data) {
						t.Errorf("200 of %d bytes, not the file", len(body))
					}
					return
				}
				got := readByteranges(t, h, body, data, "text/plain; charset=utf-8")
				if fmt.Sprint(got) != fmt.Sprint([]byteRange{{10, 19}, {150000, 150099}}) {
					t.Errorf("parts %v", got)
				}
			})
		}
	})
}

// TestMultiRangeAuthorised: a multi-range GET under a bearer token (of
// every path, and of the path's prefix), with a signed URL, and from a
// page of an allowed origin (CORS) is served like any other, on every
// server of the matrix; the one from the page carries the CORS headers,
// and without a token or signature there is nothing.
func TestMultiRangeAuthorised(t *testing.T) {
	s := testSigner(t, "k1 "+signKey1+"\n")
	forEachServerWith(t, gatewayOptions{tokens: authTokens(t), signer: s, cors: corsPolicy()}, func(t *testing.T, g *gateway) {
		data := randomBytes(100000, 14)
		g.ftpd.WriteFile(t, "pub/a.bin", data)
		const rng = "bytes=0-9,90000-90009"
		want := fmt.Sprint([]byteRange{{0, 9}, {90000, 90009}})
		bearer := []string{"Authorization", "Bearer " + tokReader, "Range", rng}
		for _, tc := range []struct {
			name, target string
			hdr          []string
		}{
			{"bearer token", "/files/pub/a.bin", bearer},
			{"token of the path's prefix", "/files/pub/a.bin", []string{"Authorization", "Bearer " + tokPub, "Range", rng}},
			{"signed URL", signed("/files/pub/a.bin", s.Sign("GET", "/files/pub/a.bin", time.Now().Add(time.Hour))), []string{"Range", rng}},
			{"CORS", "/files/pub/a.bin", append([]string{"Origin", appOrigin}, bearer...)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, h, body := g.fetch(t, http.MethodGet, tc.target, nil, tc.hdr...)
				if status != 206 {
					t.Fatalf("status %d (body %q)", status, body)
				}
				if got := fmt.Sprint(readByteranges(t, h, body, data, "application/octet-stream")); got != want {
					t.Errorf("parts %s, want %s", got, want)
				}
				if tc.name == "CORS" && (h.Get("Access-Control-Allow-Origin") != appOrigin || h.Get("Access-Control-Expose-Headers") == "") {
					t.Errorf("Access-Control-Allow-Origin %q, Access-Control-Expose-Headers %q", h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Expose-Headers"))
				}
			})
		}
		if status, _, _ := g.fetch(t, http.MethodGet, "/files/pub/a.bin", nil, "Range", rng); status != 401 {
			t.Errorf("no token: status %d, want 401", status)
		}
	})
}

// TestMultiRangeJoined: one backend of several on one handler serves
// several ranges of its own file, from its own root.
func TestMultiRangeJoined(t *testing.T) {
	j := startJoined(t)
	data := randomBytes(300000, 15)
	if err := os.WriteFile(j.ftpd.Path("b/f.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	chownTestUser(t, j.ftpd.Path("b/f.bin"))
	req, err := http.NewRequest(http.MethodGet, j.url+"/b/f.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Range", "bytes=-5,100-199,0-0")
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 206 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	got := readByteranges(t, resp.Header, body, data, "application/octet-stream")
	if want := fmt.Sprint([]byteRange{{0, 0}, {100, 199}, {299995, 299999}}); fmt.Sprint(got) != want {
		t.Errorf("parts %v, want %s", got, want)
	}
}

// TestMultiRangeFileChangesBetweenParts: a file that grows, or is
// deleted, while a multipart response is sent, between the RETRs of two
// parts, cuts the response: the client never gets the close delimiter, so
// no reader takes the body for complete, and the gateway never sends the
// new version's bytes under the old one's headers, nor starts the
// response over on the same connection. On every server of the matrix.
func TestMultiRangeFileChangesBetweenParts(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		const size = 32 << 20
		for _, change := range []struct {
			name string
			do   func(path string) error
		}{
			{"grows", func(path string) error {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					return err
				}
				if _, err := f.Write(make([]byte, 1<<20)); err != nil {
					f.Close()
					return err
				}
				return f.Close()
			}},
			{"deleted", os.Remove},
		} {
			t.Run(change.name, func(t *testing.T) {
				writeRandomFile(t, g, "change.bin", size, 16)
				g.settle(t, "change.bin")
				// The first part is larger than every buffer between the
				// gateway and a client that reads through a small one: its
				// RETR is still under way when the file changes.
				req, err := http.NewRequest(http.MethodGet, g.url("/files/change.bin"), nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Range", "bytes=0-25165823,30000000-30000099")
				resp, err := smallBufferClient().Do(withTest(t, req))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != 206 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if _, err := io.ReadFull(resp.Body, make([]byte, 1000)); err != nil {
					t.Fatal(err)
				}
				if err := change.do(g.ftpd.Path("change.bin")); err != nil {
					t.Fatal(err)
				}
				rest, err := io.ReadAll(resp.Body)
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("body read to its end (%d more bytes, %v), want it cut", len(rest), err)
				}
				cl, _ := strconv.Atoi(resp.Header.Get("Content-Length"))
				if got := 1000 + len(rest); got >= cl || got > 25165823+200 {
					t.Errorf("%d of %d bytes, want no more than the first part", got, cl)
				}
			})
		}
	})
}

// TestMultiRangeCap: Config.MaxRanges counts the parts after coalescing;
// more get the whole file, and 1 serves single ranges only. The bytes the
// parts hold are counted as moved (ftpgw_transfer_bytes_total), not those
// read between two parts of one RETR, and the download as a range.
func TestMultiRangeCap(t *testing.T) {
	data := randomBytes(100000, 17)
	for _, tc := range []struct {
		max    int
		rng    string
		status int
	}{
		{2, "bytes=0-9,20-29", 206},
		{2, "bytes=0-9,20-29,40-49", 200},
		{2, "bytes=0-9,10-29,40-49", 206},
		{1, "bytes=0-9,20-29", 200},
		{1, "bytes=0-9,10-29", 206},
	} {
		t.Run(fmt.Sprintf("%d %s", tc.max, tc.rng), func(t *testing.T) {
			g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{maxRanges: tc.max})
			g.ftpd.WriteFile(t, "c.bin", data)
			status, _, body := g.fetch(t, http.MethodGet, "/files/c.bin", nil, "Range", tc.rng)
			if status != tc.status {
				t.Fatalf("status %d, want %d", status, tc.status)
			}
			if status == 200 && !bytes.Equal(body, data) {
				t.Errorf("200 of %d bytes, not the file", len(body))
			}
		})
	}
	t.Run("bytes moved", func(t *testing.T) {
		g := startGateway(t)
		g.ftpd.WriteFile(t, "c.bin", data)
		status, h, body := g.fetch(t, http.MethodGet, "/files/c.bin", nil, "Range", "bytes=0-9,60000-60009")
		if status != 206 {
			t.Fatalf("status %d", status)
		}
		readByteranges(t, h, body, data, "application/octet-stream")
		// One RETR served both parts, reading the 59990 bytes between them.
		want := `
# HELP ftpgw_transfer_bytes_total File bytes moved between HTTP clients and FTP servers, by backend and direction.
# TYPE ftpgw_transfer_bytes_total counter
ftpgw_transfer_bytes_total{backend="vsftpd",direction="download"} 20
# HELP ftpgw_downloads_total Downloads begun, by backend and kind: full (the whole file) or range (a 206 of part of it).
# TYPE ftpgw_downloads_total counter
ftpgw_downloads_total{backend="vsftpd",kind="range"} 1
`
		if err := testutil.GatherAndCompare(g.reg, strings.NewReader(want), "ftpgw_transfer_bytes_total", "ftpgw_downloads_total"); err != nil {
			t.Error(err)
		}
	})
}

// TestMultiRangeBasic: several ranges under Basic passthrough, from the
// user's own session, on every server of the matrix.
func TestMultiRangeBasic(t *testing.T) {
	forEachServerWith(t, gatewayOptions{basic: &basicOptions{}}, func(t *testing.T, g *gateway) {
		data := randomBytes(200000, 18)
		g.ftpd.WriteFile(t, "b.bin", data)
		hdr := append(basicAuth(g.ftpd.User, g.ftpd.Password), "Range", "bytes=-10,0-9,100000-100099")
		status, h, body := g.fetch(t, http.MethodGet, "/files/b.bin", nil, hdr...)
		if status != 206 {
			t.Fatalf("status %d (body %q)", status, body)
		}
		got := readByteranges(t, h, body, data, "application/octet-stream")
		if want := fmt.Sprint([]byteRange{{0, 9}, {100000, 100099}, {199990, 199999}}); fmt.Sprint(got) != want {
			t.Errorf("parts %v, want %s", got, want)
		}
	})
}

// TestMultiRangeClientGone: on every server, a client that closes its
// connection in the middle of a multipart response's first part has the
// transfer aborted and its session kept, proven in step: none is
// destroyed, and the next multi-range request is served on it.
func TestMultiRangeClientGone(t *testing.T) {
	forEachServer(t, func(t *testing.T, g *gateway) {
		writeRandomFile(t, g, "big.bin", 64<<20, 26)
		data := randomBytes(100000, 27)
		g.ftpd.WriteFile(t, "small.bin", data)
		req, _ := http.NewRequest(http.MethodGet, g.url("/files/big.bin"), nil)
		req.Header.Set("Range", "bytes=0-33554431,50000000-50000099")
		conn, err := net.Dial("tcp", req.URL.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.(*net.TCPConn).SetReadBuffer(64 << 10)
		if err := req.Write(conn); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(resp.Body, make([]byte, 256<<10)); err != nil || resp.StatusCode != http.StatusPartialContent {
			t.Fatalf("status %d, reading: %v", resp.StatusCode, err)
		}
		conn.Close()
		waitFor(t, "the session's release", func() bool { return g.pool.Stat().AcquiredSessions() == 0 })
		status, h, body := g.fetch(t, http.MethodGet, "/files/small.bin", nil, "Range", "bytes=0-9,90000-90009")
		if status != http.StatusPartialContent {
			t.Fatalf("next GET: %d", status)
		}
		readByteranges(t, h, body, data, "application/octet-stream")
		if st := g.pool.Stat(); st.DestroyedBroken != 0 || st.Dials != 1 {
			t.Errorf("%d sessions destroyed as broken, %d dialled; want the one session kept", st.DestroyedBroken, st.Dials)
		}
	})
}
