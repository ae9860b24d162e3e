# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## run the hub on http://127.0.0.1:8000 with the demo schemas, adapters, routes and receivers
run: install
	$(BIN)/exchange serve --demo

## lint, type-check and run every test (PostgreSQL is started by the tests themselves)
test: lint pytest

lint: install
	$(BIN)/ruff check exchange tests bench
	$(BIN)/ruff format --check exchange tests bench
	$(BIN)/mypy exchange

pytest: install
	$(BIN)/python -m pytest -q

## end-to-end throughput and latency on the embedded default
bench: install
	$(BIN)/python -m bench.e2e

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
