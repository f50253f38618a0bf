// Package clienttest drives the HTTP clients people already have against
// the gateway: curl, wget, aria2c, rclone's http backend, lftp, Python's
// urllib and node's fetch. Each runs as a process against the gateway
// binary (built from cmd/gateway) in front of a real vsftpd, once over plain
// FTP and once over explicit FTPS, and each case compares the SHA-256 of
// the bytes on both sides: what a client saved against the FTP server's
// file, and what arrived on the FTP server against what the client sent.
//
// The package has tests only. They need the clients (Debian's curl, wget,
// aria2, rclone, lftp, python3 and nodejs, which
// scripts/install-test-deps.sh installs) and vsftpd (internal/realftpd).
// Without them the tests skip, unless FTPGW_REQUIRE_REAL_SERVERS=1, in
// which case they fail.
package clienttest
