# `make run` and `make test` both start from `make setup`, which only installs and is
# safe to repeat: a virtualenv at .venv/ with pinned packages, plus the Debian packages
# the tests need (installed only when missing; needs root or sudo).
PY := .venv/bin/python
STAMP := .venv/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q

.PHONY: setup run test bench system-packages

setup: $(STAMP) system-packages

$(STAMP): pyproject.toml requirements.lock
	python3 -m venv .venv
	.venv/bin/pip install -q --disable-pip-version-check -c requirements.lock -e '.[test]'
	touch $@

# PostgreSQL's server binaries for the test suite; wrk for the benchmarks.
system-packages:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v wrk >/dev/null; then \
		$(SUDO) apt-get update -q && $(APT_INSTALL) postgresql wrk; \
	fi

run: setup
	$(PY) run.py serve --demo

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) bench/ingest.py
