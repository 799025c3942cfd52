# The two commands of the README: `make run` and `make test`; each bootstraps .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[postgres,mysql,test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/scraper serve --host 127.0.0.1 --port 8000

test: $(STAMP)
	$(BIN)/ruff check scraper ops healthchecks tests benchmarks
	$(BIN)/ruff format --check scraper ops healthchecks tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check scraper ops healthchecks tests benchmarks
	$(BIN)/ruff format --check scraper ops healthchecks tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# The manual in docs/, built as a site into .site/; a broken link or a page left out of the nav fails.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir .site

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
