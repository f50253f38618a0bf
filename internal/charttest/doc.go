// Package charttest checks the Helm chart in deploy/helm/ftpgw: helm lint,
// what helm template renders with the default values and with every
// option on, and that the gateway accepts the configuration the chart
// gives it. It has tests only. helm comes from scripts/install-test-deps.sh
// (built from its Go module); without it the tests skip, unless
// FTPGW_REQUIRE_REAL_SERVERS=1, in which case they fail.
package charttest
