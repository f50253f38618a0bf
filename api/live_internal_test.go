package api

import (
	"testing"
	"time"
)

// TestLiveRate: the rate is over the oldest sample of a full ring, or
// since the start before; the ETA is the rest at that rate, rounded up,
// and there is none without a total or while nothing moves.
func TestLiveRate(t *testing.T) {
	now := time.Now()
	ring := func(oldest int64) (r [liveSamples]liveSample) {
		for i := range r {
			r[i] = liveSample{at: now.Add(-time.Duration(liveSamples-i) * time.Second), bytes: oldest}
		}
		return r
	}
	for _, tc := range []struct {
		name         string
		total, bytes int64
		samples      [liveSamples]liveSample
		full         bool
		rate         int64
		pct          float64 // -1: null
		eta          int64   // -1: null
	}{
		{name: "young", total: 1000, bytes: 500, rate: 50, pct: 50, eta: 10},
		{name: "ring", total: 1000, bytes: 500, samples: ring(400), full: true, rate: 20, pct: 50, eta: 25},
		{name: "round up", total: 1000, bytes: 333, rate: 33, pct: 33.3, eta: 21},
		{name: "stalled", total: 1000, bytes: 500, samples: ring(500), full: true, rate: 0, pct: 50, eta: -1},
		{name: "chunked", total: -1, bytes: 500, rate: 50, pct: -1, eta: -1},
		{name: "empty", total: 0, bytes: 0, rate: 0, pct: 100, eta: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLiveSet()
			lt := &liveTransfer{id: "x", total: tc.total, started: now.Add(-10 * time.Second), samples: tc.samples, full: tc.full}
			lt.bytes.Store(tc.bytes)
			l.transfers[lt] = struct{}{}
			got := l.snapshot(now, func(*liveTransfer) bool { return true }, nil)
			if len(got) != 1 {
				t.Fatalf("%d entries", len(got))
			}
			e := got[0]
			if e.BytesPerSecond != tc.rate {
				t.Errorf("rate %d, want %d", e.BytesPerSecond, tc.rate)
			}
			if (e.Percent == nil) != (tc.pct < 0) || e.Percent != nil && *e.Percent != tc.pct {
				t.Errorf("percent %v, want %v", e.Percent, tc.pct)
			}
			if (e.ETASeconds == nil) != (tc.eta < 0) || e.ETASeconds != nil && *e.ETASeconds != tc.eta {
				t.Errorf("eta %v, want %v", e.ETASeconds, tc.eta)
			}
			if (e.Total == nil) != (tc.total < 0) {
				t.Errorf("total %v, want %d", e.Total, tc.total)
			}
		})
	}
}
