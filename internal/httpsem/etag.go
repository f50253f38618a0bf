package httpsem

import (
	"strconv"
	"time"
)

// ETag returns the strong entity-tag of a file of size bytes last modified
// at mod, or "" when mod is unknown (zero).
//
// An FTP server offers no content hash, so size and modification time are
// the best validator there is: both change on any ordinary overwrite. The
// tag is "<size in hex>-<mod in Unix nanoseconds, hex>", quoted; hex digits
// and '-' are all etagc characters. Without a modification time a tag of
// the size alone would call two different files of equal length the same,
// and no tag is better than a wrong one.
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
