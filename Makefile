# Every target creates the virtual environments it needs on demand.
PYTHON      ?= python3
VENV        := .venv
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV_VERSION := 3.3.30

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: synth test lint typecheck static bench bench-synth plain-modules clean

## make synth: synthesize the example landing zone into cdktf.out/ (the main job)
synth: $(STAMP)
	$(BIN)/python main.py

## make test: lint, type-check, static checks of the scripts, and every test
test: $(STAMP) $(CHECKOV_STAMP) lint typecheck static
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

static:
	shellcheck --severity=style .ci/run $$(find scripts -name '*.sh' | sort)

## make bench: AWS API calls per join event under the DESIGN.md burst
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_handler.py

## make bench-synth: synth time and peak memory for 500 accounts x 17 Regions
bench-synth: $(STAMP)
	$(BIN)/python benchmarks/bench_synth.py

## make plain-modules: regenerate terraform/modules/ (after changing modules/ or scripts/)
plain-modules: $(STAMP)
	$(BIN)/python -m modules.plain_modules

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet '.[dev]'
	touch $@

# checkov pins an old boto3, so it lives in its own environment.
$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $@

clean:
	rm -rf cdktf.out build .pytest_cache .mypy_cache .ruff_cache
