# Day-to-day commands. `make run` and `make test` work on a fresh clone: they create .venv
# and install the project first. Run `make help` for the list.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The stamp is newer than pyproject.toml once the install succeeded, so editing the
# dependencies reinstalls on the next run and a failed install is retried.
STAMP := $(VENV)/.installed

HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# Kept inside the git-ignored .venv so beat never leaves a file in the working tree.
BEAT_SCHEDULE := $(VENV)/celerybeat-schedule
# Python caches compiled modules (and pytest its rewritten test files) in __pycache__, which
# git ignores. Some shells set PYTHONDONTWRITEBYTECODE; then every process compiles the whole
# project again: a test collection took 51 s instead of 15 s, a `manage.py check` 10 s of CPU
# instead of 4 s (2026-12-07).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help install run dev demo-reset test test-sqlite lint format worker beat

help: ## List the targets
	@echo "Targets (variables: HOST=$(HOST) PORT=$(PORT) PYTEST_ARGS=...):"
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "}; {printf "  %-11s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/pip install -e ".[dev]"
	@touch $@

install: $(STAMP) ## Create .venv and install the project with dev extras (run/test do this)

# `make run` is the product as a team uses it: debug off, gunicorn, compressed static files with
# hashed names, SQLite, and Celery eager unless REDIS_URL is set. It needs a secret key that
# survives restarts (sessions stay valid) without the user choosing one: generated once into
# this git-ignored file. A DJANGO_SECRET_KEY in the environment wins over the file.
SECRET_KEY_FILE := .local/secret_key
GUNICORN_ARGS ?= --workers 2 --threads 4 --timeout 300 --access-logfile - --no-control-socket

$(SECRET_KEY_FILE):
	@mkdir -p $(dir $@)
	@umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(50))' > $@
	@echo "Generated a secret key in $@ (kept across restarts, never committed)"

# Plain HTTP on this machine: no HTTPS redirect, no secure-only cookies, no HSTS. Each can be
# overridden from the environment (behind a TLS proxy, set them back to true / a max-age).
run demo-reset: export DJANGO_DEBUG ?= false
run demo-reset: export DJANGO_ALLOWED_HOSTS ?= 127.0.0.1,localhost,[::1],$(HOST)
run demo-reset: export DJANGO_SECURE_SSL_REDIRECT ?= false
run demo-reset: export DJANGO_SECURE_COOKIES ?= false
run demo-reset: export DJANGO_SECURE_HSTS_SECONDS ?= 0
run dev demo-reset: export DJANGO_SECRET_KEY ?= $(shell cat $(SECRET_KEY_FILE) 2>/dev/null)

# Starts `celery worker --beat` in the background when REDIS_URL is set and stops it with the
# server; $(1) is the server command.
define serve_with_celery
	@if [ -n "$(REDIS_URL)" ]; then \
		echo "REDIS_URL is set: starting a Celery worker with beat in the background"; \
		$(BIN)/celery -A vsm_project worker --beat -s $(BEAT_SCHEDULE) -l info & \
		celery_pid=$$!; \
		trap 'kill -TERM $$celery_pid 2>/dev/null || true; wait $$celery_pid 2>/dev/null || true' EXIT; \
		$(1); \
	else \
		echo "REDIS_URL is not set: Celery tasks run eagerly inside the web process"; \
		$(1); \
	fi
endef

run: $(STAMP) $(SECRET_KEY_FILE) ## Serve the app as in production (gunicorn, debug off) on HOST:PORT; seeds demo data only if missing; + Celery if REDIS_URL
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-missing
	$(BIN)/python manage.py collectstatic --noinput -v 0
	@echo "Serving http://$(HOST):$(PORT)/ (stop with Ctrl-C; nothing is deleted on the next start)"
	$(call serve_with_celery,$(BIN)/gunicorn vsm_project.wsgi:application --bind $(HOST):$(PORT) $(GUNICORN_ARGS))

dev: $(STAMP) $(SECRET_KEY_FILE) ## Development server: runserver with autoreload and DEBUG on, on HOST:PORT; seeds demo data only if missing
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-missing
	$(call serve_with_celery,$(BIN)/python manage.py runserver $(HOST):$(PORT))

demo-reset: $(STAMP) $(SECRET_KEY_FILE) ## Delete the demo team and everything made in it, then seed it again (asks first; YES=1 does not ask)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo $(if $(YES),--yes,)

# Test processes (pytest-xdist); the tests of the Redis/worker wiring share one of them.
# TEST_WORKERS=0 runs in this process (for pdb, or -x with readable output).
TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS) --dist loadgroup)

test: $(STAMP) ## Run the test suite on TEST_WORKERS processes (options: PYTEST_ARGS="-k deals -x")
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# Which tests test-sqlite runs (a pytest -m expression): all but the PostgreSQL/Redis wiring.
# CI runs only the tests marked `dialect` there (docs/testing.md).
SQLITE_MARKS ?= not services

test-sqlite: $(STAMP) ## The suite on SQLite with eager Celery (all but the tests of the PostgreSQL/Redis wiring)
	env -u DATABASE_URL -u REDIS_URL VSM_REQUIRE_SERVICES= $(BIN)/python -m pytest $(XDIST) -m "$(SQLITE_MARKS)" $(PYTEST_ARGS)

lint: $(STAMP) ## Check lint and formatting with ruff (changes nothing)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Format the code and apply ruff's safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# A worker on the in-memory broker would never see the tasks runserver sends, so the two
# Celery targets refuse to start without a real broker.
worker: $(STAMP) ## Run a Celery worker (needs REDIS_URL)
	@[ -n "$(REDIS_URL)" ] || { echo "worker: set REDIS_URL (e.g. redis://127.0.0.1:6379/0)" >&2; exit 1; }
	$(BIN)/celery -A vsm_project worker -l info

beat: $(STAMP) ## Run Celery beat, the periodic task scheduler (needs REDIS_URL)
	@[ -n "$(REDIS_URL)" ] || { echo "beat: set REDIS_URL (e.g. redis://127.0.0.1:6379/0)" >&2; exit 1; }
	$(BIN)/celery -A vsm_project beat -s $(BEAT_SCHEDULE) -l info

# --- Benchmark ------------------------------------------------------------------------------
.PHONY: bench
BENCH_ARGS ?=

METRICS_BENCH_ARGS ?=

EXPORT_BENCH_ARGS ?=

DASHBOARD_BENCH_ARGS ?=

PHONE_BENCH_ARGS ?=

WORKING_BENCH_ARGS ?=

LAB_BENCH_ARGS ?=

LEADS_BENCH_ARGS ?=

FORECAST_BENCH_ARGS ?=

XES_BENCH_ARGS ?=

DISCOVERY_BENCH_ARGS ?=

bench: $(STAMP) ## Benchmarks on a PostgreSQL database of their own (DATABASE_URL=postgres://…; REDIS_URL for freshness): the import, the XES import against the CSV one, the export, the metrics engine, the working-time rewrite, the qualification lab, process discovery, the dashboards under load, the first dashboard on a slow phone, the forecast simulation (10,000 runs over 5,000 open deals), the check of a 200,000-row Lead history, leads (board, queue, pull, the Leads job; last: it replaces the demo with 1,000,000 leads)
	$(BIN)/pip install -q -e ".[dev,bench]"
	$(BIN)/python bench/import_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/xes_bench.py $(XES_BENCH_ARGS)
	$(BIN)/python bench/export_bench.py $(EXPORT_BENCH_ARGS)
	$(BIN)/python bench/metrics_bench.py $(METRICS_BENCH_ARGS)
	$(BIN)/python bench/working_bench.py $(WORKING_BENCH_ARGS)
	$(BIN)/python bench/lab_bench.py $(LAB_BENCH_ARGS)
	$(BIN)/python bench/discovery_bench.py $(DISCOVERY_BENCH_ARGS)
	$(BIN)/python bench/dashboard_bench.py --reuse $(DASHBOARD_BENCH_ARGS)
	$(BIN)/python bench/phone_bench.py $(PHONE_BENCH_ARGS)
	$(BIN)/python bench/forecast_bench.py $(FORECAST_BENCH_ARGS)
	$(BIN)/python bench/lead_history_bench.py $(LEAD_HISTORY_BENCH_ARGS)
	$(BIN)/python bench/leads_bench.py $(LEADS_BENCH_ARGS)
