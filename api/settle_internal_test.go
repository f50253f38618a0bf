package api

import (
	"testing"
	"time"
)

func TestServerClock(t *testing.T) {
	const skew = time.Hour
	t.Run("unmeasured: the gateway's clock less the skew", func(t *testing.T) {
		c := serverClock{maxSkew: skew}
		now := time.Now()
		if lower, measured := c.now(); measured || lower.After(now.Add(-skew+time.Second)) || lower.Before(now.Add(-skew-time.Second)) {
			t.Errorf("now() = %v, %v; want about %v, false", lower, measured, now.Add(-skew))
		}
		if c.settled(now.Add(-skew + time.Minute)) {
			t.Error("a file modified within the skew has settled")
		}
		if !c.settled(now.Add(-skew - time.Minute)) {
			t.Error("a file modified before the skew has not settled")
		}
		if c.settled(time.Time{}) {
			t.Error("an unknown date has settled")
		}
	})
	t.Run("measured: a server behind the gateway", func(t *testing.T) {
		c := serverClock{maxSkew: skew}
		seen := time.Now()
		server := seen.Add(-10 * time.Minute).Truncate(time.Second)
		c.observe(server, seen)
		if _, measured := c.now(); !measured {
			t.Fatal("not measured after a sample")
		}
		// A file the server wrote just now, by its own clock.
		if c.settled(server) {
			t.Error("a file of the server's current second has settled")
		}
		if !c.settled(server.Add(-3 * time.Second)) {
			t.Error("a file three seconds older than the server's clock has not settled")
		}
		// By the gateway's clock it is ten minutes old: irrelevant.
		if c.settled(server.Add(-settleMargin + time.Second)) {
			t.Error("settled within the margin")
		}
	})
	t.Run("a server ahead of the gateway", func(t *testing.T) {
		c := serverClock{maxSkew: skew}
		seen := time.Now()
		server := seen.Add(30 * time.Minute).Truncate(time.Second)
		c.observe(server, seen)
		if c.settled(server.Add(-time.Second)) {
			t.Error("a file a second older than the server's clock has settled")
		}
		if !c.settled(server.Add(-5 * time.Second)) {
			t.Error("a file five seconds older than the server's clock has not settled")
		}
	})
	t.Run("samples", func(t *testing.T) {
		c := serverClock{maxSkew: skew}
		t0 := time.Now()
		base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		c.observe(base, t0)
		// A lower sample within the step-back allowance changes nothing.
		c.observe(base.Add(-time.Second), t0)
		if lower, _ := c.now(); lower.Before(base) {
			t.Errorf("a weaker sample lowered the bound to %v", lower)
		}
		// A higher one raises it.
		c.observe(base.Add(time.Minute), t0)
		if lower, _ := c.now(); lower.Before(base.Add(time.Minute)) {
			t.Errorf("a stronger sample left the bound at %v", lower)
		}
		// One far below: the server's clock was set back; believe it.
		c.observe(base.Add(-time.Hour), t0)
		if lower, _ := c.now(); lower.After(base.Add(-time.Hour + time.Minute)) {
			t.Errorf("after a step back the bound is %v", lower)
		}
		// A zero date is no sample.
		c.observe(time.Time{}, t0)
		if lower, _ := c.now(); lower.Year() != 2025 && lower.Year() != 2026 {
			t.Errorf("a zero date moved the bound to %v", lower)
		}
	})
}

func TestLockPath(t *testing.T) {
	a, b := lockPath("/srv/d/Report.txt"), lockPath("/srv/d/report.TXT")
	if a != b {
		t.Errorf("case spellings get two locks: %q, %q", a, b)
	}
	if !isTempName(a[len("/srv/d/"):]) || a[:len("/srv/d/")] != "/srv/d/" {
		t.Errorf("lock %q is not a reserved name beside the target", a)
	}
	if lockPath("/srv/d/a") == lockPath("/srv/d/b") || lockPath("/srv/d/a") == lockPath("/srv/e/a") {
		t.Error("two names share a lock")
	}
}
