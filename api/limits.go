package api

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
)

// This file holds the caps on transfers: Config.MaxTransfers for the
// backend, Config.MaxClientTransfers for each client, and how a client is
// told from another (clientAddr).
//
// A transfer is a GET that sends a file's bytes, or a PUT. The rest (HEAD,
// a listing, DELETE, a GET answered 304, 412, 416 or with an empty body)
// is quick, and passes both caps: a HEAD is never stuck behind the long
// downloads that fill them. A GET learns that it is a transfer only once
// it has looked at the file, with a session; when every place is taken it
// gives the session back while it waits, so that the waiting transfers do
// not hold the sessions the quick requests need.

// transfers counts one backend's transfers under way and applies its caps.
// It is safe for concurrent use.
type transfers struct {
	// places is MaxTransfers' semaphore: it grants them in the order they
	// were asked for (and TryAcquire takes none while anyone waits). Nil
	// when there is no such cap.
	places *semaphore.Weighted
	// wait is how long a transfer waits for a place: the pool's
	// AcquireTimeout, the same as a request waits for a session.
	wait time.Duration
	// perClient is MaxClientTransfers; 0 for none.
	perClient int
	trusted   []netip.Prefix

	mu sync.Mutex
	// clients counts the transfers of each client that has one, waiting
	// ones included; a client is removed when its count is back to zero,
	// so the map is never larger than the transfers under way.
	clients map[netip.Addr]int

	inFlight, waiting             prometheus.Gauge
	refusedBackend, refusedClient prometheus.Counter
}

// Which cap refused a transfer, as the refused metric's label says.
const (
	capBackend = "backend"
	capClient  = "client"
)

func newTransfers(cfg Config, name string, wait time.Duration, m *metrics) *transfers {
	t := &transfers{
		wait:           wait,
		perClient:      max(cfg.MaxClientTransfers, 0),
		trusted:        cfg.TrustedProxies,
		clients:        map[netip.Addr]int{},
		inFlight:       m.transfersInFlight.WithLabelValues(name),
		waiting:        m.transfersWaiting.WithLabelValues(name),
		refusedBackend: m.transfersRefused.WithLabelValues(name, capBackend),
		refusedClient:  m.transfersRefused.WithLabelValues(name, capClient),
	}
	if cfg.MaxTransfers > 0 {
		t.places = semaphore.NewWeighted(int64(cfg.MaxTransfers))
	}
	return t
}

// retryAfter is the Retry-After of a request turned away because the
// gateway is busy (a cap, or every session in use): the time it waited
// for a place, in whole seconds, at least one. A retry sooner would
// likely meet the same queue.
func (t *transfers) retryAfter() string {
	return strconv.FormatInt(max(int64((t.wait+time.Second-1)/time.Second), 1), 10)
}

// transferSlot is a request's hold on the caps: a count of its client's,
// and a place of the backend's. The zero value holds neither. Not safe
// for concurrent use; release it once the request ends.
type transferSlot struct {
	client  netip.Addr
	counted bool // holds one of clients[client]
	placed  bool // holds a place of the backend's
}

// admit makes r a transfer: it counts it for its client (the client's
// cap refuses it at once, with 429), then takes a place of the backend.
// With none free, admit waits for one if wait is set, up to t.wait, else
// it returns errQueued. What it took stays in slot, even on failure, for
// release.
func (t *transfers) admit(r *http.Request, slot *transferSlot, wait bool) error {
	if !t.count(r, slot) {
		t.refusedClient.Inc()
		return clientTransfersFull(t.perClient)
	}
	if t.tryPlace(slot) {
		return nil
	}
	if !wait {
		return errQueued
	}
	return t.place(r.Context(), slot)
}

// admitNow is admit that neither waits nor refuses: it reports whether r
// is admitted at once, for a GET that starts its transfer before it knows
// it is one (ftpcore.LocateRetr), and counts no refusal; admit still
// decides a request admitNow did not admit.
func (t *transfers) admitNow(r *http.Request, slot *transferSlot) bool {
	return t.count(r, slot) && t.tryPlace(slot)
}

// count counts r for its client in slot, unless the client's cap is
// reached.
func (t *transfers) count(r *http.Request, slot *transferSlot) bool {
	if t.perClient <= 0 || slot.counted {
		return true
	}
	slot.client = clientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), t.trusted)
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.clients[slot.client]
	if n >= t.perClient {
		return false
	}
	t.clients[slot.client] = n + 1
	slot.counted = true
	return true
}

// tryPlace takes a place of the backend for slot if one is free now.
func (t *transfers) tryPlace(slot *transferSlot) bool {
	if slot.placed {
		return true
	}
	if t.places == nil || t.places.TryAcquire(1) {
		slot.placed = true
		t.inFlight.Inc()
		return true
	}
	return false
}

// place waits for a place of the backend, up to t.wait, in the order of
// asking.
func (t *transfers) place(ctx context.Context, slot *transferSlot) error {
	if slot.placed {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, t.wait)
	defer cancel()
	t.waiting.Inc()
	err := t.places.Acquire(wctx, 1)
	t.waiting.Dec()
	switch {
	case err == nil:
		slot.placed = true
		t.inFlight.Inc()
		return nil
	case ctx.Err() != nil:
		return ctx.Err() // the client went away
	}
	t.refusedBackend.Inc()
	return transfersFull(err)
}

// release gives back what slot holds.
func (t *transfers) release(slot *transferSlot) {
	if slot.placed {
		slot.placed = false
		t.inFlight.Dec()
		if t.places != nil {
			t.places.Release(1)
		}
	}
	if slot.counted {
		slot.counted = false
		t.mu.Lock()
		if n := t.clients[slot.client] - 1; n > 0 {
			t.clients[slot.client] = n
		} else {
			delete(t.clients, slot.client)
		}
		t.mu.Unlock()
	}
}

// clientCount is the number of clients with a transfer counted, for tests.
func (t *transfers) clientCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.clients)
}

// clientAddr is the address of the client a request comes from, given its
// connection's peer (remote, as http.Request.RemoteAddr) and its
// X-Forwarded-For fields. A peer outside trusted is the client, whatever
// the header says. A peer in trusted is a proxy of ours, and each such
// proxy appends the address it had the request from: the client is the
// right-most address of the list that is not trusted. Everything left of
// it was written by the client, or by proxies we know nothing of, and may
// be made up. An entry that is not an address (empty, "unknown", garbage)
// ends the walk at the last address read, a trusted proxy: what lies left
// of it cannot be told, and taking the proxy for the client errs towards
// counting more requests as one client, never fewer. A list of trusted
// addresses only ends at its left-most. The zero Addr is a remote that is
// not an address (not a TCP peer).
//
// An address may carry a port ("192.0.2.1:5000", "[2001:db8::1]:5000");
// IPv6 ones may be bracketed without a port. IPv4 mapped into IPv6
// (::ffff:192.0.2.1) is taken as the IPv4 address, and a zone is dropped,
// so that one client has one key.
func clientAddr(remote string, forwarded []string, trusted []netip.Prefix) netip.Addr {
	client := parseHostAddr(remote)
	if !isTrusted(client, trusted) {
		return client
	}
	for i := len(forwarded) - 1; i >= 0; i-- {
		rest := forwarded[i]
		for more := true; more; {
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				rest, entry = rest[:j], rest[j+1:]
			} else {
				entry, more = rest, false
			}
			a := parseHostAddr(strings.TrimSpace(entry))
			if !a.IsValid() {
				return client
			}
			client = a
			if !isTrusted(a, trusted) {
				return a
			}
		}
	}
	return client
}

// isTrusted reports whether a is in one of the prefixes.
func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHostAddr reads an IP address with or without a port, an IPv6 one
// with or without brackets; the zero Addr if s is none of these.
func parseHostAddr(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		if ap, perr := netip.ParseAddrPort(s); perr == nil {
			a, err = ap.Addr(), nil
		} else if inner, ok := strings.CutPrefix(s, "["); ok && strings.HasSuffix(inner, "]") {
			a, err = netip.ParseAddr(inner[:len(inner)-1])
			if err == nil && !a.Is6() {
				err = perr // "[192.0.2.1]" is no way to write an address
			}
		}
	}
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// openUploads counts the resumable uploads each client created through
// this Server that are still open, and applies Config.MaxClientUploads:
// each leaves a file on the FTP server until it is completed, cancelled
// or expires, and a client creating them in a loop would otherwise fill
// the server's directories with them. The count is this replica's only:
// an upload completed or cancelled through another replica counts here
// until it expires. Safe for concurrent use; a nil *openUploads counts
// nothing.
type openUploads struct {
	max int
	// maxAge is TempMaxAge: an upload not appended to for as long has
	// expired (the sweep deletes it); 0 for never.
	maxAge  time.Duration
	trusted []netip.Prefix

	mu      sync.Mutex
	byNonce map[string]*openUpload
	clients map[netip.Addr][]*openUpload
	// pruned is when every client's expired uploads were last dropped.
	pruned time.Time
}

// openUpload is an upload counted for its client.
type openUpload struct {
	nonce   string
	client  netip.Addr
	touched time.Time // created or last appended to through this replica
}

func newOpenUploads(cfg Config) *openUploads {
	if cfg.MaxClientUploads <= 0 {
		return nil
	}
	return &openUploads{max: cfg.MaxClientUploads, maxAge: max(cfg.TempMaxAge, 0), trusted: cfg.TrustedProxies,
		byNonce: map[string]*openUpload{}, clients: map[netip.Addr][]*openUpload{}}
}

// add counts the upload nonce, which r is about to create, for r's
// client; a client with max open uploads already gets 429, with
// Retry-After when the first of them expires.
func (o *openUploads) add(r *http.Request, nonce string) error {
	if o == nil {
		return nil
	}
	client := clientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), o.trusted)
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.maxAge > 0 && now.Sub(o.pruned) > time.Minute {
		o.pruned = now
		for c := range o.clients {
			o.expire(c, now)
		}
	}
	if ups := o.expire(client, now); len(ups) >= o.max {
		retry := time.Minute
		if o.maxAge > 0 {
			retry = ups[0].touched.Add(o.maxAge).Sub(now)
			for _, u := range ups[1:] {
				retry = min(retry, u.touched.Add(o.maxAge).Sub(now))
			}
		}
		return clientUploadsFull(o.max, retry)
	}
	u := &openUpload{nonce: nonce, client: client, touched: now}
	o.byNonce[nonce] = u
	o.clients[client] = append(o.clients[client], u)
	return nil
}

// expire drops client's uploads that have expired, and returns the rest.
// Under o.mu.
func (o *openUploads) expire(client netip.Addr, now time.Time) []*openUpload {
	ups := o.clients[client]
	if o.maxAge <= 0 {
		return ups
	}
	kept := ups[:0]
	for _, u := range ups {
		if now.Sub(u.touched) > o.maxAge {
			delete(o.byNonce, u.nonce)
		} else {
			kept = append(kept, u)
		}
	}
	clear(ups[len(kept):])
	if len(kept) == 0 {
		delete(o.clients, client)
	} else {
		o.clients[client] = kept
	}
	return kept
}

// touch notes that the upload nonce was appended to: its expiry moves.
func (o *openUploads) touch(nonce string) {
	if o == nil {
		return
	}
	o.mu.Lock()
	if u := o.byNonce[nonce]; u != nil {
		u.touched = time.Now()
	}
	o.mu.Unlock()
}

// remove uncounts the upload nonce: it was completed or cancelled.
func (o *openUploads) remove(nonce string) {
	if o == nil {
		return
	}
	o.mu.Lock()
	if u := o.byNonce[nonce]; u != nil {
		o.dropLocked(u)
	}
	o.mu.Unlock()
}

// dropLocked uncounts u. Under o.mu.
func (o *openUploads) dropLocked(u *openUpload) {
	delete(o.byNonce, u.nonce)
	ups := slices.DeleteFunc(o.clients[u.client], func(v *openUpload) bool { return v == u })
	if len(ups) == 0 {
		delete(o.clients, u.client)
	} else {
		o.clients[u.client] = ups
	}
}
