# Two commands matter: `make demo` and `make test`. Everything they need is built here from the
# pinned requirements; nothing is expected to be installed by hand.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Find a Python 3.13 without trusting the pyenv shim: a bare `python3.13` may refuse to run
# unless PYENV_VERSION names it, so try concrete interpreters first.
PYTHON ?= $(shell for c in "$$HOME"/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13 python3.13; do \
	  if "$$c" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1; then command -v "$$c"; break; fi; done)
ifeq ($(strip $(PYTHON)),)
$(error Python 3.13 not found; install it (e.g. `pyenv install 3.13`) or pass PYTHON=/path/to/python3.13)
endif
PYTHON_BIN_DIR := $(dir $(PYTHON))

VENV     := .venv
VENV_SAM := .venv-sam
VENV_BENCH := .venv-bench
BIN      := $(VENV)/bin
PIP_FLAGS := --disable-pip-version-check --quiet

.PHONY: help
help:
	@echo "make demo   run the whole lifecycle on the local world (no AWS or Cloudflare account)"
	@echo "make test   lint, type-check, template checks, every test, and sam build"
	@echo "make build  sam build (from its own virtual environment)"
	@echo "make bench  run the benchmarks (see benchmarks/README.md)"
	@echo "make clean  remove virtual environments and build output"

$(VENV)/.installed: requirements/dev.txt requirements/constraints.txt layers/mtasts/requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) -c requirements/constraints.txt -r requirements/dev.txt
	$(BIN)/pip install $(PIP_FLAGS) --no-deps -e .
	@touch $@

$(VENV_SAM)/.installed: requirements/sam.txt
	@test -x $(VENV_SAM)/bin/python || $(PYTHON) -m venv $(VENV_SAM)
	$(VENV_SAM)/bin/pip install $(PIP_FLAGS) -r requirements/sam.txt
	@touch $@

$(VENV_BENCH)/.installed: requirements/bench.txt requirements/dev.txt layers/mtasts/requirements.txt pyproject.toml
	@test -x $(VENV_BENCH)/bin/python || $(PYTHON) -m venv $(VENV_BENCH)
	$(VENV_BENCH)/bin/pip install $(PIP_FLAGS) -c requirements/constraints.txt -r requirements/bench.txt
	$(VENV_BENCH)/bin/pip install $(PIP_FLAGS) --no-deps -e .
	@touch $@

.PHONY: venv
venv: $(VENV)/.installed

.PHONY: lint
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

.PHONY: typecheck
typecheck: venv
	$(BIN)/mypy layers/mtasts/mtasts local/mtasts_local functions tests benchmarks

.PHONY: template-check
template-check: venv
	$(BIN)/cfn-lint template.yaml
	@shopt -s nullglob; for f in statemachines/*.asl.json; do \
	  echo "statelint $$f"; $(BIN)/statelint --ignore=URI "$$f" || exit 1; done

.PHONY: pytest
pytest: venv
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: test
test: lint typecheck template-check pytest build

.PHONY: build
build: $(VENV_SAM)/.installed
	PATH="$(PYTHON_BIN_DIR):$$PATH" SAM_CLI_TELEMETRY=0 $(VENV_SAM)/bin/sam build --template-file template.yaml
	@test -f .aws-sam/build/MtaStsLayer/python/mtasts/__init__.py || \
	  { echo "sam build did not package the mtasts library into the layer"; exit 1; }
	@compgen -G '.aws-sam/build/MtaStsLayer/python/pydantic_core/*aarch64-linux-gnu.so' >/dev/null || \
	  { echo "the layer was not built for arm64 (BuildArchitecture in its Metadata?)"; exit 1; }
	@test -f .aws-sam/build/MtaStsLayer/python/mtasts/__pycache__/validator.cpython-313.pyc || \
	  { echo "the layer ships no bytecode: every cold start would compile it (layers/mtasts/Makefile)"; exit 1; }

.PHONY: bench
bench: $(VENV_BENCH)/.installed
	$(VENV_BENCH)/bin/python -m benchmarks.report_parsing

# The whole lifecycle on the local world, a day every few seconds; exits 1 unless every outcome
# it promises is reached (tests/e2e runs the same scenario). DEMO_ARGS="--seconds-per-day 10"
# slows it down on a busy machine.
.PHONY: demo
demo: venv
	$(BIN)/python -m mtasts_local.demo $(DEMO_ARGS)

.PHONY: fmt
fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: clean
clean:
	rm -rf $(VENV) $(VENV_SAM) $(VENV_BENCH) .aws-sam .mypy_cache .pytest_cache .ruff_cache .hypothesis
