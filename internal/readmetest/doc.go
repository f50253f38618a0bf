// Package readmetest runs the shell examples of the repository's README.md,
// as written, with bash and curl against the gateway in demo mode built
// from ./cmd/gateway: the README's curl examples are part of the client
// matrix, and an example that no longer works fails make test.
//
// The package has tests only. They need bash, curl, openssl and base64
// (scripts/install-test-deps.sh installs curl and openssl). Without them
// the tests skip, unless FTPGW_REQUIRE_REAL_SERVERS=1, in which case they
// fail.
package readmetest
