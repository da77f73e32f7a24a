# fluxsite: `make run` starts everything on this machine, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SIM_PORT ?= 8765
PORT ?= 8000

.PHONY: run test test-scale test-compose install migrate bench soak clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

# Web server + worker (+ the WaveSpeed simulator when no WAVESPEED_API_KEY is set); Ctrl-C stops all.
# collectstatic: static files under hashed names, which whitenoise serves with a year's cache.
run: migrate
	$(PY) manage.py collectstatic --noinput -v0
	@$(PY) -m fluxsite.run --port $(PORT) --simulator-port $(SIM_PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The whole suite again on PostgreSQL + Redis, with the multi-worker scale test. Each live
# stack makes its own database (fluxsite_test_<random>) and queue name on these servers and drops them.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/fluxsite_ci_$$$$
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

test-scale: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) FLUXSITE_QUEUE_NAME=fluxsite-ci-$$$$ \
		$(PY) -m pytest -m "scale or not scale" $(PYTEST_ARGS)

# The compose stack for real (deploy/test-compose/run.py): starts a Docker engine where none runs (as
# root, from Debian's docker.io), builds stand-ins for the base images where no registry answers, runs
# upgrade, kill, restart, backup/restore and S3 checks, and stops everything it started. Images are
# kept in FLUXSITE_COMPOSE_CACHE (default /var/cache/fluxsite-compose) for the next run.
test-compose: install
	$(PY) deploy/test-compose/run.py

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@

# Benchmarks against the WaveSpeed simulator (about 20 minutes; PostgreSQL + Redis for the tier and growth
# sections, see bench/README.md); writes bench/README.md, bench/results.json, bench/chart.png and README.md's figures.
bench: $(VENV)/.bench-installed
	$(PY) -m bench.run

# The fault and kill suite at full size (200 jobs, five worker kills); `make test` runs it smaller.
soak: install
	FLUXSITE_SOAK=1 $(PY) -m pytest tests/variations/test_faults.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
