package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"github.com/ftpgw/ftpgw/pool"
)

// TestRestartedServerFailsNoRequest: vsftpd restarts (killed with every
// session, then started again on the same port) under a gateway that keeps
// four sessions warm, and is up again before the next request. All four
// pooled sessions died with it, yet no request after the restart fails:
// before, the stale-session retry ran once, so a request that met two dead
// sessions answered 502.
func TestRestartedServerFailsNoRequest(t *testing.T) {
	ftpd := realftpd.Start(t, realftpd.Vsftpd)
	ftpd.WriteFile(t, "r.txt", []byte("restarted"))
	p, err := pool.New(pool.Config{
		Name: "vsftpd",
		Conn: ftpcore.Config{
			Addr: ftpd.Addr, User: ftpd.User, Password: ftpd.Password,
			CommandTimeout: 10 * time.Second, DataTimeout: 20 * time.Second,
		},
		MaxSessions: 4,
		MinSessions: 4,
		// The idle gap never calls for a NOOP here, however slow the
		// machine: only the restart can.
		HealthCheckAfterIdle: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(api.Config{Pool: p})
	ts := serveGateway(h)
	t.Cleanup(func() {
		ts.Close()
		h.Close()
		p.Close()
	})
	g := &gateway{ftpd: ftpd, pool: p, http: ts}

	deadline := time.Now().Add(10 * time.Second)
	for p.Stat().IdleSessions() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d warm sessions after 10 s, want 4", p.Stat().IdleSessions())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ftpd.Restart(t)

	for i := range 8 {
		status, _, body := g.fetch(t, http.MethodGet, "/files/r.txt", nil)
		if status != http.StatusOK || string(body) != "restarted" {
			t.Errorf("GET #%d after the restart: %d %q, want 200 %q", i, status, body, "restarted")
		}
	}
	// Which dead sessions the requests meet, and which the refill's new
	// ones spare them, depends on timing; that the first one met a dead
	// session does not.
	st := p.Stat()
	t.Logf("dials %d, stale retries %d, health check failures %d", st.Dials, st.StaleRetries, st.HealthCheckFailures)
	if st.StaleRetries == 0 {
		t.Error("StaleRetries = 0: no request met a session that died with the restart")
	}
}
