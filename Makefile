# Two commands for a newcomer: `make demo` and `make test`. Both create .venv/ first.
# `make test-fast` runs the unit tests and doctests only (no servers), in under a minute.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint check venv bench bench-quick bench-plan kafka-up kafka-down kafka-wipe clean services-install services-status

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/riskmon demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Unit tests and doctests only: no broker, no servers, nothing slow (under a minute). They run on
# every core (pytest-xdist), one test file per worker at a time so module fixtures are made once.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "not kafka and not services and not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy monitor alerts streams riskmon
	$(BIN)/lint-imports

check: lint test

# Every benchmark, medians of 3 runs: writes bench/results.json, the tables in bench/README.md and
# the capacity tables in docs/capacity.md (about 1.5 hours on 2 idle cores; `make bench-plan`).
# Needs java 17+ and mvn for its own Kafka broker. Resume or redo sections with
# `make bench BENCH_ARGS="--only worker,recovery"`: they merge into bench/results.json.
BENCH_ARGS ?=

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python -m bench.suite $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python -m bench.suite --quick $(BENCH_ARGS)

bench-plan: $(STAMP)
	$(BIN)/python -m bench.suite --plan $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

services-install:
	$(PYTHON) tools/services.py install

services-status:
	$(PYTHON) tools/services.py status

kafka-up:
	$(PYTHON) tools/kafka_broker.py start

kafka-down:
	$(PYTHON) tools/kafka_broker.py stop

kafka-wipe:
	$(PYTHON) tools/kafka_broker.py stop --wipe
