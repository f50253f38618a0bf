package api

import (
	"math"
	"strconv"
	"strings"
)

// maxRangeHeader bounds the work spent on a Range header. No client needs
// more, and ignoring a longer one is always safe: the whole representation
// is a valid answer to any Range request.
const maxRangeHeader = 4096

// ByteRange is an inclusive range of bytes [Start, End] within a representation.
// Inclusive bounds mirror the wire form of Range and Content-Range, so the
// handler can copy them out without off-by-one adjustments.
type ByteRange struct{ Start, End int64 }

// Length returns the number of bytes in r, which is what Content-Length
// carries in a 206 response.
func (r ByteRange) Length() int64 { return r.End - r.Start + 1 }

// ContentRange returns the Content-Range field value for r within a
// representation of size bytes, for example "bytes 0-499/1234".
// A 416 response needs "bytes */size" instead, which has no range to
// describe; the handler writes that one itself.
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

// RangeOutcome says what to do with a Range header.
type RangeOutcome int

const (
	RangeNone          RangeOutcome = iota // no Range, or one to ignore (malformed, unknown unit, several ranges): serve 200 with the whole representation
	RangeSingle                            // serve 206 with the one range
	RangeUnsatisfiable                     // serve 416 with Content-Range: bytes */size
)

// String returns the constant's name, so test failures and logs are readable.
func (o RangeOutcome) String() string {
	switch o {
	case RangeNone:
		return "RangeNone"
	case RangeSingle:
		return "RangeSingle"
	case RangeUnsatisfiable:
		return "RangeUnsatisfiable"
	}
	return "RangeOutcome(" + strconv.Itoa(int(o)) + ")"
}

// ParseRange interprets a Range header value for a representation of size bytes.
//
// It implements RFC 9110 §14.1–14.2 for the "bytes" unit. Anything it does
// not understand is ignored (RangeNone) rather than rejected, because RFC 9110
// lets a server ignore Range and a 200 with the whole body is always correct.
// Several ranges are also answered with RangeNone, since the gateway does not
// produce multipart/byteranges, unless none of them is satisfiable, in which
// case the client gets the 416 it would get for each one alone.
//
// Whitespace is tolerated around '=', ',' and list elements but not inside a
// range ("0 - 1" is malformed). Empty list elements are skipped, as RFC 9110
// §5.6.1 requires. A negative size is a caller bug and yields RangeNone.
// ParseRange is safe for concurrent use.
func ParseRange(header string, size int64) (ByteRange, RangeOutcome) {
	if header == "" || len(header) > maxRangeHeader || size < 0 {
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
// size. ok is false for a syntax error; sat is false for a well-formed range
// that selects no byte of the representation.
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
		if n == 0 || size == 0 {
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
