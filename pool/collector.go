package pool

import "github.com/prometheus/client_golang/prometheus"

// collector exports a Pool's Stat at scrape time, in the manner of
// client_golang's collectors.NewDBStatsCollector. It is a table of series,
// so that exporting one more number from Stat is one more row.
type collector struct {
	p      *Pool
	descs  []*prometheus.Desc // each once, for Describe
	series []series
}

// series is one row of the table: its descriptor and type, the value of
// the descriptor's variable label ("" when it has none), and how to read
// the value from a Stat.
type series struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	label string
	value func(*Stat) float64
}

// NewCollector returns a prometheus.Collector for p's statistics, labelled
// with the backend's name. Register it with the gateway's registry.
func NewCollector(p *Pool) prometheus.Collector {
	c := &collector{p: p}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		d := prometheus.NewDesc("ftpgw_pool_"+name, help, labels, prometheus.Labels{"backend": p.Name()})
		c.descs = append(c.descs, d)
		return d
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	sessions := desc("sessions", "FTP sessions in the pool by state.", "state")
	destroyed := desc("destroyed_sessions_total", "Sessions destroyed, by reason.", "reason")
	c.series = []series{
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

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stat()
	for _, m := range c.series {
		var labels []string
		if m.label != "" {
			labels = []string{m.label}
		}
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(s), labels...)
	}
}
