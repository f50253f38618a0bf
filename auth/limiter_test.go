package auth

import (
	"testing"
	"time"
)

// fakeClock is a Limiter's clock that a test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestLimiter(max, keys int) (*Limiter, *fakeClock) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLimiter(max, time.Minute, keys)
	l.now = clock.now
	return l, clock
}

func TestLimiterWindow(t *testing.T) {
	l, clock := newTestLimiter(2, 0)
	for i := range 2 {
		if _, ok := l.Take("alice"); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	clock.t = clock.t.Add(20 * time.Second)
	retry, ok := l.Take("alice")
	if ok || retry != 40*time.Second {
		t.Fatalf("third attempt: ok %v, retry %v; want refused for 40s", ok, retry)
	}
	if _, ok := l.Take("bob"); !ok {
		t.Error("another key was refused")
	}
	clock.t = clock.t.Add(40 * time.Second)
	if _, ok := l.Take("alice"); !ok {
		t.Error("refused after the window ended")
	}
}

func TestLimiterSucceeded(t *testing.T) {
	l, _ := newTestLimiter(1, 0)
	l.Take("alice")
	l.Succeeded("alice")
	if _, ok := l.Take("alice"); !ok {
		t.Error("an attempt taken back still counts")
	}
	if _, ok := l.Take("alice"); ok {
		t.Error("a failure after a success is not counted")
	}
	// A success takes back one attempt of its own key only.
	l.Take("bob")
	l.Succeeded("carol")
	if _, ok := l.Take("bob"); ok {
		t.Error("another key's success reset bob's count")
	}
}

func TestLimiterBounded(t *testing.T) {
	l, clock := newTestLimiter(1, 2)
	l.Take("a")
	clock.t = clock.t.Add(time.Second)
	l.Take("b")
	clock.t = clock.t.Add(time.Second)
	l.Take("c") // forgets a, the oldest
	if len(l.counts) != 2 {
		t.Fatalf("%d keys tracked, want 2", len(l.counts))
	}
	if _, ok := l.Take("b"); ok {
		t.Error("b was forgotten instead of a")
	}
	if _, ok := l.Take("a"); !ok {
		t.Error("a is still counted")
	}
	// Keys whose window is over go first, all of them.
	clock.t = clock.t.Add(2 * time.Minute)
	l.Take("d")
	if len(l.counts) != 1 {
		t.Errorf("%d keys tracked after their windows ended, want 1", len(l.counts))
	}
}
