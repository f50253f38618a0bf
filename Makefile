# ftpgw — `make` or `make test` runs what CI runs: install the test
# dependencies (vsftpd, curl, the ftpgwtest account; needs root), check
# formatting, vet, then every test under -race with the real-server tests
# required rather than skipped. Other targets: build, run, vet, fmt.

GO ?= go

.PHONY: test deps fmtcheck vet build run fmt

test: deps fmtcheck vet
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

build:
	$(GO) build -o bin/gateway ./cmd/gateway

run:
	$(GO) run ./cmd/gateway --demo

fmt:
	gofmt -w .
