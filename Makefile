# plumtree-go: every check CI runs is `make test`.
SHELL := /bin/bash
GO ?= go
# Modules in the workspace, read from go.work.
MODULES := $(shell grep -o '^[[:space:]]*\./[A-Za-z0-9_.-]*' go.work | sed 's|.*\./||')
# Packages whose tests run with the race detector (concurrent code); the
# rest of each module runs without it.
RACE_PKGS ?= core/node/... transport-tcp/... membership/... cache/...
FUZZTIME ?= 10s

.PHONY: test fmt-check vet tidy-check unit fuzz-short fuzz bench

test: fmt-check vet tidy-check unit fuzz-short
	@echo "make test: all checks passed"

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# vet and build in workspace mode.
vet:
	@for m in $(MODULES); do echo "vet $$m"; (cd $$m && $(GO) build ./... && $(GO) vet ./...) || exit 1; done

tidy-check:
	@for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy -diff >/dev/null) || { echo "go.mod of $$m is not tidy: run 'GOWORK=off go mod tidy' in $$m"; exit 1; }; done

# Every module builds and tests on its own, without the workspace
# (siblings come in through replace directives). Packages listed in
# RACE_PKGS run with -race instead of without.
unit:
	@for m in $(MODULES); do \
	  race=""; plain=""; \
	  for pkg in $$(cd $$m && GOWORK=off $(GO) list ./...); do \
	    rel=$${pkg#github.com/plumtree-go/plumtree/}; israce=""; \
	    for r in $(RACE_PKGS); do case "$$rel/" in $${r%...}*) israce=1;; esac; done; \
	    if [ -n "$$israce" ]; then race="$$race $$pkg"; else plain="$$plain $$pkg"; fi; \
	  done; \
	  if [ -n "$$plain" ]; then echo "test $$m"; (cd $$m && GOWORK=off $(GO) test -count=1 $$plain) || exit 1; fi; \
	  if [ -n "$$race" ]; then echo "test -race $$m"; (cd $$m && GOWORK=off $(GO) test -race -count=1 $$race) || exit 1; fi; \
	done

# Each fuzz target briefly (CI); `make fuzz FUZZTIME=5m` for a long run.
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=3s

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

# Memory soak of the message cache: Puts at high rate for SOAK (default 3m),
# the live heap sampled every second; fails if it grows after the warm-up.
# Not part of `make test`. Short form (about 5 s): make soak SOAK=5s
SOAK ?= 3m
.PHONY: soak
soak:
	cd cache && GOWORK=off CACHE_SOAK=$(SOAK) $(GO) test -run '^TestSoak$$' -count=1 -v -timeout 0 .
