// Package ftpcore is ftpgw's FTP client engine.
//
// It implements the client side of RFC 959 (the protocol, its reply format
// and the transfer commands, passive and active), RFC 2228 and RFC 4217
// (FTPS: AUTH TLS, PBSZ, PROT, implicit TLS), RFC 2389 (FEAT and OPTS), RFC
// 2428 (EPSV, EPRT, IPv6) and RFC 3659 (SIZE, MDTM, REST STREAM, MLST and
// MLSD). It imports the standard library only; pooling lives in package
// pool and HTTP in package api.
//
// The rules it keeps, modelled on net/textproto and net/smtp:
//
//   - Every call that does I/O takes a context. Cancelling the context sets a
//     deadline in the past on the connections in use, and every call has a
//     timeout of its own (Config lists them), so no call can block forever.
//   - A transfer whose context ends is aborted as RFC 959 §4.1.3 describes:
//     its data connection is reset at once, and its Close sends ABOR after
//     the Telnet IP and Synch, reads the replies and proves with NOOP that
//     the control connection is in step (abort.go says what each server
//     answers).
//   - A reply the caller did not expect is an *Error that keeps the command,
//     the code and the text; a byte stream that is not a well-formed reply is
//     a *ProtocolError.
//   - Every argument is checked for CR, LF and NUL before it is sent, so no
//     command can be smuggled onto the control connection.
//   - The address inside a 227 (PASV) reply is ignored unless the caller opts
//     in: data connections go to the control connection's peer. In active
//     mode, a data connection from any other address is refused.
//   - A client that asks for TLS sends nothing secret in the clear: a server
//     that refuses AUTH TLS, PBSZ or PROT P fails Dial before USER.
//   - A Conn whose state is no longer known (I/O error, timeout, a command
//     cancelled while awaiting its reply, malformed reply, a transfer that
//     did not end cleanly or an ABOR exchange that did not complete within
//     AbortTimeout) is marked unusable and every later call fails fast; it
//     is never resynchronised. So is a Conn that met a 421 reply, whatever
//     the command: the call returns that command's *Error 421, which
//     IsConnLost reports as a lost connection (exchange.go).
package ftpcore
