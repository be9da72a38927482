# Thin wrapper over CMake. The two commands a fresh machine needs:
#   make run    build everything, then run examples/report.py in a sandbox
#   make test   build everything, run all tests, then the C tests again
#               under AddressSanitizer + UBSan
# and, for C users, `make install PREFIX=DIR` (default /usr/local).
BUILD ?= build
ASAN_BUILD ?= build-asan
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
# Wasmtime traps through SIGSEGV: ASan must leave that signal to it.
ASAN_ENV := ASAN_OPTIONS=handle_segv=0:allow_user_segv_handler=1:detect_leaks=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

PYENV ?= $(BUILD)/pyenv
PREFIX ?= /usr/local

.PHONY: all build run install test test-asan test-python test-python-versions python-install bench bench-serve \
        bench-compare bench-mcp bench-net bench-packages bench-pool bench-pyperf clean

all: build

build:
	cmake -S . -B $(BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD)

run: build
	$(BUILD)/run_script examples/report.py

# The header, liberyx.so and liberyx.a, the runtime, eryx.pc and the CMake
# package (cmake/packaging.cmake); DESTDIR works as usual.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

test: build
	ERYX_TEST_PACKAGES=$(TEST_PACKAGES) ctest --test-dir $(BUILD) --output-on-failure
	$(MAKE) test-python
	$(MAKE) test-python-versions
	$(MAKE) test-asan

# The Python package, installed into a venv the way users install it (pip,
# scikit-build-core), reusing the runtime built above instead of building
# the guest a second time.
python-install: build
	test -x $(PYENV)/bin/python || python3 -m venv $(PYENV)
	$(PYENV)/bin/pip install -q --require-hashes -r python/requirements-test.txt
	$(PYENV)/bin/pip install -q --require-hashes -r python/requirements-mcp.txt
	$(PYENV)/bin/pip install -q --require-hashes -r python/requirements-serve.txt
	$(PYENV)/bin/pip install -q --no-build-isolation --no-deps \
	  -C build-dir=$(abspath $(BUILD))/python-dev \
	  -C cmake.define.ERYX_BUILD_GUEST=OFF \
	  -C cmake.define.ERYX_RUNTIME_DIR=$(abspath $(BUILD))/runtime .

# The official JSON-Schema-Test-Suite (python/tests/test_schema_suite.py).
SCHEMA_SUITE = $(shell scripts/fetch-schema-suite.sh)
# Real PyPI packages for the package tests, pinned by hash and cached
# (empty when the index is unreachable: those tests then skip, saying so).
TEST_PACKAGES = $(shell scripts/fetch-test-packages.sh)
TEST_ENV = ERYX_SCHEMA_SUITE=$(SCHEMA_SUITE) ERYX_TEST_PACKAGES=$(TEST_PACKAGES)

test-python: python-install
	cd $(BUILD) && $(TEST_ENV) $(abspath $(PYENV))/bin/python -m pytest -q $(abspath python/tests)

# The same on the oldest supported and the newest Python, when the machine
# has them (on PATH or under pyenv); skipped, and said so, when it does not.
PY_VERSIONS ?= 3.10 3.13
test-python-versions: build
	@for v in $(PY_VERSIONS); do \
	  py=""; \
	  for c in $$(command -v python$$v) $$HOME/.pyenv/versions/$$v.*/bin/python; do \
	    if [ -x "$$c" ] && "$$c" -c 'import venv, ensurepip' >/dev/null 2>&1; then py=$$c; break; fi; \
	  done; \
	  if [ -z "$$py" ]; then echo "test-python-versions: no Python $$v here, skipped"; continue; fi; \
	  env=$(abspath $(BUILD))/pyenv-$$v; \
	  echo "test-python-versions: Python $$v ($$py)"; \
	  { test -x $$env/bin/python || "$$py" -m venv $$env; } && \
	  $$env/bin/pip install -q --require-hashes -r python/requirements-test.txt && \
	  $$env/bin/pip install -q --require-hashes -r python/requirements-mcp.txt && \
	  $$env/bin/pip install -q --require-hashes -r python/requirements-serve.txt && \
	  $$env/bin/pip install -q --no-build-isolation --no-deps \
	    --config-settings=build-dir=$(abspath $(BUILD))/python-dev-$$v \
	    --config-settings=cmake.define.ERYX_BUILD_GUEST=OFF \
	    --config-settings=cmake.define.ERYX_RUNTIME_DIR=$(abspath $(BUILD))/runtime . && \
	  (cd $(BUILD) && $(TEST_ENV) $$env/bin/python -m pytest -q $(abspath python/tests)) || exit 1; \
	done

test-asan: build
	cmake -S . -B $(ASAN_BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=Debug \
	  -DERYX_SANITIZE=ON -DERYX_BUILD_GUEST=OFF \
	  -DERYX_RUNTIME_DIR=$(abspath $(BUILD))/runtime
	cmake --build $(ASAN_BUILD) --target test_eryx fuzz_host
	$(ASAN_ENV) $(ASAN_BUILD)/test_eryx
	$(ASAN_ENV) $(ASAN_BUILD)/fuzz_host 30 tests/fuzz/corpus tests/fuzz/guest_fuzz.py

bench: build
	$(BUILD)/bench_sandbox 1000
	$(BUILD)/bench_oneoff 1000
	$(BUILD)/bench_callbacks 20
	$(BUILD)/bench_limits 20
	$(BUILD)/bench_files 5
	$(BUILD)/bench_journal 20

# ours vs upstream pyeryx vs pydantic-monty (vs native CPython for the CPU
# rows), each in its own venv; e.g. COMPARE_ARGS="--quick" or "--json out.json".
bench-compare: python-install
	$(PYENV)/bin/python bench/compare.py $(COMPARE_ARGS)

# Networking through the host against native CPython (bench/bench_net.py).
bench-net: python-install
	$(PYENV)/bin/python bench/bench_net.py

bench-pool: python-install
	$(PYENV)/bin/python bench/bench_pool.py

# pyperformance's pure-Python benchmarks in a sandbox against native CPython
# (bench/bench_pyperf.py; the pinned wheel is cached in ~/.cache/eryx/pyperf).
bench-pyperf: python-install
	$(PYENV)/bin/python bench/bench_pyperf.py

# `eryx mcp` round trips through the SDK's client, stdio and HTTP, and the
# same through upstream pyeryx's `eryx serve` when it installs (bench/bench_mcp.py).
bench-mcp: python-install
	$(PYENV)/bin/python bench/bench_mcp.py

# `eryx serve --http` with a real redis-server: 1 vs 3 copies, and the
# snapshot + store cost of a session step by size (bench/bench_serve.py).
bench-serve: python-install
	$(PYENV)/bin/python bench/bench_serve.py

bench-packages: python-install
	ERYX_TEST_PACKAGES=$(TEST_PACKAGES) $(PYENV)/bin/python bench/bench_packages.py
	$(BUILD)/bench_package_import $(TEST_PACKAGES)/jinja2-*-py3-none-any.whl \
	  $(TEST_PACKAGES)/markupsafe-*.tar.gz

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
