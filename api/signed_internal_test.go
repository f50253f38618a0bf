package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/ftpgw/ftpgw/auth"
)

// FuzzSignedQuery: whatever query a client sends, signedQuery never
// panics; a query without an ftpgw- parameter is not a signed one (its
// token decides); and the query Sign writes, with download beside it,
// reads back as it was.
func FuzzSignedQuery(f *testing.F) {
	u := auth.SignedURL{Method: "GET", Expires: "1800000000", KeyID: "k1", Signature: strings.Repeat("A", 43)}
	f.Add(u.Query())
	f.Add(u.Query() + "&download=1")
	f.Add("download=1&x=%zz")
	f.Add("ftpgw%2Dsignature=a&ftpgw-method=GET&ftpgw-method=PUT")
	f.Fuzz(func(t *testing.T, raw string) {
		got, present, err := signedQuery(raw)
		if !present && err != nil {
			t.Fatalf("%q: not signed, and yet %v", raw, err)
		}
		if !strings.Contains(raw, "ftpgw") && !strings.Contains(raw, "%") && present {
			t.Fatalf("%q: taken for a signed URL", raw)
		}
		var p *problem
		if err != nil && (!errors.As(err, &p) || p.status != 400 && p.status != 403) {
			t.Fatalf("%q: %v is neither 400 nor 403", raw, err)
		}
		if raw == u.Query() && (got != u || err != nil) {
			t.Fatalf("%q read as %+v, %v", raw, got, err)
		}
	})
}
