package api

import "testing"

// TestIsActiveType: the types a browser could run script from, however
// the machine's mime.types spells them, and only those.
func TestIsActiveType(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/html":                       true,
		"text/html; charset=utf-8":        true,
		"TEXT/HTML; charset=UTF-8":        true,
		" Text/Html ;q=1":                 true,
		"application/xhtml+xml":           true,
		"image/svg+xml":                   true,
		"text/xml; charset=utf-8":         true,
		"application/xml":                 true,
		"application/atom+xml":            true,
		"application/rss+xml":             true,
		"application/xslt+xml":            true,
		"application/mathml+xml":          true,
		"text/xsl":                        true,
		"text/javascript; charset=utf-8":  true,
		"application/javascript":          true,
		"application/x-javascript":        true,
		"application/ecmascript":          true,
		"text/ecmascript":                 true,
		"application/pdf":                 true,
		"text/css; charset=utf-8":         false,
		"text/plain; charset=utf-8":       false,
		"application/json":                false,
		"image/png":                       false,
		"image/svg":                       false,
		"video/mp4":                       false,
		"audio/mpeg":                      false,
		"application/octet-stream":        false,
		"application/wasm":                false,
		"text/htmlx":                      false,
		"application/xml-dtd":             false,
		"application/vnd.ms-excel":        false,
		"":                                false,
		"application/x-xml-but-not+xmlno": false,
	} {
		if got := isActiveType(ct); got != want {
			t.Errorf("isActiveType(%q) = %v, want %v", ct, got, want)
		}
	}
}
