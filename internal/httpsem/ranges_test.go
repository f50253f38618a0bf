package httpsem

import (
	"slices"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	const size = 1000
	tests := []struct {
		name   string
		header string
		size   int64
		want   []ByteRange
		out    RangeOutcome
	}{
		// Absent or ignorable.
		{"empty", "", size, nil, RangeNone},
		{"no equals", "bytes", size, nil, RangeNone},
		{"no equals with range", "bytes 0-1", size, nil, RangeNone},
		{"other unit", "items=0-1", size, nil, RangeNone},
		{"empty unit", "=0-1", size, nil, RangeNone},
		{"empty set", "bytes=", size, nil, RangeNone},
		{"only commas", "bytes=, ,,", size, nil, RangeNone},
		{"lone dash", "bytes=-", size, nil, RangeNone},
		{"first greater than last", "bytes=1-0", size, nil, RangeNone},
		{"non digits", "bytes=a-b", size, nil, RangeNone},
		{"plus sign", "bytes=+1-2", size, nil, RangeNone},
		{"plus sign last", "bytes=1-+2", size, nil, RangeNone},
		{"negative suffix", "bytes=--5", size, nil, RangeNone},
		{"hex", "bytes=0x10-0x20", size, nil, RangeNone},
		{"two dashes", "bytes=1-2-3", size, nil, RangeNone},
		{"space inside range", "bytes=0 - 1", size, nil, RangeNone},
		{"decimal", "bytes=1.5-2", size, nil, RangeNone},
		{"overflow first", "bytes=9223372036854775808-", size, nil, RangeNone},
		{"overflow last", "bytes=0-99999999999999999999", size, nil, RangeNone},
		{"overflow suffix", "bytes=-9223372036854775808", size, nil, RangeNone},
		{"unicode digit", "bytes=٠-1", size, nil, RangeNone},
		{"two equals", "bytes==0-1", size, nil, RangeNone},
		{"CR in value", "bytes=0-1\r", size, nil, RangeNone},
		{"too long", "bytes=0-1" + strings.Repeat(" ", maxRangeHeader), size, nil, RangeNone},
		{"negative size", "bytes=0-1", -1, nil, RangeNone},

		// Single satisfiable ranges.
		{"first bytes", "bytes=0-499", size, []ByteRange{{0, 499}}, RangeSingle},
		{"one byte", "bytes=0-0", size, []ByteRange{{0, 0}}, RangeSingle},
		{"last byte", "bytes=999-999", size, []ByteRange{{999, 999}}, RangeSingle},
		{"clamped last", "bytes=500-5000", size, []ByteRange{{500, 999}}, RangeSingle},
		{"max int64 last", "bytes=0-9223372036854775807", size, []ByteRange{{0, 999}}, RangeSingle},
		{"open ended", "bytes=900-", size, []ByteRange{{900, 999}}, RangeSingle},
		{"open ended from zero", "bytes=0-", size, []ByteRange{{0, 999}}, RangeSingle},
		{"suffix", "bytes=-100", size, []ByteRange{{900, 999}}, RangeSingle},
		{"suffix whole", "bytes=-1000", size, []ByteRange{{0, 999}}, RangeSingle},
		{"suffix larger", "bytes=-5000", size, []ByteRange{{0, 999}}, RangeSingle},
		{"suffix max int64", "bytes=-9223372036854775807", size, []ByteRange{{0, 999}}, RangeSingle},
		{"unit case", "ByTeS=1-2", size, []ByteRange{{1, 2}}, RangeSingle},
		{"leading zeros", "bytes=007-010", size, []ByteRange{{7, 10}}, RangeSingle},
		{"OWS everywhere", " bytes \t= \t 1-2 \t", size, []ByteRange{{1, 2}}, RangeSingle},
		{"empty elements", "bytes=,, 1-2 ,", size, []ByteRange{{1, 2}}, RangeSingle},
		{"size one", "bytes=0-", 1, []ByteRange{{0, 0}}, RangeSingle},

		// Single unsatisfiable ranges.
		{"first at size", "bytes=1000-", size, nil, RangeUnsatisfiable},
		{"first past size", "bytes=1000-2000", size, nil, RangeUnsatisfiable},
		{"suffix zero", "bytes=-0", size, nil, RangeUnsatisfiable},

		// An empty representation is served whole, as net/http serves it:
		// a 416 would fail clients that always send a Range, and no 206
		// can carry zero bytes.
		{"empty representation", "bytes=0-0", 0, nil, RangeNone},
		{"empty representation open", "bytes=0-", 0, nil, RangeNone},
		{"empty representation past the end", "bytes=5-", 0, nil, RangeNone},
		{"empty representation suffix", "bytes=-1", 0, nil, RangeNone},
		{"empty representation longer suffix", "bytes=-5", 0, nil, RangeNone},
		{"empty representation suffix zero", "bytes=-0", 0, nil, RangeNone},
		{"empty representation several ranges", "bytes=0-1,-5", 0, nil, RangeNone},

		// Several ranges: sorted, unsatisfiable ones dropped, overlapping
		// and adjacent ones coalesced, at most maxRanges (4 here).
		{"two", "bytes=0-1,5-6", size, []ByteRange{{0, 1}, {5, 6}}, RangeMulti},
		{"the issue's example", "bytes=0-99,1000-1099", 2000, []ByteRange{{0, 99}, {1000, 1099}}, RangeMulti},
		{"with empty element", "bytes=0-1,,5-6", size, []ByteRange{{0, 1}, {5, 6}}, RangeMulti},
		{"sorted", "bytes=900-,0-1,-50,10-20", size, []ByteRange{{0, 1}, {10, 20}, {900, 999}}, RangeMulti},
		{"suffix and open-ended", "bytes=-10,0-", size, []ByteRange{{0, 999}}, RangeSingle},
		{"adjacent coalesced", "bytes=0-1,2-3", size, []ByteRange{{0, 3}}, RangeSingle},
		{"adjacent out of order", "bytes=2-3,0-1", size, []ByteRange{{0, 3}}, RangeSingle},
		{"overlapping coalesced", "bytes=0-10,5-20,30-40", size, []ByteRange{{0, 20}, {30, 40}}, RangeMulti},
		{"contained coalesced", "bytes=0-100,10-20,50-60", size, []ByteRange{{0, 100}}, RangeSingle},
		{"same range twice", "bytes=5-6,5-6", size, []ByteRange{{5, 6}}, RangeSingle},
		{"one byte apart stays two", "bytes=0-1,3-4", size, []ByteRange{{0, 1}, {3, 4}}, RangeMulti},
		{"clamped ends coalesced", "bytes=990-5000,995-", size, []ByteRange{{990, 999}}, RangeSingle},
		{"one satisfiable", "bytes=5000-,0-1", size, []ByteRange{{0, 1}}, RangeSingle},
		{"unsatisfiable dropped", "bytes=5000-,0-1,-0,8-9", size, []ByteRange{{0, 1}, {8, 9}}, RangeMulti},
		{"at the cap", "bytes=0-0,2-2,4-4,6-6", size, []ByteRange{{0, 0}, {2, 2}, {4, 4}, {6, 6}}, RangeMulti},
		{"over the cap", "bytes=0-0,2-2,4-4,6-6,8-8", size, nil, RangeNone},
		{"over the cap before coalescing only", "bytes=0-0,1-1,2-2,3-3,4-4,9-9", size, []ByteRange{{0, 4}, {9, 9}}, RangeMulti},
		{"none satisfiable", "bytes=5000-, -0, 1000-1001", size, nil, RangeUnsatisfiable},
		{"later element malformed", "bytes=0-1,x", size, nil, RangeNone},
		{"unsatisfiable then malformed", "bytes=5000-,1-0", size, nil, RangeNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, out := ParseRange(nil, tt.header, tt.size, 4)
			if !slices.Equal(got, tt.want) || out != tt.out {
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
			if _, out := ParseRange(nil, pad(tt.len), 10, 4); out != tt.out {
				t.Errorf("outcome = %v, want %v", out, tt.out)
			}
		})
	}
}

// TestParseRangeMaxRanges: the cap counts ranges after coalescing, and a
// cap of 1 (or less) serves single ranges only.
func TestParseRangeMaxRanges(t *testing.T) {
	for _, tt := range []struct {
		header string
		max    int
		out    RangeOutcome
	}{
		{"bytes=0-1,5-6", 2, RangeMulti},
		{"bytes=0-1,5-6", 1, RangeNone},
		{"bytes=0-1,5-6", 0, RangeNone},
		{"bytes=0-1,5-6", -3, RangeNone},
		{"bytes=0-1", 0, RangeSingle},
		{"bytes=0-1,2-3", 1, RangeSingle},
		{"bytes=0-1,5-6,10-11", 2, RangeNone},
	} {
		if _, out := ParseRange(nil, tt.header, 100, tt.max); out != tt.out {
			t.Errorf("ParseRange(%q, max %d) = %v, want %v", tt.header, tt.max, out, tt.out)
		}
	}
}

// TestParseRangeSingleAllocates: a single range parsed into the caller's
// array costs no allocation, so ranged GETs pay nothing for multipart.
func TestParseRangeSingleAllocates(t *testing.T) {
	var buf [1]ByteRange
	allocs := testing.AllocsPerRun(100, func() {
		if rs, out := ParseRange(buf[:0], "bytes=100-199", 1000, 16); out != RangeSingle || rs[0] != (ByteRange{100, 199}) {
			t.Fatalf("%v %v", rs, out)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations for a single range, want 0", allocs)
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
		{RangeMulti, "RangeMulti"},
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
		"bytes=0-1,,2-3", "bytes=\t5-6\t", "bytes=0-0,2-2,4-4,6-6,8-8",
		"bytes=500-,0-10,5-20,-100",
	} {
		f.Add(s, int64(1000))
		f.Add(s, int64(0))
		f.Add(s, int64(1))
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		const maxRanges = 4
		rs, out := ParseRange(nil, header, size, maxRanges)
		switch out {
		case RangeSingle, RangeMulti:
			if out == RangeSingle && len(rs) != 1 || out == RangeMulti && (len(rs) < 2 || len(rs) > maxRanges) {
				t.Fatalf("ParseRange(%q, %d) = %v, %v", header, size, rs, out)
			}
			for i, r := range rs {
				if r.Start < 0 || r.Start > r.End || r.End >= size {
					t.Fatalf("ParseRange(%q, %d) = %+v, %v: outside [0, size)", header, size, r, out)
				}
				// Sorted, disjoint and not adjacent: no byte twice, and
				// no two parts that could have been one.
				if i > 0 && r.Start <= rs[i-1].End+1 {
					t.Fatalf("ParseRange(%q, %d) = %v: not coalesced", header, size, rs)
				}
			}
		case RangeNone, RangeUnsatisfiable:
			if len(rs) != 0 {
				t.Fatalf("ParseRange(%q, %d) = %+v, %v: want no range", header, size, rs, out)
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
			var buf [4]ByteRange
			b.ReportAllocs()
			for b.Loop() {
				ParseRange(buf[:0], bb.header, 1<<30, 16)
			}
		})
	}
}

// FuzzOpenRange: where OpenRange reads a header, ParseRange reads the same
// one range of a file of any size: from first, length bytes or to the end,
// cut at the end of the file, and unsatisfiable from the end on.
func FuzzOpenRange(f *testing.F) {
	for _, s := range []string{
		"bytes=0-499", "bytes=-500", "bytes=9500-", "bytes=0-0,-1", "bytes=1-0",
		"BYTES = 1 - 2", "bytes=\t5-6\t", "bytes=9223372036854775807-",
		"bytes=0-9223372036854775807", "bytes=0-9223372036854775806", "bytes=5-5,", "items=1-2",
	} {
		f.Add(s, int64(1000))
		f.Add(s, int64(1))
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		first, length, ok := OpenRange(header)
		if !ok {
			return
		}
		if first < 0 || length == 0 || length < -1 {
			t.Fatalf("OpenRange(%q) = %d, %d", header, first, length)
		}
		if size <= 0 {
			return // no range applies to an empty file
		}
		rs, out := ParseRange(nil, header, size, 1)
		switch {
		case first >= size:
			if out != RangeUnsatisfiable {
				t.Fatalf("OpenRange(%q) = %d, %d; ParseRange(size %d) = %v, %v, want unsatisfiable", header, first, length, size, rs, out)
			}
		case out != RangeSingle || rs[0].Start != first:
			t.Fatalf("OpenRange(%q) = %d, %d; ParseRange(size %d) = %v, %v", header, first, length, size, rs, out)
		case length < 0 && rs[0].End != size-1, length > 0 && rs[0].End != min(first+length-1, size-1):
			t.Fatalf("OpenRange(%q) = %d, %d; ParseRange(size %d) = %v", header, first, length, size, rs)
		}
	})
}
