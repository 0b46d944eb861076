# The two commands of the README: `make demo` and `make test`. Both install what they need.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CTEST_ARGS ?=
# `make install`: where (PREFIX) and under which staging root (DESTDIR, for packaging).
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all deps configure build install deb test unit-test integration-test demo bench bench-deps format clean

all: build

deps:
	@scripts/install-deps

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# The Debian package berth_<version>_<arch>.deb in $(BUILD_DIR), from the install rules
# (docs/install.md): `sudo apt-get install ./$(BUILD_DIR)/berth_*.deb`.
deb: build
	@cd $(BUILD_DIR) && cpack -G DEB

# berthd, berth and berth-worker into $(PREFIX)/bin, their files under $(PREFIX)/lib/berth and
# $(PREFIX)/share/berth, docs in $(PREFIX)/share/doc/berth; staged under $(DESTDIR) when set.
install: build
	@DESTDIR=$(DESTDIR) cmake --install $(BUILD_DIR) --prefix $(PREFIX)

# Unit tests and the integration suites (real berthd, CLI and instance processes).
test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 900 $(CTEST_ARGS)

unit-test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

integration-test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L integration

# Starts berthd on a temporary data dir with the sample custom-command deployment and calls it.
demo: build
	@scripts/demo $(BUILD_DIR)

# Benchmarks B1-B6 (docs/benchmarks.md); results are appended there. `make bench BENCH=B1` runs
# one; BENCH_DURATION, BENCH_QUICK=1 and the other settings of bench/run.py come from the env.
BENCH ?=
bench-deps:
	@bench/install-deps

bench: bench-deps build
	@/usr/bin/python3 bench/run.py --build-dir $(BUILD_DIR) $(if $(BENCH),--only $(BENCH))

format:
	@find src -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
