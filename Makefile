# WeldDesk: `make run` starts a demo server, `make test` runs lint and the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint audit-deps bench migrate seed otp messages clean-venv help

help:
	@echo "make run    - set up .venv, migrate, seed demo data, serve http://$(HOST):$(PORT)/"
	@echo "make test   - ruff, import contracts and the pytest suite"
	@echo "make audit-deps - fail on a known vulnerability in requirements.txt (needs PyPI)"
	@echo "make bench  - benchmarks under bench/ (see docs/performance.md)"
	@echo "make otp EMAIL=agent@welddesk.example - current demo 2FA code (DEBUG only)"

$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "WeldDesk needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.installed-run

run: export SITE_URL ?= http://$(HOST):$(PORT)
run: $(VENV)/.installed-run
	DEBUG=$${DEBUG-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG-1} $(PY) manage.py seed_demo
	DEBUG=$${DEBUG-1} $(PY) manage.py runserver $(HOST):$(PORT)

migrate: $(VENV)/.installed-run
	DEBUG=$${DEBUG-1} $(PY) manage.py migrate --noinput

seed: migrate
	DEBUG=$${DEBUG-1} $(PY) manage.py seed_demo

otp: $(VENV)/.installed-run
	DEBUG=$${DEBUG-1} $(PY) manage.py demo_otp $(EMAIL)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Browser tests run in a pytest process of their own: Playwright's sync API leaves state behind
# that makes later async tests on the Redis channel layer hang (see DEVELOPERS.md).
test: lint
	DEBUG=$${DEBUG-1} $(BIN)/pytest $(PYTEST_ARGS)

# Known vulnerabilities in the pinned runtime dependencies (and theirs): pip-audit against PyPI's
# advisory data; AUDIT_DEPS_STRICT=1 also fails when a package could not be audited.
audit-deps: $(VENV)/.installed-dev
	$(PY) tools/audit_deps.py requirements.txt

bench: $(VENV)/.installed-dev
	DEBUG=$${DEBUG-1} $(PY) -m bench $(BENCH_ARGS)

messages: $(VENV)/.installed-dev
	DEBUG=1 $(PY) manage.py makemessages -l zh_Hans --ignore=.venv --ignore=var
	DEBUG=1 $(PY) manage.py compilemessages -l zh_Hans --ignore=.venv

clean-venv:
	rm -rf $(VENV)
