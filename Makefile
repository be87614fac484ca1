# The commands people type. CI runs `make test` through .ci/run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format setup setup-test migrate demo clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-installed: requirements.txt requirements-test.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements-test.txt
	touch $@

setup: $(VENV)/.runtime-installed

setup-test: $(VENV)/.test-installed
	scripts/install-test-tools

migrate: setup
	$(PY) manage.py migrate --no-input

demo: migrate
	$(PY) manage.py seed_demo

## Run the app on its embedded defaults (SQLite, in-memory channel layer, Firebase off).
run: demo
	$(PY) manage.py collectstatic --no-input --verbosity 0
	PEARDECK_BIND=$(HOST):$(PORT) $(VENV)/bin/gunicorn -c gunicorn.conf.py peardeck.asgi:application

## Lint, then the whole suite on SQLite, then again on PostgreSQL when TEST_DATABASE_URL is set.
test: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	scripts/run-tests

lint: setup-test
	$(VENV)/bin/ruff check .

format: setup-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var staticfiles
