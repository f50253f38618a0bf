package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// The bad-input suite (issue 9): requests no client should send, through
// the gateway as cmd/gateway serves it (its Listener, router and handlers),
// in front of the fake recording server and of vsftpd. Each row is a
// request byte for byte, on a raw connection, with the exact response it
// gets (status, Content-Type, the problem's detail, the bytes of a 200 or
// 206) and what of it reached the FTP server: the fake server records
// every command, vsftpd logs them. Replies no FTP server should give are
// in badreplies_test.go; the header timeout, which only cmd/gateway
// sets, in cmd/gateway's badinput_test.go.
//
// Cases other tests pin are not repeated here:
//   - TestRanges, TestEmptyFileWithRange (gateway_test.go): single ranges,
//     suffix, open, clamped and unsatisfiable ranges, "bytes=5-1", garbage,
//     other units, two ranges, If-Range by tag and by date, every server;
//     TestMultiRange and the others of multirange_test.go: several ranges.
//   - TestHostilePaths and TestRootConfinement (paths_gateway_test.go):
//     "..", %2e%2e, %2F, CR LF, LF, NUL, %ff%fe, %5c, "~user", a path of
//     4200 bytes and "//etc/passwd", for every method on every server.
//   - TestErrorsBeforeTheRouter and TestRequestSmuggling (framing_test.go):
//     a malformed escape, no Host, a header without a colon, an unknown
//     transfer coding or expectation; Content-Length with
//     Transfer-Encoding, and pipelines of both framings.
//   - TestTempNamesAreTheGateways (tempnames_test.go): names of uploads in
//     progress in every case, as the file and as a directory on the way.
//   - TestPutSizeLimit (putlimits_test.go): a Content-Length over the limit
//     (413 before 100 Continue, nothing at the server) and a chunked body
//     past it (413, the upload aborted, its temporary file deleted);
//     TestPutShortBodyIsRejected, TestPutRefusals (Content-Range) and
//     TestPutExpectContinueRefusedBeforeBody (put_test.go).
//   - TestConditionalRequests (gateway_test.go): well-formed conditionals.

const (
	ctProblem = "application/problem+json"
	ctPlain   = "text/plain; charset=utf-8" // net/http's own answers
	ctFile    = "application/octet-stream"  // f.bin's
	ctJSON    = "application/json"          // a listing's
)

// badFile is /f.bin on every backend of the suite: 1000 bytes whose every
// range can be told from every other.
var badFile = func() string {
	var b strings.Builder
	for i := 0; b.Len() < 1000; i++ {
		fmt.Fprintf(&b, "%04d|", i)
	}
	return b.String()[:1000]
}()

// badKeep is /keep.bin: what the PUTs and DELETEs refused in the suite
// must leave as it is.
const badKeep = "keep me as I am"

// badBackend is the gateway in front of one FTP server, with the files the
// suite's rows expect: /f.bin, /keep.bin and the directory /dir/.
type badBackend struct {
	name     string
	addr     string          // the gateway's host:port
	commands func() []string // what reached the FTP server, in order
	file     func(p string) ([]byte, bool)
	temps    func() []string // uploads' temporary files left on the server
	etag     string          // f.bin's, as the gateway gives it
	lastMod  string
}

// badUploadLimit is the backends' api.Config.MaxUploadSize.
const badUploadLimit = 64 << 10

func fakeBadBackend(t *testing.T) *badBackend {
	srv := ftptest.NewServer(t)
	mod := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	srv.PutFile("/f.bin", []byte(badFile), mod)
	srv.PutFile("/keep.bin", []byte(badKeep), mod)
	srv.Mkdir("/dir")
	ts, _ := limitsGateway(t, srv, idleBackend{name: "plain"}, true, 5*time.Second, 2, api.Config{MaxUploadSize: badUploadLimit})
	b := &badBackend{
		name:     "fake",
		addr:     strings.TrimPrefix(ts.URL, "http://"),
		commands: srv.Commands,
		file:     srv.File,
		temps: func() []string {
			var found []string
			for _, dir := range []string{"/", "/dir"} {
				for _, name := range srv.List(dir) {
					if strings.HasPrefix(strings.ToLower(name), ".ftpgw-upload-") {
						found = append(found, path.Join(dir, name))
					}
				}
			}
			return found
		},
	}
	b.validators(t)
	return b
}

func vsftpdBadBackend(t *testing.T) *badBackend {
	g := startGatewayOn(t, realftpd.Vsftpd, gatewayOptions{maxUpload: badUploadLimit})
	g.ftpd.WriteFile(t, "f.bin", []byte(badFile))
	g.ftpd.WriteFile(t, "keep.bin", []byte(badKeep))
	g.ftpd.WriteFile(t, "dir/.keep", nil)
	// Dated back, as on the fake server: a file modified a moment ago
	// may have no ETag yet, and the rows use f.bin's.
	mod := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, name := range []string{"f.bin", "keep.bin"} {
		if err := os.Chtimes(g.ftpd.Path(name), mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	b := &badBackend{
		name:     "vsftpd",
		addr:     strings.TrimPrefix(g.http.URL, "http://"),
		commands: g.commands, // vsftpd's own log
		file: func(p string) ([]byte, bool) {
			b, err := os.ReadFile(g.ftpd.Path(p))
			return b, err == nil
		},
		temps: func() []string { return tempFilesUnder(t, g.ftpd.Root) },
	}
	b.validators(t)
	return b
}

// validators reads f.bin's ETag and Last-Modified, which rows use as
// {etag} and {lastmod}.
func (b *badBackend) validators(t *testing.T) {
	t.Helper()
	resps, _, _ := pipeline(t, b.addr, "GET /files/f.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\nConnection: close\r\n\r\n")
	if len(resps) != 1 || resps[0].StatusCode != http.StatusPartialContent {
		t.Fatalf("%s: GET of f.bin: %v", b.name, resps)
	}
	b.etag, b.lastMod = resps[0].Header.Get("ETag"), resps[0].Header.Get("Last-Modified")
	if b.etag == "" || b.lastMod == "" {
		t.Fatalf("%s: f.bin has ETag %q, Last-Modified %q", b.name, b.etag, b.lastMod)
	}
}

// forEachBadBackend runs fn against the fake server and against vsftpd, in
// parallel.
func forEachBadBackend(t *testing.T, fn func(t *testing.T, b *badBackend)) {
	for name, start := range map[string]func(*testing.T) *badBackend{"fake": fakeBadBackend, "vsftpd": vsftpdBadBackend} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, start(t))
		})
	}
}

// ftpReach is what of a request may reach the FTP server.
type ftpReach int

const (
	reachNothing ftpReach = iota // not one command
	reachMeta                    // questions only: no data connection, nothing changed
	reachRetr                    // a download
	reachList                    // a listing
	reachStored                  // an upload stored under a temporary name and renamed
	reachAborted                 // an upload begun and given up: its temporary file deleted, nothing renamed
	// reachLook is reachMeta for a plain GET, whose look at the file
	// starts its RETR in the same write (speculation, get.go): at most
	// one RETR besides the questions, nothing changed, no listing.
	reachLook
)

// check says what is wrong with cmds, the commands a request sent, for
// want; "" if nothing.
func (want ftpReach) check(cmds []string) string {
	seen := map[string]int{}
	var storTemp, deleTemp string
	for _, c := range cmds {
		verb, arg, _ := strings.Cut(c, " ")
		verb = strings.ToUpper(verb)
		base := path.Base(arg)
		if (verb == "MKD" || verb == "RMD") && strings.HasPrefix(base, ".ftpgw-upload-") {
			continue // a lock of the gateway's own, not a change of the client's
		}
		seen[verb]++
		switch {
		case !strings.HasPrefix(base, ".ftpgw-upload-"):
		case strings.EqualFold(verb, "STOR"):
			storTemp = base
		case strings.EqualFold(verb, "DELE"):
			deleTemp = base
		}
	}
	has := func(verbs ...string) bool {
		return slices.ContainsFunc(verbs, func(v string) bool { return seen[v] > 0 })
	}
	changes := []string{"STOR", "APPE", "DELE", "RNFR", "RNTO", "MKD", "RMD"}
	data := []string{"EPSV", "PASV", "EPRT", "PORT", "RETR", "LIST", "MLSD", "NLST"}
	var ok bool
	switch want {
	case reachNothing:
		ok = len(cmds) == 0
	case reachMeta:
		ok = !has(changes...) && !has(data...)
	case reachRetr:
		ok = has("RETR") && !has(changes...)
	case reachList:
		ok = has("MLSD", "LIST") && !has("RETR") && !has(changes...)
	case reachStored:
		ok = storTemp != "" && has("RNTO") && !has("DELE")
	case reachAborted:
		ok = storTemp != "" && deleTemp == storTemp && !has("RNFR", "RNTO")
	case reachLook:
		ok = !has(changes...) && !has("LIST", "MLSD", "NLST", "EPRT", "PORT") && seen["RETR"] <= 1
	}
	if ok {
		return ""
	}
	return fmt.Sprintf("the FTP server got %q, want %s", cmds, [...]string{"nothing", "metadata questions only", "a RETR", "a listing", "a stored upload", "an upload aborted and its temporary file deleted", "metadata questions and at most the RETR of a speculative look"}[want])
}

// badRow is one request of the suite and everything about its answer.
type badRow struct {
	name string
	// raw is the request as sent; {etag} and {lastmod} stand for f.bin's.
	// Rows ask for Connection: close unless the gateway is to close on
	// its own (closes), so that each exchange ends at once.
	raw    string
	status int
	ctype  string // the exact Content-Type ("" for none)
	detail string // a problem document's exact detail, when given
	body   string // the exact body of a 200 or 206, when given
	crange string // the exact Content-Range ("" for none)
	ftp    ftpReach
	closes bool                          // the gateway closes the connection after its answer
	after  func(*testing.T, *badBackend) // further checks, of the server's files
}

func runBadRows(t *testing.T, b *badBackend, rows []badRow) {
	expand := strings.NewReplacer("{etag}", b.etag, "{lastmod}", b.lastMod)
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			before := len(b.commands())
			start := time.Now()
			resps, bodies, closed := pipeline(t, b.addr, expand.Replace(row.raw))
			if len(resps) != 1 {
				var got []int
				for _, r := range resps {
					got = append(got, r.StatusCode)
				}
				t.Fatalf("responses %v after %v, want one %d", got, time.Since(start), row.status)
			}
			r, body := resps[0], bodies[0]
			if r.StatusCode != row.status || r.Header.Get("Content-Type") != row.ctype {
				t.Fatalf("%d %q, want %d %q; body %.300q", r.StatusCode, r.Header.Get("Content-Type"), row.status, row.ctype, body)
			}
			if got := r.Header.Get("Content-Range"); got != row.crange {
				t.Errorf("Content-Range %q, want %q", got, row.crange)
			}
			switch {
			case row.ctype == ctProblem:
				checkProblem(t, body, row.status, row.detail)
			case row.body != "" && body != row.body:
				t.Errorf("body %.80q (%d bytes), want %.80q (%d bytes)", body, len(body), row.body, len(row.body))
			}
			if r.Header.Get("X-Request-Id") != "" {
				// The gateway's answer, not net/http's: openapi.yaml has it.
				method, target := strings.Fields(row.raw)[0], strings.Fields(row.raw)[1]
				if strings.HasPrefix(target, "/") {
					target = "http://" + b.addr + target // else absolute already
				}
				checkContract(t, method, target, r.StatusCode, r.Header, []byte(body))
			}
			if row.closes && (!closed || !r.Close) {
				t.Errorf("connection closed %v, Connection: close %v; want both", closed, r.Close)
			}
			if msg := row.ftp.check(b.commands()[before:]); msg != "" {
				t.Error(msg)
			}
			if got, _ := b.file("/keep.bin"); string(got) != badKeep {
				t.Errorf("keep.bin holds %q", got)
			}
			if left := b.temps(); len(left) > 0 {
				t.Errorf("temporary files left: %q", left)
			}
			if row.after != nil {
				row.after(t, b)
			}
		})
	}
}

// checkProblem checks an RFC 9457 document for status and, unless it is
// "", the exact detail.
func checkProblem(t *testing.T, body string, status int, detail string) {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("problem %q: %v", body, err)
	}
	if p["type"] != "about:blank" || p["status"] != float64(status) || p["title"] != http.StatusText(status) {
		t.Errorf("problem %v, want status %d", p, status)
	}
	if detail != "" && p["detail"] != detail {
		t.Errorf("detail %q, want %q", p["detail"], detail)
	}
	if _, ok := p["ftp_message"]; ok && status < 500 {
		t.Errorf("a %d problem quotes the FTP server: %v", status, p)
	}
}

// get is a GET of target with the given header lines, closing after it.
func get(target string, header ...string) string {
	return request("GET", target, "", header...)
}

// request is a request with the given header lines and body (framed by
// the caller's header lines), closing after it.
func request(method, target, body string, header ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: x\r\n")
	for _, h := range header {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n" + body)
	return b.String()
}

// TestBadRanges: every form of Range that RFC 9110 §14.1.1 allows and many
// it does not, on a file of 1000 bytes, answered as README says: one range
// (or several that coalesce into one) 206, none satisfiable 416, more than
// --max-ranges and anything malformed the whole file with 200.
func TestBadRanges(t *testing.T) {
	f := badFile
	const all = "bytes */1000"
	rng := func(v string) string { return get("/files/f.bin", "Range: "+v) }
	manyRanges := "bytes=0-0"
	for i := 2; len(manyRanges) < 4000; i += 2 {
		manyRanges += fmt.Sprintf(",%d-%d", i, i)
	}
	rows := []badRow{
		// Overlapping and adjacent ranges coalesce, unsatisfiable ones are
		// dropped: what is left of one range is a plain 206.
		{name: "overlapping ranges", raw: rng("bytes=0-5,3-8"), status: 206, ctype: ctFile, body: f[:9], crange: "bytes 0-8/1000", ftp: reachRetr},
		{name: "the same range twice", raw: rng("bytes=0-5,0-5"), status: 206, ctype: ctFile, body: f[:6], crange: "bytes 0-5/1000", ftp: reachRetr},
		{name: "several, one unsatisfiable", raw: rng("bytes=0-1,5000-6000"), status: 206, ctype: ctFile, body: f[:2], crange: "bytes 0-1/1000", ftp: reachRetr},
		{name: "several, none satisfiable", raw: rng("bytes=5000-6000,7000-"), status: 416, ctype: ctProblem, detail: "the range does not overlap the file", crange: all, ftp: reachMeta},
		{name: "several, one malformed", raw: rng("bytes=0-1,x"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "every other byte, hundreds of ranges", raw: rng(manyRanges), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "first at the int64 limit", raw: rng("bytes=9223372036854775807-"), status: 416, ctype: ctProblem, crange: all, ftp: reachLook},
		{name: "last at the int64 limit", raw: rng("bytes=990-9223372036854775807"), status: 206, ctype: ctFile, body: f[990:], crange: "bytes 990-999/1000", ftp: reachRetr},
		{name: "suffix at the int64 limit", raw: rng("bytes=-9223372036854775807"), status: 206, ctype: ctFile, body: f, crange: "bytes 0-999/1000", ftp: reachRetr},
		{name: "first past int64", raw: rng("bytes=9223372036854775808-"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "last past int64", raw: rng("bytes=0-99999999999999999999"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "suffix past int64", raw: rng("bytes=-99999999999999999999"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "spaces around = and the list", raw: rng("bytes = 10-14 , "), status: 206, ctype: ctFile, body: f[10:15], crange: "bytes 10-14/1000", ftp: reachRetr},
		{name: "a tab before the range", raw: rng("bytes=\t20-24"), status: 206, ctype: ctFile, body: f[20:25], crange: "bytes 20-24/1000", ftp: reachRetr},
		{name: "empty list elements", raw: rng("bytes=,,30-34,"), status: 206, ctype: ctFile, body: f[30:35], crange: "bytes 30-34/1000", ftp: reachRetr},
		{name: "the unit in capitals", raw: rng("BYTES=40-44"), status: 206, ctype: ctFile, body: f[40:45], crange: "bytes 40-44/1000", ftp: reachRetr},
		{name: "a space inside the range", raw: rng("bytes=0 -4"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "empty", raw: rng(""), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "the unit alone", raw: rng("bytes="), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "no unit", raw: rng("=0-4"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "no equals sign", raw: rng("bytes 0-4"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "a dash alone", raw: rng("bytes=-"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "two dashes", raw: rng("bytes=0--4"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "a plus sign", raw: rng("bytes=+1-2"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "hex numbers", raw: rng("bytes=0x10-0x20"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		// maxRangeHeader in internal/httpsem: a longer header is ignored,
		// whatever it holds.
		{name: "one range padded to 4096 bytes", raw: rng("bytes=50-54" + strings.Repeat(",", 4096-len("bytes=50-54"))), status: 206, ctype: ctFile, body: f[50:55], crange: "bytes 50-54/1000", ftp: reachRetr},
		{name: "one range padded to 4097 bytes", raw: rng("bytes=50-54" + strings.Repeat(",", 4097-len("bytes=50-54"))), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		// The first was served: 206 for bytes 0-1.
		{name: "two Range fields", raw: get("/files/f.bin", "Range: bytes=0-1", "Range: bytes=5-6"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "If-Range malformed", raw: get("/files/f.bin", "Range: bytes=0-4", "If-Range: garbage"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "If-Range weak", raw: get("/files/f.bin", "Range: bytes=0-4", "If-Range: W/{etag}"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "If-Range twice", raw: get("/files/f.bin", "Range: bytes=0-4", "If-Range: {etag}", "If-Range: {etag}"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "If-Range the file's date", raw: get("/files/f.bin", "Range: bytes=60-64", "If-Range: {lastmod}"), status: 206, ctype: ctFile, body: f[60:65], crange: "bytes 60-64/1000", ftp: reachRetr},
		{name: "If-Range matching, range unsatisfiable", raw: get("/files/f.bin", "Range: bytes=5000-", "If-Range: {etag}"), status: 416, ctype: ctProblem, crange: all, ftp: reachMeta},
		{name: "If-Range differing, range unsatisfiable", raw: get("/files/f.bin", "Range: bytes=5000-", `If-Range: "other"`), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "If-None-Match before an unsatisfiable range", raw: get("/files/f.bin", "Range: bytes=5000-", "If-None-Match: {etag}"), status: 304, ftp: reachMeta},
		{name: "a range of a directory", raw: get("/files/dir/", "Range: bytes=0-0", "Accept: application/json"), status: 200, ctype: ctJSON, ftp: reachList},
		{name: "a range on PUT", raw: request("PUT", "/files/put-range.txt", "abc", "Range: bytes=0-0", "Content-Length: 3"), status: 201, ftp: reachStored,
			after: func(t *testing.T, b *badBackend) {
				if got, _ := b.file("/put-range.txt"); string(got) != "abc" {
					t.Errorf("put-range.txt holds %q", got)
				}
			}},
	}
	forEachBadBackend(t, func(t *testing.T, b *badBackend) { runBadRows(t, b, rows) })
}

// TestBadPaths: encodings of what CleanPath refuses (README, Paths) that
// TestHostilePaths does not send, names at the length limits, and names of
// uploads in progress in encodings: each gets its exact 400, 404 or
// answer, and nothing reaches the FTP server that should not.
func TestBadPaths(t *testing.T) {
	const (
		dotDot   = `invalid path: ".." segment`
		utf8     = "invalid path: not valid UTF-8"
		notFound = "no such file or directory"
	)
	seg255, seg256 := strings.Repeat("s", 255), strings.Repeat("s", 256)
	// 4096 bytes after /files: as long as CleanPath lets a path be.
	long := strings.Repeat("/"+seg255, 16)
	rows := []badRow{
		{name: "%2e%2e at the end", raw: get("/files/dir/%2e%2e"), status: 400, ctype: ctProblem, detail: dotDot},
		{name: "..%2f", raw: get("/files/..%2fetc%2fpasswd"), status: 400, ctype: ctProblem, detail: dotDot},
		{name: "%2e%2e%2f", raw: get("/files/%2e%2e%2fetc"), status: 400, ctype: ctProblem, detail: dotDot},
		{name: "%2E%2e", raw: get("/files/%2E%2e/f.bin"), status: 400, ctype: ctProblem, detail: dotDot},
		{name: ".%2e", raw: get("/files/dir/.%2e/f.bin"), status: 400, ctype: ctProblem, detail: dotDot},
		{name: "%2e names the directory", raw: get("/files/%2e", "Accept: application/json"), status: 200, ctype: ctJSON, ftp: reachList},
		{name: "three dots", raw: get("/files/..."), status: 400, ctype: ctProblem, detail: "invalid path: segment 1 is only dots and spaces"},
		{name: "dots and a space", raw: get("/files/dir/.%20."), status: 400, ctype: ctProblem, detail: "invalid path: segment 2 is only dots and spaces"},
		{name: "a trailing space", raw: get("/files/f.bin%20"), status: 400, ctype: ctProblem, detail: "invalid path: segment 1 ends with a space"},
		{name: "raw backslashes", raw: get(`/files/..\..\f.bin`), status: 400, ctype: ctProblem, detail: "invalid path: backslash at byte 3"},
		{name: "%5c", raw: get("/files/dir%5cf.bin"), status: 400, ctype: ctProblem, detail: "invalid path: backslash at byte 4"},
		{name: "overlong solidus %c0%af", raw: get("/files/dir%c0%af..%c0%af..%c0%afetc"), status: 400, ctype: ctProblem, detail: utf8},
		{name: "overlong dots %c0%ae", raw: get("/files/%c0%ae%c0%ae/f.bin"), status: 400, ctype: ctProblem, detail: utf8},
		{name: "three-byte overlong solidus", raw: get("/files/a%e0%80%afb"), status: 400, ctype: ctProblem, detail: utf8},
		{name: "four-byte overlong solidus", raw: get("/files/a%f0%80%80%afb"), status: 400, ctype: ctProblem, detail: utf8},
		{name: "a lone continuation byte", raw: get("/files/a%80"), status: 400, ctype: ctProblem, detail: utf8},
		{name: "a truncated sequence", raw: get("/files/a%e2%82"), status: 400, ctype: ctProblem, detail: utf8},
		{name: "a UTF-16 surrogate", raw: get("/files/a%ed%a0%80"), status: 400, ctype: ctProblem, detail: utf8},
		{name: "raw overlong bytes in the request line", raw: get("/files/a\xc0\xafb"), status: 400, ctype: ctProblem, detail: utf8},
		{name: "lone CR", raw: get("/files/a%0db"), status: 400, ctype: ctProblem, detail: "invalid path: control character at byte 2"},
		{name: "tab", raw: get("/files/a%09b"), status: 400, ctype: ctProblem, detail: "invalid path: control character at byte 2"},
		{name: "escape sequence", raw: get("/files/a%1b[31m"), status: 400, ctype: ctProblem, detail: "invalid path: control character at byte 2"},
		{name: "DEL", raw: get("/files/a%7fb"), status: 400, ctype: ctProblem, detail: "invalid path: control character at byte 2"},
		{name: "C1 control NEL", raw: get("/files/a%c2%85b"), status: 400, ctype: ctProblem, detail: "invalid path: control character at byte 2"},
		{name: "raw NUL in the request line", raw: get("/files/a\x00b"), status: 400, ctype: ctPlain},
		{name: "raw CR in the request line", raw: get("/files/a\rb"), status: 400, ctype: ctPlain},
		{name: "raw tab in the request line", raw: get("/files/a\tb"), status: 400, ctype: ctPlain},
		{name: "raw space in the request line", raw: get("/files/a b"), status: 400, ctype: ctPlain},
		{name: "a path without its slash", raw: get("files/f.bin"), status: 400, ctype: ctPlain},
		{name: "line separator U+2028 is a name", raw: get("/files/a%e2%80%a8b"), status: 404, ctype: ctProblem, detail: notFound, ftp: reachLook},
		{name: "double slashes", raw: get("/files///dir//", "Accept: application/json"), status: 200, ctype: ctJSON, ftp: reachList},
		{name: "a segment of 255 bytes", raw: get("/files/" + seg255), status: 404, ctype: ctProblem, detail: notFound, ftp: reachLook},
		{name: "a segment of 256 bytes", raw: get("/files/" + seg256), status: 400, ctype: ctProblem, detail: "invalid path: segment 1 longer than 255 bytes"},
		// 4096 bytes and the root make a command line longer than vsftpd
		// reads (it closed the session: 502, as from the fake server's
		// 500) or proftpd (no answer: the pool's retry and two new
		// sessions, 502 after 2 s).
		{name: "a path of 4096 bytes", raw: get("/files" + long), status: 400, ctype: ctProblem, detail: "the path is too long for the FTP server"},
		{name: "a path of 4097 bytes", raw: get("/files" + long + "s"), status: 400, ctype: ctProblem, detail: "invalid path: longer than 4096 bytes"},
		{name: "an upload's name percent-encoded", raw: get("/files/%2eftpgw-upload-0123456789abcdef.tmp"), status: 404, ctype: ctProblem, detail: notFound},
		{name: "an upload's name after a dot segment", raw: get("/files/./dir/./.Ftpgw-Upload-x"), status: 404, ctype: ctProblem, detail: notFound},
		{name: "an upload's name after double slashes", raw: request("DELETE", "/files//.FTPGW-UPLOAD-x//y", ""), status: 404, ctype: ctProblem, detail: notFound},
		{name: "an upload's name encoded, for PUT", raw: request("PUT", "/files/dir/%2EFTPGW-%55PLOAD-x", "abc", "Content-Length: 3"), status: 400, ctype: ctProblem,
			detail: "names starting with .ftpgw-upload- are reserved for uploads in progress"},
	}
	forEachBadBackend(t, func(t *testing.T, b *badBackend) { runBadRows(t, b, rows) })
}

// TestBadHeaders: header fields that are malformed, repeated or at odds
// with each other. net/http answers the framing and size abuses itself,
// in text/plain (README, Framing); the gateway answers what reaches it.
func TestBadHeaders(t *testing.T) {
	f := badFile
	put := func(name, body string, header ...string) string {
		return request("PUT", "/files/"+name, body, header...)
	}
	rows := []badRow{
		{name: "a header block over 1 MiB", raw: get("/files/f.bin", "X-Big: "+strings.Repeat("b", 1<<20+4096)), status: 431, ctype: ctPlain},
		{name: "a request line over 1 MiB", raw: get("/files/" + strings.Repeat("a", 1<<20+4096)), status: 431, ctype: ctPlain},
		{name: "two different Content-Lengths", raw: put("h.txt", "abc", "Content-Length: 3", "Content-Length: 4"), status: 400, ctype: ctPlain},
		{name: "Content-Length as a list", raw: put("h.txt", "abc", "Content-Length: 3, 3"), status: 400, ctype: ctPlain},
		{name: "Content-Length with a sign", raw: put("h.txt", "abc", "Content-Length: +3"), status: 400, ctype: ctPlain},
		{name: "Content-Length negative", raw: put("h.txt", "abc", "Content-Length: -3"), status: 400, ctype: ctPlain},
		{name: "Content-Length in hex", raw: put("h.txt", "abc", "Content-Length: 0x3"), status: 400, ctype: ctPlain},
		{name: "the same Content-Length twice", raw: put("cl-twice.txt", "abc", "Content-Length: 3", "Content-Length: 3"), status: 201, ftp: reachStored},
		{name: "Transfer-Encoding: chunked, identity", raw: put("h.txt", "0\r\n\r\n", "Transfer-Encoding: chunked, identity"), status: 501, ctype: ctPlain},
		{name: "Transfer-Encoding: identity", raw: put("h.txt", "0\r\n\r\n", "Transfer-Encoding: identity"), status: 501, ctype: ctPlain},
		{name: "Transfer-Encoding twice", raw: put("h.txt", "0\r\n\r\n", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"), status: 501, ctype: ctPlain},
		{name: "Transfer-Encoding folded", raw: put("h.txt", "0\r\n\r\n", "Transfer-Encoding: identity\r\n chunked"), status: 501, ctype: ctPlain},
		{name: "a space before the colon", raw: put("h.txt", "0\r\n\r\n", "Transfer-Encoding : chunked"), status: 400, ctype: ctPlain},
		// net/http ignores Transfer-Encoding in HTTP/1.0 and reads no body:
		// it stored an empty file and took the chunks for the next request,
		// on a connection kept alive.
		{name: "HTTP/1.0 with Transfer-Encoding", status: 400, ctype: ctProblem, detail: "an HTTP/1.0 request cannot have Transfer-Encoding (RFC 9112 §6.1)", closes: true,
			raw: "PUT /files/h10.txt HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{name: "HTTP/1.0 with Transfer-Encoding and Content-Length", status: 400, ctype: ctProblem, detail: "an HTTP/1.0 request cannot have Transfer-Encoding (RFC 9112 §6.1)", closes: true,
			raw: "PUT /files/h10.txt HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{name: "another field folded", raw: get("/files/f.bin", "X-A: b\r\n c"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "two Host fields", raw: "GET /files/f.bin HTTP/1.1\r\nHost: x\r\nHost: y\r\nConnection: close\r\n\r\n", status: 400, ctype: ctPlain},
		{name: "a malformed Host", raw: "GET /files/f.bin HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n", status: 400, ctype: ctPlain},
		{name: "an empty Host", raw: "GET /files/f.bin HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n", status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "an absolute target naming another host", raw: "GET http://elsewhere.example/files/f.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "HTTP/2.0 in the request line", raw: "GET /files/f.bin HTTP/2.0\r\nHost: x\r\nConnection: close\r\n\r\n", status: 505, ctype: ctPlain},
		{name: "the protocol in lower case", raw: "GET /files/f.bin http/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", status: 400, ctype: ctPlain},
		{name: "bare LF line ends", raw: "GET /files/f.bin HTTP/1.1\nHost: x\nConnection: close\n\n", status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "a bare CR in the head", raw: "GET /files/f.bin HTTP/1.1\rHost: x\r\nConnection: close\r\n\r\n", status: 400, ctype: ctPlain},
		{name: "If-Match malformed", raw: get("/files/f.bin", "If-Match: garbage"), status: 412, ctype: ctProblem, detail: "a precondition in the request headers does not hold", ftp: reachMeta},
		{name: "If-Match weak", raw: get("/files/f.bin", "If-Match: W/{etag}"), status: 412, ctype: ctProblem, ftp: reachMeta},
		{name: "If-None-Match malformed", raw: get("/files/f.bin", "If-None-Match: {etag} garbage"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "If-None-Match on two lines", raw: get("/files/f.bin", `If-None-Match: "x"`, "If-None-Match: {etag}"), status: 304, ftp: reachMeta},
		{name: "If-Modified-Since not a date", raw: get("/files/f.bin", "If-Modified-Since: yesterday"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "If-Modified-Since on 32 January", raw: get("/files/f.bin", "If-Modified-Since: Fri, 32 Jan 2099 00:00:00 GMT"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "If-Modified-Since twice", raw: get("/files/f.bin", "If-Modified-Since: {lastmod}", "If-Modified-Since: {lastmod}"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "If-Modified-Since in asctime form", raw: get("/files/f.bin", "If-Modified-Since: Sun Nov  6 08:49:37 2094"), status: 304, ftp: reachMeta},
		{name: "If-Modified-Since in RFC 850 form", raw: get("/files/f.bin", "If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
		{name: "If-Unmodified-Since not a date", raw: get("/files/f.bin", "If-Unmodified-Since: 0"), status: 200, ctype: ctFile, body: f, ftp: reachRetr},
	}
	forEachBadBackend(t, func(t *testing.T, b *badBackend) { runBadRows(t, b, rows) })
}

// TestBadPuts: uploads refused before their body is read, whatever
// "Expect: 100-continue" asks, and bodies whose framing breaks midway.
// keep.bin, which each refused row names, stays as it is; no temporary
// file stays behind (runBadRows checks both after every row).
func TestBadPuts(t *testing.T) {
	const refused = "a precondition in the request headers does not hold"
	put := func(name, body string, header ...string) string {
		return request("PUT", "/files/"+name, body, header...)
	}
	// With Expect and no body: a 100 Continue would make a second
	// response, and the gateway would wait for the body.
	expect := func(name string, header ...string) string {
		return put(name, "", append(header, "Content-Length: 1000", "Expect: 100-continue")...)
	}
	chunked := "Transfer-Encoding: chunked"
	rows := []badRow{
		{name: "Expect, refused by If-None-Match: *", raw: expect("keep.bin", "If-None-Match: *"), status: 412, ctype: ctProblem, detail: refused, ftp: reachMeta},
		{name: "Expect, refused by If-Match", raw: expect("keep.bin", `If-Match: "x"`), status: 412, ctype: ctProblem, detail: refused, ftp: reachMeta},
		{name: "Expect, refused by If-Unmodified-Since", raw: expect("keep.bin", "If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT"), status: 412, ctype: ctProblem, detail: refused, ftp: reachMeta},
		{name: "If-Match: * of a missing file", raw: put("new.txt", "abc", "Content-Length: 3", "If-Match: *"), status: 412, ctype: ctProblem, detail: refused, ftp: reachMeta},
		{name: "If-Match malformed", raw: put("keep.bin", "abc", "Content-Length: 3", "If-Match: *, garbage"), status: 412, ctype: ctProblem, detail: refused, ftp: reachMeta},
		// A malformed If-None-Match was no condition at all: these
		// overwrote keep.bin, and the DELETE removed it.
		{name: "If-None-Match: * with a tag", raw: put("keep.bin", "abc", "Content-Length: 3", `If-None-Match: *, "x"`), status: 412, ctype: ctProblem, detail: refused, ftp: reachMeta},
		{name: "If-None-Match: * on one line, a tag on another", raw: put("keep.bin", "abc", "Content-Length: 3", "If-None-Match: *", `If-None-Match: "x"`), status: 412, ctype: ctProblem, detail: refused, ftp: reachMeta},
		{name: "If-None-Match malformed, of a missing file", raw: put("new.txt", "abc", "Content-Length: 3", "If-None-Match: new"), status: 412, ctype: ctProblem, detail: refused, ftp: reachMeta},
		{name: "chunk size past int64", raw: put("keep.bin", "fffffffffffffffffffff\r\nabc", chunked), status: 400, ctype: ctProblem,
			detail: "the request body ended early or could not be read", ftp: reachAborted},
		{name: "chunk lines ended by bare LF", raw: put("keep.bin", "3\nabc\n0\n\n", chunked), status: 400, ctype: ctProblem,
			detail: "the request body ended early or could not be read", ftp: reachAborted},
		{name: "chunk data longer than its size", raw: put("keep.bin", "3\r\nabcd\r\n0\r\n\r\n", chunked), status: 400, ctype: ctProblem,
			detail: "the request body ended early or could not be read", ftp: reachAborted},
		{name: "DELETE with If-None-Match malformed", raw: request("DELETE", "/files/keep.bin", "", "If-None-Match: garbage"), status: 412, ctype: ctProblem, detail: refused, ftp: reachMeta},
	}
	forEachBadBackend(t, func(t *testing.T, b *badBackend) { runBadRows(t, b, rows) })
}
