package pool

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// protoMetrics are what a Pool measures of the protocol as it goes, rather
// than reads from Stat at scrape time: how long dials and logins take, and
// the FTP server's replies by command and class. NewCollector exports them
// with the rest.
type protoMetrics struct {
	connect, login prometheus.Histogram
	replies        *prometheus.CounterVec

	// counters caches the replies' counters, so that counting a reply
	// takes a map lookup under a lock, and no allocation.
	mu       sync.Mutex
	counters map[replyKey]prometheus.Counter
}

type replyKey struct {
	verb  string
	class int
}

// dialBuckets suit a dial or login on a LAN (a millisecond) to one across
// continents with TLS (seconds).
var dialBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newProtoMetrics(backend string) *protoMetrics {
	labels := prometheus.Labels{"backend": backend}
	return &protoMetrics{
		connect: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "ftpgw_pool_connect_duration_seconds",
			Help:        "Time to open a session's control connection (TCP connect), of the sessions that logged in.",
			Buckets:     dialBuckets,
			ConstLabels: labels,
		}),
		login: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "ftpgw_pool_login_duration_seconds",
			Help:        "Time from a session's connect to its login's end (greeting, TLS handshake under FTPS, USER/PASS, FEAT), of the sessions that logged in.",
			Buckets:     dialBuckets,
			ConstLabels: labels,
		}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "ftpgw_ftp_replies_total",
			Help:        "Replies of the FTP server, by the command they answer (greeting for the greeting) and their class (1xx to 5xx).",
			ConstLabels: labels,
		}, []string{"command", "class"}),
		counters: map[replyKey]prometheus.Counter{},
	}
}

// reply counts a reply; it is ftpcore.Config.OnReply. The verbs are the
// engine's own (never a client's text), so the label stays bounded.
func (m *protoMetrics) reply(verb string, code int) {
	k := replyKey{verb, code / 100}
	m.mu.Lock()
	c, ok := m.counters[k]
	if !ok {
		c = m.replies.WithLabelValues(verb, strconv.Itoa(k.class)+"xx")
		m.counters[k] = c
	}
	m.mu.Unlock()
	c.Inc()
}

func (m *protoMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.connect.Describe(ch)
	m.login.Describe(ch)
	m.replies.Describe(ch)
}

func (m *protoMetrics) Collect(ch chan<- prometheus.Metric) {
	m.connect.Collect(ch)
	m.login.Collect(ch)
	m.replies.Collect(ch)
}
