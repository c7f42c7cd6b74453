# plumtree-go: every check CI runs is `make test`.
SHELL := /bin/bash
GO ?= go
# Modules in the workspace, read from go.work.
MODULES := $(shell sed -n 's/^[[:space:]]*\.\/\([^[:space:])]*\).*/\1/p' go.work)
# Packages whose tests run with the race detector (concurrent code).
RACE_PKGS ?= ./core/node/... ./transport-tcp/... ./membership/... ./cache/...
FUZZTIME ?= 10s

.PHONY: test fmt-check vet unit race gowork-off fuzz-short fuzz bench soak sim sim-full tidy-check

test: fmt-check vet tidy-check unit race gowork-off fuzz-short
	@echo "make test: all checks passed"

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	@for m in $(MODULES); do echo "vet $$m"; (cd $$m && $(GO) vet ./...) || exit 1; done

tidy-check:
	@for m in $(MODULES); do (cd $$m && GOWORK=off GOFLAGS=-mod=mod $(GO) mod tidy -diff >/dev/null) || { echo "go.mod of $$m is not tidy: run go mod tidy in $$m"; exit 1; }; done

unit:
	@for m in $(MODULES); do echo "test $$m"; (cd $$m && $(GO) test -count=1 ./...) || exit 1; done

race:
	@pkgs=""; for p in $(RACE_PKGS); do d=$${p%/...}; [ -d "$$d" ] && pkgs="$$pkgs $$p"; done; \
	for p in $$pkgs; do m=$${p#./}; m=$${m%%/*}; sub=$${p#./$$m}; echo "race $$p"; (cd $$m && $(GO) test -race -count=1 .$$sub) || exit 1; done

# Every module builds and tests on its own, without the workspace.
gowork-off:
	@for m in $(MODULES); do echo "GOWORK=off $$m"; (cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) test -count=1 -short ./...) || exit 1; done

# Each fuzz target briefly (CI); `make fuzz FUZZTIME=5m` for a long run.
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(or $(CI_FUZZTIME),3s)

fuzz:
	@for m in $(MODULES); do \
	  for pkg in $$(cd $$m && $(GO) list ./...); do \
	    dir=$$(cd $$m && $(GO) list -f '{{.Dir}}' $$pkg); \
	    for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	      echo "fuzz $$pkg $$f ($(FUZZTIME))"; (cd $$dir && $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) .) || exit 1; \
	    done; \
	  done; \
	done

bench:
	@for m in $(MODULES); do (cd $$m && $(GO) test -run='^$$' -bench=. -benchmem ./...) || exit 1; done
