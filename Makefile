# Quick start: `make demo` runs the dropout experiment on the embedded data; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv install demo test lint check bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

install: venv

demo: venv
	$(BIN)/dropout-lab experiment --config examples/digits-demo.toml --jobs 2 --out results/demo --force

test: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/mypy

check: venv
	$(BIN)/dropout-lab check

bench: venv
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) results build src/*.egg-info .pytest_cache
