# Athena's build. `make run` and `make test` work from a clean clone on
# Debian with Go: they install the system packages they need.

GO      ?= go
BIN     := bin/athena
MODDIR  := dist/modules
GOFLAGS ?=
# Debian packages the build and the tests need: command -> package.
# A command may be a path instead, for packages that install no command.
APT_DEPS := wat2wasm:wabt redis-server:redis-server chromium:chromium yara:yara \
	unzip:unzip zip:zip 7zz:7zip xz:xz-utils zstd:zstd bzip2:bzip2 gzip:gzip qpdf:qpdf file:file curl:curl node:nodejs \
	/usr/lib/python3/dist-packages/olefile:python3-olefile

.PHONY: all run build modules deps test check vet fmt tidy-check bench fuzz clean

all: build

ADDR ?= 127.0.0.1:8080
DATA ?= athena-data
## run: build everything and start the embedded default (NATS, gateway, engines)
run: build
	./$(BIN) serve --addr $(ADDR) --data $(DATA) --modules $(MODDIR)

## build: the athena binary and every analyzer module
build: modules
	$(GO) build -o $(BIN) ./cmd/athena

## modules: build every guest under modules/ into dist/modules/
modules: deps
	$(GO) run ./internal/cmd/modbuild -src modules -o $(MODDIR)

NATS_SERVER := $(shell $(GO) env GOPATH)/bin/nats-server

## deps: install what the build and tests need, when missing: Debian
## packages, and the nats-server binary the external-NATS tests start
deps: $(NATS_SERVER)
	@true

$(NATS_SERVER):
	$(GO) install github.com/nats-io/nats-server/v2@v2.15.2

.PHONY: apt-deps
deps: apt-deps
apt-deps:
	@missing=""; for pair in $(APT_DEPS); do \
		cmd=$${pair%%:*}; pkg=$${pair#*:}; \
		case $$cmd in \
		/*) [ -e $$cmd ] || missing="$$missing $$pkg";; \
		*) command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg";; \
		esac; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; \
	fi

## test: static checks, then every test (guests are built by the tests)
test: deps check
	$(GO) test $(GOFLAGS) -count=1 -timeout 20m ./...

## check: vet (host and wasip1), gofmt and go mod tidy
check: vet fmt tidy-check

vet:
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./modules/... ./engine/testdata/chaos/wasm ./engine/testdata/words/wasm ./engine/testdata/splitter/wasm ./internal/yara/...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

tidy-check:
	@cp go.mod /tmp/athena-go.mod.bak; cp go.sum /tmp/athena-go.sum.bak; \
	$(GO) mod tidy; \
	if ! git diff --quiet -- go.mod go.sum 2>/dev/null; then \
		echo "go mod tidy changed go.mod/go.sum; commit the result"; git --no-pager diff -- go.mod go.sum; \
		cp /tmp/athena-go.mod.bak go.mod; cp /tmp/athena-go.sum.bak go.sum; exit 1; fi

# Debian packages only `make bench` needs (clamav is large): command -> package.
BENCH_APT_DEPS := clamd:clamav-daemon
# Flags for the side-by-side run, e.g. SIDEBYSIDE_FLAGS='--files 100 --max-size 64MiB'.
SIDEBYSIDE_FLAGS ?=
BENCH_TS := $(shell date -u +%Y%m%dT%H%M%SZ)
BENCH_PKGS := ./engine/ ./modules/... ./internal/cache/ ./internal/yara/...

.PHONY: bench-deps
bench-deps: deps
	@$(MAKE) --no-print-directory apt-deps APT_DEPS="$(BENCH_APT_DEPS)"

## bench: the Go benchmarks, then internal/cmd/sidebyside (yara, athena rules
## scan, Athena end to end, clamd on one corpus; the verdict cache's Redis
## latencies on a private redis-server): bench/report-TIME.json and
## bench/summary-TIME.md (figures in BENCHMARKS.md)
bench: build bench-deps
	@mkdir -p bench
	@echo "go test -run '^\$$' -bench . -benchmem -count 1 $(BENCH_PKGS)"; \
	{ $(GO) test -run '^$$' -bench . -benchmem -count 1 $(BENCH_PKGS) 2>&1; echo $$? > bench/gobench-$(BENCH_TS).status; } \
		| tee bench/gobench-$(BENCH_TS).txt; \
	status=$$(cat bench/gobench-$(BENCH_TS).status); rm bench/gobench-$(BENCH_TS).status; \
	$(GO) run ./internal/cmd/sidebyside --athena $(BIN) --modules $(MODDIR) $(SIDEBYSIDE_FLAGS) \
		--out bench/report-$(BENCH_TS).json --md bench/summary-$(BENCH_TS).md || exit 1; \
	{ echo; echo '## Go benchmarks'; echo; echo '```'; cat bench/gobench-$(BENCH_TS).txt; echo '```'; } >> bench/summary-$(BENCH_TS).md; \
	rm bench/gobench-$(BENCH_TS).txt; \
	echo "wrote bench/report-$(BENCH_TS).json and bench/summary-$(BENCH_TS).md"; \
	if [ $$status != 0 ]; then echo "make bench: the Go benchmarks failed (exit $$status; output in the summary)"; exit $$status; fi

FUZZTIME ?= 30s
## fuzz: every native fuzz target for FUZZTIME each
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf bin dist
