package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestWriteNotModified: a 304 keeps the validators a cache revalidates
// with, Last-Modified only where there is no ETag (net/http's
// writeNotModified), and drops what would describe a body.
func TestWriteNotModified(t *testing.T) {
	const etag, lastMod = `"b-17ccd493bd5b0715"`, "Mon, 06 May 2024 07:08:09 GMT"
	tests := []struct {
		name string
		set  map[string]string
		want map[string]string // "" for a header that must be absent
	}{
		{
			"ETag and Last-Modified",
			map[string]string{"ETag": etag, "Last-Modified": lastMod},
			map[string]string{"ETag": etag, "Last-Modified": ""},
		},
		{
			"Last-Modified alone",
			map[string]string{"Last-Modified": lastMod},
			map[string]string{"ETag": "", "Last-Modified": lastMod},
		},
		{
			"representation metadata",
			map[string]string{"ETag": etag, "Content-Type": "text/plain", "Content-Length": "11", "Content-Encoding": "gzip", "X-Request-Id": "r1"},
			map[string]string{"ETag": etag, "Content-Type": "", "Content-Length": "", "Content-Encoding": "", "X-Request-Id": "r1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			for k, v := range tt.set {
				rec.Header().Set(k, v)
			}
			writeNotModified(rec)
			if rec.Code != http.StatusNotModified {
				t.Fatalf("status %d, want 304", rec.Code)
			}
			for k, v := range tt.want {
				if got := rec.Result().Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
