package httpsem

import (
	"math"
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
	// another unit, or of several ranges.
	RangeNone RangeOutcome = iota
	// RangeSingle: the one range, with 206.
	RangeSingle
	// RangeUnsatisfiable: 416, with Content-Range: bytes */size.
	RangeUnsatisfiable
)

var rangeOutcomeNames = [...]string{"RangeNone", "RangeSingle", "RangeUnsatisfiable"}

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
// against a representation of size bytes, and says how to answer it.
//
// What it does not understand it ignores (RangeNone) rather than rejects: a
// server may always ignore Range, and 200 with the whole body is never wrong.
// Several ranges are ignored too, since the gateway writes no
// multipart/byteranges, unless none of them is satisfiable: the client then
// gets the 416 that each one alone would have earned.
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
func ParseRange(header string, size int64) (ByteRange, RangeOutcome) {
	if header == "" || len(header) > maxRangeHeader || size <= 0 {
		return ByteRange{}, RangeNone
	}
	unit, set, ok := strings.Cut(header, "=")
	if !ok || !strings.EqualFold(trimOWS(unit), "bytes") {
		return ByteRange{}, RangeNone
	}

	var (
		first       ByteRange
		n           int
		satisfiable bool
	)
	// Every element is syntax-checked before any is acted on, so one bad
	// element makes the whole header ignorable, as RFC 9110 §14.2 allows.
	for elem := range strings.SplitSeq(set, ",") {
		elem = trimOWS(elem)
		if elem == "" {
			continue
		}
		r, sat, ok := parseRangeSpec(elem, size)
		if !ok {
			return ByteRange{}, RangeNone
		}
		if n == 0 {
			first = r
		}
		n++
		satisfiable = satisfiable || sat
	}

	switch {
	case n == 0:
		return ByteRange{}, RangeNone
	case !satisfiable:
		return ByteRange{}, RangeUnsatisfiable
	case n == 1:
		return first, RangeSingle
	default:
		return ByteRange{}, RangeNone
	}
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
