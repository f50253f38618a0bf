package httpsem

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// condMod has a fractional second so the tests show that comparisons happen
// at HTTP-date precision.
var condMod = time.Date(2024, 5, 6, 7, 8, 9, 500_000_000, time.UTC)

const condTag = `"4d2-abc"`

func condDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

var (
	dateSame   = condDate(condMod)                   // equal at second precision
	dateBefore = condDate(condMod.Add(-time.Second)) // resource modified since
	dateAfter  = condDate(condMod.Add(time.Second))  // resource not modified since
)

func condHeader(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestCheckPreconditions(t *testing.T) {
	present := Validators{Exists: true, ETag: condTag, ModTime: condMod}
	absent := Validators{}
	noMod := Validators{Exists: true, ETag: condTag}
	noTag := Validators{Exists: true, ModTime: condMod}
	// Modified within its last second: no ETag, and dates prove nothing.
	unsettled := Validators{Exists: true, ModTime: condMod, Unsettled: true}

	tests := []struct {
		name   string
		method string
		h      http.Header
		v      Validators
		want   Precondition
	}{
		{"no headers", "GET", condHeader(), present, PrecondProceed},

		// An unsettled version: every guard fails safe.
		{"unsettled ims same date is modified", "GET", condHeader("If-Modified-Since", dateSame), unsettled, PrecondProceed},
		{"unsettled ims later date is modified", "GET", condHeader("If-Modified-Since", dateAfter), unsettled, PrecondProceed},
		{"unsettled ius same date fails", "PUT", condHeader("If-Unmodified-Since", dateSame), unsettled, PrecondFailed},
		{"unsettled ius later date fails", "DELETE", condHeader("If-Unmodified-Since", dateAfter), unsettled, PrecondFailed},
		{"unsettled if-match tag fails", "PUT", condHeader("If-Match", condTag), unsettled, PrecondFailed},
		{"unsettled if-match star proceeds", "PUT", condHeader("If-Match", "*"), unsettled, PrecondProceed},
		{"unsettled if-none-match tag proceeds", "GET", condHeader("If-None-Match", condTag), unsettled, PrecondProceed},
		{"unsettled if-none-match star is 304", "GET", condHeader("If-None-Match", "*"), unsettled, PrecondNotModified},
		{"no headers absent", "PUT", condHeader(), absent, PrecondProceed},

		// If-Match.
		{"if-match star exists", "PUT", condHeader("If-Match", "*"), present, PrecondProceed},
		{"if-match star absent", "PUT", condHeader("If-Match", "*"), absent, PrecondFailed},
		{"if-match star OWS", "PUT", condHeader("If-Match", " * "), present, PrecondProceed},
		{"if-match equal", "PUT", condHeader("If-Match", condTag), present, PrecondProceed},
		{"if-match in list", "DELETE", condHeader("If-Match", `"x", `+condTag+`, "y"`), present, PrecondProceed},
		{"if-match across lines", "DELETE", condHeader("If-Match", `"x"`, "If-Match", condTag), present, PrecondProceed},
		{"if-match different", "PUT", condHeader("If-Match", `"other"`), present, PrecondFailed},
		{"if-match weak never matches", "PUT", condHeader("If-Match", "W/"+condTag), present, PrecondFailed},
		{"if-match against weak current", "PUT", condHeader("If-Match", condTag), Validators{Exists: true, ETag: "W/" + condTag}, PrecondFailed},
		{"if-match tag absent resource", "PUT", condHeader("If-Match", condTag), absent, PrecondFailed},
		{"if-match unknown current tag", "PUT", condHeader("If-Match", condTag), noTag, PrecondFailed},
		{"if-match malformed", "PUT", condHeader("If-Match", "4d2-abc"), present, PrecondFailed},
		{"if-match malformed after match", "PUT", condHeader("If-Match", condTag+", junk"), present, PrecondFailed},
		{"if-match empty", "PUT", condHeader("If-Match", ""), present, PrecondFailed},
		{"if-match star in list", "PUT", condHeader("If-Match", `*, `+condTag), present, PrecondFailed},
		{"if-match GET fails with 412", "GET", condHeader("If-Match", `"other"`), present, PrecondFailed},
		{"if-match comma inside tag", "PUT", condHeader("If-Match", `"a,b"`), Validators{Exists: true, ETag: `"a,b"`}, PrecondProceed},

		// If-Unmodified-Since.
		{"ius not modified", "PUT", condHeader("If-Unmodified-Since", dateSame), present, PrecondProceed},
		{"ius later date", "PUT", condHeader("If-Unmodified-Since", dateAfter), present, PrecondProceed},
		{"ius modified", "PUT", condHeader("If-Unmodified-Since", dateBefore), present, PrecondFailed},
		{"ius GET modified", "GET", condHeader("If-Unmodified-Since", dateBefore), present, PrecondFailed},
		{"ius RFC 850 date", "PUT", condHeader("If-Unmodified-Since", condMod.Add(-time.Second).Format(time.RFC850)), present, PrecondFailed},
		{"ius asctime date", "PUT", condHeader("If-Unmodified-Since", condMod.Add(-time.Second).Format(time.ANSIC)), present, PrecondFailed},
		{"ius invalid ignored", "PUT", condHeader("If-Unmodified-Since", "yesterday"), present, PrecondProceed},
		{"ius repeated ignored", "PUT", condHeader("If-Unmodified-Since", dateBefore, "If-Unmodified-Since", dateBefore), present, PrecondProceed},
		{"ius unknown mod ignored", "PUT", condHeader("If-Unmodified-Since", dateBefore), noMod, PrecondProceed},
		{"ius absent resource ignored", "PUT", condHeader("If-Unmodified-Since", dateBefore), absent, PrecondProceed},
		{"ius ignored with if-match", "PUT", condHeader("If-Match", condTag, "If-Unmodified-Since", dateBefore), present, PrecondProceed},
		{"ius ignored with failing if-match", "PUT", condHeader("If-Match", `"x"`, "If-Unmodified-Since", dateAfter), present, PrecondFailed},

		// If-None-Match.
		{"inm star exists GET", "GET", condHeader("If-None-Match", "*"), present, PrecondNotModified},
		{"inm star exists PUT", "PUT", condHeader("If-None-Match", "*"), present, PrecondFailed},
		{"inm star absent PUT creates", "PUT", condHeader("If-None-Match", "*"), absent, PrecondProceed},
		{"inm match GET", "GET", condHeader("If-None-Match", condTag), present, PrecondNotModified},
		{"inm match HEAD", "HEAD", condHeader("If-None-Match", condTag), present, PrecondNotModified},
		{"inm match DELETE", "DELETE", condHeader("If-None-Match", condTag), present, PrecondFailed},
		{"inm weak matches", "GET", condHeader("If-None-Match", "W/"+condTag), present, PrecondNotModified},
		{"inm weak current matches", "GET", condHeader("If-None-Match", condTag), Validators{Exists: true, ETag: "W/" + condTag}, PrecondNotModified},
		{"inm in list", "GET", condHeader("If-None-Match", `"a", W/"b",`+condTag), present, PrecondNotModified},
		{"inm across lines", "GET", condHeader("If-None-Match", `"a"`, "If-None-Match", condTag), present, PrecondNotModified},
		{"inm no match", "GET", condHeader("If-None-Match", `"a", "b"`), present, PrecondProceed},
		{"inm absent resource", "GET", condHeader("If-None-Match", condTag), absent, PrecondProceed},
		{"inm unknown current tag", "GET", condHeader("If-None-Match", condTag), noTag, PrecondProceed},
		{"inm malformed", "GET", condHeader("If-None-Match", "4d2-abc"), present, PrecondProceed},
		// Where If-None-Match guards a change, a malformed one fails as
		// If-Match does, whether the file is there or not.
		{"inm malformed PUT", "PUT", condHeader("If-None-Match", "4d2-abc"), absent, PrecondFailed},
		{"inm star with a tag PUT", "PUT", condHeader("If-None-Match", `*, "x"`), present, PrecondFailed},
		{"inm star across lines PUT", "PUT", condHeader("If-None-Match", "*", "If-None-Match", `"x"`), absent, PrecondFailed},
		{"inm malformed DELETE", "DELETE", condHeader("If-None-Match", "junk"), present, PrecondFailed},
		{"inm empty PUT proceeds", "PUT", condHeader("If-None-Match", ""), present, PrecondProceed},
		{"inm case differs", "GET", condHeader("If-None-Match", `"4D2-ABC"`), present, PrecondProceed},
		{"inm lowercase w is not weak", "GET", condHeader("If-None-Match", "w/"+condTag), present, PrecondProceed},

		// If-Modified-Since.
		{"ims not modified", "GET", condHeader("If-Modified-Since", dateSame), present, PrecondNotModified},
		{"ims later date", "HEAD", condHeader("If-Modified-Since", dateAfter), present, PrecondNotModified},
		{"ims modified", "GET", condHeader("If-Modified-Since", dateBefore), present, PrecondProceed},
		{"ims ignored for PUT", "PUT", condHeader("If-Modified-Since", dateAfter), present, PrecondProceed},
		{"ims ignored for DELETE", "DELETE", condHeader("If-Modified-Since", dateAfter), present, PrecondProceed},
		{"ims lowercase method is not GET", "get", condHeader("If-Modified-Since", dateAfter), present, PrecondProceed},
		{"ims invalid ignored", "GET", condHeader("If-Modified-Since", "not a date"), present, PrecondProceed},
		{"ims repeated ignored", "GET", condHeader("If-Modified-Since", dateAfter, "If-Modified-Since", dateAfter), present, PrecondProceed},
		{"ims unknown mod ignored", "GET", condHeader("If-Modified-Since", dateAfter), noMod, PrecondProceed},
		{"ims absent resource ignored", "GET", condHeader("If-Modified-Since", dateAfter), absent, PrecondProceed},
		{"ims ignored with inm", "GET", condHeader("If-None-Match", `"x"`, "If-Modified-Since", dateAfter), present, PrecondProceed},
		{"ims ignored with malformed inm", "GET", condHeader("If-None-Match", "junk", "If-Modified-Since", dateAfter), present, PrecondProceed},

		// Interplay: the first failing clause decides.
		{"if-match fail beats inm", "GET", condHeader("If-Match", `"x"`, "If-None-Match", condTag), present, PrecondFailed},
		{"ius fail beats ims", "GET", condHeader("If-Unmodified-Since", dateBefore, "If-Modified-Since", dateAfter), present, PrecondFailed},
		{"if-match pass then inm 304", "GET", condHeader("If-Match", condTag, "If-None-Match", condTag), present, PrecondNotModified},
		{"ius pass then ims 304", "GET", condHeader("If-Unmodified-Since", dateAfter, "If-Modified-Since", dateAfter), present, PrecondNotModified},
		{"all pass", "GET", condHeader("If-Match", condTag, "If-Unmodified-Since", dateAfter, "If-None-Match", `"x"`, "If-Modified-Since", dateBefore), present, PrecondProceed},
		{"PUT create guarded", "PUT", condHeader("If-None-Match", "*", "If-Unmodified-Since", dateBefore), absent, PrecondProceed},
		{"PUT overwrite guarded", "PUT", condHeader("If-Match", condTag, "If-None-Match", "*"), present, PrecondFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckPreconditions(tt.method, tt.h, tt.v); got != tt.want {
				t.Errorf("CheckPreconditions(%s, %v, %+v) = %v, want %v", tt.method, tt.h, tt.v, got, tt.want)
			}
		})
	}
}

func TestRangeApplies(t *testing.T) {
	present := Validators{Exists: true, ETag: condTag, ModTime: condMod}
	tests := []struct {
		name string
		h    http.Header
		v    Validators
		want bool
	}{
		{"no if-range", condHeader(), present, true},
		{"no if-range absent resource", condHeader(), Validators{}, true},
		{"tag matches", condHeader("If-Range", condTag), present, true},
		{"tag with OWS", condHeader("If-Range", " "+condTag+" "), present, true},
		{"tag differs", condHeader("If-Range", `"other"`), present, false},
		{"weak tag", condHeader("If-Range", "W/"+condTag), present, false},
		{"weak current", condHeader("If-Range", condTag), Validators{Exists: true, ETag: "W/" + condTag, ModTime: condMod}, false},
		{"unknown current tag", condHeader("If-Range", `""`), Validators{Exists: true, ModTime: condMod}, false},
		{"tag list", condHeader("If-Range", condTag+`, "x"`), present, false},
		{"unterminated tag", condHeader("If-Range", `"4d2-abc`), present, false},
		{"date equal", condHeader("If-Range", dateSame), present, true},
		{"date RFC 850", condHeader("If-Range", condMod.Format(time.RFC850)), present, true},
		{"date earlier", condHeader("If-Range", dateBefore), present, false},
		{"date later", condHeader("If-Range", dateAfter), present, false},
		{"date unknown mod", condHeader("If-Range", dateSame), Validators{Exists: true, ETag: condTag}, false},
		{"date of an unsettled version", condHeader("If-Range", dateSame), Validators{Exists: true, ModTime: condMod, Unsettled: true}, false},
		{"absent resource", condHeader("If-Range", dateSame), Validators{ModTime: condMod}, false},
		{"garbage", condHeader("If-Range", "tomorrow"), present, false},
		{"empty", condHeader("If-Range", ""), present, false},
		{"repeated", condHeader("If-Range", condTag, "If-Range", condTag), present, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RangeApplies(tt.h, tt.v); got != tt.want {
				t.Errorf("RangeApplies(%v, %+v) = %v, want %v", tt.h, tt.v, got, tt.want)
			}
		})
	}
}

func TestParseETagList(t *testing.T) {
	tests := []struct {
		name string
		in   string
		tags []entityTag
		star bool
		ok   bool
	}{
		{"empty", "", nil, false, true},
		{"only separators", " , ,\t", nil, false, true},
		{"star", "*", nil, true, true},
		{"star OWS", "\t* ", nil, true, true},
		{"one", `"a"`, []entityTag{{false, `"a"`}}, false, true},
		{"empty tag", `""`, []entityTag{{false, `""`}}, false, true},
		{"weak", `W/"a"`, []entityTag{{true, `"a"`}}, false, true},
		{"list", `"a", W/"b" ,"c"`, []entityTag{{false, `"a"`}, {true, `"b"`}, {false, `"c"`}}, false, true},
		{"empty elements", `,"a",,"b",`, []entityTag{{false, `"a"`}, {false, `"b"`}}, false, true},
		{"comma inside", `"a,b", "c"`, []entityTag{{false, `"a,b"`}, {false, `"c"`}}, false, true},
		{"obs-text", "\"caf\xc3\xa9\"", []entityTag{{false, "\"caf\xc3\xa9\""}}, false, true},
		{"unquoted", `a`, nil, false, false},
		{"lowercase weak", `w/"a"`, nil, false, false},
		{"space inside", `"a b"`, nil, false, false},
		{"unterminated", `"a`, nil, false, false},
		{"missing comma", `"a" "b"`, nil, false, false},
		{"star in list", `*, "a"`, nil, false, false},
		{"double star", `*, *`, nil, false, false},
		{"control inside", "\"a\x00\"", nil, false, false},
		{"backslash escape is not special", `"a\"`, []entityTag{{false, `"a\"`}}, false, true},
		{"weak without tag", `W/`, nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tags, star, ok := parseETagList(tt.in)
			if ok != tt.ok || star != tt.star || !equalTags(tags, tt.tags) {
				t.Errorf("parseETagList(%q) = %v, %v, %v; want %v, %v, %v", tt.in, tags, star, ok, tt.tags, tt.star, tt.ok)
			}
		})
	}
}

func TestPreconditionString(t *testing.T) {
	for _, tt := range []struct {
		p    Precondition
		want string
	}{
		{PrecondProceed, "PrecondProceed"},
		{PrecondNotModified, "PrecondNotModified"},
		{PrecondFailed, "PrecondFailed"},
		{Precondition(7), "Precondition(7)"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func equalTags(a, b []entityTag) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// formatETagList writes tags back in wire form, for the fuzz round trip.
func formatETagList(tags []entityTag) string {
	var b strings.Builder
	for i, t := range tags {
		if i > 0 {
			b.WriteString(", ")
		}
		if t.weak {
			b.WriteString("W/")
		}
		b.WriteString(t.opaque)
	}
	return b.String()
}

func FuzzParseETagList(f *testing.F) {
	for _, s := range []string{
		"", "*", `"a"`, `W/"a"`, `"a", W/"b"`, `"a,b"`, `,,"a",,`, `"a" "b"`,
		`*, "a"`, `"a`, `w/"a"`, "\"\xff\"", `""`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Any header built from the value must not panic the evaluators.
		v := Validators{Exists: true, ETag: condTag, ModTime: condMod}
		h := condHeader("If-Match", s, "If-None-Match", s, "If-Range", s)
		CheckPreconditions("GET", h, v)
		RangeApplies(h, v)

		tags, star, ok := parseETagList(s)
		if !ok {
			if tags != nil || star {
				t.Fatalf("parseETagList(%q) failed but returned %v, %v", s, tags, star)
			}
			return
		}
		if star && tags != nil {
			t.Fatalf("parseETagList(%q) returned star and tags", s)
		}
		for _, tag := range tags {
			o := tag.opaque
			if len(o) < 2 || o[0] != '"' || o[len(o)-1] != '"' || strings.Count(o, `"`) != 2 {
				t.Fatalf("parseETagList(%q): bad opaque-tag %q", s, o)
			}
			if !strings.Contains(s, o) {
				t.Fatalf("parseETagList(%q): opaque-tag %q not in input", s, o)
			}
		}
		if star {
			return
		}
		// Writing the tags back and parsing again gives the same tags.
		again, star2, ok2 := parseETagList(formatETagList(tags))
		if !ok2 || star2 || !equalTags(again, tags) {
			t.Fatalf("round trip of %q: %v -> %v, %v, %v", s, tags, again, star2, ok2)
		}
	})
}
