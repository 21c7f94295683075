# The two commands: `make run` (embedded quick start) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
REDIS_URL ?= redis://127.0.0.1:6379/0
PYTEST_ARGS ?=

.PHONY: run test venv venv-dev services chromium bubblewrap launcher demo clients

$(VENV)/.requirements: requirements.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	@touch $@

$(VENV)/.requirements-dev: $(VENV)/.requirements requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $@

# cromshell, cromwell-tools and wes-client each in a virtualenv of their own (their pins conflict), for the API tests.
CLIENT_VENVS := .venv-cromshell/.requirements .venv-cromwell-tools/.requirements .venv-wes/.requirements

.venv-%/.requirements: tests/api/clients/%.txt
	@test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	@touch $@

clients: $(CLIENT_VENVS)

venv: $(VENV)/.requirements
venv-dev: $(VENV)/.requirements-dev

demo: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo

# Web, one Celery worker and Celery beat on SQLite, local files and the local backend.
# Redis is used when $(REDIS_URL) answers, else kombu's filesystem transport under var/.
run: demo bubblewrap launcher
	@if $(PY) -c "import redis,sys; redis.Redis.from_url('$(REDIS_URL)', socket_connect_timeout=1).ping()" 2>/dev/null; \
	then echo "Broker: Redis at $(REDIS_URL)"; export REDIS_URL='$(REDIS_URL)'; \
	else echo "Broker: no Redis at $(REDIS_URL); using the filesystem queue under var/"; unset REDIS_URL; fi; \
	echo; echo "Batchsite: http://127.0.0.1:$(PORT)/  (Ctrl-C stops web, worker and beat)"; echo; \
	exec $(VENV)/bin/honcho start --port $(PORT) -f Procfile

services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	@for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && exit 0; sleep 1; done; \
	echo "PostgreSQL or Redis did not start" >&2; exit 1

chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# The local backend runs every call in a bubblewrap sandbox, and refuses calls without it (README, "Sandbox").
bubblewrap:
	@test -x /usr/bin/bwrap || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null) \
	  || { echo "Install bubblewrap (apt-get install bubblewrap) as root: the local backend needs it" >&2; exit 1; }

# A worker running as root starts a run's calls under one sandbox whose launcher, built from
# launcher.c, gives each call its own namespaces; the build is named by the source's hash, so
# that only a launcher built from the source as it is gets used (sandbox.launcher_binary).
LAUNCHER_SOURCE := workflows/backends/launcher.c
LAUNCHER := build/launcher-$(shell sha256sum $(LAUNCHER_SOURCE) | cut -c1-12)

$(LAUNCHER): $(LAUNCHER_SOURCE)
	@command -v cc >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null) || true
	@if command -v cc >/dev/null; then mkdir -p build && cc -O2 -Wall -Wextra -Werror -o $@.tmp $< && mv $@.tmp $@; \
	else echo "No C compiler (apt-get install gcc): a worker running as root starts each local call in a bubblewrap sandbox of its own, which is slower" >&2; fi

launcher: $(LAUNCHER)

# The whole suite on PostgreSQL and Redis, AWS through moto's server, browsers in Chromium.
test: venv-dev services chromium bubblewrap launcher clients
	$(PY) -m pytest -n auto $(PYTEST_ARGS)
