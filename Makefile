# Two entry points: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the flagship scenarios (scenarios/defaults/ holds the shared operating rules)
SCENARIOS := $(sort $(wildcard scenarios/*.yaml))

.PHONY: demo test lint snapshot bench calibrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/trainsim compare $(SCENARIOS)

# fit the shared operating parameters to every reported leg (ABC-SMC), cross-validate, and
# write scenarios/defaults/calibrated.yaml, outputs/calibration/ and the README's tables;
# the same seed gives the same calibration. make demo uses the committed file, never refits.
CALIBRATION_SEED ?= 13
calibrate: $(STAMP)
	$(BIN)/trainsim calibrate $(SCENARIOS) --cv --seed $(CALIBRATION_SEED) --readme README.md

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

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
