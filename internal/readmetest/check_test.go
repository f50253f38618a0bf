package readmetest

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// How a block is checked. The examples run as written (curl -w would not
// be literal), so a block passes when bash exits 0 (runScript) and
// checkBlock finds nothing wrong:
//   - no curl error line in its output ("curl: (7) Failed to connect");
//   - in the gateway's log of the block's requests, no error and no 5xx;
//   - no 4xx more often than the block's text names it: each 4xx an
//     example means to show is in its comments ("# 401", "412 otherwise"),
//     once for each time it is answered. The log sees what the output may
//     not (a curl -O that saved a 404's problem body as the file);
//   - what a comment says a command prints, "# 204, Upload-Offset: 1048576"
//     (a status, then headers), is in the block's output: the status line
//     and each header line, a value ending in "…" being a prefix. Such a
//     comment is one at the end of a command's line, or one below the last
//     command of a paragraph (the lines between blank lines), which shows
//     that command's output; a comment above a command says what it does.
var curlError = regexp.MustCompile(`(?m)^curl: \([0-9]+\)`)

// checkBlock returns what is wrong in a run of the block whose text is
// blockText, given its output and the gateway's log records of its
// requests.
func checkBlock(blockText, output string, recs []logRecord) []string {
	var problems []string
	if m := curlError.FindString(output); m != "" {
		problems = append(problems, "curl failed ("+m+")")
	}
	seen := map[int]int{}
	for _, r := range recs {
		code := strconv.Itoa(r.Status)
		switch {
		case r.Level == "ERROR":
			problems = append(problems, "the gateway logged an error: "+r.line)
		case r.Msg != "request":
		case r.Status >= 500:
			problems = append(problems, "the gateway answered "+r.Method+" "+r.Route+" with "+code)
		case r.Status >= 400:
			seen[r.Status]++
			if n := len(regexp.MustCompile(`\b`+code+`\b`).FindAllString(blockText, -1)); seen[r.Status] > n {
				problems = append(problems, "the gateway answered "+r.Method+" "+r.Route+" with "+code+
					", "+strconv.Itoa(seen[r.Status])+" times where the example announces it "+strconv.Itoa(n))
			}
		}
	}
	output = strings.ReplaceAll(output, "\r\n", "\n")
	for _, c := range outputComments(blockText) {
		status, headers, ok := parseClaim(c)
		if !ok {
			continue
		}
		if !regexp.MustCompile(`(?m)^HTTP/[0-9.]+ ` + status + `\b`).MatchString(output) {
			problems = append(problems, "no "+status+" status line, which # "+c+" says")
		}
		for _, h := range headers {
			name, value, _ := strings.Cut(h, ": ")
			v := regexp.QuoteMeta(value)
			if p, ok := strings.CutSuffix(value, "…"); ok {
				v = regexp.QuoteMeta(p) + ".*"
			}
			if !regexp.MustCompile(`(?mi)^` + regexp.QuoteMeta(name) + `: ` + `(?-i)` + v + `$`).MatchString(output) {
				problems = append(problems, "no header "+h+", which # "+c+" says")
			}
		}
	}
	return problems
}

var (
	trailingComment = regexp.MustCompile(`\s#\s+(.*)$`)
	claim           = regexp.MustCompile(`^([1-5][0-9]{2}), ([A-Z][A-Za-z0-9-]*: .*)$`)
	headerStart     = regexp.MustCompile(`, ([A-Z][A-Za-z0-9-]*): `)
)

// outputComments returns the comments of a shell block that say what a
// command prints, without their "# ".
func outputComments(blockText string) []string {
	var out, below []string
	for _, l := range strings.Split(blockText, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case t == "":
			out, below = append(out, below...), nil
		case strings.HasPrefix(t, "#"):
			below = append(below, strings.TrimSpace(strings.TrimPrefix(t, "#")))
		default:
			below = nil // above a command
			if m := trailingComment.FindStringSubmatch(l); m != nil {
				out = append(out, m[1])
			}
		}
	}
	return append(out, below...)
}

// parseClaim reads a comment "204, Upload-Offset: 1048576, Name: value":
// the status and the header lines it says a command prints.
func parseClaim(c string) (status string, headers []string, ok bool) {
	m := claim.FindStringSubmatch(c)
	if m == nil {
		return "", nil, false
	}
	rest := m[2]
	for {
		loc := headerStart.FindStringIndex(rest)
		if loc == nil {
			return m[1], append(headers, rest), true
		}
		headers = append(headers, rest[:loc[0]])
		rest = rest[loc[0]+2:]
	}
}

// TestCheckBlock: each rule of checkBlock finds what it is for, and a
// block that keeps to them passes.
func TestCheckBlock(t *testing.T) {
	req := func(method string, status int) logRecord {
		return logRecord{Level: "INFO", Msg: "request", Method: method, Route: "/files/*", Status: status}
	}
	const auth = "curl -i http://localhost:8080/files/a    # 401, WWW-Authenticate: Bearer realm=\"ftpgw\"\n" +
		"curl -H \"Authorization: Bearer $(cat t)\" http://localhost:8080/files/a\n"
	const authOut = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"ftpgw\"\r\n\r\n{}hello\n"
	const cors = "curl -i -X OPTIONS -H 'Origin: https://a.example' \\\n  http://localhost:8080/files/a\n" +
		"# 204, Access-Control-Allow-Origin: https://a.example, Access-Control-Allow-Credentials: true\n"
	const tus = "# 201, Location: /files/x?upload=…\nloc=$(curl -s -D - -o /dev/null -X POST http://localhost:8080/files/ | awk '{print}')\n" +
		"curl -I \"http://localhost:8080$loc\"   # 204, Upload-Offset: 5\n"
	for _, tc := range []struct {
		name, text, output string
		recs               []logRecord
		want               string // in a problem; "" for none
	}{
		{"ok", "curl -O http://localhost:8080/files/a\n", "", []logRecord{req("GET", 200)}, ""},
		{"curl error", "curl http://localhost:8080/\n", "curl: (7) Failed to connect\n", nil, "curl failed"},
		{"5xx", "curl http://localhost:8080/ # 502\n", "", []logRecord{req("GET", 502)}, "with 502"},
		{"logged error", "curl http://localhost:8080/\n", "", []logRecord{{Level: "ERROR", Msg: "x", line: `{"msg":"x"}`}}, "logged an error"},
		{"4xx not named", "curl -O http://localhost:8080/files/a\n", "", []logRecord{req("GET", 404)}, "with 404, 1 times where the example announces it 0"},
		{"4xx named", auth, authOut, []logRecord{req("GET", 401), req("GET", 200)}, ""},
		{"4xx named once, answered twice", auth, authOut, []logRecord{req("GET", 401), req("GET", 401)}, "2 times"},
		{"4xx as part of a number", "curl http://localhost:8080/ # 14010\n", "", []logRecord{req("GET", 401)}, "with 401"},
		{"trailing claim's header missing", auth, "HTTP/1.1 401 Unauthorized\r\n\r\n", []logRecord{req("GET", 401)}, `no header WWW-Authenticate: Bearer realm="ftpgw"`},
		{"trailing claim's status missing", auth, "HTTP/1.1 200 OK\r\nWWW-Authenticate: Bearer realm=\"ftpgw\"\r\n", []logRecord{req("GET", 401)}, "no 401 status line"},
		{"claim below", cors, "HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: https://a.example\r\naccess-control-allow-credentials: true\r\n", nil, ""},
		{"claim below, second header missing", cors, "HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: https://a.example\r\n", nil, "no header Access-Control-Allow-Credentials: true"},
		{"claim below, value differs", cors, "HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: https://a.example.org\r\nAccess-Control-Allow-Credentials: true\r\n", nil, "no header Access-Control-Allow-Origin"},
		{"claim above a command is not one", tus, "HTTP/1.1 204 No Content\r\nUpload-Offset: 5\r\n", nil, ""},
		{"trailing claim with a prefix", "curl -i http://localhost:8080/ # 201, Location: /files/x?upload=…\n", "HTTP/1.1 201 Created\r\nLocation: /files/x?upload=abc\r\n", nil, ""},
		{"trailing claim with a prefix missing", "curl -i http://localhost:8080/ # 201, Location: /files/x?upload=…\n", "HTTP/1.1 201 Created\r\nLocation: /files/y?upload=abc\r\n", nil, "no header Location"},
		{"no claim without headers", "curl -X PUT http://localhost:8080/ # 201, no token\n", "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := strings.Join(checkBlock(tc.text, tc.output, tc.recs), "; ")
			switch {
			case tc.want == "" && problems != "":
				t.Errorf("checkBlock: %s; want none", problems)
			case tc.want != "" && !strings.Contains(problems, tc.want):
				t.Errorf("checkBlock: %q; want one with %q", problems, tc.want)
			}
		})
	}
}
