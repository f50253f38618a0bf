# The ftpgw image: the static binary and the CA roots (for FTPS servers
# verified against the system roots) on an empty base, run as a user that
# is not root. Nothing else: no shell, no package manager.
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/ftpgw:TAG --push .
#
# The build stage runs on the build machine's platform and cross-compiles
# (no emulation); the final stage is the same for every platform.
ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH scripts/build-static.sh /out/ftpgw

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/ftpgw /ftpgw
# 65532: the "nonroot" user of distroless images, which Kubernetes'
# runAsNonRoot accepts because it is numeric.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/ftpgw"]
