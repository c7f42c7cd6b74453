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

test: fmt-check vet tidy-check unit fuzz-short soak-short
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

# The repair-plane properties with every seed (100 rapid runs each and 100
# seeded rolling-restart runs with and without persistence; `make test`
# runs 25 of the latter).
.PHONY: test-repair
test-repair:
	cd core && GOWORK=off $(GO) test -count=1 -v -run '^(TestPartition|TestRolling|TestNodeDown|TestReliabilityAfterHeal)' ./coretest -repair.all

bench:
	@for m in $(MODULES); do (cd $$m && $(GO) test -run='^$$' -bench=. -benchmem ./...) || exit 1; done

# Memory soak, two parts; each fails if the live heap grows after its
# warm-up. Not part of `make test` (`soak-short` is).
#  1. The message cache alone (cache/soak_test.go): Puts at high rate for
#     SOAK (default 3m).
#  2. Whole nodes: the cluster job (examples/cluster), 5 nodes on loopback
#     broadcasting 1 KiB payloads at SOAK_RATE msg/s for SOAK_CLUSTER
#     (default 3m) with a 1 s message cache TTL, so every cache cycles
#     about once a second; fails unless every message reached every node
#     exactly once and the live heap after the warm-up (the first fifth)
#     grew by at most SOAK_GROWTH (median of the last fifth of the 1 Hz
#     samples over the median of the first fifth).
SOAK ?= 3m
SOAK_CLUSTER ?= 3m
SOAK_RATE ?= 2000
SOAK_GROWTH ?= 0.25
.PHONY: soak soak-short
soak:
	cd cache && GOWORK=off CACHE_SOAK=$(SOAK) $(GO) test -run '^TestSoak$$' -count=1 -v -timeout 0 .
	cd examples && GOWORK=off $(GO) run ./cluster -plain -nodes 5 -size 1024 -rate $(SOAK_RATE) -duration $(SOAK_CLUSTER) -cache-ttl 1s -max-heap-growth $(SOAK_GROWTH)

# The soak in short form (about 25 s, in `make test`): the cache for 5 s,
# the cluster for 15 s at 500 msg/s with a looser bound (its fifths are
# 2 samples each).
soak-short:
	@$(MAKE) --no-print-directory soak SOAK=5s SOAK_CLUSTER=15s SOAK_RATE=500 SOAK_GROWTH=0.5
