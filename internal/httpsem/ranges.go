package httpsem

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
)

// maxRangeHeader bounds the work spent on a Range header. No client needs
// more, and ignoring a longer one is always safe: the whole representation
// is a valid answer to any Range request.
const maxRangeHeader = 4096

// ByteRange is the inclusive range of bytes [Start, End] of a
// representation. The bounds are inclusive because Range and Content-Range
// write them so, and a caller can copy them out without adjusting by one.
type ByteRange struct{ Start, End int64 }

// Length returns the number of bytes in r, which is what Content-Length
// carries in a 206 response.
func (r ByteRange) Length() int64 { return r.End - r.Start + 1 }

// ContentRange returns the Content-Range of r in a representation of size
// bytes, such as "bytes 0-499/1234". A 416 carries "bytes */size", which has
// no range to describe, so its writer builds that one itself.
func (r ByteRange) ContentRange(size int64) string {
	b := make([]byte, 0, len("bytes --/")+3*20)
	b = append(b, "bytes "...)
	b = strconv.AppendInt(b, r.Start, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, r.End, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, size, 10)
	return string(b)
}

// RangeOutcome is how a request's Range header is to be answered.
type RangeOutcome int

const (
	// RangeNone: the whole representation, with 200. It answers a request
	// without Range and every Range a server may ignore: malformed, of
	// another unit, or of more ranges than the caller serves.
	RangeNone RangeOutcome = iota
	// RangeSingle: the one range, with 206.
	RangeSingle
	// RangeUnsatisfiable: 416, with Content-Range: bytes */size.
	RangeUnsatisfiable
	// RangeMulti: several ranges, with 206 and multipart/byteranges.
	RangeMulti
)

var rangeOutcomeNames = [...]string{"RangeNone", "RangeSingle", "RangeUnsatisfiable", "RangeMulti"}

// String returns the constant's name, so test failures and logs are readable.
func (o RangeOutcome) String() string {
	return constName(rangeOutcomeNames[:], int(o), "RangeOutcome")
}

// constName is the String of an enumeration: the name of v's constant, or
// "typ(v)" for a value that has none.
func constName(names []string, v int, typ string) string {
	if v >= 0 && v < len(names) {
		return names[v]
	}
	return typ + "(" + strconv.Itoa(v) + ")"
}

// ParseRange reads a Range header of the bytes unit (RFC 9110 §14.1–14.2)
// against a representation of size bytes, and says how to answer it. The
// ranges to send are appended to dst[:0] and returned: one for
// RangeSingle, several for RangeMulti, none otherwise. A caller that
// passes a small array of its own makes a single range cost no
// allocation.
//
// The satisfiable ranges are sorted by their first byte, and those that
// overlap or touch are coalesced into one (§14.2 allows both), so the
// ranges returned are disjoint, in ascending order, with at least one
// byte between neighbours: a file can be read forward once to serve them,
// and no byte is sent twice. Unsatisfiable ranges are dropped. Ranges
// that coalesce into one are RangeSingle. More than maxRanges after
// coalescing (at least 1: 1 serves no multipart/byteranges at all) is
// RangeNone: §14.2 lets a server ignore a Range of many ranges, and the
// whole representation costs the server no more than the bytes it sends,
// whereas every range may cost it a request of its own upstream.
//
// What it does not understand it ignores (RangeNone) rather than rejects: a
// server may always ignore Range, and 200 with the whole body is never wrong.
// A Range none of whose ranges is satisfiable is RangeUnsatisfiable, the
// 416 that each alone would have earned.
//
// An empty representation is served whole whatever the Range, as net/http
// serves it: no 206 can carry it, since Content-Range names at least one
// byte (net/http's 206 for a suffix range, "bytes 0--1/0", is not a valid
// Content-Range), and a 416 would fail the clients that send a Range with
// every request.
//
// Whitespace is allowed around '=', ',' and list elements but not inside a
// range ("0 - 1" is malformed), and empty list elements are skipped
// (§5.6.1). A negative size is a caller's bug and gives RangeNone.
func ParseRange(dst []ByteRange, header string, size int64, maxRanges int) ([]ByteRange, RangeOutcome) {
	dst = dst[:0]
	if header == "" || len(header) > maxRangeHeader || size <= 0 {
		return dst, RangeNone
	}
	unit, set, ok := strings.Cut(header, "=")
	if !ok || !strings.EqualFold(trimOWS(unit), "bytes") {
		return dst, RangeNone
	}

	n := 0 // well-formed elements, satisfiable or not
	// Every element is syntax-checked before any is acted on, so one bad
	// element makes the whole header ignorable, as RFC 9110 §14.2 allows.
	for elem := range strings.SplitSeq(set, ",") {
		elem = trimOWS(elem)
		if elem == "" {
			continue
		}
		r, sat, ok := parseRangeSpec(elem, size)
		if !ok {
			return dst[:0], RangeNone
		}
		n++
		if sat {
			dst = append(dst, r)
		}
	}

	switch {
	case n == 0:
		return dst, RangeNone
	case len(dst) == 0:
		return dst, RangeUnsatisfiable
	}
	dst = coalesce(dst)
	switch {
	case len(dst) == 1:
		return dst, RangeSingle
	case len(dst) > max(maxRanges, 1):
		return dst[:0], RangeNone
	}
	return dst, RangeMulti
}

// coalesce sorts rs by first byte and merges the ranges that overlap or
// touch, in place.
func coalesce(rs []ByteRange) []ByteRange {
	if len(rs) < 2 {
		return rs
	}
	slices.SortFunc(rs, func(a, b ByteRange) int { return cmp.Compare(a.Start, b.Start) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		// End < size <= MaxInt64, so End+1 cannot overflow.
		if r.Start <= last.End+1 {
			last.End = max(last.End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

// parseRangeSpec parses one int-range or suffix-range and resolves it against
// size, which is positive. ok is false for a syntax error; sat is false for
// a well-formed range that selects no byte of the representation.
func parseRangeSpec(s string, size int64) (r ByteRange, sat, ok bool) {
	firstStr, lastStr, ok := strings.Cut(s, "-")
	if !ok {
		return ByteRange{}, false, false
	}

	if firstStr == "" { // suffix-range: "-n", the last n bytes
		n, ok := parseDigits(lastStr)
		if !ok {
			return ByteRange{}, false, false
		}
		if n == 0 {
			return ByteRange{}, false, true
		}
		if n >= size {
			return ByteRange{0, size - 1}, true, true
		}
		return ByteRange{size - n, size - 1}, true, true
	}

	first, ok := parseDigits(firstStr)
	if !ok {
		return ByteRange{}, false, false
	}
	last := size - 1
	if lastStr != "" {
		l, ok := parseDigits(lastStr)
		if !ok || l < first {
			return ByteRange{}, false, false
		}
		last = min(l, size-1)
	}
	if first >= size {
		return ByteRange{}, false, true
	}
	return ByteRange{first, last}, true, true
}

// OpenRange reads a Range header that names exactly one range by its
// start, "bytes=first-last" or "bytes=first-", as ParseRange would read
// it: what a GET of a file whose size is not yet known will send, from
// first, length bytes (-1: to the end; fewer where the file is shorter).
// ok is false for anything else (several ranges, a suffix range, a
// malformed header), whose meaning needs the size.
func OpenRange(header string) (first, length int64, ok bool) {
	if len(header) > maxRangeHeader {
		return 0, 0, false
	}
	unit, set, ok := strings.Cut(header, "=")
	if !ok || !strings.EqualFold(trimOWS(unit), "bytes") || strings.Contains(set, ",") {
		return 0, 0, false
	}
	firstStr, lastStr, ok := strings.Cut(trimOWS(set), "-")
	if !ok || firstStr == "" {
		return 0, 0, false
	}
	if first, ok = parseDigits(firstStr); !ok {
		return 0, 0, false
	}
	if lastStr == "" {
		return first, -1, true
	}
	last, ok := parseDigits(lastStr)
	if !ok || last < first || last == math.MaxInt64 {
		return 0, 0, false
	}
	return first, last - first + 1, true
}

// parseDigits parses 1*DIGIT into a non-negative int64. It exists because
// strconv.ParseInt accepts signs ("+1", "-0"), which the grammar does not.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// trimOWS removes optional whitespace (RFC 9110 §5.6.3: SP and HTAB) from
// both ends of s. strings.TrimSpace would also strip CR, LF and Unicode
// spaces, which are not OWS.
func trimOWS(s string) string {
	return strings.Trim(s, " \t")
}
