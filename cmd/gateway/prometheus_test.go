package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// requireTool returns the path of the named program, or skips t (fails it
// under FTPGW_REQUIRE_REAL_SERVERS=1) when it is not installed.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(realftpd.RequireEnv) == "1" {
			t.Fatalf("%s not found (%s=1, so this fails instead of skipping; scripts/install-test-deps.sh installs it)", name, realftpd.RequireEnv)
		}
		t.Skipf("%s not found; scripts/install-test-deps.sh installs it", name)
	}
	return p
}

// TestPrometheusScrape: a real Prometheus scrapes the gateway after a known
// set of requests, and its query API has every family the gateway exports,
// with the values those requests make. promtool finds nothing to say about
// the exposition. A real Prometheus starts and first scrapes in some
// seconds: the test takes about ten.
func TestPrometheusScrape(t *testing.T) {
	prometheus := requireTool(t, "prometheus")
	promtool := requireTool(t, "promtool")
	demoDir := t.TempDir()
	base, stop := startGateway(t, []string{"--demo", "--demo-dir", demoDir})
	defer stop()

	// The requests: three whole GETs, one range, two misses, one PUT, and
	// a readiness probe.
	for range 3 {
		httpDo(t, http.MethodGet, base+"/files/hello.txt", nil, nil, http.StatusOK)
	}
	httpDo(t, http.MethodGet, base+"/files/sample.bin", nil, map[string]string{"Range": "bytes=0-99"}, http.StatusPartialContent)
	for range 2 {
		httpDo(t, http.MethodGet, base+"/files/no-such-file", nil, nil, http.StatusNotFound)
	}
	httpDo(t, http.MethodPut, base+"/files/up.bin", strings.NewReader(strings.Repeat("x", 1000)), nil, http.StatusCreated)
	httpDo(t, http.MethodGet, base+"/readyz", nil, nil, http.StatusOK)

	exposition := httpDo(t, http.MethodGet, base+"/metrics", nil, nil, http.StatusOK)
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(exposition)
	if out, err := check.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	alerts, err := filepath.Abs(filepath.Join("..", "..", "internal", "charttest", "testdata", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	api := startPrometheus(t, prometheus, strings.TrimPrefix(base, "http://"), alerts)
	waitForScrape(t, api)

	// Every family of the gateway's own is in Prometheus.
	fams := families(exposition)
	if len(fams) < 20 {
		t.Fatalf("only %d families of the gateway's in its exposition: %q", len(fams), fams)
	}
	for _, family := range fams {
		if v := query(t, api, fmt.Sprintf(`count({__name__=~"%s(_bucket)?"})`, family)); v < 1 {
			t.Errorf("family %s: no series in Prometheus", family)
		}
	}
	for _, c := range []struct {
		query string
		want  float64
	}{
		{`ftpgw_http_requests_total{method="GET",route="/files/*",code="200"}`, 3},
		{`ftpgw_http_requests_total{method="GET",route="/files/*",code="206"}`, 1},
		{`ftpgw_http_requests_total{method="GET",route="/files/*",code="404"}`, 2},
		{`ftpgw_http_requests_total{method="PUT",route="/files/*",code="201"}`, 1},
		{`ftpgw_transfer_bytes_total{backend="default",direction="upload"}`, 1000},
		{`ftpgw_ftp_replies_total{backend="default",command="STOR",class="2xx"}`, 1},
		{`ftpgw_pool_max_sessions{backend="default"}`, 8},
		{`ftpgw_backend_ready{backend="default"}`, 1},
		{`count(go_build_info)`, 1},
	} {
		if got := query(t, api, c.query); got != c.want {
			t.Errorf("%s = %v, want %v", c.query, got, c.want)
		}
	}
	// The bytes downloaded: three hello.txt and the 100 bytes of the range.
	hello, err := os.Stat(filepath.Join(demoDir, "hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := query(t, api, `ftpgw_transfer_bytes_total{backend="default",direction="download"}`), float64(3*hello.Size()+100); got != want {
		t.Errorf("downloaded bytes %v, want %v", got, want)
	}
	if got := query(t, api, `ftpgw_pool_login_duration_seconds_count{backend="default"}`); got < 1 {
		t.Errorf("logins timed: %v, want at least 1", got)
	}
	checkDashboard(t, api, fams)
	checkAlerts(t, api, fams)
}

// checkAlerts checks the Helm chart's alerts (deploy/helm/ftpgw's
// files/alerts.yaml, rendered with the default values into
// internal/charttest's testdata, which TestChartAlerts keeps the chart's)
// as the real Prometheus evaluates them: every rule evaluated without an
// error, and every metric it names is one the gateway exports. Whether
// each fires when it should is promtool's unit tests' business
// (internal/charttest).
func checkAlerts(t *testing.T, api string, fams []string) {
	t.Helper()
	exported := exportedNames(fams)
	type rule struct {
		Name, Query, Health, LastError string
		LastEvaluation                 time.Time
	}
	var rules []rule
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(api + "/api/v1/rules")
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Status string
			Data   struct{ Groups []struct{ Rules []rule } }
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil || r.Status != "success" {
			t.Fatalf("/api/v1/rules: %v, status %q", err, r.Status)
		}
		rules = rules[:0]
		evaluated := true
		for _, g := range r.Data.Groups {
			for _, x := range g.Rules {
				rules = append(rules, x)
				evaluated = evaluated && !x.LastEvaluation.IsZero() && x.Health != "unknown"
			}
		}
		if evaluated && len(rules) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(rules) < 5 {
		t.Fatalf("Prometheus has %d rules of the chart's, want its five alerts at least", len(rules))
	}
	for _, r := range rules {
		if r.Health != "ok" {
			t.Errorf("rule %s: health %q (last evaluated %v): %s", r.Name, r.Health, r.LastEvaluation, r.LastError)
		}
		names := metricName.FindAllString(r.Query, -1)
		if len(names) == 0 {
			t.Errorf("rule %s names no metric of the gateway's: %s", r.Name, r.Query)
		}
		for _, name := range names {
			if !exported[name] {
				t.Errorf("rule %s names %s, which the gateway does not export: %s", r.Name, name, r.Query)
			}
		}
	}
}

// exportedNames are the names a query may use for the families fams: a
// histogram's _bucket, _sum and _count too.
func exportedNames(fams []string) map[string]bool {
	exported := map[string]bool{}
	for _, f := range fams {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			exported[f+suffix] = true
		}
	}
	return exported
}

// dashboard is the part of a Grafana dashboard the test reads: the
// panels' queries and the template variables' (Grafana's model is much
// larger; a query put where Grafana does not look for it shows as a panel
// without one).
type dashboard struct {
	Title      string
	Templating struct {
		List []struct {
			Name       string
			Type       string
			Definition string
		}
	}
	Panels []struct {
		Title   string
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string
		}
	}
}

// metricName finds the metric names in a PromQL expression.
var metricName = regexp.MustCompile(`\b(?:ftpgw|go)_[a-z_]+\b`)

// checkDashboard runs every query of deploy/grafana/ftpgw.json on the real
// Prometheus, and checks that every metric it names is one the gateway
// exports (fams, with a histogram's _bucket, _sum and _count).
func checkDashboard(t *testing.T, api string, fams []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "ftpgw.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("deploy/grafana/ftpgw.json: %v", err)
	}
	exported := exportedNames(fams)
	var exprs []string
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			exprs = append(exprs, v.Definition)
		}
	}
	queries := 0
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			queries++
			exprs = append(exprs, target.Expr)
			q := strings.NewReplacer("$__rate_interval", "1m", "$backend", ".*").Replace(target.Expr)
			if n, err := queryCount(api, q); err != nil {
				t.Errorf("panel %q, query %s: %v", p.Title, target.RefID, err)
			} else if n == 0 && !strings.Contains(q, "rate(") && !strings.Contains(q, "increase(") {
				// A rate needs two scrapes in its window; a plain
				// value is there after one.
				t.Errorf("panel %q, query %s: no series: %s", p.Title, target.RefID, q)
			}
		}
	}
	if queries < 10 {
		t.Errorf("the dashboard has %d queries, want its ten panels' at least", queries)
	}
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			if !exported[name] {
				t.Errorf("the dashboard's query %q names %s, which the gateway does not export", e, name)
			}
		}
	}
}

// queryCount runs an instant query and returns how many series it gave.
func queryCount(api, q string) (int, error) {
	resp, err := http.Get(api + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status, Error string
		Data          struct{ Result []json.RawMessage }
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s: %s", r.Status, r.Error)
	}
	return len(r.Data.Result), nil
}

// httpDo makes a request and returns its body, failing t unless the
// status is want.
func httpDo(t *testing.T, method, u string, body io.Reader, hdr map[string]string, want int) string {
	t.Helper()
	return httpExchange(t, method, u, body, hdr, want).body
}

// exchange is a response with its whole body.
type exchange struct {
	*http.Response
	body string
}

// httpExchange is httpDo that returns the response too.
func httpExchange(t *testing.T, method, u string, body io.Reader, hdr map[string]string, want int) exchange {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, u, resp.StatusCode, want, b)
	}
	return exchange{resp, string(b)}
}

// families returns the names of the metric families in an exposition
// that are the gateway's (ftpgw_) or its build's.
func families(exposition string) []string {
	var names []string
	sc := bufio.NewScanner(strings.NewReader(exposition))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "#" && f[1] == "TYPE" && (strings.HasPrefix(f[2], "ftpgw_") || f[2] == "go_build_info") {
			names = append(names, f[2])
		}
	}
	return names
}

// startPrometheus runs Prometheus on loopback, scraping target's /metrics
// and evaluating the rule files every second, and returns its base URL.
// It is stopped at t's end.
func startPrometheus(t *testing.T, prometheus, target string, ruleFiles ...string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [`+strings.Join(quoted(ruleFiles), ", ")+`]
scrape_configs:
  - job_name: ftpgw
    static_configs:
      - targets: ["`+target+`"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, prometheus, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	return "http://" + addr
}

// quoted returns each string in double quotes (JSON's, which YAML reads).
func quoted(ss []string) []string {
	var out []string
	for _, s := range ss {
		out = append(out, strconv.Quote(s))
	}
	return out
}

// waitForScrape waits until Prometheus has the gateway's requests counted.
func waitForScrape(t *testing.T, api string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if v, ok := tryQuery(api, `sum(ftpgw_http_requests_total{route="/files/*"})`); ok && v >= 7 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatal("no scrape of the gateway's requests within 60 s")
}

// query returns the single value of an instant query, failing t if there
// is not exactly one; a missing series is 0.
func query(t *testing.T, api, q string) float64 {
	t.Helper()
	v, ok := tryQuery(api, q)
	if !ok {
		t.Fatalf("query %s failed", q)
	}
	return v
}

func tryQuery(api, q string) (float64, bool) {
	resp, err := http.Get(api + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" || len(r.Data.Result) > 1 {
		return 0, false
	}
	if len(r.Data.Result) == 0 {
		return 0, true
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}
