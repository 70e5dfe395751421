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

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The quick loop: every test that needs no real Milvus (the 2.4+ test server, pure flows, the CLI, wire checks) and
# is not marked slow.
test-unit: install
	$(BIN)/python -m pytest -m "not milvus and not slow" $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

bench-quick: install
	$(BIN)/python -m benchmarks --quick

demo: install
	$(BIN)/python -m tools.demo
	$(BIN)/python -m tools.demo_s3

clean:
	rm -rf $(VENV) $(GEN_VENV) .tools build *.egg-info .pytest_cache .mypy_cache .ruff_cache
