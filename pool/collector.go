package pool

import "github.com/prometheus/client_golang/prometheus"

// collector exports a Pool's Stat at scrape time, in the manner of
// client_golang's collectors.NewDBStatsCollector.
type collector struct {
	p *Pool

	maxSessions, sessions                            *prometheus.Desc
	acquires, acquireSeconds, emptyAcquires, cancels *prometheus.Desc
	dials, dialErrors, staleRetries, healthFailures  *prometheus.Desc
	destroyed                                        *prometheus.Desc
}

// NewCollector returns a prometheus.Collector for p's statistics, labelled
// with the backend's name. Register it with the gateway's registry.
func NewCollector(p *Pool) prometheus.Collector {
	l := prometheus.Labels{"backend": p.Name()}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("ftpgw_pool_"+name, help, labels, l)
	}
	return &collector{
		p:              p,
		maxSessions:    d("max_sessions", "Maximum number of FTP sessions the pool may hold."),
		sessions:       d("sessions", "FTP sessions in the pool by state.", "state"),
		acquires:       d("acquires_total", "Successful session acquires."),
		acquireSeconds: d("acquire_duration_seconds_total", "Total time spent acquiring sessions."),
		emptyAcquires:  d("empty_acquires_total", "Acquires that had to wait because no session was idle."),
		cancels:        d("canceled_acquires_total", "Acquires abandoned by their context."),
		dials:          d("dials_total", "FTP sessions dialled, successful or not."),
		dialErrors:     d("dial_errors_total", "FTP session dials or logins that failed."),
		staleRetries:   d("stale_retries_total", "Operations retried on a fresh session because the first was stale."),
		healthFailures: d("health_check_failures_total", "Sessions that failed the NOOP health check on acquire."),
		destroyed:      d("destroyed_sessions_total", "Sessions destroyed, by reason.", "reason"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.maxSessions, c.sessions, c.acquires, c.acquireSeconds,
		c.emptyAcquires, c.cancels, c.dials, c.dialErrors, c.staleRetries, c.healthFailures, c.destroyed} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stat()
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	counter := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...)
	}
	gauge(c.maxSessions, float64(s.MaxSessions()))
	gauge(c.sessions, float64(s.IdleSessions()), "idle")
	gauge(c.sessions, float64(s.AcquiredSessions()), "acquired")
	gauge(c.sessions, float64(s.ConstructingSessions()), "constructing")
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.acquireSeconds, s.AcquireDuration().Seconds())
	counter(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	counter(c.cancels, float64(s.CanceledAcquireCount()))
	counter(c.dials, float64(s.Dials))
	counter(c.dialErrors, float64(s.DialErrors))
	counter(c.staleRetries, float64(s.StaleRetries))
	counter(c.healthFailures, float64(s.HealthCheckFailures))
	counter(c.destroyed, float64(s.DestroyedBroken), "broken")
	counter(c.destroyed, float64(s.DestroyedLifetime), "lifetime")
	counter(c.destroyed, float64(s.DestroyedIdle), "idle")
	counter(c.destroyed, float64(s.DestroyedHealthCheck), "health_check")
}
