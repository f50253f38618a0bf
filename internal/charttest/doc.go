// Package charttest checks the Helm chart in deploy/helm/ftpgw: helm lint,
// what helm template renders with the default values and with every
// option on, that values.schema.json refuses misspelt values and wrong
// types, that the values, the schema and the chart's README agree, that
// the README's examples render, and that the gateway accepts the
// configuration the chart gives it. The chart's alerts are checked with
// promtool (check rules, and unit tests in testdata/alerts_test.yaml
// that show each alert firing and quiet); testdata/alerts.yaml, the rule
// file they load, is the chart's rendered with the defaults (-update
// rewrites it), which cmd/gateway's TestPrometheusScrape loads into a
// real Prometheus too. It has tests only. helm comes from
// scripts/install-test-deps.sh (built from its Go module), promtool from
// Debian's prometheus package; without them the tests skip, unless
// FTPGW_REQUIRE_REAL_SERVERS=1, in which case they fail.
package charttest
