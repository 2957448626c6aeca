# Two commands on a fresh machine with Python 3.11+:  make run  |  make test
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test bench classroom screenshots clean

$(VENV)/.run: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -e .
	touch $@

$(VENV)/.dev: $(VENV)/.run requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

run: $(VENV)/.run  ## set up and start the app on http://localhost:$(PORT)
	$(PY) -m streamlit run app.py --server.port $(PORT) --browser.gatherUsageStats false

test: $(VENV)/.dev  ## set up and run every check: lint, types, unit, app and browser tests
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n 2  # two processes (pytest-xdist): the browser tests spend much of their time waiting

bench: $(VENV)/.dev  ## speed figures (never part of test): core vs torch, sweeps, app latency
	$(PY) bench/core.py
	$(PY) bench/sweep.py
	$(PY) bench/app_latency.py

classroom: $(VENV)/.dev  ## load test: 30 websocket sessions against one local server
	$(PY) bench/classroom.py

screenshots: $(VENV)/.dev  ## regenerate the README screenshots in assets/ from the real app
	$(PY) tools/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/output
