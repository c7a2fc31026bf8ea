# The two commands a newcomer needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
FLASK  := $(VENV)/bin/flask --app app
STAMP  := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.installed-test-stamp
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: install install-test run serve test lint test-browser check-content verify-evidence clean

## Two installs: what running needs (`make run`), and the test extras on top of it (pytest,
## Playwright, ruff, mypy...: `make test` and `make lint`), so that a first `make run` does not
## wait for the tools only the tests use.
## The pip that comes with the venv installs this project (Python 3.11's, 22.3 or later: pyproject
## editable installs need 21.3); upgrading it first cost a first run about 5 s.
PIP := $(PY) -m pip --quiet --disable-pip-version-check
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PIP) install -e '.[test]'
	touch $(TEST_STAMP)

install: $(STAMP)

install-test: $(TEST_STAMP)

# A real learning record store for the xAPI tests (tests/test_xapi.py): ralph, in a virtualenv of
# its own, as its pins clash with the app's (tests/lrs/requirements.txt). Made by `make test`.
LRS_VENV  := .venv-lrs
LRS_STAMP := $(LRS_VENV)/.installed-stamp

$(LRS_STAMP): tests/lrs/requirements.txt
	$(PYTHON) -m venv $(LRS_VENV)
	$(LRS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LRS_VENV)/bin/python -m pip install --quiet -r tests/lrs/requirements.txt
	touch $(LRS_STAMP)

# Everything but the migrations runs as the app's role: without the owner's URL in its environment.
AS_APP := env -u MIGRATION_DATABASE_URL
ONE_ROLE := *** DATABASE_URL is PostgreSQL and MIGRATION_DATABASE_URL is not set: the role in DATABASE_URL will own the tables, so it could disable the triggers that keep evidence append-only. Create an owner role and an app role (docs/operations.md, "PostgreSQL: two roles"), then: make run DATABASE_URL=postgresql://rounds_app@127.0.0.1/rounds MIGRATION_DATABASE_URL=postgresql://rounds_owner@127.0.0.1/rounds ***

## make run: install, migrate the database, load content, create the demo organization once, serve.
## PostgreSQL: make run DATABASE_URL=<the app's role> MIGRATION_DATABASE_URL=<the owner role>
## migrates as the owner (which grants the app's role its privileges), then loads, seeds and
## serves as the app's role.
run: install
	@case "$$DATABASE_URL" in postgres*) test -n "$$MIGRATION_DATABASE_URL" || echo '$(ONE_ROLE)' >&2;; esac
	$(FLASK) db upgrade
	$(AS_APP) $(FLASK) content load
	$(AS_APP) $(FLASK) demo seed
	@echo "Serving Rounds on http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	$(AS_APP) $(VENV)/bin/gunicorn --preload --workers 4 --worker-class gthread --threads 1 --bind $(HOST):$(PORT) --access-logfile - \
		--access-logformat '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(L)s' app:app  # no query strings: docs/operations.md

CHROMIUM := /usr/bin/chromium
NO_CHROMIUM := Chromium not installed (apt-get install chromium); browser tests skipped

## make test: the whole suite (against PostgreSQL too when TEST_DATABASE_URL is set), with the
## real-browser tests in tests/browser/ (they skip, saying so, without /usr/bin/chromium)
test: install-test lint $(LRS_STAMP)
	@test -x $(CHROMIUM) || echo "*** $(if $(filter true,$(CI)),Chromium not installed and CI=true: the browser tests will FAIL,$(NO_CHROMIUM)) ***"
	$(PY) -m pytest $(PYTEST_ARGS)

## make lint: ruff (lint and format) on every Python file, mypy on quiz/ (pyproject.toml says how)
lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## make test-browser: only the real-browser tests (screenshots go to test-artifacts/screenshots/)
test-browser: install-test
	@test -x $(CHROMIUM) || echo "*** $(if $(filter true,$(CI)),Chromium not installed and CI=true: the browser tests will FAIL,$(NO_CHROMIUM)) ***"
	$(PY) -m pytest -m browser tests/browser $(PYTEST_ARGS)

check-content: install
	$(FLASK) content check

verify-evidence: install
	$(FLASK) evidence verify

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
