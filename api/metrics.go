package api

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the HTTP side's Prometheus metrics. Labels are bounded: the
// route pattern, never the path; the backend's name; a status code.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	transfer  *prometheus.CounterVec
	ftpErrors *prometheus.CounterVec

	tempPending *prometheus.GaugeVec
	tempRemoved *prometheus.CounterVec
	tempDropped *prometheus.CounterVec

	transfersInFlight *prometheus.GaugeVec
	transfersWaiting  *prometheus.GaugeVec
	transfersRefused  *prometheus.CounterVec

	loginsRefused *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftpgw_http_requests_total",
			Help: "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ftpgw_http_request_duration_seconds",
			Help:    "Time from request to the end of the response, by method and route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"method", "route"}),
		transfer: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftpgw_transfer_bytes_total",
			Help: "File bytes moved between HTTP clients and FTP servers, by backend and direction.",
		}, []string{"backend", "direction"}),
		ftpErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftpgw_ftp_errors_total",
			Help: "Requests that failed with an FTP error reply, by backend and reply code class.",
		}, []string{"backend", "code_class"}),
		tempPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ftpgw_upload_temp_pending",
			Help: "Temporary upload files queued for deletion from the FTP server, by backend.",
		}, []string{"backend"}),
		tempRemoved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftpgw_upload_temp_removed_total",
			Help: "Temporary upload files deleted in the background, by backend and how they were found: a failed upload's deletion retried, or a sweep for old ones.",
		}, []string{"backend", "how"}),
		tempDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftpgw_upload_temp_dropped_total",
			Help: "Temporary upload files dropped from the full deletion queue and left on the FTP server, by backend.",
		}, []string{"backend"}),
		transfersInFlight: gaugeVec("ftpgw_transfers_in_flight", "Transfers under way (a GET sending a file's bytes, a PUT), by backend.", "backend"),
		transfersWaiting:  gaugeVec("ftpgw_transfers_waiting", "Transfers waiting for a place under the backend's cap on transfers, by backend.", "backend"),
		transfersRefused: counterVec("ftpgw_transfers_refused_total",
			"Transfers refused by a cap, by backend and cap: backend (503, no place came free in time) or client (429, the client has its most under way).",
			"backend", "cap"),
		loginsRefused: counterVec("ftpgw_basic_logins_refused_total",
			"Requests of Basic passthrough refused for their credentials, by backend and reason: no_credentials, malformed, bad_credentials (the FTP server refused them), rate_limited_user, rate_limited_address.",
			"backend", "reason"),
	}
	if reg != nil {
		// The Servers of several backends share one registry, and so
		// their vectors (each series carries the backend's label).
		register(reg, &m.requests)
		register(reg, &m.duration)
		register(reg, &m.transfer)
		register(reg, &m.ftpErrors)
		register(reg, &m.tempPending)
		register(reg, &m.tempRemoved)
		register(reg, &m.tempDropped)
		register(reg, &m.transfersInFlight)
		register(reg, &m.transfersWaiting)
		register(reg, &m.transfersRefused)
		register(reg, &m.loginsRefused)
	}
	return m
}

// gaugeVec and counterVec make a metric vector in one line.
func gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// register registers *c with reg, or, when an equal collector is
// registered already (another backend's Server made it), has *c be that
// one.
func register[C prometheus.Collector](reg prometheus.Registerer, c *C) {
	err := reg.Register(*c)
	var are prometheus.AlreadyRegisteredError
	switch {
	case err == nil:
	case errors.As(err, &are):
		*c = are.ExistingCollector.(C)
	default:
		panic(err)
	}
}

func (m *metrics) request(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
}

// bytesCounter returns a function that adds to the transferred bytes of
// backend in direction, and to the count of the transfer in flight live,
// for a transfer's OnProgress: both grow while a long transfer runs, not
// only at its end.
func (m *metrics) bytesCounter(backend, direction string, live *liveTransfer) func(n int64) {
	c := m.transfer.WithLabelValues(backend, direction)
	return func(n int64) {
		c.Add(float64(n))
		live.bytes.Add(n)
	}
}

func (m *metrics) ftpError(backend string, code int) {
	m.ftpErrors.WithLabelValues(backend, strconv.Itoa(code/100)+"xx").Inc()
}

// loginRefused counts a request of Basic passthrough refused for its
// credentials; reason is one of a fixed few, never the user.
func (m *metrics) loginRefused(backend, reason string) {
	m.loginsRefused.WithLabelValues(backend, reason).Inc()
}
