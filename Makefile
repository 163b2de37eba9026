# Two entry points: `make demo` and `make test`. Both create .venv when missing.
# the interpreter of .venv: Python 3.12/3.13 where the machine has one (the test suite's coverage
# is then nearly free, through sys.monitoring), else python3; `make PYTHON=python3.11 test` works
PYTHON ?= $(shell scripts/find_python.sh)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the flagship scenarios (scenarios/defaults/ holds the shared operating rules)
SCENARIOS := $(sort $(wildcard scenarios/*.yaml))
# Sobol base samples: a quick analysis in the demo, a precise one in `make analyse`
DEMO_SOBOL := 256
ANALYSE_SOBOL := 4096
# the test suite on two processes (pytest-xdist): it is CPU-bound, and the machine has two cores
PYTEST_WORKERS ?= 2
# coverage per module (pytest-cov); `make test PYTEST_COV=` runs without it (a third faster)
PYTEST_COV ?= --cov --cov-report=term

.PHONY: demo analyse test test-install lint schema snapshot bench nowcast-replay calibrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/trainsim compare --sensitivity $(DEMO_SOBOL) $(SCENARIOS)

# the demo with the precise Sobol indices the README quotes, and the README's what-if sweep
analyse: $(STAMP)
	$(BIN)/trainsim compare --sensitivity $(ANALYSE_SOBOL) $(SCENARIOS)
	$(BIN)/trainsim sweep scenarios/vostochny-2023.yaml --at Khasan \
		--vary caps.KP.kmh=40:60:5 --vary night.KP.mode=slow,halt

# fit the shared operating parameters to every reported leg (ABC-SMC), cross-validate, and
# write scenarios/defaults/calibrated.yaml, outputs/calibration/ and the README's tables;
# the same seed gives the same calibration. make demo uses the committed file, never refits.
CALIBRATION_SEED ?= 13
calibrate: $(STAMP)
	$(BIN)/trainsim calibrate $(SCENARIOS) --cv --seed $(CALIBRATION_SEED) --readme README.md

lint: $(STAMP)
	$(BIN)/ruff check simulator tests scripts benchmarks examples
	$(BIN)/mypy

# the whole suite with coverage per module (package and snapshot recipe); bytecode is cached
# even where the environment says not to (PYTHONDONTWRITEBYTECODE): without it pytest rewrites
# the asserts of every test module again in each worker, seconds of every run
test: export PYTHONDONTWRITEBYTECODE =
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_COV)

# slow: builds a wheel, installs it into a new environment, runs trainsim from another folder
test-install: $(STAMP)
	$(BIN)/python -m pytest -q -m install -p no:cacheprovider

# the JSON Schema that the scenarios name (rewrite it when the scenario format changes)
schema: $(STAMP)
	$(BIN)/trainsim schema > scenarios/scenario.schema.json

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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
