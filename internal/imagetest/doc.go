// Package imagetest checks the container image the Dockerfile describes. No
// base image can be pulled where the tests run, so the build stage (a Go
// image) cannot run here: the test builds the binary with the script the
// build stage runs (scripts/build-static.sh), then builds the Dockerfile's
// final stage, as written, with podman, its COPY --from=build sources
// taken from here. It checks what Kubernetes' pod security asks of the
// image: a numeric user that is not root, the binary as entrypoint, and
// nothing else in it (no shell).
//
// Without podman the tests skip, unless FTPGW_REQUIRE_REAL_SERVERS=1 (as
// make test sets), in which case they fail.
package imagetest
