// Package httpsem holds the parts of HTTP semantics a file server needs that
// have nothing to do with FTP: validators (RFC 9110 §8.8), conditional
// requests (§13), range requests (§14), content negotiation (§12), the
// Content-Disposition of a download (RFC 6266, RFC 8187), and the
// cleaning of request paths (RFC 3986 §3.3) that keeps every name under its
// root.
//
// It says what a request's headers demand (PrecondNotModified,
// RangeUnsatisfiable, ErrBadPath) and leaves the status code to api, the one
// package that knows them. Every function is pure and safe for concurrent
// use, and every parser is fuzzed: each reads bytes straight from a client.
package httpsem
