// Package ftpgw is an HTTP-to-FTP gateway. The gateway binary lives in
// cmd/gateway; the FTP client engine in ftpcore, session pooling in pool,
// the HTTP handlers in api, and the HTTP semantics that are not about FTP
// (ranges, conditionals, validators, negotiation, paths) in
// internal/httpsem.
package ftpgw
