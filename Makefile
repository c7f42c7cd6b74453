# plumtree-go: every check CI runs is `make test`.
SHELL := /bin/bash
GO ?= go
# Modules in the workspace, read from go.work.
MODULES := $(shell grep -o '^[[:space:]]*\./[A-Za-z0-9_.-]*' go.work | sed 's|.*\./||')
# Packages whose tests run with the race detector (concurrent code); the
# rest of each module runs without it.
RACE_PKGS ?= core/node/... transport-tcp/... membership/... cache/...
FUZZTIME ?= 10s
# Where `make test` and `make unit` keep their logs: one `go test -json`
# stream per module and mode (unit-<module>.json, race-<module>.json), read
# by tools/testlog. Kept after the run for inspection.
TESTLOG ?= .testlog
# How many of the slowest tests `make test` lists at the end.
SLOWEST ?= 10
# Extra flags for every `go test` of `make unit` (e.g. -timeout 20m).
TESTFLAGS ?=

.PHONY: test fmt-check vet tidy-check unit fuzz-short fuzz bench

# Every step runs even when an earlier one fails; each prints its duration,
# and the end lists the failed steps and tests and the slowest tests. The
# exit status is non-zero if anything failed.
TEST_STEPS := fmt-check vet tidy-check unit fuzz-short soak-short
test:
	@rm -rf $(TESTLOG); mkdir -p $(TESTLOG); \
	t0=$$(date +%s); failed=""; summary=""; \
	for step in $(TEST_STEPS); do \
	  s=$$(date +%s); echo "== $$step"; \
	  if $(MAKE) --no-print-directory $$step; then r=ok; else r=FAILED; failed="$$failed $$step"; fi; \
	  d=$$(( $$(date +%s) - s )); echo "== $$step: $$r in $${d}s"; \
	  summary="$$summary$$(printf '  %-11s %-6s %5ds' $$step $$r $$d)"$$'\n'; \
	done; \
	echo; echo "Steps:"; printf '%s' "$$summary"; \
	if ls $(TESTLOG)/*.json >/dev/null 2>&1 && [ -x $(TESTLOG)/testlog ]; then \
	  echo "Slowest tests:"; $(TESTLOG)/testlog -slowest $(SLOWEST) $(TESTLOG)/*.json; \
	  if [[ " $$failed " == *" unit "* ]]; then echo "Failed tests:"; $(TESTLOG)/testlog -failures $(TESTLOG)/*.json; fi; \
	fi; \
	echo "Total: $$(( $$(date +%s) - t0 ))s"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed"; exit 1; fi; \
	echo "make test: all checks passed"

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# vet and build in workspace mode; every module, then the failed ones.
vet:
	@failed=""; for m in $(MODULES); do echo "vet $$m"; (cd $$m && $(GO) build ./... && $(GO) vet ./...) || failed="$$failed $$m"; done; \
	if [ -n "$$failed" ]; then echo "vet failed in:$$failed"; exit 1; fi

tidy-check:
	@failed=""; for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy -diff >/dev/null) || { echo "go.mod of $$m is not tidy: run 'GOWORK=off go mod tidy' in $$m"; failed="$$failed $$m"; }; done; \
	[ -z "$$failed" ]

$(TESTLOG)/testlog: $(wildcard tools/testlog/*.go)
	@mkdir -p $(TESTLOG); cd tools && GOWORK=off $(GO) build -o $(abspath $@) ./testlog

# Every module builds and tests on its own, without the workspace
# (siblings come in through replace directives). Packages listed in
# RACE_PKGS run with -race instead of without. Every module runs even if
# one fails; each run's `go test -json` goes to $(TESTLOG) and is printed
# by tools/testlog: a line per package, failed tests with their output.
unit: $(TESTLOG)/testlog
	@failed=""; for m in $(MODULES); do \
	  race=""; plain=""; \
	  for pkg in $$(cd $$m && GOWORK=off $(GO) list ./...); do \
	    rel=$${pkg#github.com/plumtree-go/plumtree/}; israce=""; \
	    for r in $(RACE_PKGS); do case "$$rel/" in $${r%...}*) israce=1;; esac; done; \
	    if [ -n "$$israce" ]; then race="$$race $$pkg"; else plain="$$plain $$pkg"; fi; \
	  done; \
	  for mode in unit race; do \
	    if [ $$mode = unit ]; then pkgs=$$plain; flags=""; else pkgs=$$race; flags=-race; fi; \
	    [ -n "$$pkgs" ] || continue; \
	    log=$(TESTLOG)/$$mode-$$m.json; s=$$(date +%s); \
	    (cd $$m && GOWORK=off $(GO) test -json -count=1 $$flags $(TESTFLAGS) $$pkgs) > $$log 2> $$log.stderr; rc=$$?; \
	    r=ok; [ $$rc -eq 0 ] || { r=FAILED; failed="$$failed $$m$${flags:+($$flags)}"; }; \
	    echo "test $$m$${flags:+ $$flags}: $$r in $$(( $$(date +%s) - s ))s"; \
	    $(TESTLOG)/testlog $$log | sed 's/^/  /'; \
	    [ $$rc -eq 0 ] || sed 's/^/  /' $$log.stderr; \
	  done; \
	done; \
	if [ -n "$$failed" ]; then echo "tests failed in:$$failed"; exit 1; fi

# Each fuzz target briefly (CI); `make fuzz FUZZTIME=5m` for a long run.
# CI counts executions instead of seconds: with a duration, Go's fuzzing
# coordinator (up to Go 1.26) can report "context deadline exceeded" as a
# failure when the time runs out while a worker is mid-input on a loaded
# machine (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline.
# Such a failure of a long timed run writes no input to testdata/fuzz, and
# `make fuzz` reports it as that race, not as a failed target.
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=20000x

# Every target runs even if one fails; the failed ones are listed at the end.
fuzz:
	@failed=""; for m in $(MODULES); do \
	  while read -r pkg dir; do \
	    for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	      echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	      inputs=$$(ls $$dir/testdata/fuzz/$$f 2>/dev/null | wc -l); log=$$(mktemp); \
	      (cd $$dir && $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) .) </dev/null 2>&1 | tee $$log; rc=$${PIPESTATUS[0]}; \
	      if [ $$rc -ne 0 ] && [ "$$(ls $$dir/testdata/fuzz/$$f 2>/dev/null | wc -l)" -eq "$$inputs" ] && grep -q '^    context deadline exceeded$$' $$log; then \
	        echo "fuzz $$pkg $$f: not a finding: the time ran out mid-input and no input was written (Go's fuzzing coordinator, go.dev/issue/75804)"; \
	      elif [ $$rc -ne 0 ]; then failed="$$failed $$pkg.$$f"; fi; rm -f $$log; \
	    done; \
	  done < <(cd $$m && $(GO) list -f '{{.ImportPath}} {{.Dir}}' ./...); \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz failed:$$failed"; exit 1; fi

# The repair-plane properties with every seed (100 rapid runs each and 100
# seeded rolling-restart runs with and without persistence; `make test`
# runs 25 of the latter).
.PHONY: test-repair
test-repair:
	cd core && GOWORK=off $(GO) test -count=1 -v -run '^(TestPartition|TestUnseenPartition|TestRolling|TestNodeDown|TestReliabilityAfterHeal)' ./coretest -repair.all

bench:
	@for m in $(MODULES); do (cd $$m && $(GO) test -run='^$$' -bench=. -benchmem ./...) || exit 1; done

# docs/benchmarks.md and its plots (docs/img/bench) from tools/bench: N = 16,
# 32, 64, three runs each (medians), steady 200 msg of 1 KiB at 20 msg/s and a
# burst of 2,000 at N = 32 (a phase ends 30 s after its last publish at the
# latest); and a rate sweep of plumtree and unicast at N = 32 (10, 40 and 80
# msg/s besides the main runs' 20). Takes about 32 minutes (1,887 s on
# 2026-12-06; 1,479 s before the sweep). BENCH_NOTE goes on the page.
BENCH_REPORT_FLAGS ?= -n 16,32,64 -runs 3 -count 200 -rate 20 -burst 2000 -burst-at 32 -drain 30s -rates 10,20,40,80
BENCH_NOTE ?=
.PHONY: bench-report
bench-report:
	$(GO) run ./tools/bench $(BENCH_REPORT_FLAGS) -out docs/img/bench -doc docs/benchmarks.md -note "$(BENCH_NOTE)"

# docs/benchmarks-awake.md (plots in docs/img/bench-awake): N = 32, plumtree
# and the unicast bound, five runs, with -keep-awake (Linux: every processor
# kept from halting, so that the host's wake-up latency is set apart; see
# tools/bench/README.md, "Halted processors"), and the rate sweep as on
# docs/benchmarks.md. Takes about 14 minutes (184 s on 2026-12-06 before the
# sweep).
BENCH_AWAKE_FLAGS ?= -n 32 -runs 5 -count 200 -rate 20 -burst 0 -systems plumtree,unicast -rates 10,20,40,80
.PHONY: bench-report-awake
bench-report-awake:
	$(GO) run ./tools/bench $(BENCH_AWAKE_FLAGS) -keep-awake -out docs/img/bench-awake -doc docs/benchmarks-awake.md -note "$(BENCH_NOTE)"

# What one node costs as deployed (docs/operations.md, "Sizing"): 8
# examples/node processes, idle and at 20, 200 and 800 msg/s of 1 KiB
# (tools/nodecost; its test runs a short form in `make test`). Takes about
# 2.5 minutes a run; the guide quotes the medians of NODE_COST_RUNS runs.
NODE_COST_FLAGS ?=
NODE_COST_RUNS ?= 3
.PHONY: node-cost
node-cost:
	cd tools && for i in $$(seq $(NODE_COST_RUNS)); do GOWORK=off $(GO) run ./nodecost $(NODE_COST_FLAGS) || exit 1; done

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
# Both parts run even if the first fails.
soak:
	@rc=0; \
	(set -x; cd cache && GOWORK=off CACHE_SOAK=$(SOAK) $(GO) test -run '^TestSoak$$' -count=1 -v -timeout 0 .) || rc=1; \
	(set -x; cd examples && GOWORK=off $(GO) run ./cluster -plain -nodes 5 -size 1024 -rate $(SOAK_RATE) -duration $(SOAK_CLUSTER) -cache-ttl 1s -max-heap-growth $(SOAK_GROWTH)) || rc=1; \
	exit $$rc

# The soak in short form (about 25 s, in `make test`): the cache for 5 s,
# the cluster for 15 s at 500 msg/s with a looser bound (its fifths are
# 2 samples each).
soak-short:
	@$(MAKE) --no-print-directory soak SOAK=5s SOAK_CLUSTER=15s SOAK_RATE=500 SOAK_GROWTH=0.5

# Browser tests of the web UI (examples/node -ui): headless Chromium from
# the Debian packages (the tests apt-get install it when missing and run as
# root, else skip saying so) loads /ui/ of a 5-node cluster and checks the
# drawn graph against /topology, then the explain view of a broadcast.
# Screenshots go to UI_ARTIFACTS. Not part of `make test` (there the same
# tests skip at once).
UI_ARTIFACTS ?= $(or $(TMPDIR),/tmp)/plumtree-ui-test
.PHONY: ui-test
ui-test:
	cd examples && UI_BROWSER_TEST=1 UI_ARTIFACTS=$(UI_ARTIFACTS) GOWORK=off $(GO) test -count=1 -v -run '^TestBrowser' ./node
	@echo "ui-test: screenshots in $(UI_ARTIFACTS)"
# A release of every module at one version (versions.txt): sets the version
# there and in every sibling requirement, checks that every module is tidy,
# and prints the per-module tags to create (core/vX.Y.Z, ...). It commits
# and tags nothing.
.PHONY: release
release:
	@[ -n "$(VERSION)" ] || { echo "usage: make release VERSION=vX.Y.Z"; exit 2; }
	@cd tools && GOWORK=off $(GO) run ./release -root .. -version $(VERSION)
