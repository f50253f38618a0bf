package api

import (
	"strconv"
	"time"
)

// ETag returns the strong entity tag the gateway uses for a file of size bytes modified at mod: `"<size hex>-<mod UnixNano hex>"` (quoted). Empty string when mod.IsZero() (no MDTM → no validator).
//
// FTP offers no content hash, so size and modification time are the best
// validator available; both change on any ordinary overwrite. Without a
// modification time a tag built from size alone would call two different
// files of equal length the same, so no tag is better than a wrong one.
// The tag contains only hex digits and '-', all valid etagc characters.
func ETag(size int64, mod time.Time) string {
	if mod.IsZero() {
		return ""
	}
	b := make([]byte, 0, 2+1+2*17)
	b = append(b, '"')
	b = strconv.AppendInt(b, size, 16)
	b = append(b, '-')
	b = strconv.AppendInt(b, mod.UnixNano(), 16)
	b = append(b, '"')
	return string(b)
}
