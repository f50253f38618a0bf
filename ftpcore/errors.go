package ftpcore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

// Error is a reply the client did not expect: the server answered Cmd with
// Code and Msg. The connection is still usable after an Error unless the
// call that returned it says otherwise (Conn.Usable tells).
type Error struct {
	Cmd  string // the command verb, e.g. "RETR"; never its argument
	Code int    // the three-digit reply code
	Msg  string // the reply text, lines joined by "\n"
}

func (e *Error) Error() string {
	return fmt.Sprintf("ftp: %s: %d %s", e.Cmd, e.Code, e.Msg)
}

// unexpected is the *Error for rep, a reply to verb that the caller did
// not expect. verb names the command, never its argument.
func unexpected(verb string, rep *Reply) *Error {
	return &Error{Cmd: verb, Code: rep.Code, Msg: rep.Msg()}
}

// Temporary reports whether the reply is a transient negative completion
// (4yz), which RFC 959 says may succeed if the command is repeated.
func (e *Error) Temporary() bool { return e.Code >= 400 && e.Code < 500 }

// ProtocolError reports a server that does not follow the protocol. When
// the reply stream itself is broken (a line without a reply code, a reply
// over the size limits) or a passive reply (227, 229) cannot be parsed,
// the connection is unusable afterwards. When only the content of a
// well-framed reply or listing is wrong (a SIZE that is not a number, an
// unparsable MLST fact or listing line, a listing over Config.MaxListing)
// the control connection is still in step and stays usable; Conn.Usable
// tells which.
type ProtocolError struct {
	Cmd string // the command whose reply was malformed ("" for the greeting)
	Msg string // what was wrong
}

func (e *ProtocolError) Error() string {
	if e.Cmd == "" {
		return "ftp: protocol error: " + e.Msg
	}
	return fmt.Sprintf("ftp: %s: protocol error: %s", e.Cmd, e.Msg)
}

// ErrBadArgument is wrapped by the error returned when a command argument
// contains CR, LF or NUL. Nothing is sent; the connection stays usable.
var ErrBadArgument = errors.New("argument contains CR, LF or NUL")

// ErrLineTooLong is wrapped by the error returned when a command line,
// argument and CRLF included, would be longer than 4096 bytes, the most
// vsftpd reads (proftpd and pure-ftpd take a few bytes more). Nothing is
// sent; the connection stays usable.
var ErrLineTooLong = errors.New("command line longer than 4096 bytes")

// ErrDataConn is wrapped by the error returned when a transfer's data
// connection could not be opened: the dial in passive mode, the server's
// connection in active mode, or the data connection's TLS handshake failed.
// The server's reply, when it gave one, is wrapped too (an *Error).
var ErrDataConn = errors.New("data connection")

// ErrUnusable is wrapped by every error returned by a Conn that was already
// marked unusable by an earlier failure.
var ErrUnusable = errors.New("connection unusable")

// ErrBusy is returned when a command is issued while a Transfer or Upload
// of the same Conn is still open.
var ErrBusy = errors.New("transfer in progress")

// IsConnLost reports whether err says the control connection is gone: a 421
// reply (service not available, closing control connection), or an EOF or
// reset on the control connection. A pooled session that fails this way on
// its first command was stale. An error wrapping ErrUnusable (a call on a
// Conn already given up) is not a lost connection.
func IsConnLost(err error) bool {
	// A call on a Conn already unusable failed fast; it says nothing new
	// about the connection even if the earlier cause (a 421) is wrapped.
	if errors.Is(err, ErrUnusable) {
		return false
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Code == StatusNotAvailable
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

// IsTimeout reports whether err is a timeout: a context deadline or an I/O
// deadline set by this package.
func IsTimeout(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// ReplyCode returns the FTP reply code carried by err, or 0.
func ReplyCode(err error) int {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return 0
}
