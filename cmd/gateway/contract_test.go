package main

import (
	"cmp"
	"net/http"
	"os"
	"testing"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/internal/contract"
)

// TestMain holds every response these tests get through the default
// client from a gateway they started (startGatewayEnv registers it) to
// openapi.yaml, as the api tests do; responses of anything else (the
// real Prometheus) pass unchecked. A violation found after its test
// ended fails the run.
func TestMain(m *testing.M) {
	http.DefaultTransport = contract.Transport{Next: http.DefaultTransport, OnlyRegistered: true}
	os.Exit(contract.Verdict(m.Run()))
}

// registerContract has the responses of the gateway at base, run with
// cfg, checked against openapi.yaml until the test ends.
func registerContract(t *testing.T, base string, cfg *config) {
	var mounts []string
	for _, c := range cfg.all() {
		mounts = append(mounts, cmp.Or(c.Mount, api.DefaultMount))
	}
	t.Cleanup(contract.Register(base, mounts...))
}
