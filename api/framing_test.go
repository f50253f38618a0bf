package api_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// pipeline writes raw to a new connection to ts's address and reads every
// response until the server closes the connection or goes quiet.
func pipeline(t *testing.T, addr, raw string) (resps []*http.Response, bodies []string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return resps, bodies, true
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return resps, bodies, false
		}
		if err != nil {
			t.Fatalf("after %d responses: %v", len(resps), err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", len(resps)+1, err)
		}
		resps = append(resps, resp)
		bodies = append(bodies, string(b))
	}
}

// TestRequestSmuggling: a request with both Content-Length and
// Transfer-Encoding gets a 400 problem and the connection is closed after
// it, so the request pipelined behind its body is never answered and
// nothing reaches the FTP server. Requests framed one way keep the
// connection, pipelined or not.
func TestRequestSmuggling(t *testing.T) {
	srv := ftptest.NewServer(t)
	srv.PutFile("/a.txt", []byte("hello"), time.Now())
	ts := fakeGateway(t, srv, nil)
	addr := strings.TrimPrefix(ts.URL, "http://")
	smuggled := "GET /files/a.txt HTTP/1.1\r\nHost: x\r\n\r\n"

	for _, order := range []string{
		"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
		"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
	} {
		before := len(srv.Commands())
		resps, bodies, closed := pipeline(t, addr, "PUT /files/x.txt HTTP/1.1\r\nHost: x\r\n"+order+"\r\n0\r\n\r\n"+smuggled)
		if len(resps) != 1 || !closed {
			t.Fatalf("%q: %d responses, closed %v; want one, then the connection closed", order, len(resps), closed)
		}
		r := resps[0]
		if r.StatusCode != http.StatusBadRequest || r.Header.Get("Content-Type") != "application/problem+json" ||
			!r.Close || !strings.Contains(bodies[0], "Transfer-Encoding") {
			t.Errorf("%q: %d %q close=%v %s", order, r.StatusCode, r.Header.Get("Content-Type"), r.Close, bodies[0])
		}
		for _, cmd := range srv.Commands()[before:] {
			if strings.Contains(cmd, "x.txt") {
				t.Errorf("%q: the FTP server got %q", order, cmd)
			}
		}
	}

	// Framed one way: every pipelined request is answered on one
	// connection, whatever the bodies hold.
	fake := "GET /files/a.txt HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
	raw := "PUT /files/b.txt HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(fake)) + "\r\n\r\n" + fake +
		"PUT /files/c.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + strconv.FormatInt(int64(len(fake)), 16) + "\r\n" + fake + "\r\n0\r\n\r\n" +
		smuggled
	resps, bodies, closed := pipeline(t, addr, raw)
	if len(resps) != 3 || closed {
		t.Fatalf("%d responses, closed %v; want 3 on an open connection", len(resps), closed)
	}
	for i, want := range []int{http.StatusCreated, http.StatusCreated, http.StatusOK} {
		if resps[i].StatusCode != want || resps[i].Close {
			t.Errorf("response %d: %d close=%v %s; want %d", i+1, resps[i].StatusCode, resps[i].Close, bodies[i], want)
		}
	}
	for _, name := range []string{"/b.txt", "/c.txt"} {
		if got, _ := srv.File(name); string(got) != fake {
			t.Errorf("%s holds %q", name, got)
		}
	}
	if bodies[2] != "hello" {
		t.Errorf("GET: %q", bodies[2])
	}
}

// TestErrorsBeforeTheRouter pins which malformed requests get a problem
// document (every one that reaches the router) and which net/http answers
// itself, in text/plain, before any handler runs; none reaches the FTP
// server.
func TestErrorsBeforeTheRouter(t *testing.T) {
	srv := ftptest.NewServer(t)
	ts := fakeGateway(t, srv, nil)
	addr := strings.TrimPrefix(ts.URL, "http://")
	// The router's cases close after their answer, as net/http's own do,
	// so that pipeline need not wait for a quiet connection.
	tests := []struct {
		name, raw string
		status    int
		problem   bool
	}{
		{"decoded NUL in the path", "GET /files/a%00b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", http.StatusBadRequest, true},
		{"dot-dot in the path", "GET /files/a/%2e%2e/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", http.StatusBadRequest, true},
		{"unknown route", "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", http.StatusNotFound, true},
		{"unknown method", "PATCH /files/a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", http.StatusMethodNotAllowed, true},
		{"both lengths to /healthz", "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", http.StatusBadRequest, true},
		{"both lengths to OPTIONS", "OPTIONS /files/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", http.StatusBadRequest, true},
		{"both lengths to the mount", "PUT /files HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", http.StatusBadRequest, true},
		{"malformed escape", "GET /files/%zz HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusBadRequest, false},
		{"no Host", "GET /files/ HTTP/1.1\r\n\r\n", http.StatusBadRequest, false},
		{"malformed header", "GET /files/ HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n", http.StatusBadRequest, false},
		{"unsupported transfer coding", "PUT /files/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", http.StatusNotImplemented, false},
		{"unsupported expectation", "GET /files/ HTTP/1.1\r\nHost: x\r\nExpect: bogus\r\n\r\n", http.StatusExpectationFailed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Commands())
			resps, bodies, _ := pipeline(t, addr, tt.raw)
			if len(resps) != 1 {
				t.Fatalf("%d responses, want 1", len(resps))
			}
			ct := resps[0].Header.Get("Content-Type")
			if resps[0].StatusCode != tt.status || (ct == "application/problem+json") != tt.problem {
				t.Errorf("%d %q %s; want %d, problem document %v", resps[0].StatusCode, ct, bodies[0], tt.status, tt.problem)
			}
			if tt.problem {
				// The router's answers are the gateway's: openapi.yaml has them.
				line := strings.Fields(tt.raw)
				checkContract(t, line[0], ts.URL+line[1], resps[0].StatusCode, resps[0].Header, []byte(bodies[0]))
			}
			if after := srv.Commands()[before:]; len(after) > 0 {
				t.Errorf("the FTP server got %q", after)
			}
		})
	}
}
