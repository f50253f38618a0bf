package charttest

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ftpgw/ftpgw/internal/realftpd"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite testdata/alerts.yaml from the chart")

// golden is the chart's alerts rendered with the default values: the rule
// file promtool's unit tests (testdata/alerts_test.yaml) and
// cmd/gateway's TestPrometheusScrape load.
const golden = "testdata/alerts.yaml"

// promtoolPath finds promtool (Debian's prometheus package), or skips t;
// under FTPGW_REQUIRE_REAL_SERVERS=1 it fails instead.
func promtoolPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv(realftpd.RequireEnv) == "1" {
			t.Fatalf("promtool not found (%s=1, so this fails instead of skipping; scripts/install-test-deps.sh installs it)", realftpd.RequireEnv)
		}
		t.Skip("promtool not found; scripts/install-test-deps.sh installs it")
	}
	return p
}

// ruleFile renders the chart's PrometheusRule with the arguments and
// returns its spec as a Prometheus rule file.
func ruleFile(t *testing.T, args ...string) []byte {
	t.Helper()
	rule := renderArgs(t, append([]string{"--set", "prometheusRule.enabled=true"}, args...)...)["PrometheusRule"]
	if rule == nil {
		t.Fatal("prometheusRule.enabled=true rendered no PrometheusRule")
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(rule.get("spec")); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func promtool(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(promtoolPath(t), args...).CombinedOutput(); err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestChartAlerts: the chart's alerts are valid rules (promtool check
// rules), with the defaults and with every value changed; testdata's copy
// is the chart's; and promtool's unit tests show every alert firing on
// series that mean trouble and quiet on healthy ones.
func TestChartAlerts(t *testing.T) {
	rules := ruleFile(t)
	if *update {
		if err := os.WriteFile(golden, rules, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(golden); err != nil || !bytes.Equal(b, rules) {
		t.Fatalf("%s is not the chart's alerts (%v); go test ./internal/charttest -run TestChartAlerts -update rewrites it", golden, err)
	}
	promtool(t, "check", "rules", golden)
	promtool(t, "test", "rules", "testdata/alerts_test.yaml")

	// Every alert has a case where it fires and one where it is quiet.
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string
				ExpAlerts []any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	b, err := os.ReadFile("testdata/alerts_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &tests); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	names := alertNames(t, rules)
	if len(names) < 5 {
		t.Errorf("alerts %q: want at least backend down, not ready, pool saturated, 5xx ratio and budget lowered", names)
	}
	for _, name := range names {
		if !fires[name] || !quiet[name] {
			t.Errorf("alert %s: a unit test where it fires %v, one where it is quiet %v; want both", name, fires[name], quiet[name])
		}
	}

	// Thresholds, durations and labels are the values'; extra rules join
	// in a group of their own.
	dir := t.TempDir()
	changed := filepath.Join(dir, "changed.yaml")
	if err := os.WriteFile(changed, []byte(`prometheusRule:
  alertLabels: {team: files}
  backendDown: {for: 2m}
  notReady: {for: 3m}
  poolSaturated: {ratio: 0.75, for: 20m}
  errorRatio: {ratio: 0.01, for: 1h}
  sessionBudgetLowered: {for: 1h30m}
  extraRules:
    - alert: FtpgwTransfersWaiting
      expr: sum by (backend) (ftpgw_transfers_waiting) > 0
      for: 10m
`), 0o644); err != nil {
		t.Fatal(err)
	}
	rules = ruleFile(t, "-f", changed)
	for _, want := range []string{"for: 2m", "for: 3m", ">= 0.75", "for: 20m", "> 0.01", "for: 1h\n", "for: 1h30m", "team: files", "name: ftpgw-extra", "alert: FtpgwTransfersWaiting"} {
		if !strings.Contains(string(rules), want) {
			t.Errorf("the rules with changed values have no %q:\n%s", want, rules)
		}
	}
	if got := strings.Count(string(rules), "team: files"); got != len(names) {
		t.Errorf("alertLabels on %d alerts, want all %d", got, len(names))
	}
	p := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(p, rules, 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, "check", "rules", p)
}

// alertNames are the names of the alerts of a rule file.
func alertNames(t *testing.T, rules []byte) []string {
	t.Helper()
	var f struct {
		Groups []struct {
			Rules []struct{ Alert string }
		}
	}
	if err := yaml.Unmarshal(rules, &f); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && !slices.Contains(names, r.Alert) {
				names = append(names, r.Alert)
			}
		}
	}
	return names
}
