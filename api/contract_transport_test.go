package api_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/ftpgw/ftpgw/internal/contract"
)

// The api tests' clients (testClient, each gateway's, noRedirects) check
// every response against openapi.yaml (contract.Transport), so that every
// response of the integration suite is held to the spec, not only those
// of tests that check it themselves.

// mountsAt says that the gateway at base serves its backends at mounts,
// until the test ends.
func mountsAt(t *testing.T, base string, mounts ...string) {
	t.Cleanup(contract.Register(base, mounts...))
}

// holdToContract makes ts's client check every response against the
// contract.
func holdToContract(ts *httptest.Server) {
	c := ts.Client()
	c.Transport = contract.Transport{Next: c.Transport}
}

// withTest is req for t: the contract's transport reports to t what is
// wrong with its response.
func withTest(t *testing.T, req *http.Request) *http.Request { return contract.WithReporter(t, req) }

// TestMain fails the run on a violation of the contract found when no
// running test could take it.
func TestMain(m *testing.M) { os.Exit(contract.Verdict(m.Run())) }
