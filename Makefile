# The two commands a newcomer needs: `make run` and `make test`. Each one creates the virtual
# environment, installs the project and fetches the Kafka broker's jars when they are missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint bench broker-stop clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

# The platform: a local Kafka broker (unless HOMEWARD_KAFKA_BOOTSTRAP is set) and the three
# services on ports 8001-8003, with SQLite event stores under ./var. Ctrl-C stops everything.
run: $(INSTALLED)
	$(BIN)/homeward broker fetch
	$(BIN)/homeward up

# The whole test suite: lint and type checks, then pytest against a real Kafka broker and a real PostgreSQL
# cluster, both started (and stopped) by the test session itself.
test: $(INSTALLED)
	$(BIN)/homeward broker fetch
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Every benchmark beside its baseline, in under 15 minutes: a table and var/bench/results.json.
bench: $(INSTALLED)
	$(BIN)/homeward broker fetch
	$(BIN)/homeward bench

clean:
	rm -rf $(VENV) var .cache
