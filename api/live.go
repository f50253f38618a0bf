package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpgw/ftpgw/auth"
	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// This file keeps the transfers in flight, which GET /transfers shows: a
// GET from when it starts sending a file's bytes, a PUT from when its STOR
// is open, each until its handler returns. Their bytes are counted where
// the transfer metrics count them (ftpcore's OnProgress, per chunk, on the
// splice path too): an atomic add, no lock and no allocation per chunk.
// The rate is taken from samples of each count, once a second, by a timer
// that runs only while some transfer is in flight.

// transfersPath is where the transfers in flight are listed: outside
// every mount (ValidMount refuses it).
const transfersPath = "/transfers"

// liveSampleEvery is how often the byte counts are sampled, and
// liveSamples how many samples the current rate spans: the rate is of the
// last few seconds, and follows a transfer that slows down or speeds up.
const (
	liveSampleEvery = time.Second
	liveSamples     = 5
)

// liveTransfer is one transfer in flight. Its fields are set before it is
// added to a liveSet and not changed after, but for bytes, which the
// transfer's goroutine adds to, and the samples, under the set's lock.
type liveTransfer struct {
	id, method, backend string
	// clean is the path under the backend's mount, which tokens' prefixes
	// are of; path is the URL path, without the query.
	clean, path string
	// user is the user name of Basic passthrough, "" otherwise: who may
	// see the transfer, never shown.
	user    string
	client  netip.Addr
	total   int64 // -1: not known (a chunked upload)
	started time.Time
	bytes   atomic.Int64

	samples [liveSamples]liveSample // a ring; next is the oldest once full
	next    int
	full    bool
}

type liveSample struct {
	at    time.Time
	bytes int64
}

// liveSet is one backend's transfers in flight. It is safe for concurrent
// use.
type liveSet struct {
	mu        sync.Mutex
	transfers map[*liveTransfer]struct{}
	timer     *time.Timer // samples while transfers is not empty
	ticking   bool
	stopped   bool // by Server.Close: no more sampling
}

func newLiveSet() *liveSet { return &liveSet{transfers: map[*liveTransfer]struct{}{}} }

// beginLive adds a transfer of r, of total bytes (-1 if not known) to or from
// clean under the mount, to s's transfers in flight, and returns it: its
// bytes field is the counter to add to. End it with s.live.end when the
// transfer is over.
func (s *Server) beginLive(r *http.Request, clean string, total int64) *liveTransfer {
	t := &liveTransfer{
		method: r.Method, backend: s.name, clean: clean, path: s.signedPath(clean),
		client:  clientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), s.cfg.TrustedProxies),
		total:   total,
		started: time.Now(),
	}
	ranged := false
	if info := requestInfoFrom(r.Context()); info != nil {
		t.id = info.id
		info.transfer = t // observe counts its end
		ranged = info.status == http.StatusPartialContent
	}
	s.metrics.transferStarted(t, ranged)
	if s.cfg.Users != nil {
		t.user, _, _ = r.BasicAuth()
	}
	l := s.live
	l.mu.Lock()
	l.transfers[t] = struct{}{}
	if !l.ticking && !l.stopped {
		l.ticking = true
		if l.timer == nil {
			l.timer = time.AfterFunc(liveSampleEvery, l.sample)
		} else {
			l.timer.Reset(liveSampleEvery)
		}
	}
	l.mu.Unlock()
	return t
}

// direction is "download" for a GET, "upload" for a PUT.
func (t *liveTransfer) direction() string {
	if t.method == http.MethodPut {
		return "upload"
	}
	return "download"
}

// end removes t from the transfers in flight.
func (l *liveSet) end(t *liveTransfer) {
	l.mu.Lock()
	delete(l.transfers, t)
	l.mu.Unlock()
}

// sample records every transfer's count, and runs again in a second
// while there are transfers.
func (l *liveSet) sample() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.transfers) == 0 || l.stopped {
		l.ticking = false
		return
	}
	now := time.Now()
	for t := range l.transfers {
		t.samples[t.next] = liveSample{at: now, bytes: t.bytes.Load()}
		t.next = (t.next + 1) % liveSamples
		t.full = t.full || t.next == 0
	}
	l.timer.Reset(liveSampleEvery)
}

// stop ends the sampling, for Server.Close: no timer outlives the Server.
func (l *liveSet) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
	}
	l.ticking, l.stopped = false, true
}

// transferDoc is the answer of GET /transfers.
type transferDoc struct {
	Transfers []transferEntry `json:"transfers"`
}

// transferEntry is a transfer in flight as GET /transfers shows it. Total,
// Percent and ETASeconds are null when the total is not known (a chunked
// upload); ETASeconds also while nothing has moved for the last few
// seconds.
type transferEntry struct {
	// ID is the request's X-Request-Id.
	ID      string `json:"id"`
	Method  string `json:"method"`
	Backend string `json:"backend"`
	// Path is the URL path, the mount's included; never a query.
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
	Total *int64 `json:"total"`
	// Percent is Bytes of Total, to a tenth.
	Percent *float64 `json:"percent"`
	// BytesPerSecond is the rate over the last liveSamples seconds, or
	// since the start of a younger transfer.
	BytesPerSecond int64 `json:"bytes_per_second"`
	// ETASeconds is the time the rest takes at that rate, whole seconds
	// rounded up.
	ETASeconds *int64    `json:"eta_seconds"`
	Started    time.Time `json:"started"`
	// Client is the client's address (clientAddr: behind trusted
	// proxies, the one they forward for).
	Client string `json:"client"`
}

// snapshot appends to dst the transfers that see lets through, as they
// stand at now.
func (l *liveSet) snapshot(now time.Time, see func(*liveTransfer) bool, dst []transferEntry) []transferEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	for t := range l.transfers {
		if !see(t) {
			continue
		}
		n := t.bytes.Load()
		e := transferEntry{ID: t.id, Method: t.method, Backend: t.backend, Path: t.path, Bytes: n,
			Started: t.started.UTC().Truncate(time.Millisecond)}
		if t.client.IsValid() {
			e.Client = t.client.String()
		}
		from := liveSample{at: t.started}
		if t.full {
			from = t.samples[t.next]
		}
		if d := now.Sub(from.at).Seconds(); d > 0 {
			e.BytesPerSecond = int64(float64(n-from.bytes) / d)
		}
		if t.total >= 0 {
			total := t.total
			e.Total = &total
			pct := 100.0
			if total > 0 {
				pct = math.Floor(float64(n)*1000/float64(total)) / 10
			}
			e.Percent = &pct
			if e.BytesPerSecond > 0 {
				eta := (max(total-n, 0) + e.BytesPerSecond - 1) / e.BytesPerSecond
				e.ETASeconds = &eta
			}
		}
		dst = append(dst, e)
	}
	return dst
}

// listTransfers answers GET and HEAD of /transfers: the transfers in
// flight on every backend, those the request may see (transfersVisible),
// oldest first, as JSON or, for a client that prefers it, as an HTML page
// that reloads itself every two seconds; gzipped for a client that takes
// it. A HEAD gets the Content-Length its GET would have.
func (s *Server) listTransfers(w http.ResponseWriter, r *http.Request) error {
	see, err := s.transfersVisible(r)
	if err != nil {
		return err
	}
	now := time.Now()
	doc := transferDoc{Transfers: []transferEntry{}}
	for i, b := range s.backends {
		if see[i] != nil {
			doc.Transfers = b.live.snapshot(now, see[i], doc.Transfers)
		}
	}
	slices.SortFunc(doc.Transfers, func(a, b transferEntry) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	html := httpsem.PrefersHTML(strings.Join(r.Header.Values("Accept"), ","))
	var buf bytes.Buffer
	h := w.Header()
	if html {
		if err := transfersHTML.Execute(&buf, doc); err != nil {
			return err
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
	} else {
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return err
		}
		h.Set("Content-Type", "application/json")
	}
	// A busy gateway's list is long, and repeats itself: gzipped, as a
	// listing is, for a client that takes it.
	body := buf.Bytes()
	if acceptsGzip(r) {
		body = gzipped(body)
		h.Set("Content-Encoding", "gzip")
	}
	// Of this moment and this requester: not for any cache to keep.
	h.Add("Vary", "Accept, Accept-Encoding")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", listingCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
	return nil
}

// transfersVisible says, for each backend of s, which of its transfers r
// may see: all on a backend open to anyone; with a bearer token the
// backend knows and whose scopes include read, those on paths under the
// token's prefix; in Basic passthrough, the user's own, when the
// credentials are those of a pool open now (a user with a transfer in
// flight has one; the gateway logs in to no FTP server to check them);
// nil for none. A request that can see no backend is refused: 401 without
// credentials or with a token no backend knows, 403 for a token without
// the read scope. Credentials of Basic passthrough that match no open
// pool see an empty list, not a refusal: a user with nothing in flight
// has no pool either, and the gateway cannot tell the two apart without a
// login. Signed URLs do not reach /transfers.
func (s *Server) transfersVisible(r *http.Request) ([]func(*liveTransfer) bool, error) {
	secret, bearer := bearerToken(r.Header.Get("Authorization"))
	user, password, basic := r.BasicAuth()
	basic = basic && user != ""
	see := make([]func(*liveTransfer) bool, len(s.backends))
	var anySeen, tokens, users, knownToken bool
	for i, b := range s.backends {
		switch {
		case b.cfg.Tokens != nil:
			tokens = true
			tok, ok := auth.Token{}, false
			if bearer {
				tok, ok = b.cfg.Tokens.Lookup(secret)
			}
			if !ok {
				continue
			}
			if info := requestInfoFrom(r.Context()); info != nil && !knownToken {
				info.token = tok.Name
			}
			knownToken = true
			if tok.Scopes&auth.Read != 0 {
				see[i] = func(t *liveTransfer) bool { return tok.Allows(auth.Read, t.clean) }
			}
		case b.cfg.Users != nil:
			users = true
			if !basic {
				continue
			}
			if lease := b.cfg.Users.Existing(user, password); lease != nil {
				lease.Release(nil)
				see[i] = func(t *liveTransfer) bool { return t.user == user }
			}
		default:
			see[i] = func(*liveTransfer) bool { return true }
		}
		anySeen = anySeen || see[i] != nil
	}
	switch {
	case anySeen || basic && users:
		return see, nil
	case knownToken:
		return nil, tokenForbidden(auth.Read, false)
	case bearer && tokens:
		return nil, errBadToken
	}
	return nil, transfersUnauthorized(tokens, users)
}

var transfersHTML = template.Must(template.New("transfers").Funcs(template.FuncMap{
	"iec": func(n int64) string {
		if n < 1024 {
			return strconv.FormatInt(n, 10) + " B"
		}
		v, unit := float64(n)/1024, 0
		for v >= 1024 && unit < 4 {
			v, unit = v/1024, unit+1
		}
		return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[unit])
	},
	"total": func(p *int64) int64 { return *p },
	"pct":   func(p *float64) string { return strconv.FormatFloat(*p, 'f', 1, 64) + " %" },
	"eta":   func(p *int64) string { return (time.Duration(*p) * time.Second).String() },
	"when":  func(t time.Time) string { return t.Format(time.RFC3339) },
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2"><title>Transfers in flight</title>
<style>body{font-family:sans-serif}td,th{padding:0 1em;text-align:left}td.n{text-align:right}</style></head>
<body><h1>Transfers in flight</h1>
{{if .Transfers}}<table><thead><tr><th>Method</th><th>Backend</th><th>Path</th><th>Bytes</th><th>Total</th><th>Done</th><th>Speed</th><th>ETA</th><th>Started</th><th>Client</th><th>Request id</th></tr></thead><tbody>
{{range .Transfers}}<tr><td>{{.Method}}</td><td>{{.Backend}}</td><td>{{.Path}}</td><td class="n">{{iec .Bytes}}</td><td class="n">{{if .Total}}{{iec (total .Total)}}{{else}}-{{end}}</td><td class="n">{{if .Percent}}{{pct .Percent}}{{else}}-{{end}}</td><td class="n">{{iec .BytesPerSecond}}/s</td><td class="n">{{if .ETASeconds}}{{eta .ETASeconds}}{{else}}-{{end}}</td><td>{{when .Started}}</td><td>{{.Client}}</td><td>{{.ID}}</td></tr>
{{end}}</tbody></table>{{else}}<p>No transfer is in flight.</p>{{end}}
</body></html>
`))
