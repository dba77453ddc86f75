# `make run` and `make test` both start from `make setup`, which only installs and is
# safe to repeat: a virtualenv at .venv/ with pinned packages, htmx and axe-core from the
# npm registry (package-lock.json), and the Debian packages the tests need (installed only
# when missing; needs root or sudo).
PY := .venv/bin/python
STAMP := .venv/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q

.PHONY: setup run test fuzz bench system-packages

setup: $(STAMP) node_modules/.package-lock.json system-packages

$(STAMP): pyproject.toml requirements.lock
	python3 -m venv .venv
	.venv/bin/pip install -q --disable-pip-version-check -c requirements.lock -e '.[test]'
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# PostgreSQL's server binaries, nginx (tests/test_deploy.py runs deploy/'s configuration)
# and Chromium for the test suite; wrk for the benchmarks. Playwright cannot fetch its own
# browser here, so the tests drive Debian's Chromium; on a machine without that package,
# Playwright's own download is the fallback. (Where systemd runs, Debian's nginx package
# starts its default site on port 80: `systemctl disable --now nginx` if that is unwanted.)
system-packages: $(STAMP)
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v wrk >/dev/null \
		|| ! [ -x /usr/sbin/nginx ] || ! [ -x /usr/bin/chromium ]; then \
		$(SUDO) apt-get update -q && $(APT_INSTALL) postgresql wrk nginx chromium \
		|| { $(APT_INSTALL) postgresql wrk nginx && .venv/bin/playwright install chromium; }; \
	fi

run: setup
	$(PY) run.py serve --demo

test: setup
	$(PY) -m pytest

# 100,000 mutated requests against the real server (about 2.5 minutes on 2 cores): prints a
# status histogram; fails on any 5xx, request left unanswered, or secret in the server log.
fuzz: setup
	$(PY) bench/fuzz.py

bench: setup
	$(PY) bench/ingest.py
	$(PY) bench/proxy.py
	$(PY) bench/widget.py
	$(PY) bench/leaderboard.py
	$(PY) bench/signals.py
	$(PY) bench/import.py
	$(PY) bench/wal.py
