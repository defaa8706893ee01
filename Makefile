# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install the project first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
DATA_ROOT ?= $(or $(RSUITE_DATA),data)

.PHONY: setup demo test test-all data clean

setup: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(INSTALLED)
	$(VENV)/bin/rsuite demo --force

test: $(INSTALLED)
	$(PY) -m pytest -q

test-all: $(INSTALLED)
	$(PY) -m pytest -q -m 'not cuda'

data: $(INSTALLED)
	$(PY) tools/make_data.py --data-root $(DATA_ROOT)

clean:
	rm -rf out lightning_logs .pytest_cache
