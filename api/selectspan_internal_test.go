package api

import (
	"net/http"
	"testing"

	"github.com/ftpgw/ftpgw/internal/httpsem"
)

// TestSelectSpanSingleRangeAllocs: a GET of one range pays nothing for
// multipart/byteranges: selecting its span allocates only the
// Content-Range it sets, as before several ranges were served.
func TestSelectSpanSingleRangeAllocs(t *testing.T) {
	r, err := http.NewRequest(http.MethodGet, "/files/f.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Range", "bytes=100-199")
	h := http.Header{}
	allocs := testing.AllocsPerRun(100, func() {
		sp, err := selectSpan(h, r, httpsem.Validators{}, 1000, DefaultMaxRanges)
		if err != nil || sp.status != http.StatusPartialContent || sp.offset != 100 || sp.length != 100 {
			t.Fatalf("%+v, %v", sp, err)
		}
	})
	// The Content-Range string and Header.Set's slice; main before
	// multipart/byteranges made the same two.
	if allocs > 2 {
		t.Errorf("%v allocations to select one range, want 2", allocs)
	}
}
