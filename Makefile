# The few commands a person types. Each creates the virtual environments it needs on first use.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# uv installs .venv from uv.lock. One on PATH is used; otherwise this pinned one goes into .venv-uv.
UV_VERSION := 0.13.9
UV_VENV := .venv-uv
UV ?= $(or $(shell command -v uv 2>/dev/null),$(UV_VENV)/bin/uv)
UV_BOOTSTRAP := $(if $(filter $(UV_VENV)/bin/uv,$(UV)),$(UV_VENV)/.installed-$(UV_VERSION))
# SAM CLI pins older boto3 and pydantic than the functions use, so it lives in its own environment.
SAM_VERSION := 1.170.0
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
PORT ?= 3000
# SIGN_IN=1: make dev signs people in as a deployed stack does, with a local user (docs/access.md).
SIGN_IN ?= 0

# The layer gets the runtime dependencies from uv.lock, every transitive package pinned and hashed,
# minus what the python3.13 Lambda runtime already ships (boto3 and its dependencies).
LAYER_REQUIREMENTS := infra/layer/requirements.txt
RUNTIME_PROVIDED := boto3 botocore jmespath python-dateutil s3transfer six urllib3
EXPORT_LAYER_REQUIREMENTS = { echo "\# Generated from uv.lock by \`make lock\`: do not edit. Installed by infra/layer/Makefile."; \
	$(UV) export --frozen --quiet --no-dev --no-emit-project --no-header --format requirements-txt \
	$(addprefix --no-emit-package ,$(RUNTIME_PROVIDED)); }

.PHONY: help dev test test-sam-local lint lock lock-check format build deploy publish bench sam-local clean chromium

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/\$$(PORT)/$(PORT)/g' \
	  | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(UV_VENV)/.installed-$(UV_VERSION):
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)
	touch $@

$(VENV)/.installed: uv.lock pyproject.toml | $(UV_BOOTSTRAP)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

$(SAM_VENV)/.installed-$(SAM_VERSION): | $(UV_BOOTSTRAP)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(SAM_VENV)
	$(UV) pip install --quiet --python $(SAM_VENV) aws-sam-cli==$(SAM_VERSION)
	touch $@

chromium:  # Debian's Chromium for the browser tests (as root, when missing); Playwright downloads none
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; \
	  else echo "Install Chromium (Debian: sudo apt-get install chromium) for the browser tests" >&2; exit 1; fi; }

dev: $(VENV)/.installed  ## Run the page and the three endpoints on http://127.0.0.1:$(PORT) (PORT=... for another; SIGN_IN=1: with sign-in)
	$(PY) -m infra.emulator --port $(PORT) $(if $(filter 1,$(SIGN_IN)),--sign-in)

test: lint chromium  ## Lint, then every test that needs no Docker (all but tests/sam_local)
	$(VENV)/bin/pytest -m "not sam_local"

test-sam-local: $(VENV)/.installed $(SAM_VENV)/.installed-$(SAM_VERSION)  ## sam build + sam local invoke in Docker
	SAM_CLI=$(abspath $(SAM)) $(VENV)/bin/pytest -m sam_local tests/sam_local

sam-local: $(VENV)/.installed $(SAM_VENV)/.installed-$(SAM_VERSION)  ## Invoke summarize and todo with sam local (needs Docker; SERVE=1: then run SAM by hand)
	SAM_CLI=$(abspath $(SAM)) $(PY) -m infra.sam_local.run $(if $(filter 1,$(SERVE)),--serve)

lint: lock-check $(VENV)/.installed  ## Lock check, ruff, mypy, file checks (.pre-commit-config.yaml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	@# The file checks of .pre-commit-config.yaml (whitespace, final newline, JSON, YAML, TOML) on every
	@# tracked file; the hooks it skips ran just above, on untracked files too.
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  SKIP=ruff-check,ruff-format,mypy,lock-check $(VENV)/bin/pre-commit run --all-files --show-diff-on-failure; fi

lock: | $(UV_BOOTSTRAP)  ## After editing dependencies in pyproject.toml: update uv.lock, the layer requirements and its compiled files
	$(UV) lock
	$(EXPORT_LAYER_REQUIREMENTS) > $(LAYER_REQUIREMENTS)
	$(MAKE) --no-print-directory $(VENV)/.installed
	$(PY) -m infra.layer.cold_start_files --write

lock-check: $(VENV)/.installed | $(UV_BOOTSTRAP)  ## Fail when uv.lock, the layer requirements or its compiled files are stale
	$(UV) lock --check
	@$(EXPORT_LAYER_REQUIREMENTS) | diff -u $(LAYER_REQUIREMENTS) - \
	  || { echo "$(LAYER_REQUIREMENTS) is stale: run make lock" >&2; exit 1; }
	$(PY) -m infra.layer.cold_start_files --check

format: $(VENV)/.installed  ## ruff fix and format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

build: $(SAM_VENV)/.installed-$(SAM_VERSION)  ## sam build (no Docker), for arm64, the architecture a stack deploys
	$(SAM) build
	@echo "Next: make deploy (SAM's own 'sam deploy' would not publish the page)"

deploy: build $(VENV)/.installed  ## sam deploy (guided the first time), then publish static/ to the site bucket
	@if grep -qs '^region *=' samconfig.toml; then $(SAM) deploy; else $(SAM) deploy --guided; fi
	$(PY) -m infra.deploy.publish

publish: $(VENV)/.installed  ## Upload static/ to the deployed bucket and invalidate CloudFront
	$(PY) -m infra.deploy.publish

bench: $(VENV)/.installed  ## Measure what a person feels: cold starts, first delta, budget check, overhead, memory, layer
	$(PY) -m infra.bench --pip-python $(PYTHON)

clean:  ## Remove build output and virtual environments
	rm -rf .aws-sam $(VENV) $(SAM_VENV) $(UV_VENV)
