package pool

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
)

// The back-off of a waiter whose dial the server refused: the first retry
// after minRefusedBackoff, each later one after twice as long as the one
// before, up to maxRefusedBackoff, each with ±50% jitter so that waiters
// refused together do not come back together.
const (
	minRefusedBackoff = 25 * time.Millisecond
	maxRefusedBackoff = time.Second
)

// budget is the pool's effective maximum: the most sessions it lets be in
// use or dialled at once. It starts at MaxSessions; a server that refuses
// a connection for having too many (refused) lowers it to the sessions
// open at that moment, never below one, and each BudgetQuietPeriod without
// a refusal raises it by one again, up to MaxSessions. A login that
// succeeds with more sessions open than the budget allows proves the
// server takes that many and raises it to them.
//
// Acquire takes a slot (enter) before it asks puddle for a session, and
// the Session gives it back (leave) when it is released or destroyed, so
// puddle dials only when fewer than the budget are in use: the waiters
// beyond it queue here for a session to come free, never to the server.
// Safe for concurrent use.
type budget struct {
	max   int32
	quiet time.Duration
	now   func() time.Time // time.Now; a test's clock

	mu       sync.Mutex
	limit    int32
	held     int32     // slots taken: sessions in use and dials under way
	changed  time.Time // when limit was last lowered or raised by the clock
	wait     chan struct{}
	refusals int64
}

func newBudget(max int32, quiet time.Duration) *budget {
	return &budget{max: max, quiet: quiet, now: time.Now, limit: max}
}

// raise adds one to the limit for each quiet period since it last changed.
// b.mu is held.
func (b *budget) raise(now time.Time) {
	if b.limit >= b.max {
		return
	}
	if n := now.Sub(b.changed) / b.quiet; n > 0 {
		b.limit = int32(min(int64(b.max), int64(b.limit)+int64(n)))
		b.changed = b.changed.Add(n * b.quiet)
		b.wake()
	}
}

// wake lets every waiter look again. b.mu is held.
func (b *budget) wake() {
	if b.wait != nil {
		close(b.wait)
		b.wait = nil
	}
}

// enter takes a slot, waiting until one is free or ctx is done.
func (b *budget) enter(ctx context.Context) error {
	for {
		b.mu.Lock()
		var raiseIn time.Duration
		if b.limit < b.max {
			now := b.now()
			b.raise(now)
			raiseIn = b.changed.Add(b.quiet).Sub(now)
		}
		if b.held < b.limit {
			b.held++
			b.mu.Unlock()
			return nil
		}
		if b.wait == nil {
			b.wait = make(chan struct{})
		}
		wait := b.wait
		b.mu.Unlock()
		if err := pause(ctx, wait, raiseIn); err != nil {
			return err
		}
	}
}

// pause waits until wait is closed, d has passed (d > 0) or ctx is done.
func pause(ctx context.Context, wait <-chan struct{}, d time.Duration) error {
	var raised <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		raised = t.C
	}
	select {
	case <-wait:
	case <-raised:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// leave gives a slot back.
func (b *budget) leave() {
	b.mu.Lock()
	b.held--
	b.wake()
	b.mu.Unlock()
}

// refused lowers the limit to open, the sessions logged in when the server
// refused another, but not below one.
func (b *budget) refused(open int32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refusals++
	b.limit = max(1, min(b.limit, open))
	b.changed = b.now()
}

// accepted raises the limit to open, the sessions logged in now that the
// server took one more.
func (b *budget) accepted(open int32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if open > b.limit {
		b.limit = min(b.max, open)
		b.wake()
	}
}

// full reports whether every slot is taken: as many sessions are in use or
// being dialled as the limit allows now.
func (b *budget) full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.raise(b.now())
	return b.held >= b.limit
}

// stat returns the limit as of now and the count of refusals.
func (b *budget) stat() (limit int32, refusals int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.raise(b.now())
	return b.limit, b.refusals
}

// refusedBackoff returns the jittered wait before retry n (from 0) of a
// dial the server refused.
func refusedBackoff(n int) time.Duration {
	d := maxRefusedBackoff
	if n < 6 {
		d = min(d, minRefusedBackoff<<n)
	}
	return d/2 + rand.N(d+1)
}

// IsRefusal tells whether a failed dial or login is the server refusing a
// connection for having too many: 421 at any step (vsftpd's and
// pure-ftpd's greeting when a per-address or overall limit is reached), or
// a 530 greeting, which asks for no credential and is proftpd's refusal for
// its MaxClients and MaxConnectionsPerHost limits ("530 Sorry, the maximum
// number of connections (2) for your host are already connected.").
func IsRefusal(err error) bool {
	var fe *ftpcore.Error
	if !errors.As(err, &fe) {
		return false
	}
	return fe.Code == ftpcore.StatusNotAvailable || (fe.Code == ftpcore.StatusNotLoggedIn && fe.Cmd == "greeting")
}
