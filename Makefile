# ftpgw — `make` or `make test` runs what CI runs: install the test
# dependencies (vsftpd, curl, chromium-headless-shell, podman, prometheus, etcd, pure-ftpd and
# proftpd unpacked under $FTPGW_TEST_SERVERS_DIR or
# /opt/ftpgw-test-servers, the ftpgwtest account, and helm, kwok and a
# Kubernetes control plane built from Go modules under $FTPGW_TEST_TOOLS_DIR
# or /opt/ftpgw-test-tools, about ten minutes the first time; needs root), check formatting, vet, staticcheck (a pinned version; any
# finding fails), then every test under -race with the real-server tests
# required rather than skipped. Other targets: build, run, vet, fmt, fuzz
# (every fuzz target in the tree for FUZZTIME each, default 10s), and bench
# (the gateway against direct FTP on vsftpd, then its latency mode: the
# gateway, direct curl and rclone serve http through delay proxies at 0, 1,
# 10 and 40 ms RTT, then a soak of SOAK, default 10m, 0 to skip it; results
# appended to BENCHMARKS.md; as root, about twenty-five minutes).

GO ?= go

.PHONY: test deps fmtcheck vet staticcheck build run fmt fuzz bench

test: deps fmtcheck vet staticcheck
	FTPGW_REQUIRE_REAL_SERVERS=1 $(GO) test -race -count=1 -timeout 30m ./...

deps:
	bash scripts/install-test-deps.sh

fmtcheck:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then \
		echo "gofmt -l found unformatted files (run: make fmt):"; \
		echo "$$out"; \
		exit 1; \
	fi

vet:
	$(GO) vet ./...

# Pinned, so that a new release's checks cannot turn a green tree red; the
# module and its build are cached by the go command after the first run.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

staticcheck:
	$(GO) run $(STATICCHECK) ./...

build:
	$(GO) build -o bin/gateway ./cmd/gateway

run:
	$(GO) run ./cmd/gateway --demo

fmt:
	gofmt -w .

FUZZTIME ?= 10s

# Each Fuzz function runs on its own: go test -fuzz takes one target at a time.
# Minimising a new input is capped at 10s: Go's default (60s) can stall a
# short run on one long input.
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		pkg=$$(dirname $$f); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -c6-); do \
			echo "== $$pkg $$t ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$pkg; \
		done; \
	done

# The soak's length (go run ./bench -h: -soak); 0 leaves it out.
SOAK ?= 10m

# strace (for the splice check) is a bench dependency only, not a test one.
bench: deps
	@command -v strace >/dev/null 2>&1 || { \
		echo "installing strace"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y --no-install-recommends strace || \
		{ apt-get update && apt-get install -y --no-install-recommends strace; }; \
	}
	$(GO) run ./bench -soak $(SOAK) -write BENCHMARKS.md
