package pool

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector(t *testing.T) {
	srv := newServer(t)
	p := newPool(t, srv.Addr, func(c *Config) {
		c.Name = "b1"
		c.MaxSessions = 3
	})
	c := NewCollector(p)
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("Register: %v", err)
	}

	// Two sessions: one back in the pool, one destroyed as broken.
	ctx := t.Context()
	s1, err := p.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	s2, err := p.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	s1.Release()
	s2.Destroy()
	// puddle destroys in the background; wait until it is gone.
	// destruct's QUIT is counted once its end is: loggedIn drops after it.
	waitFor(t, "the destroyed session to leave the pool", func() bool { return p.Stat().TotalSessions() == 1 && p.loggedIn.Load() == 1 })

	const want = `
# HELP ftpgw_pool_max_sessions Maximum number of FTP sessions the pool may hold.
# TYPE ftpgw_pool_max_sessions gauge
ftpgw_pool_max_sessions{backend="b1"} 3
# HELP ftpgw_pool_max_sessions_effective Most FTP sessions the pool opens at once now: max_sessions, lowered when the FTP server refuses a connection for having too many, raised one at a time after quiet periods.
# TYPE ftpgw_pool_max_sessions_effective gauge
ftpgw_pool_max_sessions_effective{backend="b1"} 3
# HELP ftpgw_pool_connect_refusals_total FTP session dials or logins the FTP server refused for having too many connections (421, or proftpd's 530 greeting).
# TYPE ftpgw_pool_connect_refusals_total counter
ftpgw_pool_connect_refusals_total{backend="b1"} 0
# HELP ftpgw_pool_sessions FTP sessions in the pool by state.
# TYPE ftpgw_pool_sessions gauge
ftpgw_pool_sessions{backend="b1",state="acquired"} 0
ftpgw_pool_sessions{backend="b1",state="constructing"} 0
ftpgw_pool_sessions{backend="b1",state="idle"} 1
# HELP ftpgw_pool_dials_total FTP sessions dialled, successful or not.
# TYPE ftpgw_pool_dials_total counter
ftpgw_pool_dials_total{backend="b1"} 2
# HELP ftpgw_pool_dial_errors_total FTP session dials or logins that failed.
# TYPE ftpgw_pool_dial_errors_total counter
ftpgw_pool_dial_errors_total{backend="b1"} 0
# HELP ftpgw_pool_destroyed_sessions_total Sessions destroyed, by reason.
# TYPE ftpgw_pool_destroyed_sessions_total counter
ftpgw_pool_destroyed_sessions_total{backend="b1",reason="broken"} 1
ftpgw_pool_destroyed_sessions_total{backend="b1",reason="health_check"} 0
ftpgw_pool_destroyed_sessions_total{backend="b1",reason="idle"} 0
ftpgw_pool_destroyed_sessions_total{backend="b1",reason="lifetime"} 0
# HELP ftpgw_ftp_replies_total Replies of the FTP server, by the command they answer (greeting for the greeting) and their class (1xx to 5xx).
# TYPE ftpgw_ftp_replies_total counter
ftpgw_ftp_replies_total{backend="b1",class="2xx",command="FEAT"} 2
ftpgw_ftp_replies_total{backend="b1",class="2xx",command="OPTS"} 2
ftpgw_ftp_replies_total{backend="b1",class="2xx",command="PASS"} 2
ftpgw_ftp_replies_total{backend="b1",class="2xx",command="PWD"} 2
ftpgw_ftp_replies_total{backend="b1",class="2xx",command="QUIT"} 1
ftpgw_ftp_replies_total{backend="b1",class="2xx",command="TYPE"} 2
ftpgw_ftp_replies_total{backend="b1",class="2xx",command="greeting"} 2
ftpgw_ftp_replies_total{backend="b1",class="3xx",command="USER"} 2
`
	names := []string{
		"ftpgw_pool_max_sessions",
		"ftpgw_pool_max_sessions_effective",
		"ftpgw_pool_connect_refusals_total",
		"ftpgw_pool_sessions",
		"ftpgw_pool_dials_total",
		"ftpgw_pool_dial_errors_total",
		"ftpgw_pool_destroyed_sessions_total",
		"ftpgw_ftp_replies_total",
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Errorf("registry exposition:\n%v", err)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Errorf("collector exposition:\n%v", err)
	}

	// Every metric is exported, each once per label set, all labelled
	// with the backend.
	if n, want := testutil.CollectAndCount(c), 28; n != want {
		t.Errorf("CollectAndCount = %d, want %d", n, want)
	}
	// Both sessions' connect and login times are in the histograms.
	for _, name := range []string{"ftpgw_pool_connect_duration_seconds", "ftpgw_pool_login_duration_seconds"} {
		if n := histogramCount(t, reg, name); n != 2 {
			t.Errorf("%s has %d observations, want 2", name, n)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			backend := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "backend" {
					backend = l.GetValue()
				}
			}
			if backend != "b1" {
				t.Errorf("%s: backend label = %q, want b1", mf.GetName(), backend)
			}
		}
	}

	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatalf("CollectAndLint: %v", err)
	}
	for _, pr := range problems {
		t.Errorf("lint: %s: %s", pr.Metric, pr.Text)
	}
}

// histogramCount returns the number of observations of the histogram
// name in reg.
func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("no histogram %s", name)
	return 0
}
