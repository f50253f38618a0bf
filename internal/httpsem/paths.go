package httpsem

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// ErrBadPath is wrapped by every error CleanPath returns, so a caller can
// map them all to 400 with one errors.Is. The messages say what is
// wrong and where, but never echo the offending bytes, which may be control
// characters meant for a terminal or a log.
var ErrBadPath = errors.New("invalid path")

// maxPathLen is the longest path CleanPath accepts, in bytes of the decoded
// path, before and after cleaning: Linux's PATH_MAX, so that any path that
// passes can be stored by a Unix FTP server.
const maxPathLen = 4096

// maxSegmentLen is NAME_MAX on the file systems FTP servers run on; a longer
// name could never exist, so refusing it early saves a round trip.
const maxSegmentLen = 255

// CleanPath turns the part of a request path below its route's prefix into a
// clean path rooted at "/" that cannot leave it, and reports whether it names
// a directory (a trailing slash, or the root). raw is the path as decoded
// once, from r.URL.Path: decoding it again would name another file than the
// one the client named.
//
// The result is what the gateway sends to the FTP server (after JoinRoot), so
// CleanPath rejects rather than repairs anything that could make the server
// act on a different file than the one named: ".." segments (never resolved,
// so "a/../b" is an error too), backslashes (a separator on Windows servers),
// control bytes and C1 control characters (CR and LF end an FTP command), a
// leading "~" segment (servers expand ~user), segments ending in a space or
// made only of dots and spaces (Windows servers strip trailing dots and
// spaces, turning ".. " into ".."; other servers trim trailing whitespace of
// the command line), invalid UTF-8, and over-long paths or segments. Empty
// and "." segments are harmless and are collapsed. A raw path whose last
// segment is empty or "." names a directory.
//
// The result starts with "/", has no trailing slash unless it is "/" itself,
// and is its own path.Clean.
func CleanPath(raw string) (clean string, dir bool, err error) {
	if len(raw) > maxPathLen {
		return "", false, fmt.Errorf("%w: longer than %d bytes", ErrBadPath, maxPathLen)
	}
	if !utf8.ValidString(raw) {
		return "", false, fmt.Errorf("%w: not valid UTF-8", ErrBadPath)
	}
	for i, r := range raw {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			return "", false, fmt.Errorf("%w: control character at byte %d", ErrBadPath, i)
		case r == '\\':
			return "", false, fmt.Errorf("%w: backslash at byte %d", ErrBadPath, i)
		}
	}

	var b strings.Builder
	b.Grow(len(raw) + 1)
	n := 0 // segments kept
	for seg := range strings.SplitSeq(raw, "/") {
		switch {
		case seg == "" || seg == ".":
			continue
		case seg == "..":
			return "", false, fmt.Errorf("%w: \"..\" segment", ErrBadPath)
		case len(seg) > maxSegmentLen:
			return "", false, fmt.Errorf("%w: segment %d longer than %d bytes", ErrBadPath, n+1, maxSegmentLen)
		case n == 0 && seg[0] == '~':
			return "", false, fmt.Errorf("%w: starts with \"~\"", ErrBadPath)
		case strings.Trim(seg, ". ") == "":
			return "", false, fmt.Errorf("%w: segment %d is only dots and spaces", ErrBadPath, n+1)
		case seg[len(seg)-1] == ' ':
			return "", false, fmt.Errorf("%w: segment %d ends with a space", ErrBadPath, n+1)
		}
		b.WriteByte('/')
		b.WriteString(seg)
		n++
	}
	if n == 0 {
		return "/", true, nil
	}
	clean = b.String()
	if len(clean) > maxPathLen {
		// "a" cleans to "/a", so a path at the limit can grow by one; refusing
		// it keeps CleanPath idempotent.
		return "", false, fmt.Errorf("%w: longer than %d bytes", ErrBadPath, maxPathLen)
	}
	last := raw[strings.LastIndexByte(raw, '/')+1:]
	return clean, last == "" || last == ".", nil
}

// JoinRoot joins a cleaned path under an FTP root directory, producing the
// path the gateway sends on the control channel.
//
// root is an absolute, already-resolved directory such as "/srv/data" or "/";
// the result is path.Join(root, clean). An empty root means the FTP login
// directory: the result is then relative to it, "." for the root and "./a/b"
// otherwise, so that a name such as "-la" can never be read as a LIST option.
//
// clean should come from CleanPath, but JoinRoot confines it under root by
// itself too (a rooted path.Clean drops leading ".."), so a caller that skips
// CleanPath cannot escape root through it.
func JoinRoot(root, clean string) string {
	c := path.Clean("/" + clean)
	if root == "" {
		if c == "/" {
			return "."
		}
		return "." + c
	}
	return path.Join(root, c)
}
