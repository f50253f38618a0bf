package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/ftpgw/ftpgw/api"
)

// contractTransport checks every response it carries against
// openapi.yaml, as contract.check does: status, headers both ways, and
// the body once it has been read to its end. A body cut short, or closed
// before its end, has its status and headers checked. The api tests'
// clients go through it (testClient, gateway.do), so that every response
// of the integration suite is held to the spec, not only those of tests
// that check it themselves.
type contractTransport struct {
	next http.RoundTripper
	// mounts are the gateway's backends' mounts; api.DefaultMount if
	// none.
	mounts []string
}

// hostMounts are the mounts of gateways that tests serve several backends
// on (mountsAt), by host:port, for responses of requests that name none.
var hostMounts sync.Map

// mountsAt says that the gateway at base serves its backends at mounts,
// until the test ends.
func mountsAt(t *testing.T, base string, mounts ...string) {
	host := strings.TrimPrefix(base, "http://")
	hostMounts.Store(host, mounts)
	t.Cleanup(func() { hostMounts.Delete(host) })
}

// holdToContract makes ts's client check every response against the
// contract.
func holdToContract(ts *httptest.Server) {
	c := ts.Client()
	c.Transport = contractTransport{next: c.Transport}
}

// CloseIdleConnections closes the idle connections of the transport
// underneath, as httptest.Server.Close asks of its client's.
func (ct contractTransport) CloseIdleConnections() {
	if c, ok := ct.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// testKey carries the test a request was made for in its context.
type testKey struct{}

// contractBodyLimit is as much of a body as is kept to be checked; the
// rest of a longer one (a file's bytes) is not looked at.
const contractBodyLimit = 1 << 20

func (ct contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := ct.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	t, _ := req.Context().Value(testKey{}).(reporter)
	resp.Body = &contractBody{ReadCloser: resp.Body, resp: resp, mounts: ct.mounts, t: t, caller: testCaller()}
	return resp, nil
}

// contractBody is a response's body that checks the response against the
// contract when it ends.
type contractBody struct {
	io.ReadCloser
	resp   *http.Response
	mounts []string
	t      reporter // nil: none
	caller string

	kept []byte
	read int64
	once sync.Once
}

func (b *contractBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if room := contractBodyLimit - len(b.kept); n > 0 && room > 0 {
		b.kept = append(b.kept, p[:min(n, room)]...)
	}
	b.read += int64(n)
	switch {
	case err == io.EOF:
		b.once.Do(func() { b.check(true) })
	case err != nil:
		b.once.Do(func() { b.check(false) })
	}
	return n, err
}

func (b *contractBody) Close() error {
	b.once.Do(func() { b.check(false) })
	return b.ReadCloser.Close()
}

// check checks the response, its body too if whole is set and the body
// was short enough to be kept.
func (b *contractBody) check(whole bool) {
	doc, err := specDoc()
	if err != nil {
		b.report().Errorf("openapi.yaml: %v", err)
		return
	}
	req := b.resp.Request
	mounts := b.mounts
	if len(mounts) == 0 {
		if m, ok := hostMounts.Load(req.URL.Host); ok {
			mounts = m.([]string)
		} else {
			mounts = []string{api.DefaultMount}
		}
	}
	whole = whole && b.read <= contractBodyLimit
	body := b.kept
	if whole && req.Method != http.MethodHead && b.resp.Header.Get("Content-Encoding") == "gzip" {
		// The schema is of the body as the client decodes it.
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			b.report().Errorf("%s %s: a gzip body that does not decode: %v", req.Method, req.URL.Path, err)
			return
		}
	}
	(&contract{doc: doc}).checkResponse(b.report(), mountOf(mounts, req.URL.Path), req, b.resp.StatusCode, b.resp.Header, body, whole)
}

// report is where a violation goes: the test the request was made for,
// while it runs; else lateContract, which fails the package's run.
func (b *contractBody) report() reporter {
	if t, ok := b.t.(*testing.T); ok && t.Context().Err() != nil {
		return &lateReport{caller: b.caller}
	}
	if b.t == nil {
		return &lateReport{caller: b.caller}
	}
	return b.t
}

// reporter is what contract.check reports violations to.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// lateContract holds violations found when no running test could take
// them: a request without its test in the context, or a body read after
// its test ended. TestMain fails the run on any.
var lateContract struct {
	sync.Mutex
	errs []string
}

type lateReport struct{ caller string }

func (lateReport) Helper() {}

func (r *lateReport) Errorf(format string, args ...any) {
	lateContract.Lock()
	defer lateContract.Unlock()
	lateContract.errs = append(lateContract.errs, r.caller+": "+fmt.Sprintf(format, args...))
}

// testCaller names the test function on the calling goroutine's stack,
// for a violation reported late.
func testCaller() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if i := strings.LastIndex(f.Function, ".Test"); i >= 0 && strings.Contains(f.Function, "api_test") {
			return f.Function[i+1:]
		}
		if !more {
			return "a request of no test"
		}
	}
}

// withTest is req for t: contractTransport reports to t what is wrong with
// its response.
func withTest(t reporter, req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), testKey{}, t))
}

func TestMain(m *testing.M) {
	code := m.Run()
	lateContract.Lock()
	errs := lateContract.errs
	lateContract.Unlock()
	if len(errs) > 0 {
		fmt.Fprintf(os.Stderr, "responses not as openapi.yaml says, found after their tests:\n  %s\n", strings.Join(errs, "\n  "))
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// violations is a reporter that keeps what it is told.
type violations struct {
	sync.Mutex
	errs []string
}

func (*violations) Helper() {}

func (v *violations) Errorf(format string, args ...any) {
	v.Lock()
	defer v.Unlock()
	v.errs = append(v.errs, fmt.Sprintf(format, args...))
}

// TestContractTransportReports: the transport the api tests' clients use
// reports a response the spec does not allow, whether its body is read to
// the end or only closed, and lets a conforming one through.
func TestContractTransportReports(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.Header().Set("X-Request-Id", "x")
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, "ok\n")
		case "/readyz":
			w.Header().Set("X-Not-In-The-Spec", "1")
			w.WriteHeader(http.StatusTeapot)
		default:
			h := w.Header()
			h.Set("X-Request-Id", "x")
			h.Set("Cache-Control", "no-store")
			h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"status": "not a number"}`)
		}
	}))
	defer ts.Close()
	client := &http.Client{Transport: contractTransport{next: ts.Client().Transport}}
	for _, tc := range []struct {
		path, want string
		read       bool
	}{
		{"/healthz", "", true},
		{"/readyz", "status not in the spec", true},
		{"/readyz", "status not in the spec", false},
		{"/nowhere", "response body doesn't match schema", true},
		{"/nowhere", "", false}, // the body, not read to its end, is not looked at
	} {
		v := &violations{}
		req, _ := http.NewRequest("GET", ts.URL+tc.path, nil)
		resp, err := client.Do(withTest(v, req))
		if err != nil {
			t.Fatal(err)
		}
		if tc.read {
			io.ReadAll(resp.Body)
		}
		resp.Body.Close()
		switch got := strings.Join(v.errs, "; "); {
		case tc.want == "" && got != "":
			t.Errorf("GET %s: reported %q, want nothing", tc.path, got)
		case tc.want != "" && !strings.Contains(got, tc.want):
			t.Errorf("GET %s (body read %v): reported %q, want %q", tc.path, tc.read, got, tc.want)
		}
	}
}
