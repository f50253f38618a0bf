#!/bin/sh
# build-static.sh OUT builds the gateway as the image ships it: a static
# binary (no cgo, so no libc to find at run time), without the build
# machine's paths, symbols or build id. The Dockerfile runs it, and so does
# internal/imagetest, so that the binary it checks is the one the image
# holds. GOOS and GOARCH pick the platform, as go build takes them.
set -eu
out=${1:?usage: build-static.sh OUT}
cd "$(dirname "$0")/.."
CGO_ENABLED=0 exec go build -trimpath -ldflags '-s -w -buildid=' -o "$out" ./cmd/gateway
