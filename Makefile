# fraudops: every command a user or CI needs. `make` (or `make help`) lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export BENTOML_DO_NOT_TRACK := true
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false
export DO_NOT_TRACK := 1
# Idle OpenMP threads (LightGBM, scikit-learn) sleep instead of spinning on a core that another
# process needs; `?=` keeps a value you set. shared/fraudops/__init__.py has the measured reason.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: help install system-deps prometheus lock demo demo-quick test test-fast lint format bench repro serve clean dashboard

help: ## show this help
	@echo "fraudops: the three MLOps maturity levels on credit-card fraud detection"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36mmake %-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The stamp depends on the lock file (and on this recipe), so a second `make install` does
# nothing and a changed lock re-syncs. uv installs the exact pinned set in seconds once its cache is warm.
# --compile-bytecode: uv writes no .pyc files by default, and where PYTHONDONTWRITEBYTECODE is
# set (these machines set it) Python never writes them either, so every process recompiled
# sklearn, pandas and MLflow from source: `import mlflow` took 4.0 s instead of 1.6 s, and a
# `dvc repro` of scripts/ci/profile-small.yaml (seven stage processes) 87 s instead of 47 s, on
# an idle machine whose generator benchmark gave 1.9 s. The whole .ci/run: about half the time.
$(STAMP): requirements.lock pyproject.toml Makefile
	@echo ">> creating $(VENV) from requirements.lock"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	@$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)
	@echo ">> $(VENV) ready"

install: $(STAMP) ## create .venv from requirements.lock (idempotent)

# Debian packages the tests drive for real: Prometheus and promtool (tests/monitoring) and a
# headless Chromium (tests/browser). apt-get runs only when one of the commands is missing:
# about 20 s on a new machine (10 s each, generator 2.47 s), nothing afterwards.
DEB_PACKAGES := prometheus chromium-headless-shell
DEB_COMMANDS := prometheus promtool chromium-headless-shell
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
system-deps: ## install the Debian packages the tests use (Prometheus, headless Chromium)
	@missing=$$(for c in $(DEB_COMMANDS); do command -v $$c >/dev/null || echo -n "$$c "; done); \
	if [ -n "$$missing" ]; then \
	  command -v apt-get >/dev/null || { echo "error: $$missing not found, and no apt-get to install $(DEB_PACKAGES)" >&2; exit 1; }; \
	  echo ">> apt-get install $(DEB_PACKAGES) (missing: $$missing)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(DEB_PACKAGES) >/dev/null; \
	fi

lock: ## re-resolve requirements.in into requirements.lock
	$(BIN)/uv pip compile --quiet requirements.in -o requirements.lock --python-version 3.11

demo: install ## the whole maturity tour on full-size data, offline
	$(BIN)/fraudops demo

demo-quick: install ## the same tour on small data (what the tests run)
	$(BIN)/fraudops demo --quick

# The Evidently UI over every `fraudops monitor` run (<state dir>/evidently), offline; Ctrl-C stops it.
DASHBOARD_PORT ?= 8000
dashboard: install ## serve the monitoring dashboard (Evidently UI) on DASHBOARD_PORT (8000)
	$(BIN)/fraudops dashboard --port $(DASHBOARD_PORT)

# Two pytest-xdist workers: the suite keeps one core busy, so a second one nearly halves the wall
# time. A worker runs a whole module (--dist loadfile; tests/conftest.py), in the order collected
# (--no-loadscope-reorder: the longest modules first). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
XDIST = $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)
test: install system-deps ## run the test suite (.ci/run adds the act workflows; about 6 min on 2 cores)
	$(BIN)/python -m pytest $(XDIST)

# The edit-run loop: the tiers that need no server, pipeline or workflow (well under 2 minutes).
test-fast: install ## run the unit, data and model tests only (about 40 s)
	$(BIN)/python -m pytest $(XDIST) tests/unit tests/data tests/model

lint: install ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## run the benchmarks on full-size data and write results under benchmarks/
	@command -v wrk >/dev/null || { echo ">> installing wrk (the serving benchmark's load generator)"; \
	  apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python -m benchmarks

serve: install ## serve the registry's @champion on http://localhost:3000 (BentoML)
	$(BIN)/fraudops serve

prometheus: system-deps ## Prometheus on http://localhost:9090 scraping `make serve` (:3000), with the alert rules
	prometheus --config.file=level2/prometheus/prometheus.yml --storage.tsdb.path=var/prometheus \
	  --web.listen-address=127.0.0.1:9090

repro: install ## run the Level 1 DVC pipeline
	@mkdir -p data/batches data/feedback  # DVC versions them; git cannot hold an empty folder
	$(BIN)/dvc repro

.PHONY: act
act: install ## run the GitHub Actions workflows locally under act (ci, then monitor -> retrain -> cd), small data
	FRAUDOPS_STATE_DIR=$(CURDIR)/var/act scripts/ci/act_chain.sh all

clean: ## remove runtime state (var/) and generated data; keeps .venv and DVC's records
	rm -rf var data/raw data/split data/incoming data/rejected models reports/*.png level0/model.joblib
