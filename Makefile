# gauntlet — `make demo` and `make test` set everything up on a fresh machine (Python 3.11 + package registries).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export NUMBA_CACHE_DIR ?= $(HOME)/.cache/gauntlet-numba
export MPLBACKEND := Agg

.PHONY: install demo test soak bench lab lock clean

install: $(STAMP)

# The lock (requirements.lock) pins every transitive version; pyproject.toml holds the compatible ranges.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint requirements.lock --editable ".[notebooks,dev]"
	touch $(STAMP)

demo: install
	$(BIN)/gauntlet demo

test: install
	$(BIN)/pytest

# The long chaos runs (SIGKILL and injected faults, many rounds): too long for every `make test`.
soak: install
	$(BIN)/pytest -m soak

bench: install
	$(BIN)/pip install --quiet --constraint requirements.lock --editable ".[notebooks,dev,bench]"
	$(BIN)/python tests/benchmarks/run_all.py

lab: install
	$(BIN)/jupyter lab --notebook-dir=notebooks $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# Regenerate the lock from the ranges in pyproject.toml (review the diff before committing it).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet --editable ".[notebooks,dev,bench]"
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^gauntlet' > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
