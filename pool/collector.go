package pool

import "github.com/prometheus/client_golang/prometheus"

// collector exports a Pool's Stat at scrape time, in the manner of
// client_golang's collectors.NewDBStatsCollector. It is a table of series,
// so that exporting one more number from Stat is one more row.
type collector[S any] struct {
	stat   func() S
	descs  []*prometheus.Desc // each once, for Describe
	series []series[S]
	// more are collectors of the same backend exported with it.
	more []prometheus.Collector
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

// newCollector returns a collector reading stat, and the function that
// makes its descriptors: named prefix+name, labelled with the backend, and
// kept for Describe.
func newCollector[S any](stat func() S, backend, prefix string) (*collector[S], func(name, help string, labels ...string) *prometheus.Desc) {
	c := &collector[S]{stat: stat}
	return c, func(name, help string, labels ...string) *prometheus.Desc {
		d := prometheus.NewDesc(prefix+name, help, labels, prometheus.Labels{"backend": backend})
		c.descs = append(c.descs, d)
		return d
	}
}

// NewCollector returns a prometheus.Collector for p's statistics, labelled
// with the backend's name. Register it with the gateway's registry.
func NewCollector(p *Pool) prometheus.Collector {
	c, desc := newCollector(p.Stat, p.Name(), "ftpgw_pool_")
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	destroyed := desc("destroyed_sessions_total", "Sessions destroyed, by reason.", "reason")
	c.series = stateSeries[*Stat](desc("sessions", "FTP sessions in the pool by state.", "state"))
	c.series = append(c.series, []series[*Stat]{
		{desc("max_sessions", "Maximum number of FTP sessions the pool may hold."), gauge, "", func(s *Stat) float64 { return float64(s.MaxSessions()) }},
		{desc("max_sessions_effective", "Most FTP sessions the pool opens at once now: max_sessions, lowered when the FTP server refuses a connection for having too many, raised one at a time after quiet periods."), gauge, "", func(s *Stat) float64 { return float64(s.MaxSessionsEffective) }},
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
	}...)
	c.more = append(c.more, p.proto)
	return c
}

// NewUsersCollector returns a prometheus.Collector for the statistics of
// u, a backend's users' pools, summed over users and labelled with the
// backend's name only: a user name is never a label.
func NewUsersCollector(u *Users) prometheus.Collector {
	c, desc := newCollector(u.Stat, u.Name(), "ftpgw_user_pools_")
	closed := desc("closed_total", "Users' pools closed, by reason.", "reason")
	c.series = stateSeries[*UsersStat](desc("sessions", "FTP sessions of the users' pools (Basic passthrough) by state, summed over users.", "state"))
	c.series = append(c.series, []series[*UsersStat]{
		{desc("open", "Users' pools open: one for each user (and password) with a recent request."), prometheus.GaugeValue, "", func(s *UsersStat) float64 { return float64(s.Pools) }},
		{desc("login_failures_total", "First logins of a user's pool that the FTP server refused."), prometheus.CounterValue, "", func(s *UsersStat) float64 { return float64(s.LoginFailures) }},
		{closed, prometheus.CounterValue, "idle", func(s *UsersStat) float64 { return float64(s.ClosedIdle) }},
		{closed, prometheus.CounterValue, "evicted", func(s *UsersStat) float64 { return float64(s.ClosedEvicted) }},
		{closed, prometheus.CounterValue, "login_failed", func(s *UsersStat) float64 { return float64(s.ClosedLoginFailed) }},
	}...)
	return c
}

// sessionStates are the values of the state label of a sessions gauge, in
// the order of sessionCounts.
var sessionStates = [...]string{"idle", "acquired", "constructing"}

// stateSeries are the rows of the sessions gauge d, one for each state.
func stateSeries[S interface{ sessionCounts() [3]int32 }](d *prometheus.Desc) []series[S] {
	rows := make([]series[S], len(sessionStates))
	for i, state := range sessionStates {
		rows[i] = series[S]{d, prometheus.GaugeValue, state, func(s S) float64 { return float64(s.sessionCounts()[i]) }}
	}
	return rows
}

func (c *collector[S]) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	for _, m := range c.more {
		m.Describe(ch)
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
	for _, m := range c.more {
		m.Collect(ch)
	}
}
