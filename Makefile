# The README's commands. Each target creates .venv if it is missing and installs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test lint demo bench clean-cluster

venv: $(STAMP)

$(STAMP): pyproject.toml requirements-kserve-client.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps -r requirements-kserve-client.txt
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/python -m pytest -q tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo --no-cache

demo: $(STAMP)
	$(BIN)/coe demo

bench: $(STAMP)
	$(BIN)/python -m load_tests.experiments.overhead_bench

clean-cluster: $(STAMP)
	$(BIN)/coe cluster down
