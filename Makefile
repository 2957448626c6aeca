# Two commands on a fresh machine with Python 3.11+:  make run  |  make test
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test lint bench screenshots clean

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
	$(PY) -m pytest

bench: $(VENV)/.dev  ## speed figures (not part of test)
	$(PY) bench/core.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/output
