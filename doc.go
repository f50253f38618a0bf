// Package ftpgw is an HTTP-to-FTP gateway. The gateway binary lives in
// cmd/gateway; the FTP client engine in ftpcore, session pooling in pool and
// the HTTP handlers in api.
package ftpgw
