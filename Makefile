# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/audittrail migrate
	$(BIN)/audittrail demo
	$(BIN)/audittrail serve

# pytest runs in PYTEST_WORKERS processes (pytest-xdist; 0: in one process):
# three on two cores, since most tests wait on the database or a subprocess.
# Before it, the package is byte-compiled: every CLI and daemon process the
# tests start imports all of it, and with PYTHONDONTWRITEBYTECODE set (as in
# many containers) each would compile it again. compileall skips files that
# are up to date.
PYTEST_WORKERS ?= 3

test: $(STAMP)
	$(BIN)/ruff check auditd tests migrations benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m compileall -q auditd migrations
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# SCALE=small|medium|large; writes docs/benchmarks.md (see that file).
SCALE ?= medium
bench: $(STAMP)
	$(BIN)/python -m benchmarks --scale $(SCALE)

clean:
	rm -rf $(VENV) state
