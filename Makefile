# `make check` is exactly what CI runs (.ci/run calls it).
GO ?= go
PKGS := ./...
FUZZTIME ?= 10s

.PHONY: check fmt vet test test-short fuzz fuzz-short bench bench-e2e build clean

check: fmt vet test fuzz-short

build:
	$(GO) build -o bin/cordon ./cmd/cordon

fmt:
	@out=$$(gofmt -l . | grep -v '^vendor/' || true); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags chaosfault ./bus ./cmd/cordon   # the chaos tests' build (bus/fault_chaos.go)

# The whole suite with the race detector. Integration tests start embedded
# NATS servers and use PostgreSQL at $$CORDON_TEST_PG_DSN
# (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable).
test:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

# Each fuzz target for FUZZTIME (committed corpora also run in `make test`).
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10x $$pkg || exit 1; \
	  done; \
	done

# A short fuzz pass over the parsers of attacker bytes, for CI. A count,
# not a duration: a duration that ends mid-minimisation makes go test
# report "context deadline exceeded".
fuzz-short:
	$(MAKE) fuzz FUZZTIME=5000x PKGS="./envelope ./jsonstrict ./dlp ./policy ./frontend ./deployment"

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin cordon-data
