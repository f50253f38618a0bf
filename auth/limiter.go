package auth

import (
	"sync"
	"time"
)

// Defaults of the failed-login limits: Basic passthrough lets an HTTP
// client try FTP passwords, and these keep it from trying many.
const (
	DefaultLoginFailuresPerUser    = 5
	DefaultLoginFailuresPerAddress = 20
	DefaultLoginFailureWindow      = time.Minute
	// DefaultLimiterKeys bounds the keys a Limiter tracks, so that a
	// client inventing user names cannot grow it without end.
	DefaultLimiterKeys = 10000
)

// Limiter counts attempts by key (a user name, a client address) in a
// fixed window that starts at a key's first attempt, and refuses a key
// that has had Max of them in its window until the window ends. An
// attempt is counted when it is taken, before its outcome is known, so
// that attempts made at once cannot slip past the count; Succeeded takes
// back one that succeeded. It tracks at most Keys keys: past that, the
// key whose window began first is forgotten. Safe for concurrent use.
type Limiter struct {
	max    int
	window time.Duration
	keys   int
	now    func() time.Time

	mu     sync.Mutex
	counts map[string]*attempts
}

// attempts is a key's count and when its window began.
type attempts struct {
	n     int
	start time.Time
}

// NewLimiter returns a Limiter of max attempts per key in window,
// tracking up to keys keys (DefaultLimiterKeys when zero or less).
func NewLimiter(max int, window time.Duration, keys int) *Limiter {
	if keys <= 0 {
		keys = DefaultLimiterKeys
	}
	return &Limiter{max: max, window: window, keys: keys, now: time.Now, counts: make(map[string]*attempts)}
}

// Take counts an attempt of key, unless key has had Max attempts in its
// window: then ok is false and retry is how long until the window ends.
func (l *Limiter) Take(key string) (retry time.Duration, ok bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.counts[key]
	if a != nil && now.Sub(a.start) >= l.window {
		a = nil
	}
	if a == nil {
		if _, tracked := l.counts[key]; !tracked && len(l.counts) >= l.keys {
			l.forgetOldest(now)
		}
		a = &attempts{start: now}
		l.counts[key] = a
	}
	if a.n >= l.max {
		return a.start.Add(l.window).Sub(now), false
	}
	a.n++
	return 0, true
}

// Succeeded takes back an attempt of key that Take counted: it was no
// failure.
func (l *Limiter) Succeeded(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.counts[key]; a != nil && a.n > 0 {
		a.n--
	}
}

// forgetOldest drops the keys whose window is over, or if none is, the
// one whose window began first. l.mu is held.
func (l *Limiter) forgetOldest(now time.Time) {
	var oldest string
	var first time.Time
	for k, a := range l.counts {
		if now.Sub(a.start) >= l.window {
			delete(l.counts, k)
			continue
		}
		if first.IsZero() || a.start.Before(first) {
			oldest, first = k, a.start
		}
	}
	if len(l.counts) >= l.keys {
		delete(l.counts, oldest)
	}
}
