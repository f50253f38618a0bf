package api_test

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestConnectionBudget: each server of the matrix takes two sessions of
// the test user at once (vsftpd's max_per_ip, pure-ftpd's -C, proftpd's
// MaxConnectionsPerHost), the gateway may open eight, and eight GETs come
// at once. Every one is answered 200 with the file: the dials the server
// refuses (421; proftpd's 530 greeting) lower the pool's effective maximum
// to the two open, and their requests wait for a session to come free
// instead of failing. After a quiet period the maximum probes three, the
// server refuses again, and the next eight GETs all succeed too. Before
// the budget, six of the first eight got 503.
func TestConnectionBudget(t *testing.T) {
	const (
		serverLimit = 2
		quiet       = 3 * time.Second
		size        = 512 << 10
	)
	for _, kind := range realftpd.Matrix {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			o := gatewayOptions{maxSessions: 8, budgetQuiet: quiet}
			o.server.MaxConns = serverLimit
			if kind == realftpd.ProFTPD {
				o.server.MaxConns++ // the connection Start holds open
			}
			g := startGatewayOn(t, kind, o)
			sum := writeRandomFile(t, g, "budget.bin", size, 10)
			getAll := func(round int) {
				t.Helper()
				var wg sync.WaitGroup
				for i := range 8 {
					wg.Go(func() {
						status, h, body := g.fetch(t, http.MethodGet, "/files/budget.bin", nil)
						if status != http.StatusOK || sha256.Sum256(body) != sum {
							t.Errorf("round %d GET #%d: %d (Retry-After %q) %d bytes, want 200 and the file: %.200s",
								round, i, status, h.Get("Retry-After"), len(body), body)
						}
					})
				}
				wg.Wait()
			}
			effective := func(want int32) {
				t.Helper()
				exp := fmt.Sprintf(`
# HELP ftpgw_pool_max_sessions_effective Most FTP sessions the pool opens at once now: max_sessions, lowered when the FTP server refuses a connection for having too many, raised one at a time after quiet periods.
# TYPE ftpgw_pool_max_sessions_effective gauge
ftpgw_pool_max_sessions_effective{backend=%q} %d
`, kind, want)
				if err := testutil.GatherAndCompare(g.reg, strings.NewReader(exp), "ftpgw_pool_max_sessions_effective"); err != nil {
					t.Error(err)
				}
			}

			getAll(1)
			st := g.pool.Stat()
			if st.ConnectRefusals == 0 {
				t.Errorf("ConnectRefusals = 0: the server refused no dial (Dials %d)", st.Dials)
			}
			effective(serverLimit)
			refusals := st.ConnectRefusals

			time.Sleep(quiet + 100*time.Millisecond)
			effective(serverLimit + 1)
			getAll(2)
			if st := g.pool.Stat(); st.ConnectRefusals <= refusals {
				t.Errorf("ConnectRefusals = %d after the probe, want more than %d", st.ConnectRefusals, refusals)
			}
			effective(serverLimit)
			t.Logf("dials %d, refusals %d", g.pool.Stat().Dials, g.pool.Stat().ConnectRefusals)
		})
	}
}
