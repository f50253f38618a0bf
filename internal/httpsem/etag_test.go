package httpsem

import (
	"testing"
	"time"
)

func TestETag(t *testing.T) {
	mod := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	tests := []struct {
		name string
		size int64
		mod  time.Time
		want string
	}{
		{"no mod time", 10, time.Time{}, ""},
		{"empty file", 0, time.Unix(0, 1), `"0-1"`},
		{"typical", 1234, mod, `"4d2-17ccd493bd5b0715"`},
		{"zone does not matter", 1234, mod.In(time.FixedZone("X", 3600)), `"4d2-17ccd493bd5b0715"`},
		{"epoch", 255, time.Unix(0, 0), `"ff-0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ETag(tt.size, tt.mod)
			if got != tt.want {
				t.Errorf("ETag(%d, %v) = %q, want %q", tt.size, tt.mod, got, tt.want)
			}
			if got == "" {
				return
			}
			// The tag must be one the precondition code accepts as strong.
			tag, ok := parseETag(got)
			if !ok || tag.weak {
				t.Errorf("ETag(%d, %v) = %q is not a valid strong entity-tag", tt.size, tt.mod, got)
			}
		})
	}
}

func TestETagDistinguishes(t *testing.T) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		size    int64
		mod     time.Time
		size2   int64
		mod2    time.Time
		differs bool
	}{
		{"same", 10, base, 10, base, false},
		{"size", 10, base, 11, base, true},
		{"second", 10, base, 10, base.Add(time.Second), true},
		{"sub-second", 10, base, 10, base.Add(time.Millisecond), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := ETag(tt.size, tt.mod), ETag(tt.size2, tt.mod2)
			if (a != b) != tt.differs {
				t.Errorf("ETag %q vs %q: differs = %v, want %v", a, b, a != b, tt.differs)
			}
		})
	}
}
