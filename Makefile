# aglais-hub: install, run, test and benchmark.
#
# Everything is installed inside the work tree (.venv/, node_modules/), except
# PostgreSQL's server binaries, which come from the system's packages.  Stamp
# files make a second `make test` skip the installs unless setup.cfg,
# package.json or package-lock.json changed.

SHELL := /bin/sh

VENV       := .venv
VENV_STAMP := $(VENV)/.aglais-installed
NODE_STAMP := node_modules/.aglais-installed
PYTHON     ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
PG_BIN     ?= /usr/lib/postgresql/15/bin
PG_PACKAGE ?= postgresql-15
CHROMIUM   ?= /usr/bin/chromium
JAVA_PACKAGE ?= openjdk-17-jre-headless

PORT            ?= 8000
AGLAIS_DATA_DIR ?= .run
PYTEST_ARGS     ?=

# The hub starts configurable-http-proxy from PATH too, so keep ours first.
TOOLS_PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$$PATH

.DEFAULT_GOAL := help
.PHONY: help venv node_modules postgres chromium java frontend calendar labextension server-env run test bench clean

help:
	@echo "make run       install into .venv and node_modules, then start the hub on http://127.0.0.1:$(PORT)/"
	@echo "make test      install what the tests need (PostgreSQL too), then run pytest (PYTEST_ARGS=...)"
	@echo "make bench     install as for the tests, then run the benchmarks"
	@echo "make venv      create .venv and install aglais-hub into it, editable, with the test extras"
	@echo "make node_modules  install configurable-http-proxy from package-lock.json"
	@echo "make postgres  install PostgreSQL's server binaries into PG_BIN=$(PG_BIN) if missing"
	@echo "make server-env  as root: build the servers' venv outside the checkout (hub_extension/embedded/server_env.py)"
	@echo "make chromium  install Debian's Chromium (CHROMIUM=$(CHROMIUM)) for the browser tests if missing"
	@echo "make java      install a Java runtime ($(JAVA_PACKAGE)) for the sessions' Spark clusters if java is missing"
	@echo "make clean     remove .run and build artefacts (keeps .venv and node_modules)"

venv: $(VENV_STAMP)

$(VENV_STAMP): setup.cfg pyproject.toml
	@test -n "$(PYTHON)" || { echo "No python3.11 or python3 on PATH" >&2; exit 1; }
	@"$(PYTHON)" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "$(PYTHON) is older than Python 3.11" >&2; exit 1; }
	test -x $(VENV)/bin/python || "$(PYTHON)" -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(VENV)/bin/python -m pip install --disable-pip-version-check -e '.[test,demo]'
	touch $@

node_modules: $(NODE_STAMP)

# npm keeps the tarballs' old mtimes, so a stamp, not a file npm wrote, marks the install.
$(NODE_STAMP): package.json $(wildcard package-lock.json)
	if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
	test -x node_modules/.bin/configurable-http-proxy
	touch $@

# Tests run as root and start the throwaway cluster as the `postgres` user,
# which the Debian package creates.
postgres:
	@if [ ! -x "$(PG_BIN)/initdb" ]; then \
		set -e; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		echo "Installing $(PG_PACKAGE): $(PG_BIN)/initdb is missing"; \
		$$SUDO apt-get update; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(PG_PACKAGE); \
		test -x "$(PG_BIN)/initdb" || { echo "$(PG_BIN)/initdb still missing" >&2; exit 1; }; \
	fi

# The browser tests drive Debian's Chromium through Playwright for Python; nothing
# downloads a browser of its own.
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		set -e; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		echo "Installing chromium: $(CHROMIUM) is missing"; \
		$$SUDO apt-get update; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
		test -x "$(CHROMIUM)" || { echo "$(CHROMIUM) still missing" >&2; exit 1; }; \
	fi

# The sessions' Spark clusters (spawner/spark_local.py) run on Java: Spark 4 needs 17 or newer.
java:
	@if ! command -v java >/dev/null 2>&1; then \
		set -e; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		echo "Installing $(JAVA_PACKAGE): no java on PATH"; \
		$$SUDO apt-get update; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(JAVA_PACKAGE); \
		command -v java >/dev/null 2>&1 || { echo "java still missing" >&2; exit 1; }; \
	fi

# What a browser runs, built here so nothing is built at run time.
frontend: calendar labextension

# The booking calendar (frontend/calendar/), type-checked and bundled into
# booking_service/static/; skipped while the bundle is newer than every source.
calendar: node_modules
	@set -e; stamp=booking_service/static/.calendar-built; \
	if [ -f $$stamp ] && [ -z "$$(find frontend/calendar package-lock.json Makefile -newer $$stamp \
		-not -path '*/node_modules/*' -type f | head -n 1)" ]; then exit 0; fi; \
	echo "Building the calendar: frontend/calendar/ -> booking_service/static/"; \
	node_modules/.bin/tsc --noEmit -p frontend/calendar; \
	node_modules/.bin/esbuild frontend/calendar/src/main.ts --bundle --minify --sourcemap \
		--target=es2020 --format=iife --log-level=warning --outfile=booking_service/static/calendar.js; \
	node_modules/.bin/esbuild frontend/calendar/src/calendar.css --bundle --minify \
		--log-level=warning --outfile=booking_service/static/calendar.css; \
	touch $$stamp

# The JupyterLab extension (frontend/labextension/), built and pip-installed into .venv.
labextension: venv
	@set -e; ext=frontend/labextension; stamp=$(VENV)/.aglais-labextension-installed; \
	core="$$($(VENV)/bin/python -c 'import importlib.util, os; print(os.path.join(importlib.util.find_spec("jupyterlab").submodule_search_locations[0], "staging", "package.json"))')"; \
	newer="$$(find $$ext "$$core" \( -name node_modules -o -name lib -o -name build -o -path $$ext/aglais_lab/labextension \
		-o -name '*.egg-info' -o -name __pycache__ -o -name tsconfig.tsbuildinfo \) -prune \
		-o -type f -newer $$stamp -print 2>/dev/null | head -n 1)"; \
	if [ -f $$stamp ] && [ -z "$$newer" ]; then exit 0; fi; \
	echo "Building the JupyterLab extension ($$ext) and installing it into $(VENV)"; \
	if [ ! -f $$ext/node_modules/.aglais-installed ] || [ $$ext/package-lock.json -nt $$ext/node_modules/.aglais-installed ] \
		|| [ $$ext/package.json -nt $$ext/node_modules/.aglais-installed ]; then \
		(cd $$ext && npm ci --no-audit --no-fund) && touch $$ext/node_modules/.aglais-installed; \
	fi; \
	rm -rf $$ext/lib $$ext/tsconfig.tsbuildinfo $$ext/aglais_lab/labextension $$ext/build; \
	(cd $$ext && ./node_modules/.bin/tsc); \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/jupyter labextension build $$ext --core-package-file "$$core"; \
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall ./$$ext; \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/jupyter labextension list 2>&1 | grep -q 'aglais-hub-lab .*enabled' \
		|| { echo "aglais-hub-lab is not listed as enabled by jupyter labextension list" >&2; exit 1; }; \
	touch $$stamp

# The servers' Python. A hub running as root runs each user's server as an account of
# their own, which cannot read this checkout (perhaps under /root) nor .venv's interpreter:
# it gets a venv under /opt/aglais-hub/ that every account can read, with
# jupyterhub-singleuser, JupyterLab, ipykernel, aglais-hub-lab and jupyter-server-proxy at
# .venv's versions, and pyspark. Without root the servers run as the hub's user from .venv,
# and this only adds pyspark to it.
server-env: venv labextension
	$(VENV)/bin/python -m hub_extension.embedded.server_env

run: venv node_modules frontend server-env java
	PATH="$(TOOLS_PATH)" PORT="$(PORT)" AGLAIS_DATA_DIR="$(AGLAIS_DATA_DIR)" \
		$(VENV)/bin/jupyterhub -f hub_extension/embedded/jupyterhub_config.py

test: venv node_modules frontend server-env postgres chromium java
	PATH="$(TOOLS_PATH)" AGLAIS_PG_BIN="$(PG_BIN)" AGLAIS_CHROMIUM="$(CHROMIUM)" $(VENV)/bin/pytest $(PYTEST_ARGS)

bench: venv node_modules postgres
	PATH="$(TOOLS_PATH)" AGLAIS_PG_BIN="$(PG_BIN)" $(VENV)/bin/python -m benchmarks

clean:
	rm -rf .run build dist .eggs *.egg-info .pytest_cache .hypothesis test-artifacts
	find . -path ./$(VENV) -prune -o -path ./node_modules -prune -o \
		-name __pycache__ -type d -exec rm -rf {} +
