// Package browsertest drives a real headless Chromium against the gateway,
// to show what only a browser can: that a page of another origin can read,
// write and delete files through the gateway within the CORS policy (the
// Fetch standard's CORS protocol, with its preflight), that an origin the
// policy does not name cannot, and that a file uploaded through the
// gateway cannot run script on the gateway's origin (the CSP sandbox, the
// attachments and nosniff of api/safe.go, seen from the browser's side).
//
// The package has tests only. They need Chromium (Debian's
// chromium-headless-shell or chromium, which scripts/install-test-deps.sh
// installs) and vsftpd (internal/realftpd). Without them the tests skip,
// unless FTPGW_REQUIRE_REAL_SERVERS=1, in which case they fail.
package browsertest
