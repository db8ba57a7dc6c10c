# The few commands a person types. Each creates the virtual environments it needs on first use.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# SAM CLI pins older boto3 and pydantic than the functions use, so it lives in its own environment.
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
PORT ?= 3000
STACK ?= llm-endpoints

.PHONY: help dev test test-sam-local lint format build deploy publish bench sam-local clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt infra/layer/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet 'aws-sam-cli>=1.150'
	touch $@

chromium:  # Debian's Chromium for the browser tests (as root, when missing); Playwright downloads none
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; \
	  else echo "Install Chromium (Debian: sudo apt-get install chromium) for the browser tests" >&2; exit 1; fi; }

dev: $(VENV)/.installed  ## Run the page and the three endpoints on http://127.0.0.1:$(PORT)
	$(PY) -m infra.emulator --port $(PORT)

test: $(VENV)/.installed chromium  ## Lint, then every test that needs no Docker (unit, functional, template, emulator, browser)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -m "not sam_local"

test-sam-local: $(VENV)/.installed $(SAM_VENV)/.installed  ## sam build + sam local invoke in Docker
	SAM_CLI=$(abspath $(SAM)) $(VENV)/bin/pytest -m sam_local tests/sam_local

sam-local: $(VENV)/.installed $(SAM_VENV)/.installed  ## Invoke summarize and todo with sam local (needs Docker)
	SAM_CLI=$(abspath $(SAM)) $(PY) -m infra.sam_local.run

lint: $(VENV)/.installed  ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed  ## ruff fix and format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

build: $(SAM_VENV)/.installed  ## sam build (no Docker; set LAYER_ARCH=x86_64 with --parameter-overrides Architecture=x86_64)
	$(SAM) build

deploy: build $(VENV)/.installed  ## sam deploy (guided the first time), then publish static/ to the site bucket
	@if grep -qs '^region *=' samconfig.toml; then $(SAM) deploy; else $(SAM) deploy --guided --stack-name $(STACK); fi
	$(PY) -m infra.deploy.publish

publish: $(VENV)/.installed  ## Upload static/ to the deployed bucket and invalidate CloudFront
	$(PY) -m infra.deploy.publish

bench: $(VENV)/.installed  ## Measure cold import, warm overhead, stream first byte, memory, layer size
	$(PY) -m infra.bench

clean:  ## Remove build output and virtual environments
	rm -rf .aws-sam $(VENV) $(SAM_VENV)
