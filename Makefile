# The two commands of the README: `make run` and `make test`; each bootstraps .venv.
# `make run` installs what the service needs (with the PostgreSQL and MariaDB drivers);
# `make test` adds the test tools (Playwright, SeaweedFS, schemathesis, ...).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Four workers on a 2-core machine: most of a test's time is spent waiting (on databases,
# worker processes, browsers, leases), so 4 keep both cores busy; tests that need the whole
# machine share one worker (loadgroup). Measured 2026-12-04, quiet: 2 workers 11 min 16 s,
# 3 workers 8 min 57 s; 4 passed every test under a load of 10 too.
PYTEST_WORKERS ?= 4
PYTEST := $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup
# Tests' tmp_path (SQLite databases, data dirs, logs) in memory where the machine has a tmpfs:
# a SQLite commit there costs 0.16 ms instead of a 2-20 ms fsync on a shared disk.
export PYTEST_DEBUG_TEMPROOT ?= $(if $(wildcard /dev/shm/.),/dev/shm,)
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
# The project's own bytecode, written at install as pip writes every other package's. Where
# PYTHONDONTWRITEBYTECODE is set (this machine sets it) Python still reads __pycache__ but never
# writes it, so without this every `ops`/`scraper` process compiles ~110 of our modules from
# source: 0.1 s of the doctor's 0.85 s CPU. A module edited since is recompiled (its source's
# mtime and size no longer match the .pyc), so a stale .pyc costs time, never correctness.
BYTECODE := $(BIN)/python -m compileall -q -j0 scraper ops healthchecks

.PHONY: run test suite test-fast test-random bytecode lint typecheck docs clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e '.[postgres,mysql]'
	$(BYTECODE)
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e '.[postgres,mysql,test]'
	$(BYTECODE)
	touch $(RUN_STAMP) $(TEST_STAMP)

# Refreshed before the service and the suite run (0.15 s of CPU when nothing changed).
bytecode: | $(VENV)/bin/python
	$(BYTECODE)

run: $(RUN_STAMP) bytecode
	$(BIN)/scraper serve --host $(HOST) --port $(PORT)

# mypy (about a minute on a cold cache, one core) runs beside the suite rather than before it:
# the suite's workers spend much of their time waiting on databases and servers.
test: lint
	$(MAKE) --no-print-directory -j2 typecheck suite

suite: $(TEST_STAMP) bytecode
	$(PYTEST) $(PYTEST_ARGS)

# The inner loop: everything not marked slow (a few minutes).
test-fast: $(TEST_STAMP) bytecode
	$(PYTEST) -m "not slow" $(PYTEST_ARGS)

# The same suite in a random order (pytest-randomly): tests must not depend on each other.
test-random: $(TEST_STAMP) bytecode
	$(PYTEST) -p randomly $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check scraper ops healthchecks tests benchmarks
	$(BIN)/ruff format --check scraper ops healthchecks tests benchmarks
	$(BIN)/lint-imports

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

# The manual as a site in .site/ (tests/test_docs.py runs the same strict build in `make test`).
docs: $(TEST_STAMP)
	$(BIN)/mkdocs build --strict --site-dir .site

clean:
	rm -rf $(VENV) data .site .pytest_cache .mypy_cache .ruff_cache
