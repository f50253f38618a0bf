package ftpcore

import (
	"strconv"
	"strings"
)

// Servers name the size of what RETR sends in its preliminary reply:
//
//	vsftpd     150 Opening BINARY mode data connection for f (123456 bytes).    the file, whatever REST said
//	proftpd    150 Opening BINARY mode data connection for f (122456 bytes)     the rest from REST's offset
//	pure-ftpd  150-Accepted data connection / 150 119.6 kbytes to download      the rest, in KiB to a tenth
//
// That costs nothing to read, and tells a file that changed between the
// caller's look at it (SIZE, MLST) and the RETR, when no other command
// could: the bytes that follow are then another version's.

// announcedSize returns the size a RETR's preliminary reply names, in
// bytes, and how far off it may be (0 for an exact count); ok is false
// where the reply names none the gateway can read.
func announcedSize(rep *Reply) (n, slack int64, ok bool) {
	msg := rep.Msg()
	if i := strings.LastIndex(msg, " bytes)"); i > 0 {
		j := strings.LastIndexByte(msg[:i], '(')
		if j >= 0 {
			if n, err := strconv.ParseInt(msg[j+1:i], 10, 64); err == nil && n >= 0 {
				return n, 0, true
			}
		}
	}
	if rest, found := strings.CutSuffix(msg, " kbytes to download"); found {
		k := rest[strings.LastIndexAny(rest, " \n")+1:]
		if f, err := strconv.ParseFloat(k, 64); err == nil && f >= 0 && f < 1<<50 && !strings.ContainsAny(k, "eEnNiIxX+-_") {
			// A tenth of a KiB, rounded: half of it either way, and a
			// byte for the float.
			return int64(f * 1024), 1024/20 + 1, true
		}
	}
	return 0, 0, false
}

// SizeChanged reports whether the server's preliminary reply to the RETR
// named a size that a file of size bytes (as the caller last saw it) does
// not explain, neither as the whole file nor as the rest from the offset:
// the file changed in between, and the data is another version's. A reply
// that names no size never says so.
func (t *Transfer) SizeChanged(size int64) bool {
	if !t.announced.ok {
		return false
	}
	a := t.announced
	near := func(want int64) bool { return want >= 0 && a.n-a.slack <= want && want <= a.n+a.slack }
	return !near(size) && !near(size-t.offset)
}

// EndedEmpty reports, after Wait, whether the data ended without a byte:
// for a caller that expected some, the file shrank since it was looked at.
func (t *Transfer) EndedEmpty() bool { return t.eof && t.n == 0 && !t.held }
