package contract

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/ftpgw/ftpgw/api"
)

// Transport checks every response it carries against openapi.yaml, as
// Check does: status and headers, and the body once it has been read to
// its end. A body cut short, or closed before its end, has its status and
// headers checked. A response is checked as one of a gateway whose
// backends are at Mounts, or at the mounts Register gave its host, or
// else at api.DefaultMount; with OnlyRegistered, a response of a host
// that Register did not name is not checked (a Prometheus beside the
// gateways, say).
type Transport struct {
	Next           http.RoundTripper
	Mounts         []string
	OnlyRegistered bool
}

// reporterKey carries the Reporter a request was made for in its
// context.
type reporterKey struct{}

// WithReporter is req for r: Transport reports to r what is wrong with
// its response.
func WithReporter(r Reporter, req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), reporterKey{}, r))
}

// hosts are the mounts of gateways by host:port (Register).
var hosts sync.Map

// Register says that the gateway at host (host:port, or a base URL)
// serves its backends at mounts (api.DefaultMount if none), until the
// returned function is called.
func Register(host string, mounts ...string) (unregister func()) {
	host = strings.TrimPrefix(strings.TrimPrefix(host, "http://"), "https://")
	host = strings.TrimSuffix(host, "/")
	if len(mounts) == 0 {
		mounts = []string{api.DefaultMount}
	}
	hosts.Store(host, mounts)
	return func() { hosts.Delete(host) }
}

// bodyLimit is as much of a body as is kept to be checked; the rest of a
// longer one (a file's bytes) is not looked at.
const bodyLimit = 1 << 20

func (ct Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := ct.Next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	mounts := ct.Mounts
	if len(mounts) == 0 {
		if m, ok := hosts.Load(req.URL.Host); ok {
			mounts = m.([]string)
		} else if ct.OnlyRegistered {
			return resp, nil
		} else {
			mounts = []string{api.DefaultMount}
		}
	}
	r, _ := req.Context().Value(reporterKey{}).(Reporter)
	resp.Body = &body{ReadCloser: resp.Body, resp: resp, mounts: mounts, r: r, caller: testCaller()}
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the transport
// underneath, as httptest.Server.Close asks of its client's.
func (ct Transport) CloseIdleConnections() {
	if c, ok := ct.Next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// body is a response's body that checks the response when it ends.
type body struct {
	io.ReadCloser
	resp   *http.Response
	mounts []string
	r      Reporter // nil: none
	caller string

	kept []byte
	read int64
	once sync.Once
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if room := bodyLimit - len(b.kept); n > 0 && room > 0 {
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

func (b *body) Close() error {
	b.once.Do(func() { b.check(false) })
	return b.ReadCloser.Close()
}

// check checks the response, its body too if whole is set and the body
// was short enough to be kept.
func (b *body) check(whole bool) {
	req := b.resp.Request
	whole = whole && b.read <= bodyLimit
	kept := b.kept
	if whole && req.Method != http.MethodHead && b.resp.Header.Get("Content-Encoding") == "gzip" && !b.resp.Uncompressed {
		// The schema is of the body as the client decodes it.
		zr, err := gzip.NewReader(bytes.NewReader(kept))
		if err == nil {
			kept, err = io.ReadAll(zr)
		}
		if err != nil {
			b.report().Errorf("%s %s: a gzip body that does not decode: %v", req.Method, req.URL.Path, err)
			return
		}
	}
	Check(b.report(), MountOf(b.mounts, req.URL.Path), req, b.resp.StatusCode, b.resp.Header, kept, whole)
}

// report is where a violation goes: the Reporter the request was made
// for, unless it is a test that has ended; else the list Late returns.
func (b *body) report() Reporter {
	if t, ok := b.r.(*testing.T); ok && t.Context().Err() != nil || b.r == nil {
		return &lateReport{caller: b.caller}
	}
	return b.r
}

// late holds violations found when no running test could take them: a
// request made for none, or a body read after its test ended.
var late struct {
	sync.Mutex
	errs []string
}

// Late returns the violations no running test could take, each with the
// test that made the request; a TestMain fails the run on any.
func Late() []string {
	late.Lock()
	defer late.Unlock()
	return append([]string(nil), late.errs...)
}

// Verdict is a test binary's exit code: code, m.Run's, or 1 if a
// violation was found that no running test could take (Late), which it
// prints. For a TestMain: os.Exit(contract.Verdict(m.Run())).
func Verdict(code int) int {
	errs := Late()
	if len(errs) == 0 {
		return code
	}
	fmt.Fprintf(os.Stderr, "responses not as openapi.yaml says, found after their tests:\n  %s\n", strings.Join(errs, "\n  "))
	return cmp.Or(code, 1)
}

type lateReport struct{ caller string }

func (lateReport) Helper() {}

func (r *lateReport) Errorf(format string, args ...any) {
	late.Lock()
	defer late.Unlock()
	late.errs = append(late.errs, r.caller+": "+fmt.Sprintf(format, args...))
}

// testCaller names the test function on the calling goroutine's stack,
// for a violation reported late.
func testCaller() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if i := strings.LastIndex(f.Function, ".Test"); i >= 0 {
			return f.Function[i+1:]
		}
		if !more {
			return "a request of no test"
		}
	}
}
