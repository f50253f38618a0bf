package httpsem

import (
	"hash/fnv"
	"math"
	"strconv"
	"time"
)

// ETag returns the strong entity-tag of a file of size bytes last modified
// at mod, with unique the server's identifier of the file (RFC 3659's
// "unique" fact; "" where the server sends none), or "" when mod is
// unknown (zero).
//
// An FTP server offers no content hash, so size and modification time are
// the best validator there is: both change on any ordinary overwrite. The
// caller gives a tag only once the file has settled, when no later write
// can keep its date (see api's serverClock). The unique fact tells apart a
// file replaced by another of the same size and date (a copy that kept its
// time), where the server has one. The tag is "<size in hex>-<mod in Unix
// nanoseconds, hex>", then "-<64-bit FNV-1a of unique, hex>" if there is a
// unique fact, quoted; hex digits and '-' are all etagc characters.
// Without a modification time a tag of the size alone would call two
// different files of equal length the same, and no tag is better than a
// wrong one.
//
// A time whose Unix nanoseconds do not fit in an int64 (before 1678 or
// after April 2262, which an FTP server's MDTM may well say: RFC 3659 has
// years 0000 to 9999) is written "<seconds, hex>.<nanoseconds, hex>"
// instead: UnixNano wraps there, and two times 2^64 ns apart would share a
// tag.
func ETag(size int64, mod time.Time, unique string) string {
	if mod.IsZero() {
		return ""
	}
	b := make([]byte, 0, 2+3*17)
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
	if unique != "" {
		h := fnv.New64a()
		h.Write([]byte(unique))
		b = append(b, '-')
		b = strconv.AppendUint(b, h.Sum64(), 16)
	}
	b = append(b, '"')
	return string(b)
}
