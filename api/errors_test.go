package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"

	"github.com/ftpgw/ftpgw/ftpcore"
	"github.com/ftpgw/ftpgw/internal/httpsem"
	"github.com/ftpgw/ftpgw/pool"
)

// TestClassify pins every mapping README.md lists under Errors, and the
// order classify tries them in: each row is an error as a handler would
// return it, wrapped as ftpcore and pool wrap it.
func TestClassify(t *testing.T) {
	reply := func(cmd string, code int, msg string) error {
		return fmt.Errorf("ftpcore: %s: %w", cmd, &ftpcore.Error{Cmd: cmd, Code: code, Msg: msg})
	}
	connect := func(err error) error { return &pool.ConnectError{Backend: "b", Err: err} }
	ioTimeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	_, _, badPath := httpsem.CleanPath("a/../b")
	rangeHeader := http.Header{"Content-Range": {"bytes */1000"}}

	tests := []struct {
		name       string
		err        error
		status     int
		detail     string
		retryAfter retry
		ftpCode    int
		ftpMsg     string
		header     http.Header
	}{
		// FTP replies, by code (RFC 959 §4.2).
		{"550 missing", reply("RETR", 550, "No such file or directory"), 404, "no such file or directory", retryNone, 550, "No such file or directory", nil},
		{"550 permission denied", reply("STOR", 550, "Permission denied"), 403, "the FTP server denied access", retryNone, 550, "Permission denied", nil},
		{"550 access denied", reply("DELE", 550, "Access denied."), 403, "the FTP server denied access", retryNone, 550, "Access denied.", nil},
		{"550 not permitted", reply("RMD", 550, "Operation not permitted"), 403, "the FTP server denied access", retryNone, 550, "Operation not permitted", nil},
		{"550 forbidden", reply("MLST", 550, "FORBIDDEN"), 403, "the FTP server denied access", retryNone, 550, "FORBIDDEN", nil},
		{"550 access is denied", reply("RETR", 550, "Access is denied."), 403, "the FTP server denied access", retryNone, 550, "Access is denied.", nil},
		{"550 to the rename of an upload", reply("RNTO", 550, "Rename failed."), 502, "the FTP server refused to move the upload into place", retryNone, 550, "Rename failed.", nil},
		{"550 to its RNFR", reply("RNFR", 550, "RNFR command failed."), 502, "the FTP server refused to move the upload into place", retryNone, 550, "RNFR command failed.", nil},
		{"550 permission to rename", reply("RNTO", 550, "Permission denied"), 403, "the FTP server denied access", retryNone, 550, "Permission denied", nil},
		{"553 bad name", reply("STOR", 553, "Could not create file"), 400, "the FTP server rejected the name", retryNone, 553, "Could not create file", nil},
		{"501 bad arguments", reply("STOR", 501, "Syntax error in parameters"), 400, "the FTP server rejected the name", retryNone, 501, "Syntax error in parameters", nil},
		{"552 quota", reply("STOR", 552, "Exceeded storage allocation"), 507, "the FTP server is out of space", retryNone, 552, "Exceeded storage allocation", nil},
		{"452 disk full", reply("STOR", 452, "Insufficient storage space"), 507, "the FTP server is out of space", retryNone, 452, "Insufficient storage space", nil},
		{"421 closing", reply("RETR", 421, "Service not available"), 503, "the FTP server is not available", retrySoon, 421, "Service not available", nil},
		{"450 busy", reply("RETR", 450, "File busy"), 503, "the file is busy on the FTP server", retrySoon, 450, "File busy", nil},
		{"530 not logged in", reply("MLST", 530, "Not logged in"), 502, "the FTP server refused the login", retryNone, 530, "Not logged in", nil},
		{"532 need account", reply("STOR", 532, "Need account for storing files"), 502, "the FTP server refused the login", retryNone, 532, "Need account for storing files", nil},
		{"425 no data connection", reply("RETR", 425, "Can't open data connection"), 502, "the FTP data connection failed", retryNone, 425, "Can't open data connection", nil},
		{"426 transfer aborted", reply("RETR", 426, "Transfer aborted"), 502, "the FTP data connection failed", retryNone, 426, "Transfer aborted", nil},
		{"451 other 4xx", reply("DELE", 451, "Local error"), 502, "the FTP server refused the request", retryNone, 451, "Local error", nil},
		{"500 other 5xx", reply("MLST", 500, "Unknown command"), 502, "the FTP server refused the request", retryNone, 500, "Unknown command", nil},
		{"reply on an unusable session", fmt.Errorf("ftpcore: RETR: %w: %w", ftpcore.ErrUnusable, &ftpcore.Error{Cmd: "RETR", Code: 426, Msg: "aborted"}), 502, "the FTP data connection failed", retryNone, 426, "aborted", nil},

		// The pool.
		{"all sessions busy", pool.ErrExhausted, 503, "all FTP sessions are busy", retryBusy, 0, "", nil},
		{"pool closed", pool.ErrClosed, 503, "the gateway is shutting down", retrySoon, 0, "", nil},
		{"connect: 421 at the greeting", connect(reply("", 421, "Too many connections")), 503, "the FTP server is not taking connections", retrySoon, 421, "Too many connections", nil},
		{"connect: proftpd's 530 greeting", connect(reply("greeting", 530, "Sorry, the maximum number of connections (2) for your host are already connected.")), 503, "the FTP server is not taking connections", retrySoon, 530, "Sorry, the maximum number of connections (2) for your host are already connected.", nil},
		{"connect: 421 at login", connect(reply("PASS", 421, "Too many users")), 503, "the FTP server is not taking connections", retrySoon, 421, "Too many users", nil},
		{"connect: login refused", connect(reply("PASS", 530, "Login incorrect.")), 502, "the FTP server refused the login", retryNone, 530, "Login incorrect.", nil},
		{"connect: TLS refused", connect(reply("AUTH", 534, "Policy requires SSL")), 502, "the FTP server refused the login", retryNone, 534, "Policy requires SSL", nil},
		{"connect: timeout", connect(&net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}), 504, "timed out connecting to the FTP server", retryNone, 0, "", nil},
		{"connect: context deadline", connect(context.DeadlineExceeded), 504, "timed out connecting to the FTP server", retryNone, 0, "", nil},
		{"connect: refused", connect(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), 502, "cannot connect to the FTP server", retryNone, 0, "", nil},
		{"connect: malformed greeting", connect(&ftpcore.ProtocolError{Msg: "bad greeting"}), 502, "cannot connect to the FTP server", retryNone, 0, "", nil},

		// Timeouts, lost connections, malformed replies.
		{"I/O deadline", fmt.Errorf("ftpcore: RETR: %w", ioTimeout), 504, "the FTP server did not answer in time", retryNone, 0, "", nil},
		{"context deadline", fmt.Errorf("ftpcore: SIZE: %w", context.DeadlineExceeded), 504, "the FTP server did not answer in time", retryNone, 0, "", nil},
		{"malformed reply", &ftpcore.ProtocolError{Cmd: "MLST", Msg: "no facts"}, 502, "the FTP server sent a malformed reply", retryNone, 0, "", nil},
		{"data connection reset at its dial, after a 150", fmt.Errorf("%w (%w)", &ftpcore.ProtocolError{Cmd: "RETR", Msg: "reply 150 without a data connection"}, fmt.Errorf("ftpcore: %w: %w", ftpcore.ErrDataConn, &net.OpError{Op: "dial", Err: syscall.ECONNRESET})), 502, "cannot open a data connection to the FTP server", retryNone, 0, "", nil},
		{"data connection dial timed out", fmt.Errorf("ftpcore: %w: %w", ftpcore.ErrDataConn, context.DeadlineExceeded), 504, "timed out opening a data connection to the FTP server", retryNone, 0, "", nil},
		{"control connection EOF", fmt.Errorf("ftpcore: RETR: %w", io.EOF), 502, "the FTP server closed the connection", retryNone, 0, "", nil},
		{"control connection cut short", fmt.Errorf("ftpcore: RETR: %w", io.ErrUnexpectedEOF), 502, "the FTP server closed the connection", retryNone, 0, "", nil},
		{"control connection reset", fmt.Errorf("ftpcore: STOR: %w", &net.OpError{Op: "read", Err: syscall.ECONNRESET}), 502, "the FTP server closed the connection", retryNone, 0, "", nil},
		{"session already unusable", fmt.Errorf("ftpcore: SIZE: %w: %w", ftpcore.ErrUnusable, io.EOF), 502, "the FTP server closed the connection", retryNone, 0, "", nil},

		// The client.
		{"client gone", fmt.Errorf("ftpcore: MLST: %w", context.Canceled), statusClientClosed, "the client went away", retryNone, 0, "", nil},
		{"bad path", badPath, 400, badPath.Error(), retryNone, 0, "", nil},
		{"control character for the FTP server", fmt.Errorf("ftpcore: DELE: %w", ftpcore.ErrBadArgument), 400, "the path contains a control character", retryNone, 0, "", nil},
		{"path too long for the FTP server", fmt.Errorf("ftpcore: MLST: %w", ftpcore.ErrLineTooLong), 400, "the path is too long for the FTP server", retryNone, 0, "", nil},

		// Problems the handlers chose; an FTP reply behind one still
		// gives its code.
		{"request body stalled", clientStalled(&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}), 408, "the request body stalled", retryNone, 0, "", nil},
		{"bad request", badRequest("the request body ended early or could not be read", io.ErrUnexpectedEOF), 400, "the request body ended early or could not be read", retryNone, 0, "", nil},
		{"conflict with its reply", conflict("the parent directory does not exist", reply("MLST", 550, "No such file")), 409, "the parent directory does not exist", retryNone, 550, "No such file", nil},
		{"not found", notFound("not a regular file"), 404, "not a regular file", retryNone, 0, "", nil},
		{"method not allowed", methodNotAllowed("the root cannot be deleted"), 405, "the root cannot be deleted", retryNone, 0, "", nil},
		{"no route", noRoute([]string{"/files/"}), 404, "no such route; files are served under /files/", retryNone, 0, "", nil},
		{"no route, several backends", noRoute([]string{"/a/", "/b/"}), 404, "no such route; files are served under /a/, /b/", retryNone, 0, "", nil},
		{"method not allowed on a route", errMethodNotAllowed, 405, "method not allowed here", retryNone, 0, "", nil},
		{"precondition failed", preconditionFailed(), 412, "a precondition in the request headers does not hold", retryNone, 0, "", nil},
		{"range not satisfiable", rangeNotSatisfiable(1000), 416, "the range does not overlap the file", retryNone, 0, "", rangeHeader},
		{"stored size differs", upstreamMismatch("the FTP server stored 1 bytes of the 2 sent"), 502, "the FTP server stored 1 bytes of the 2 sent", retryNone, 0, "", nil},
		{"transfer places stayed taken", transfersFull(context.DeadlineExceeded), 503, "all transfer places of the backend stayed taken", retryBusy, 0, "", nil},
		{"client's transfers at its cap", clientTransfersFull(2), 429, "this client already has the most transfers under way it may have at once: 2", retryBusy, 0, "", nil},
		{"not ready", notReadyBackends([]string{"media"}, pool.ErrExhausted), 503, "no FTP session can be had of backend media", retryNone, 0, "", nil},
		{"problem wrapped", fmt.Errorf("putting: %w", conflict("a directory exists at this path", nil)), 409, "a directory exists at this path", retryNone, 0, "", nil},

		// Anything else is the gateway's own fault.
		{"unknown", errors.New("panic: boom"), 500, "internal error", retryNone, 0, "", nil},
		{"transfer still open", fmt.Errorf("ftpcore: SIZE: %w", ftpcore.ErrBusy), 500, "internal error", retryNone, 0, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := classify(tt.err)
			if c.status != tt.status || c.detail != tt.detail || c.retryAfter != tt.retryAfter {
				t.Errorf("classify(%v) = %d %q retryAfter=%v; want %d %q retryAfter=%v",
					tt.err, c.status, c.detail, c.retryAfter, tt.status, tt.detail, tt.retryAfter)
			}
			if c.ftpCode != tt.ftpCode || c.ftpMsg != tt.ftpMsg {
				t.Errorf("classify(%v): FTP reply %d %q, want %d %q", tt.err, c.ftpCode, c.ftpMsg, tt.ftpCode, tt.ftpMsg)
			}
			if fmt.Sprint(c.header) != fmt.Sprint(tt.header) {
				t.Errorf("classify(%v): header %v, want %v", tt.err, c.header, tt.header)
			}
		})
	}
}
