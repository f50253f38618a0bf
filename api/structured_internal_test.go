package api

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

// TestParseDictionary: RFC 8941's dictionaries, from its own examples and
// the digest fields of RFC 9530, and the malformed ones a strict parser
// refuses.
func TestParseDictionary(t *testing.T) {
	sum := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		in   []string
		want string // key=kind:value, ... ; "error" for a failure
	}{
		{[]string{"sha-256=:" + sum + ":"}, "sha-256=b:32"},
		{[]string{"sha-256=:" + strings.TrimRight(sum, "=") + ":"}, "sha-256=b:32"},
		{[]string{"sha-512=3, sha-256=10"}, "sha-512=i:3,sha-256=i:10"},
		{[]string{"a=1", "b=2"}, "a=i:1,b=i:2"},
		{[]string{"a=1, a=2"}, "a=i:2"},
		{[]string{"a, b;x=1;y, c=?0"}, "a=o,b=o,c=o"},
		{[]string{`en="Applepie", da=:w4ZibGV0w6ZydGU=:`}, "en=o,da=b:11"},
		{[]string{"a=(1 2), b=()"}, "a=l,b=l"},
		{[]string{"a=@1659578233, b=%\"f%c3%bc\""}, "a=o,b=o"},
		{[]string{"a=1.5, b=-2, c=tok/en:x"}, "a=o,b=i:-2,c=o"},
		{[]string{"  a=1\t,\tb=2  "}, "a=i:1,b=i:2"},
		{[]string{""}, ""},
		{[]string{"A=1"}, "error"},
		{[]string{"a=1,"}, "error"},
		{[]string{"a=1,,b=2"}, "error"},
		{[]string{"a=:abc"}, "error"},
		{[]string{"a=:a$c:"}, "error"},
		{[]string{"a=\"unterminated"}, "error"},
		{[]string{"a=\"bad\\escape\""}, "error"},
		{[]string{"a=1234567890123456"}, "error"},
		{[]string{"a=1.2345"}, "error"},
		{[]string{"a=?2"}, "error"},
		{[]string{"a=(1 2"}, "error"},
		{[]string{"a=1 b=2"}, "error"},
		{[]string{"\ta=1"}, "error"},
		{[]string{"a=%\"%ZZ\""}, "error"},
	} {
		d, err := parseDictionary(tc.in)
		got := "error"
		if err == nil {
			var parts []string
			for _, m := range d {
				v := "o"
				switch m.value.kind {
				case sfInteger:
					v = "i:" + strconv.FormatInt(m.value.num, 10)
				case sfBytes:
					v = "b:" + strconv.Itoa(len(m.value.bytes))
				case sfInnerList:
					v = "l"
				}
				parts = append(parts, m.key+"="+v)
			}
			got = strings.Join(parts, ",")
		}
		if got != tc.want {
			t.Errorf("%q: %s, want %s", tc.in, got, tc.want)
		}
	}
}

// FuzzParseDictionary: no input makes the parser panic or loop, and what
// it accepts it accepts again joined with itself.
func FuzzParseDictionary(f *testing.F) {
	for _, s := range []string{"sha-256=:AAAA:", "a=1;b=?0, c=(1 \"x\");d", "a=%\"%c3%bc\", b=@1", "x=1.5, y=-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDictionary([]string{s})
		if err != nil || len(d) == 0 {
			return
		}
		if _, err := parseDictionary([]string{s, s}); err != nil {
			t.Errorf("%q parses alone but not twice: %v", s, err)
		}
	})
}
