# fluxsite: `make run` starts everything on this machine, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SIM_PORT ?= 8765
PORT ?= 8000

.PHONY: run test install migrate bench soak clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

# Web server + worker (+ the WaveSpeed simulator when no WAVESPEED_API_KEY is set); Ctrl-C stops all.
run: migrate
	@$(PY) -m fluxsite.run --port $(PORT) --simulator-port $(SIM_PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
