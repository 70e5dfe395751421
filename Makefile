# The project's verbs. Every target sets up what it needs on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
GEN_VENV := .venv-gen
GRPCIO_TOOLS := grpcio-tools==1.62.3
# Test-only: Azurite (the Azure Storage emulator, npm), pinned by tools/azurite/package-lock.json, needs node + npm.
AZURITE := .tools/azurite/node_modules/.bin/azurite-blob

.PHONY: install generate check-generated lint typecheck check test test-unit bench bench-quick demo clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev,progress,storage,files]'
	touch $@

$(AZURITE): tools/azurite/package.json tools/azurite/package-lock.json
	mkdir -p .tools/azurite
	cp tools/azurite/package.json tools/azurite/package-lock.json .tools/azurite/
	cd .tools/azurite && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(BIN)/.installed $(AZURITE)

# Code generation has its own venv: the pinned grpcio-tools wants an older protobuf than the tests use.
$(GEN_VENV)/.installed:
	test -x $(GEN_VENV)/bin/python || $(PY) -m venv $(GEN_VENV)
	$(GEN_VENV)/bin/python -m pip install -q '$(GRPCIO_TOOLS)'
	touch $@

generate: $(GEN_VENV)/.installed
	$(GEN_VENV)/bin/python tools/generate.py

check-generated: $(GEN_VENV)/.installed
	$(GEN_VENV)/bin/python tools/generate.py --check

lint: install
	$(BIN)/ruff check pymilvus_import tests tools benchmarks
	$(BIN)/ruff format --check pymilvus_import tests tools benchmarks

typecheck: install
	$(BIN)/mypy

check: lint typecheck check-generated

# Every test, in two pytest runs at once: the real-server tests (marker milvus) in this process, one after the
# other in the order tests/conftest.py gives them (Milvus and SeaweedFS have fixed ports, one of each per machine),
# and every other test alongside in a second process, whose report ($(NO_SERVER_LOG)) is printed at the end. Fails
# when either run fails, or when neither ran a test (pytest's exit 5 is fine for one of them only: a PYTEST_ARGS
# selection may hold nothing of one kind). Select with PYTEST_ARGS="-k ..." or file names, not with -m.
NO_SERVER_LOG := $(VENV)/make-test-no-server.log
TEST_WORKERS ?= 2
PARALLEL := -n $(TEST_WORKERS) --dist loadfile

test: install
	@$(BIN)/python -m pytest -m "not milvus" -o cache_dir=.pytest_cache/no-server $(PYTEST_ARGS) \
	  >$(NO_SERVER_LOG) 2>&1 & others=$$!; \
	trap 'kill $$others 2>/dev/null' INT TERM; \
	echo "== real-server tests (the other tests run alongside; their report follows)"; \
	server=0; $(BIN)/python -m pytest -m milvus -p no:xdist $(PYTEST_ARGS) || server=$$?; \
	unit=0; wait $$others || unit=$$?; \
	echo "== tests without a real server (run alongside)"; cat $(NO_SERVER_LOG); \
	case "$$unit:$$server" in \
	  0:0|0:5|5:0) ;; \
	  *) echo "make test FAILED: tests without a real server exit $$unit, real-server tests exit $$server" >&2; exit 1;; \
	esac

# The quick loop: every test that needs no real Milvus (the 2.4+ test server, pure flows, the CLI, wire checks) and
# is not marked slow, in parallel.
test-unit: install
	$(BIN)/python -m pytest -m "not milvus and not slow" $(PARALLEL) $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

bench-quick: install
	$(BIN)/python -m benchmarks --quick

demo: install
	$(BIN)/python -m tools.demo
	$(BIN)/python -m tools.demo_s3

clean:
	rm -rf $(VENV) $(GEN_VENV) .tools build *.egg-info .pytest_cache .mypy_cache .ruff_cache
