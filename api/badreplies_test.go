package api_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// The bad-input suite's FTP side (issue 9): replies no FTP server should
// give, from the fake server, which alone gives them on demand. Each row
// replaces one command's reply and asks the gateway for f.bin (badFile,
// from TestBadRanges): the client gets its exact answer within a bound,
// a 5xx quotes what the server said only as JSON-escaped text, the data
// connection goes where the control connection went, and the next request
// succeeds (no session is left in a state nobody knows).

// hostileRow is one hostile reply and the answer it earns.
type hostileRow struct {
	name  string
	opts  []ftptest.Option
	cmd   string          // the command whose reply is replaced
	reply ftptest.Handler // what the server does instead
	put   bool            // the request is a PUT of "abc" to f.bin, not a GET
	// The answer: status, a problem's exact detail, ftp_code and
	// ftp_message; exact header values ("" for absent); for a 200 that
	// the server cannot finish, that the body is cut.
	status  int
	detail  string
	ftpCode int
	ftpMsg  string
	header  map[string]string
	cut     bool
	dataMax int // the most data connections the server may accept
}

// hostileFetch sends the row's request and reads the whole answer; readErr
// is how the body ended, if not cleanly.
func hostileFetch(t *testing.T, url string, put bool) (resp *http.Response, body []byte, readErr error) {
	t.Helper()
	method, payload := http.MethodGet, io.Reader(nil)
	if put {
		method, payload = http.MethodPut, strings.NewReader("abc")
	}
	req, err := http.NewRequest(method, url, payload)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, readErr = io.ReadAll(resp.Body)
	return resp, body, readErr
}

func TestBadReplies(t *testing.T) {
	const (
		malformed = "the FTP server sent a malformed reply"
		timedOut  = "the FTP server did not answer in time"
	)
	mod := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	noMLST := ftptest.WithFeatures("EPSV", "PASV", "SIZE", "MDTM", "REST STREAM", "UTF8")
	reply := func(code int, text string) ftptest.Handler {
		return func(c *ftptest.Conn, _ string) { c.Reply(code, text) }
	}
	raw := func(s string) ftptest.Handler {
		return func(c *ftptest.Conn, _ string) { c.WriteRaw(s) }
	}
	// continuation writes "250-" and then lines, every gap, until the
	// client leaves.
	continuation := func(gap time.Duration) ftptest.Handler {
		return func(c *ftptest.Conn, _ string) {
			c.WriteRaw("250-Listing\r\n")
			for {
				select {
				case <-c.Done():
					return
				case <-time.After(gap):
				}
				c.WriteRaw(" type=file;size=1000; /f.bin\r\n")
			}
		}
	}
	// onTemp replies so to commands on an upload's temporary name only.
	onTemp := func(cmd string, h ftptest.Handler) ftptest.Handler {
		return func(c *ftptest.Conn, arg string) {
			if strings.Contains(arg, ".ftpgw-upload-") {
				h(c, arg)
				return
			}
			c.Default(cmd, arg)
		}
	}
	// afterRename replaces cmd's reply once a rename has been made.
	afterRename := func(cmd string, h ftptest.Handler) ftptest.Handler {
		return func(c *ftptest.Conn, arg string) {
			if slices.ContainsFunc(c.Server().Commands(), func(l string) bool { return strings.HasPrefix(l, "RNTO ") }) {
				h(c, arg)
				return
			}
			c.Default(cmd, arg)
		}
	}
	etag := func(size int64, mod time.Time) string { return fmt.Sprintf(`"%x-%x"`, size, mod.UnixNano()) }
	// Past the years Unix nanoseconds can count, seconds and nanoseconds:
	// the wrapped nanoseconds of two times 2^64 ns apart were one tag.
	farETag := func(size int64, mod time.Time) string {
		return fmt.Sprintf(`"%x-%x.%x"`, size, mod.Unix(), mod.Nanosecond())
	}
	fraction := time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)
	whole := map[string]string{"Content-Length": "1000"}

	rows := []hostileRow{
		// Passive replies: the address is never dialled (CVE-2020-8284);
		// one that cannot be read ends the session, not the process.
		{name: "227 names another address", opts: []ftptest.Option{ftptest.WithoutEPSV(), ftptest.WithPASVAddress("10.9.8.7")},
			status: 200, header: whole, dataMax: 1},
		{name: "227 names a host", opts: []ftptest.Option{ftptest.WithoutEPSV(), ftptest.WithPASVAddress("ftp.evil.example")},
			status: 502, detail: malformed},
		{name: "227 with port 0", opts: []ftptest.Option{ftptest.WithoutEPSV()}, cmd: "PASV", reply: reply(227, "Entering Passive Mode (127,0,0,1,0,0)."),
			status: 502, detail: malformed},
		{name: "227 with a number over 255", opts: []ftptest.Option{ftptest.WithoutEPSV()}, cmd: "PASV", reply: reply(227, "Entering Passive Mode (127,0,0,1,300,1)."),
			status: 502, detail: malformed},
		{name: "229 with an address in it", cmd: "EPSV", reply: reply(229, "Entering Extended Passive Mode (|1|10.9.8.7|2121|)"),
			status: 502, detail: malformed},

		// Replies too long or never ending: bounded by MaxReplyLine,
		// MaxReplySize and the command timeout.
		{name: "a reply line of 2 MiB", cmd: "MLST", reply: raw("250-" + strings.Repeat("x", 2<<20) + "\r\n250 End\r\n"),
			status: 502, detail: malformed},
		{name: "endless continuation lines", cmd: "MLST", reply: continuation(0), status: 502, detail: malformed},
		{name: "continuation lines dripped for ever", cmd: "MLST", reply: continuation(100 * time.Millisecond), status: 504, detail: timedOut},
		{name: "a greeting of 2 MiB", opts: []ftptest.Option{ftptest.WithGreeting(220, strings.Repeat("g", 2<<20))},
			status: 502, detail: "cannot connect to the FTP server"},

		// Bytes no reply text should hold: quoted only in JSON's escapes,
		// and only on a 5xx.
		{name: "NUL and an escape sequence in a 451", cmd: "MLST", reply: reply(451, "Local\x00error \x1b[31mred"),
			status: 502, detail: "the FTP server refused the request", ftpCode: 451, ftpMsg: "Local\ufffderror \ufffd[31mred"},
		{name: "NUL in a 550", cmd: "MLST", reply: reply(550, "No\x00such file"), status: 404, detail: "no such file or directory", ftpCode: 550},
		{name: "NUL in the reply code", cmd: "MLST", reply: raw("2\x0050 x\r\n"), status: 502, detail: malformed},

		// SIZE, MLST's size fact and MDTM that are not what RFC 3659 says.
		{name: "SIZE -1", opts: []ftptest.Option{noMLST}, cmd: "SIZE", reply: reply(213, "-1"), status: 502, detail: malformed},
		{name: "SIZE past int64", opts: []ftptest.Option{noMLST}, cmd: "SIZE", reply: reply(213, "99999999999999999999"), status: 502, detail: malformed},
		{name: "SIZE abc", opts: []ftptest.Option{noMLST}, cmd: "SIZE", reply: reply(213, "abc"), status: 502, detail: malformed},
		{name: "SIZE empty", opts: []ftptest.Option{noMLST}, cmd: "SIZE", reply: reply(213, ""), status: 502, detail: malformed},
		// The server promises more than it has, and its RETR names the
		// real size: the gateway looks again, each time, and gives up
		// before any header is sent (get.go's changedTries).
		{name: "SIZE at the int64 limit", opts: []ftptest.Option{noMLST}, cmd: "SIZE", reply: reply(213, "9223372036854775807"),
			status: 503, detail: "the file kept changing on the FTP server while it was being read", dataMax: 3},
		{name: "SIZE abc beside MLST", cmd: "SIZE", reply: reply(213, "abc"), status: 200, header: whole, dataMax: 1},
		{name: "MLST size -1", cmd: "MLST", reply: func(c *ftptest.Conn, arg string) {
			c.ReplyLines(250, "Listing "+arg, " type=file;size=-1;modify=20240102030405; "+arg, "End")
		}, status: 502, detail: malformed},
		{name: "MLST size past int64", cmd: "MLST", reply: func(c *ftptest.Conn, arg string) {
			c.ReplyLines(250, "Listing "+arg, " type=file;size=99999999999999999999;modify=20240102030405; "+arg, "End")
		}, status: 502, detail: malformed},
		{name: "MDTM abc", opts: []ftptest.Option{noMLST}, cmd: "MDTM", reply: reply(213, "abc"), status: 502, detail: malformed},
		{name: "MDTM in month 13", opts: []ftptest.Option{noMLST}, cmd: "MDTM", reply: reply(213, "20241301000000"), status: 502, detail: malformed},
		{name: "MDTM with ten digits of fraction", opts: []ftptest.Option{noMLST}, cmd: "MDTM", reply: reply(213, "20240102030405.1234567891"), status: 502, detail: malformed},
		{name: "MDTM with nine digits of fraction", opts: []ftptest.Option{noMLST}, cmd: "MDTM", reply: reply(213, "20240102030405.123456789"),
			status: 200, header: map[string]string{"Last-Modified": "Tue, 02 Jan 2024 03:04:05 GMT", "ETag": etag(1000, fraction)}, dataMax: 1},
		{name: "MDTM in year 0", opts: []ftptest.Option{noMLST}, cmd: "MDTM", reply: reply(213, "00000101000000"),
			status: 200, header: map[string]string{"Last-Modified": "Sat, 01 Jan 0000 00:00:00 GMT", "ETag": farETag(1000, time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC))}, dataMax: 1},
		// 2^64 ns after the year 0 one: the same size, and it had the same
		// tag.
		{name: "MDTM 2^64 ns after year 0", opts: []ftptest.Option{noMLST}, cmd: "MDTM", reply: reply(213, "05840720233433.709551616"),
			status: 200, header: map[string]string{"ETag": farETag(1000, time.Date(584, 7, 20, 23, 34, 33, 709551616, time.UTC))}, dataMax: 1},
		// Its ETag is the far form too, where the gateway gives one to a
		// date in the future.
		{name: "MDTM in year 9999", opts: []ftptest.Option{noMLST}, cmd: "MDTM", reply: reply(213, "99991231235959"),
			status: 200, header: map[string]string{"Last-Modified": "Fri, 31 Dec 9999 23:59:59 GMT"}, dataMax: 1},
		// Go's zero time: no date, so neither Last-Modified nor ETag.
		{name: "MDTM on 1 January of year 1", opts: []ftptest.Option{noMLST}, cmd: "MDTM", reply: reply(213, "00010101000000"),
			status: 200, header: map[string]string{"Last-Modified": "", "ETag": "", "Content-Length": "1000"}, dataMax: 1},

		// An upload whose stored size cannot be read is not renamed over
		// the target; one whose date cannot be read is, without an ETag.
		{name: "PUT: SIZE of the stored file abc", put: true, cmd: "SIZE", reply: onTemp("SIZE", reply(213, "abc")),
			status: 502, detail: malformed, dataMax: 1},
		{name: "PUT: MDTM of the new file abc", opts: []ftptest.Option{noMLST}, put: true, cmd: "MDTM", reply: afterRename("MDTM", reply(213, "abc")),
			status: 204, header: map[string]string{"ETag": "", "Last-Modified": ""}, dataMax: 1},
		// Where MLST is offered, the new file is looked at with MLST.
		{name: "PUT: MLST of the new file abc", put: true, cmd: "MLST", reply: afterRename("MLST", reply(250, "abc")),
			status: 204, header: map[string]string{"ETag": "", "Last-Modified": ""}, dataMax: 1},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			srv := ftptest.NewServer(t, row.opts...)
			srv.PutFile("/f.bin", []byte(badFile), mod)
			if row.reply != nil {
				srv.Handle(row.cmd, row.reply)
			}
			ts := fakeGateway(t, srv, nil)
			start := time.Now()
			resp, body, readErr := hostileFetch(t, ts.URL+"/files/f.bin", row.put)
			took := time.Since(start)
			// fakeGateway's command, data and dial timeouts are 1 s.
			if took > 3*time.Second {
				t.Errorf("answered after %v", took)
			}
			if resp.StatusCode != row.status {
				t.Fatalf("status %d, want %d: %.300q", resp.StatusCode, row.status, body)
			}
			if row.status >= 400 {
				checkProblem(t, string(body), row.status, row.detail)
				p := problemOf(t, resp.Header, body)
				if code, _ := p["ftp_code"].(float64); int(code) != row.ftpCode {
					t.Errorf("ftp_code %v, want %d", p["ftp_code"], row.ftpCode)
				}
				if msg, _ := p["ftp_message"].(string); msg != row.ftpMsg {
					t.Errorf("ftp_message %q, want %q", msg, row.ftpMsg)
				}
				if strings.ContainsAny(string(body), "\x00\x1b\r") {
					t.Errorf("the problem holds raw control bytes: %q", body)
				}
			}
			for k, v := range row.header {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
			switch {
			case row.cut && readErr == nil:
				t.Errorf("the body of %d bytes ended cleanly; want it cut", len(body))
			case !row.cut && readErr != nil:
				t.Errorf("the body broke after %d bytes: %v", len(body), readErr)
			case row.status == http.StatusOK && string(body) != badFile[:min(len(body), len(badFile))]:
				t.Errorf("body %.80q is not f.bin's", body)
			case row.status == http.StatusOK && !row.cut && len(body) != len(badFile):
				t.Errorf("body of %d bytes, want %d", len(body), len(badFile))
			}
			dataMax := row.dataMax
			if !row.put && dataMax == 0 {
				// A GET's look starts its RETR in the same write
				// (speculation, get.go), given up when the look fails:
				// one data connection, of which the client got nothing
				// (the status and problem above).
				dataMax = 1
			}
			if n := srv.DataConns(); n > dataMax {
				t.Errorf("%d data connections, want at most %d", n, dataMax)
			}
			if got, _ := srv.File("/f.bin"); string(got) != badFile && !(row.put && resp.StatusCode == http.StatusNoContent) {
				t.Errorf("f.bin holds %.40q", got)
			}
			for _, name := range srv.List("/") {
				if strings.HasPrefix(name, ".ftpgw-upload-") {
					t.Errorf("temporary file %s left", name)
				}
			}

			// The server behaves again: the next request is answered,
			// on a session that is in step.
			if row.name == "a greeting of 2 MiB" {
				return // every new session gets the same greeting
			}
			srv.Handle(row.cmd, nil)
			srv.SetPASVAddress("")
			resp, body, readErr = hostileFetch(t, ts.URL+"/files/f.bin", false)
			if resp.StatusCode != http.StatusOK || readErr != nil || string(body) != badFile && !row.put {
				t.Errorf("next GET: %d, %d bytes, %v", resp.StatusCode, len(body), readErr)
			}
		})
	}
}

// TestBadListingNames: names in an MLSD listing that no file should have
// reach a browser as text, never as markup or as a link out of the
// directory.
func TestBadListingNames(t *testing.T) {
	srv := ftptest.NewServer(t)
	srv.Mkdir("/dir")
	srv.Handle("MLSD", func(c *ftptest.Conn, arg string) {
		c.Reply(150, "Here comes the directory listing.")
		dc, err := c.AcceptData()
		if err != nil {
			c.Reply(425, "No data connection.")
			return
		}
		for _, name := range []string{"<b onmouseover=alert(1)>x", "../../etc", "a/b", "..", "x\x00y", "javascript:alert(1)", `"><img src=x>`} {
			fmt.Fprintf(dc, "type=file;size=1;modify=20240102030405; %s\r\n", name)
		}
		dc.Close()
		c.Reply(226, "Transfer complete.")
	})
	ts := fakeGateway(t, srv, nil)
	status, h, body := fetchURL(t, http.MethodGet, ts.URL+"/files/dir/", "Accept", "text/html")
	if status != http.StatusOK || h.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("%d %q: %s", status, h.Get("Content-Type"), body)
	}
	// Were a name to slip through as markup, it could still run nothing.
	if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none';") || strings.Contains(csp, "script") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for _, bad := range []string{"<b ", "<img", "etc", "a/b", "\x00", `href="./.."`, `href="javascript`} {
		if strings.Contains(string(body), bad) {
			t.Errorf("the listing holds %q:\n%s", bad, body)
		}
	}
	for _, want := range []string{"&lt;b onmouseover=alert(1)&gt;x", `href="./%3Cb%20onmouseover=alert%281%29%3Ex"`, "&#34;&gt;&lt;img src=x&gt;", `href="./javascript:alert%281%29"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the listing lacks %q:\n%s", want, body)
		}
	}
}
