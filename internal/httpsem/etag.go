package httpsem

import (
	"math"
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
//
// A time whose Unix nanoseconds do not fit in an int64 (before 1678 or
// after April 2262, which an FTP server's MDTM may well say: RFC 3659 has
// years 0000 to 9999) is written "<seconds, hex>.<nanoseconds, hex>"
// instead: UnixNano wraps there, and two times 2^64 ns apart would share a
// tag.
func ETag(size int64, mod time.Time) string {
	if mod.IsZero() {
		return ""
	}
	b := make([]byte, 0, 2+1+2*17+1+8)
	b = append(b, '"')
	b = strconv.AppendInt(b, size, 16)
	b = append(b, '-')
	if sec := mod.Unix(); sec > math.MinInt64/int64(time.Second) && sec < math.MaxInt64/int64(time.Second) {
		b = strconv.AppendInt(b, mod.UnixNano(), 16)
	} else {
		b = strconv.AppendInt(b, sec, 16)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(mod.Nanosecond()), 16)
	}
	b = append(b, '"')
	return string(b)
}
