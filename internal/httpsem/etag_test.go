package httpsem

import (
	"hash/fnv"
	"math"
	"strconv"
	"testing"
	"time"
)

func fnv64a(s string) string {
	h := fnv.New64a()
	h.Write([]byte(s))
	return strconv.FormatUint(h.Sum64(), 16)
}

func TestETag(t *testing.T) {
	mod := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	tests := []struct {
		name   string
		size   int64
		mod    time.Time
		unique string
		want   string
	}{
		{"no mod time", 10, time.Time{}, "", ""},
		{"no mod time, unique", 10, time.Time{}, "801U2", ""},
		{"empty file", 0, time.Unix(0, 1), "", `"0-1"`},
		{"typical", 1234, mod, "", `"4d2-17ccd493bd5b0715"`},
		{"zone does not matter", 1234, mod.In(time.FixedZone("X", 3600)), "", `"4d2-17ccd493bd5b0715"`},
		{"epoch", 255, time.Unix(0, 0), "", `"ff-0"`},
		// FNV-1a 64 of "a" is af63dc4c8601ec8c.
		{"unique", 1, time.Unix(0, 0), "a", `"1-0-af63dc4c8601ec8c"`},
		{"unique with quotes and spaces", 1, time.Unix(0, 0), `q"x y`, `"1-0-` + fnv64a(`q"x y`) + `"`},
		{"year 0", 1000, time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), "", `"3e8--e79747c00.0"`},
		{"year 9999", 1000, time.Date(9999, 12, 31, 23, 59, 59, 5, time.UTC), "", `"3e8-3afff4417f.5"`},
		{"last second of int64 nanoseconds", 1, time.Unix(0, math.MaxInt64), "", `"1-225c17d04.32f2d7ff"`},
		{"second before it", 1, time.Unix(0, math.MaxInt64).Add(-time.Second), "", `"1-7fffffffc46535ff"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ETag(tt.size, tt.mod, tt.unique)
			if got != tt.want {
				t.Errorf("ETag(%d, %v, %q) = %q, want %q", tt.size, tt.mod, tt.unique, got, tt.want)
			}
			if got == "" {
				return
			}
			// The tag must be one the precondition code accepts as strong.
			tag, ok := parseETag(got)
			if !ok || tag.weak {
				t.Errorf("ETag(%d, %v, %q) = %q is not a valid strong entity-tag", tt.size, tt.mod, tt.unique, got)
			}
		})
	}
}

func TestETagDistinguishes(t *testing.T) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	year0 := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	year9999 := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	tests := []struct {
		name    string
		size    int64
		mod     time.Time
		unique  string
		size2   int64
		mod2    time.Time
		unique2 string
		differs bool
	}{
		{"same", 10, base, "", 10, base, "", false},
		{"size", 10, base, "", 11, base, "", true},
		{"second", 10, base, "", 10, base.Add(time.Second), "", true},
		{"sub-second", 10, base, "", 10, base.Add(time.Millisecond), "", true},
		{"same unique", 10, base, "u1", 10, base, "u1", false},
		{"unique", 10, base, "u1", 10, base, "u2", true},
		// 2^64 ns apart, where Unix nanoseconds no longer fit an int64:
		// the same wrapped number.
		{"2^64 ns apart in year 9999", 10, year9999, "", 10, year9999.Add(-math.MaxInt64).Add(-math.MaxInt64).Add(-2), "", true},
		{"2^64 ns apart in year 0", 10, year0, "", 10, year0.Add(math.MaxInt64).Add(math.MaxInt64).Add(2), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := ETag(tt.size, tt.mod, tt.unique), ETag(tt.size2, tt.mod2, tt.unique2)
			if (a != b) != tt.differs {
				t.Errorf("ETag %q vs %q: differs = %v, want %v", a, b, a != b, tt.differs)
			}
		})
	}
}
