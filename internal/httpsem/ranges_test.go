package httpsem

import (
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	const size = 1000
	tests := []struct {
		name   string
		header string
		size   int64
		want   ByteRange
		out    RangeOutcome
	}{
		// Absent or ignorable.
		{"empty", "", size, ByteRange{}, RangeNone},
		{"no equals", "bytes", size, ByteRange{}, RangeNone},
		{"no equals with range", "bytes 0-1", size, ByteRange{}, RangeNone},
		{"other unit", "items=0-1", size, ByteRange{}, RangeNone},
		{"empty unit", "=0-1", size, ByteRange{}, RangeNone},
		{"empty set", "bytes=", size, ByteRange{}, RangeNone},
		{"only commas", "bytes=, ,,", size, ByteRange{}, RangeNone},
		{"lone dash", "bytes=-", size, ByteRange{}, RangeNone},
		{"first greater than last", "bytes=1-0", size, ByteRange{}, RangeNone},
		{"non digits", "bytes=a-b", size, ByteRange{}, RangeNone},
		{"plus sign", "bytes=+1-2", size, ByteRange{}, RangeNone},
		{"plus sign last", "bytes=1-+2", size, ByteRange{}, RangeNone},
		{"negative suffix", "bytes=--5", size, ByteRange{}, RangeNone},
		{"hex", "bytes=0x10-0x20", size, ByteRange{}, RangeNone},
		{"two dashes", "bytes=1-2-3", size, ByteRange{}, RangeNone},
		{"space inside range", "bytes=0 - 1", size, ByteRange{}, RangeNone},
		{"decimal", "bytes=1.5-2", size, ByteRange{}, RangeNone},
		{"overflow first", "bytes=9223372036854775808-", size, ByteRange{}, RangeNone},
		{"overflow last", "bytes=0-99999999999999999999", size, ByteRange{}, RangeNone},
		{"overflow suffix", "bytes=-9223372036854775808", size, ByteRange{}, RangeNone},
		{"unicode digit", "bytes=٠-1", size, ByteRange{}, RangeNone},
		{"two equals", "bytes==0-1", size, ByteRange{}, RangeNone},
		{"CR in value", "bytes=0-1\r", size, ByteRange{}, RangeNone},
		{"too long", "bytes=0-1" + strings.Repeat(" ", maxRangeHeader), size, ByteRange{}, RangeNone},
		{"negative size", "bytes=0-1", -1, ByteRange{}, RangeNone},

		// Single satisfiable ranges.
		{"first bytes", "bytes=0-499", size, ByteRange{0, 499}, RangeSingle},
		{"one byte", "bytes=0-0", size, ByteRange{0, 0}, RangeSingle},
		{"last byte", "bytes=999-999", size, ByteRange{999, 999}, RangeSingle},
		{"clamped last", "bytes=500-5000", size, ByteRange{500, 999}, RangeSingle},
		{"max int64 last", "bytes=0-9223372036854775807", size, ByteRange{0, 999}, RangeSingle},
		{"open ended", "bytes=900-", size, ByteRange{900, 999}, RangeSingle},
		{"open ended from zero", "bytes=0-", size, ByteRange{0, 999}, RangeSingle},
		{"suffix", "bytes=-100", size, ByteRange{900, 999}, RangeSingle},
		{"suffix whole", "bytes=-1000", size, ByteRange{0, 999}, RangeSingle},
		{"suffix larger", "bytes=-5000", size, ByteRange{0, 999}, RangeSingle},
		{"suffix max int64", "bytes=-9223372036854775807", size, ByteRange{0, 999}, RangeSingle},
		{"unit case", "ByTeS=1-2", size, ByteRange{1, 2}, RangeSingle},
		{"leading zeros", "bytes=007-010", size, ByteRange{7, 10}, RangeSingle},
		{"OWS everywhere", " bytes \t= \t 1-2 \t", size, ByteRange{1, 2}, RangeSingle},
		{"empty elements", "bytes=,, 1-2 ,", size, ByteRange{1, 2}, RangeSingle},
		{"size one", "bytes=0-", 1, ByteRange{0, 0}, RangeSingle},

		// Single unsatisfiable ranges.
		{"first at size", "bytes=1000-", size, ByteRange{}, RangeUnsatisfiable},
		{"first past size", "bytes=1000-2000", size, ByteRange{}, RangeUnsatisfiable},
		{"suffix zero", "bytes=-0", size, ByteRange{}, RangeUnsatisfiable},

		// An empty representation is served whole, as net/http serves it:
		// a 416 would fail clients that always send a Range, and no 206
		// can carry zero bytes.
		{"empty representation", "bytes=0-0", 0, ByteRange{}, RangeNone},
		{"empty representation open", "bytes=0-", 0, ByteRange{}, RangeNone},
		{"empty representation past the end", "bytes=5-", 0, ByteRange{}, RangeNone},
		{"empty representation suffix", "bytes=-1", 0, ByteRange{}, RangeNone},
		{"empty representation longer suffix", "bytes=-5", 0, ByteRange{}, RangeNone},
		{"empty representation suffix zero", "bytes=-0", 0, ByteRange{}, RangeNone},
		{"empty representation several ranges", "bytes=0-1,-5", 0, ByteRange{}, RangeNone},

		// Several ranges.
		{"two satisfiable", "bytes=0-1,2-3", size, ByteRange{}, RangeNone},
		{"with empty element", "bytes=0-1,,2-3", size, ByteRange{}, RangeNone},
		{"one satisfiable", "bytes=5000-,0-1", size, ByteRange{}, RangeNone},
		{"none satisfiable", "bytes=5000-, -0, 1000-1001", size, ByteRange{}, RangeUnsatisfiable},
		{"later element malformed", "bytes=0-1,x", size, ByteRange{}, RangeNone},
		{"unsatisfiable then malformed", "bytes=5000-,1-0", size, ByteRange{}, RangeNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, out := ParseRange(tt.header, tt.size)
			if got != tt.want || out != tt.out {
				t.Errorf("ParseRange(%q, %d) = %+v, %v; want %+v, %v", tt.header, tt.size, got, out, tt.want, tt.out)
			}
		})
	}
}

func TestParseRangeLengthLimit(t *testing.T) {
	// A header of exactly the limit is still read; one byte more is ignored.
	pad := func(n int) string {
		h := "bytes=0-1"
		return h + strings.Repeat(",", n-len(h))
	}
	for _, tt := range []struct {
		name string
		len  int
		out  RangeOutcome
	}{
		{"at limit", maxRangeHeader, RangeSingle},
		{"over limit", maxRangeHeader + 1, RangeNone},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, out := ParseRange(pad(tt.len), 10); out != tt.out {
				t.Errorf("outcome = %v, want %v", out, tt.out)
			}
		})
	}
}

func TestByteRange(t *testing.T) {
	tests := []struct {
		name   string
		r      ByteRange
		size   int64
		length int64
		cr     string
	}{
		{"first bytes", ByteRange{0, 499}, 1234, 500, "bytes 0-499/1234"},
		{"one byte", ByteRange{7, 7}, 8, 1, "bytes 7-7/8"},
		{"large", ByteRange{0, 1<<62 - 1}, 1 << 62, 1 << 62, "bytes 0-4611686018427387903/4611686018427387904"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Length(); got != tt.length {
				t.Errorf("Length() = %d, want %d", got, tt.length)
			}
			if got := tt.r.ContentRange(tt.size); got != tt.cr {
				t.Errorf("ContentRange(%d) = %q, want %q", tt.size, got, tt.cr)
			}
		})
	}
}

func TestRangeOutcomeString(t *testing.T) {
	for _, tt := range []struct {
		o    RangeOutcome
		want string
	}{
		{RangeNone, "RangeNone"},
		{RangeSingle, "RangeSingle"},
		{RangeUnsatisfiable, "RangeUnsatisfiable"},
		{RangeOutcome(9), "RangeOutcome(9)"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.o.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{
		"", "bytes=0-499", "bytes=-500", "bytes=9500-", "bytes=0-0,-1",
		"bytes=1-0", "bytes=,,", "BYTES = 1 - 2", "bytes=-0", "items=1-2",
		"bytes=9223372036854775807-", "bytes=0-9223372036854775808",
		"bytes=0-1,,2-3", "bytes=\t5-6\t",
	} {
		f.Add(s, int64(1000))
		f.Add(s, int64(0))
		f.Add(s, int64(1))
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		r, out := ParseRange(header, size)
		switch out {
		case RangeSingle:
			if r.Start < 0 || r.Start > r.End || r.End >= size {
				t.Fatalf("ParseRange(%q, %d) = %+v, RangeSingle: outside [0, size)", header, size, r)
			}
			if r.Length() <= 0 || r.Length() > size {
				t.Fatalf("ParseRange(%q, %d) = %+v: Length %d", header, size, r, r.Length())
			}
		case RangeNone, RangeUnsatisfiable:
			if r != (ByteRange{}) {
				t.Fatalf("ParseRange(%q, %d) = %+v, %v: want zero range", header, size, r, out)
			}
		default:
			t.Fatalf("ParseRange(%q, %d): unknown outcome %v", header, size, out)
		}
		if len(header) > maxRangeHeader && out != RangeNone {
			t.Fatalf("ParseRange: %d-byte header not ignored", len(header))
		}
		if size == 0 && out != RangeNone {
			t.Fatalf("ParseRange(%q, 0) = %v, want RangeNone", header, out)
		}
	})
}

func BenchmarkParseRange(b *testing.B) {
	for _, bb := range []struct{ name, header string }{
		{"single", "bytes=0-499"},
		{"suffix", "bytes=-500"},
		{"multi", "bytes=0-1, 5-9, 100-, -20"},
		{"malformed", "bytes=0-1, x"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ParseRange(bb.header, 1<<30)
			}
		})
	}
}
