package contract

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

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

// TestTransportReports: the transport reports a response the spec does not allow, whether its body is read to
// the end or only closed, and lets a conforming one through.
func TestTransportReports(t *testing.T) {
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
	client := &http.Client{Transport: Transport{Next: ts.Client().Transport}}
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
		resp, err := client.Do(WithReporter(v, req))
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

// TestTransportOnlyRegistered: with OnlyRegistered, a host Register did
// not name is let through unchecked, and one it named is checked at its
// mounts until unregistered.
func TestTransportOnlyRegistered(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	defer ts.Close()
	client := &http.Client{Transport: Transport{Next: ts.Client().Transport, OnlyRegistered: true}}
	get := func(path string) string {
		v := &violations{}
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		resp, err := client.Do(WithReporter(v, req))
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Join(v.errs, "; ")
	}
	if got := get("/media/x"); got != "" {
		t.Errorf("an unregistered host was checked: %q", got)
	}
	unregister := Register(ts.URL, "/media/")
	if got := get("/media/x"); !strings.Contains(got, "GET /media/x 418: status not in the spec") {
		t.Errorf("a registered host's 418 under its mount: reported %q", got)
	}
	unregister()
	if got := get("/media/x"); got != "" {
		t.Errorf("an unregistered host was checked: %q", got)
	}
}
