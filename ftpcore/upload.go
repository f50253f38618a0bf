package ftpcore

import (
	"context"
	"strings"
)

// Stou starts an upload to a name the server chooses, unique in the working
// directory (STOU, RFC 959 §4.1.3) — the login directory, for a session
// nobody moved. The chosen name is Upload.Name, read from the server's
// preliminary reply ("150 FILE: name", RFC 1123 §4.1.2.9).
func (c *Conn) Stou(ctx context.Context) (*Upload, error) {
	return c.store(ctx, "STOU", "", 0)
}

// Name returns the file name a STOU upload was given by the server, as its
// preliminary reply stated it ("150 FILE: name"), or "".
func (u *Upload) Name() string {
	if u.prelim == nil || u.verb != "STOU" {
		return ""
	}
	msg := u.prelim.Msg()
	i := strings.Index(strings.ToUpper(msg), "FILE:")
	if i < 0 {
		return ""
	}
	name := strings.TrimSpace(msg[i+len("FILE:"):])
	if j := strings.IndexByte(name, '\n'); j >= 0 {
		name = strings.TrimSpace(name[:j])
	}
	return name
}

// CanResume reports whether the server advertises REST in stream mode
// (FEAT "REST STREAM", RFC 3659 §5), so that Retr and Stor with an offset
// resume where a transfer stopped. Servers that do not list it may still
// accept REST; callers that must know should try and handle the *Error.
func (c *Conn) CanResume() bool {
	v, ok := c.features["REST"]
	return ok && strings.EqualFold(strings.TrimSpace(v), "STREAM")
}
