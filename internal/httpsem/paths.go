package api

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// ErrBadPath is wrapped by every error CleanPath returns (errors.Is), so the
// handler can map them all to 400 with one check. The messages say what is
// wrong and where, but never echo the offending bytes, which may be control
// characters meant for a terminal or a log.
var ErrBadPath = errors.New("invalid path")

// MaxPathLen is the longest path CleanPath accepts, in bytes of the decoded
// path, before and after cleaning. It matches Linux's PATH_MAX so that any
// path that passes can be stored by a Unix FTP server.
const MaxPathLen = 4096 // bytes, of the decoded path

// maxSegmentLen is NAME_MAX on the file systems FTP servers run on; a longer
// name could never exist, so refusing it early saves a round trip.
const maxSegmentLen = 255

// CleanPath turns the {path...} part of /files/{path...} (already percent-decoded once by the router; pass r.URL.Path-derived text, NOT re-decoded) into a clean slash-rooted path confined under "/".
// dir reports whether the request named a directory (trailing slash, or the root).
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
// and is its own path.Clean. CleanPath is safe for concurrent use.
func CleanPath(raw string) (clean string, dir bool, err error) {
	if len(raw) > MaxPathLen {
		return "", false, fmt.Errorf("%w: longer than %d bytes", ErrBadPath, MaxPathLen)
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
	if len(clean) > MaxPathLen {
		// "a" cleans to "/a", so a path at the limit can grow by one; refusing
		// it keeps CleanPath idempotent.
		return "", false, fmt.Errorf("%w: longer than %d bytes", ErrBadPath, MaxPathLen)
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
