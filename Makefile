# Two entry points: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the flagship scenarios (scenarios/defaults/ holds the shared operating rules)
SCENARIOS := $(sort $(wildcard scenarios/*.yaml))

.PHONY: demo test lint snapshot bench nowcast-replay clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/trainsim compare $(SCENARIOS)

lint: $(STAMP)
	$(BIN)/ruff check simulator tests scripts benchmarks
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

snapshot: $(STAMP)
	$(BIN)/python scripts/build_rail_snapshot.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_network_load.py
	$(BIN)/python benchmarks/bench_routing.py
	$(BIN)/python benchmarks/bench_montecarlo.py
	$(BIN)/python benchmarks/bench_nowcast.py

# the nowcast's replay evaluation over the reported trips (README, Nowcast): a few minutes
nowcast-replay: $(STAMP)
	$(BIN)/trainsim nowcast --replay $(SCENARIOS) --sensitivity

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
