package browsertest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/pool"
)

// chromiumNames are the programs tried, in order: Debian's
// chromium-headless-shell (the smaller package, and all these tests need),
// then its full chromium.
var chromiumNames = []string{"chromium-headless-shell", "chromium"}

// tabTimeout bounds one test's use of its tab. Each step takes well under
// a second on an idle machine; the margin is for a loaded one.
const tabTimeout = 60 * time.Second

// shared is the one browser of the test binary, started by the first test
// that asks for a tab and stopped by TestMain.
var shared struct {
	once   sync.Once
	ctx    context.Context // the browser's chromedp context
	cancel context.CancelFunc
	skip   string // why there is no browser on this machine
	err    error  // why the browser did not start
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cancel != nil {
		shared.cancel()
	}
	os.Exit(code)
}

// startBrowser starts the shared browser, once.
func startBrowser() {
	var execPath string
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			execPath = p
			break
		}
	}
	if execPath == "" {
		shared.skip = fmt.Sprintf("no Chromium: none of %s is on PATH (scripts/install-test-deps.sh installs chromium-headless-shell)", strings.Join(chromiumNames, ", "))
		return
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		// Chromium refuses to start as root with its sandbox on, and
		// the FTP servers need root, so the tests run as root.
		chromedp.NoSandbox,
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	shared.cancel = func() { cancelBrowser(); cancelAlloc() }
	// The first action starts the browser, tied to the context it runs
	// with, so it runs with ctx itself and the wait is bounded here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			shared.err = fmt.Errorf("starting %s: %w", execPath, err)
			return
		}
	case <-time.After(tabTimeout):
		shared.cancel()
		shared.err = fmt.Errorf("starting %s: no answer in %v", execPath, tabTimeout)
		return
	}
	shared.ctx = ctx
}

// requireBrowser starts the shared browser if it is not running yet. A
// machine without one skips t, or fails it under
// FTPGW_REQUIRE_REAL_SERVERS=1; a browser that does not start fails t.
func requireBrowser(t *testing.T) {
	t.Helper()
	shared.once.Do(startBrowser)
	if shared.skip != "" {
		if os.Getenv(realftpd.RequireEnv) == "1" {
			t.Fatalf("%s (%s=1, so this fails instead of skipping)", shared.skip, realftpd.RequireEnv)
		}
		t.Skip(shared.skip)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
}

// newTab opens a tab for t in a browser context of its own (no cookies,
// cache or storage shared with other tests) that saves downloads into a
// directory of t's, and closes it at t's end. A missing browser skips t,
// or fails it under FTPGW_REQUIRE_REAL_SERVERS=1.
func newTab(t *testing.T) context.Context {
	t.Helper()
	requireBrowser(t)
	dir := t.TempDir() // removed after the tab is closed
	tab, closeTab := chromedp.NewContext(shared.ctx, chromedp.WithNewBrowserContext())
	ctx, cancel := context.WithTimeout(tab, tabTimeout)
	t.Cleanup(func() { cancel(); closeTab() })
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		c := chromedp.FromContext(ctx)
		_, err := cdp.Call(ctx, c.Browser, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior:         browser.SetDownloadBehaviorBehaviorAllowAndName,
			BrowserContextID: c.BrowserContextID,
			DownloadPath:     dir,
			EventsEnabled:    new(true),
		})
		return err
	}))
	if err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return ctx
}

// eval runs the JavaScript expression js in the tab's page, awaiting the
// promise it returns, and decodes its value into T.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// navigate loads url in the tab and waits for its load event.
func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigating to %s: %v", url, err)
	}
}

// download is a file the browser saved.
type download struct {
	URL, SuggestedFilename string
	Data                   []byte
}

// expectDownload runs trigger, which must make the tab download url (and
// so navigate nowhere), and returns the download once the browser has
// saved it. A navigation that became a download ends in net::ERR_ABORTED,
// which is expected here and not an error; one that displayed a document
// instead fails t at once.
func expectDownload(t *testing.T, ctx context.Context, url string, trigger chromedp.Action[chromedp.Void]) download {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	begun := chromedp.BrowserEvents(ctx, browser.DownloadWillBegin)
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	navigated := chromedp.Events(ctx, page.FrameNavigated)
	var le *chromedp.LoadError
	if err := chromedp.Do(ctx, trigger); err != nil && !(errors.As(err, &le) && le.ErrorText == "net::ERR_ABORTED") {
		t.Fatalf("starting the download of %s: %v", url, err)
	}
	shown := make(chan string, 1)
	go func() {
		for ev, err := range navigated {
			if err != nil {
				return
			}
			if ev.Frame.ParentID == "" {
				shown <- ev.Frame.URL
				return
			}
		}
	}()
	found := make(chan browser.EventDownloadWillBegin, 1)
	go func() {
		for ev, err := range begun {
			if err != nil {
				return
			}
			if ev.URL == url {
				found <- ev
				return
			}
		}
	}()
	var ev browser.EventDownloadWillBegin
	select {
	case ev = <-found:
	case u := <-shown:
		t.Fatalf("%s was displayed, not saved", u)
	case <-ctx.Done():
		t.Fatalf("waiting for the download of %s: %v", url, ctx.Err())
	}
	d := download{URL: ev.URL, SuggestedFilename: ev.SuggestedFilename}
	for p, err := range progress {
		if err != nil {
			t.Fatalf("waiting for the download of %s to end: %v", url, err)
		}
		if p.GUID != ev.GUID || p.State == browser.DownloadProgressStateInProgress {
			continue
		}
		if p.State != browser.DownloadProgressStateCompleted {
			t.Fatalf("download of %s: %s", url, p.State)
		}
		data, err := os.ReadFile(p.FilePath)
		if err != nil {
			t.Fatal(err)
		}
		d.Data = data
		return d
	}
	panic("unreachable")
}

// gateway is the server under test: vsftpd behind a pool and api.New, on a
// loopback HTTP server whose origin (scheme, host and port) is origin.
type gateway struct {
	ftpd   *realftpd.Server
	http   *httptest.Server
	origin string

	mu       sync.Mutex
	requests []string // "METHOD path Origin", as they arrived
}

// startGateway starts vsftpd and a gateway in front of it, once it knows
// there is a browser to test it with: one backend per Config (Pool filled
// in here, a pool of its own to the same vsftpd), joined with api.Join.
func startGateway(t *testing.T, cfgs ...api.Config) *gateway {
	t.Helper()
	requireBrowser(t)
	ftpd := realftpd.Start(t, realftpd.Vsftpd)
	servers := make([]*api.Server, len(cfgs))
	for i, cfg := range cfgs {
		p, err := pool.New(pool.Config{
			Name: "vsftpd",
			Conn: ftpcore.Config{
				Addr: ftpd.Addr, User: ftpd.User, Password: ftpd.Password,
				CommandTimeout: 10 * time.Second, DataTimeout: 20 * time.Second,
			},
			MaxSessions: 4,
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Pool = p
		servers[i] = api.New(cfg)
		t.Cleanup(func() {
			servers[i].Close()
			p.Close()
		})
	}
	h := api.Join(servers...)
	g := &gateway{ftpd: ftpd}
	// Served as cmd/gateway serves it: on the Server's Listener, with its
	// ConnContext; the wrapper only notes each request.
	g.http = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.requests = append(g.requests, r.Method+" "+r.URL.Path+" "+r.Header.Get("Origin"))
		g.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	g.http.Listener = servers[0].Listener(g.http.Listener)
	g.http.Config.ConnContext = servers[0].ConnContext
	g.http.Start()
	g.origin = g.http.URL
	// Cleanups run last first: the HTTP server closes before the
	// backends and their pools.
	t.Cleanup(g.http.Close)
	return g
}

// requestLog returns the requests the gateway has had, "METHOD path
// Origin" each, in the order they arrived.
func (g *gateway) requestLog() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.requests)
}

// deletes returns the DELE commands that reached the FTP server.
func (g *gateway) deletes() []string {
	var dele []string
	for _, c := range g.ftpd.Commands() {
		if strings.HasPrefix(strings.ToUpper(c), "DELE ") {
			dele = append(dele, c)
		}
	}
	return dele
}

// serveOrigin starts a loopback HTTP server, a different origin from the
// gateway's (another port), that serves page as text/html at every path,
// and returns its origin.
func serveOrigin(t *testing.T, page string) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}
