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

	transfersStarted  *prometheus.CounterVec
	transfersFinished *prometheus.CounterVec
	transferDuration  *prometheus.HistogramVec
	downloads         *prometheus.CounterVec

	backendReady *prometheus.GaugeVec
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
		transfersStarted: counterVec("ftpgw_transfers_started_total",
			"Transfers begun (a GET sending a file's bytes, a PUT whose STOR is open), by backend and direction.",
			"backend", "direction"),
		transfersFinished: counterVec("ftpgw_transfers_finished_total",
			"Transfers ended, by backend, direction and result: ok, client_gone (the client left, or was too slow), ftp_error (the FTP server failed or refused), timeout (it did not answer in time), error (anything else).",
			"backend", "direction", "result"),
		transferDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ftpgw_transfer_duration_seconds",
			Help:    "Time from a transfer's first byte to its end, by backend and direction.",
			Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400},
		}, []string{"backend", "direction"}),
		downloads: counterVec("ftpgw_downloads_total",
			"Downloads begun, by backend and kind: full (the whole file) or range (a 206 of part of it).",
			"backend", "kind"),
		backendReady: gaugeVec("ftpgw_backend_ready",
			"Whether the backend could serve at the last /readyz: 1 if a session could be had (or all were busy serving a server that was fine), 0 if not; absent before the first /readyz.",
			"backend"),
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
		register(reg, &m.transfersStarted)
		register(reg, &m.transfersFinished)
		register(reg, &m.transferDuration)
		register(reg, &m.downloads)
		register(reg, &m.backendReady)
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

// transferStarted counts t's start; ranged says a download is of part of
// its file.
func (m *metrics) transferStarted(t *liveTransfer, ranged bool) {
	m.transfersStarted.WithLabelValues(t.backend, t.direction()).Inc()
	if t.direction() == "download" {
		kind := "full"
		if ranged {
			kind = "range"
		}
		m.downloads.WithLabelValues(t.backend, kind).Inc()
	}
}

// transferFinished counts t's end, with its result (transferResult).
func (m *metrics) transferFinished(t *liveTransfer, result string) {
	m.transfersFinished.WithLabelValues(t.backend, t.direction(), result).Inc()
	m.transferDuration.WithLabelValues(t.backend, t.direction()).Observe(time.Since(t.started).Seconds())
}

func (m *metrics) ftpError(backend string, code int) {
	m.ftpErrors.WithLabelValues(backend, strconv.Itoa(code/100)+"xx").Inc()
}

// loginRefused counts a request of Basic passthrough refused for its
// credentials; reason is one of a fixed few, never the user.
func (m *metrics) loginRefused(backend, reason string) {
	m.loginsRefused.WithLabelValues(backend, reason).Inc()
}
