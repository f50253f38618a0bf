package pool

import "github.com/prometheus/client_golang/prometheus"

// collector exports a Pool's Stat at scrape time, in the manner of
// client_golang's collectors.NewDBStatsCollector. It is a table of series,
// so that exporting one more number from Stat is one more row.
type collector[S any] struct {
	stat   func() S
	descs  []*prometheus.Desc // each once, for Describe
	series []series[S]
}

// series is one row of the table: its descriptor and type, the value of
// the descriptor's variable label ("" when it has none), and how to read
// the value from a Stat.
type series[S any] struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	label string
	value func(S) float64
}

// desc makes a descriptor of the backend's, and keeps it for Describe.
func (c *collector[S]) desc(backend, name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(name, help, labels, prometheus.Labels{"backend": backend})
	c.descs = append(c.descs, d)
	return d
}

// NewCollector returns a prometheus.Collector for p's statistics, labelled
// with the backend's name. Register it with the gateway's registry.
func NewCollector(p *Pool) prometheus.Collector {
	c := &collector[*Stat]{stat: p.Stat}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return c.desc(p.Name(), "ftpgw_pool_"+name, help, labels...)
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	sessions := desc("sessions", "FTP sessions in the pool by state.", "state")
	destroyed := desc("destroyed_sessions_total", "Sessions destroyed, by reason.", "reason")
	c.series = []series[*Stat]{
		{desc("max_sessions", "Maximum number of FTP sessions the pool may hold."), gauge, "", func(s *Stat) float64 { return float64(s.MaxSessions()) }},
		{desc("max_sessions_effective", "Most FTP sessions the pool opens at once now: max_sessions, lowered when the FTP server refuses a connection for having too many, raised one at a time after quiet periods."), gauge, "", func(s *Stat) float64 { return float64(s.MaxSessionsEffective) }},
		{sessions, gauge, "idle", func(s *Stat) float64 { return float64(s.IdleSessions()) }},
		{sessions, gauge, "acquired", func(s *Stat) float64 { return float64(s.AcquiredSessions()) }},
		{sessions, gauge, "constructing", func(s *Stat) float64 { return float64(s.ConstructingSessions()) }},
		{desc("acquires_total", "Successful session acquires."), counter, "", func(s *Stat) float64 { return float64(s.AcquireCount()) }},
		{desc("acquire_duration_seconds_total", "Total time spent acquiring sessions."), counter, "", func(s *Stat) float64 { return s.AcquireDuration().Seconds() }},
		{desc("empty_acquires_total", "Acquires that had to wait because no session was idle."), counter, "", func(s *Stat) float64 { return float64(s.EmptyAcquireCount()) }},
		{desc("canceled_acquires_total", "Acquires abandoned by their context."), counter, "", func(s *Stat) float64 { return float64(s.CanceledAcquireCount()) }},
		{desc("dials_total", "FTP sessions dialled, successful or not."), counter, "", func(s *Stat) float64 { return float64(s.Dials) }},
		{desc("dial_errors_total", "FTP session dials or logins that failed."), counter, "", func(s *Stat) float64 { return float64(s.DialErrors) }},
		{desc("connect_refusals_total", "FTP session dials or logins the FTP server refused for having too many connections (421, or proftpd's 530 greeting)."), counter, "", func(s *Stat) float64 { return float64(s.ConnectRefusals) }},
		{desc("stale_retries_total", "Retries of operations on another session because the one they ran on was stale."), counter, "", func(s *Stat) float64 { return float64(s.StaleRetries) }},
		{desc("health_check_failures_total", "Sessions that failed the NOOP health check on acquire."), counter, "", func(s *Stat) float64 { return float64(s.HealthCheckFailures) }},
		{destroyed, counter, "broken", func(s *Stat) float64 { return float64(s.DestroyedBroken) }},
		{destroyed, counter, "lifetime", func(s *Stat) float64 { return float64(s.DestroyedLifetime) }},
		{destroyed, counter, "idle", func(s *Stat) float64 { return float64(s.DestroyedIdle) }},
		{destroyed, counter, "health_check", func(s *Stat) float64 { return float64(s.DestroyedHealthCheck) }},
	}
	return c
}

// NewUsersCollector returns a prometheus.Collector for the statistics of
// u, a backend's users' pools, summed over users and labelled with the
// backend's name only: a user name is never a label.
func NewUsersCollector(u *Users) prometheus.Collector {
	c := &collector[*UsersStat]{stat: u.Stat}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return c.desc(u.Name(), "ftpgw_user_pools_"+name, help, labels...)
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	sessions := desc("sessions", "FTP sessions of the users' pools (Basic passthrough) by state, summed over users.", "state")
	closed := desc("closed_total", "Users' pools closed, by reason.", "reason")
	c.series = []series[*UsersStat]{
		{desc("open", "Users' pools open: one for each user (and password) with a recent request."), gauge, "", func(s *UsersStat) float64 { return float64(s.Pools) }},
		{sessions, gauge, "idle", func(s *UsersStat) float64 { return float64(s.IdleSessions) }},
		{sessions, gauge, "acquired", func(s *UsersStat) float64 { return float64(s.AcquiredSessions) }},
		{sessions, gauge, "constructing", func(s *UsersStat) float64 { return float64(s.ConstructingSessions) }},
		{closed, counter, "idle", func(s *UsersStat) float64 { return float64(s.ClosedIdle) }},
		{closed, counter, "evicted", func(s *UsersStat) float64 { return float64(s.ClosedEvicted) }},
		{closed, counter, "login_failed", func(s *UsersStat) float64 { return float64(s.ClosedLoginFailed) }},
		{desc("login_failures_total", "First logins of a user's pool that the FTP server refused."), counter, "", func(s *UsersStat) float64 { return float64(s.LoginFailures) }},
	}
	return c
}

func (c *collector[S]) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector[S]) Collect(ch chan<- prometheus.Metric) {
	s := c.stat()
	for _, m := range c.series {
		var labels []string
		if m.label != "" {
			labels = []string{m.label}
		}
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(s), labels...)
	}
}
