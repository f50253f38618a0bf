package httpsem

import (
	"net/http"
	"strings"
	"time"
)

// Validators is what the caller knows of the target resource as it is now,
// gathered before it acts on the request: the conditional headers are
// judged against it.
type Validators struct {
	Exists  bool
	ETag    string    // strong and quoted; "" if there is none
	ModTime time.Time // zero if unknown; compared to the second, as HTTP dates are
	// Unsettled says that ModTime may not tell this version from the next:
	// the file was modified so recently, as the server's clock goes, that
	// another write within the same second (or a rename of a file written
	// then) would keep the date. The caller then gives no ETag, and a date
	// proves nothing: If-Modified-Since and If-Range dates do not match,
	// and If-Unmodified-Since fails, since the guard cannot be kept.
	Unsettled bool
}

// Precondition is what a request's conditional headers demand.
type Precondition int

const (
	PrecondProceed     Precondition = iota // carry on with the method
	PrecondNotModified                     // 304 (GET and HEAD only)
	PrecondFailed                          // 412
)

var preconditionNames = [...]string{"PrecondProceed", "PrecondNotModified", "PrecondFailed"}

// String returns the constant's name, so test failures and logs are readable.
func (p Precondition) String() string {
	return constName(preconditionNames[:], int(p), "Precondition")
}

// CheckPreconditions judges If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since against v for a request of method, in the order of RFC
// 9110 §13.2.2.
//
// The order matters because the first failing clause decides the status:
// a lost-update check (If-Match, If-Unmodified-Since) must yield 412 even
// when a cache check would have said 304.
//
// Choices where RFC 9110 leaves room:
//   - An If-Match that cannot be parsed, or an empty one, fails (412): a
//     client that asked for a lost-update guard must not lose it to a typo.
//   - An If-None-Match that cannot be parsed matches nothing on GET and
//     HEAD, so the method proceeds; the worst outcome is a full response
//     instead of a 304. On other methods it fails (412), as If-Match does:
//     "If-None-Match: *" is the guard against overwriting a file, and
//     "*, \"x\"" or "*" beside another field line must not lose it.
//   - Dates are compared at one-second precision, since HTTP dates carry no
//     more. A date header that is invalid or repeated is ignored, as is one
//     for a resource without a known modification time.
//
// Methods are compared case-sensitively, as RFC 9110 §9.1 requires. A GET
// or HEAD of a resource that does not exist is the caller's 404 to give;
// CheckPreconditions only says what the headers demand.
func CheckPreconditions(method string, h http.Header, v Validators) Precondition {
	safe := method == http.MethodGet || method == http.MethodHead

	if im, ok := listHeader(h, "If-Match"); ok {
		if !evalIfMatch(im, v) {
			return PrecondFailed
		}
	} else if d, ok := dateHeader(h, "If-Unmodified-Since"); ok && modKnown(v) {
		if v.Unsettled || v.ModTime.Unix() > d.Unix() {
			return PrecondFailed
		}
	}

	if inm, ok := listHeader(h, "If-None-Match"); ok {
		if !evalIfNoneMatch(inm, v, safe) {
			if safe {
				return PrecondNotModified
			}
			return PrecondFailed
		}
	} else if safe {
		if d, ok := dateHeader(h, "If-Modified-Since"); ok && modKnown(v) && !v.Unsettled && v.ModTime.Unix() <= d.Unix() {
			return PrecondNotModified
		}
	}

	return PrecondProceed
}

// Guarded reports whether h holds a precondition that can fail a method
// that changes state (If-Match, If-None-Match, If-Unmodified-Since; RFC
// 9110 §13.2.1 has If-Modified-Since apply to GET and HEAD only): the
// caller must then judge it at the moment of the change.
func Guarded(h http.Header) bool {
	return len(h["If-Match"]) > 0 || len(h["If-None-Match"]) > 0 || len(h["If-Unmodified-Since"]) > 0
}

// RangeApplies reports whether a request's Range is to be honoured, as
// If-Range decides it (RFC 9110 §13.1.5): an entity-tag must match v's
// strongly, a date must be v's modification time to the second, and a
// request without If-Range honours its Range.
//
// False means "send the whole representation with 200", which is always a
// correct answer, so every doubtful case lands there: a weak tag, a date
// without a known modification time, an If-Range that is repeated or does
// not parse, a resource that does not exist, a date of an Unsettled one.
// The caller looks at If-Range only when the request has a Range, as RFC
// 9110 requires.
func RangeApplies(h http.Header, v Validators) bool {
	vals := h.Values("If-Range")
	if len(vals) == 0 {
		return true
	}
	if len(vals) > 1 || !v.Exists {
		return false
	}
	s := trimOWS(vals[0])
	// RFC 9110 §13.1.5: an entity-tag is told from a date by its first
	// three characters.
	if strings.HasPrefix(s, `"`) || strings.HasPrefix(s, `W/"`) {
		tag, ok := parseETag(s)
		return ok && strongMatch(tag, v.ETag)
	}
	d, err := http.ParseTime(s)
	return err == nil && modKnown(v) && !v.Unsettled && v.ModTime.Unix() == d.Unix()
}

// modKnown reports whether v has a modification date to compare against; a
// resource that does not exist has none, whatever ModTime holds.
func modKnown(v Validators) bool {
	return v.Exists && !v.ModTime.IsZero()
}

// listHeader returns the combined value of a list-valued header and whether
// it was present at all. Joining the lines with "," is how RFC 9110 §5.3
// says repeated list fields combine.
func listHeader(h http.Header, name string) (string, bool) {
	vals := h.Values(name)
	if len(vals) == 0 {
		return "", false
	}
	return strings.Join(vals, ","), true
}

// dateHeader returns the HTTP-date in a header, and false if the header is
// absent, repeated or not a valid date: RFC 9110 §13.1.3–13.1.4 say to
// ignore the field in all those cases.
func dateHeader(h http.Header, name string) (time.Time, bool) {
	vals := h.Values(name)
	if len(vals) != 1 {
		return time.Time{}, false
	}
	d, err := http.ParseTime(trimOWS(vals[0]))
	if err != nil {
		return time.Time{}, false
	}
	return d, true
}

// evalIfMatch evaluates If-Match (RFC 9110 §13.1.1) and reports whether the
// condition is true.
func evalIfMatch(value string, v Validators) bool {
	tags, star, ok := parseETagList(value)
	if !ok {
		return false
	}
	if star {
		return v.Exists
	}
	if !v.Exists {
		return false
	}
	for _, t := range tags {
		if strongMatch(t, v.ETag) {
			return true
		}
	}
	return false
}

// evalIfNoneMatch evaluates If-None-Match (RFC 9110 §13.1.2) for a safe
// method or not and reports whether the condition is true, that is,
// whether no tag matches. A value that cannot be parsed is true for a safe
// method only (see CheckPreconditions).
func evalIfNoneMatch(value string, v Validators, safe bool) bool {
	tags, star, ok := parseETagList(value)
	if !ok {
		return safe
	}
	if star {
		return !v.Exists
	}
	if !v.Exists {
		return true
	}
	cur, ok := parseETag(v.ETag)
	if !ok {
		return true
	}
	for _, t := range tags {
		if t.opaque == cur.opaque { // weak comparison
			return false
		}
	}
	return true
}

// strongMatch reports whether t and the current tag are the same under the
// strong comparison of RFC 9110 §8.8.3.2: both strong and byte-identical.
func strongMatch(t entityTag, current string) bool {
	cur, ok := parseETag(current)
	return ok && !t.weak && !cur.weak && t.opaque == cur.opaque
}

// entityTag is a parsed entity-tag. opaque keeps its quotes, so it compares
// equal exactly when the wire forms (less any W/) are equal.
type entityTag struct {
	weak   bool
	opaque string
}

// parseETag parses a field value holding exactly one entity-tag.
func parseETag(s string) (entityTag, bool) {
	t, rest, ok := scanETag(trimOWS(s))
	if !ok || rest != "" {
		return entityTag{}, false
	}
	return t, true
}

// parseETagList parses the value of If-Match or If-None-Match:
// "*" / #entity-tag. ok is false if the value does not fit the grammar.
// Empty list elements are skipped (RFC 9110 §5.6.1), so "" and ", ," are
// valid, empty lists. Entity-tags may contain commas, which is why the value
// cannot simply be split on them.
func parseETagList(s string) (tags []entityTag, star, ok bool) {
	if trimOWS(s) == "*" {
		return nil, true, true
	}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return tags, false, true
		}
		t, rest, ok := scanETag(s)
		if !ok {
			return nil, false, false
		}
		tags = append(tags, t)
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			return tags, false, true
		}
		if rest[0] != ',' {
			return nil, false, false
		}
		s = rest[1:]
	}
}

// scanETag reads one entity-tag from the start of s (RFC 9110 §8.8.3):
// [ "W/" ] DQUOTE *etagc DQUOTE, where etagc is %x21 / %x23-7E / obs-text.
// It returns the rest of s after the closing quote.
func scanETag(s string) (t entityTag, rest string, ok bool) {
	if strings.HasPrefix(s, "W/") {
		t.weak = true
		s = s[2:]
	}
	if s == "" || s[0] != '"' {
		return entityTag{}, "", false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			t.opaque = s[:i+1]
			return t, s[i+1:], true
		case c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80:
		default:
			return entityTag{}, "", false
		}
	}
	return entityTag{}, "", false
}
