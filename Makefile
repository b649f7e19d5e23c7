# The two front-door commands (see README.md):
#   make lab    install everything into .venv and open the series in JupyterLab
#   make test   install whatever is missing and run the whole test suite in quick mode
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install data lab test test-full clean-venv

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

data: $(STAMP)
	$(PY) -m ddpm_helpers.data

lab: install data
	$(VENV)/bin/jupyter lab notebooks/

test: install
	DDPM_QUICK=1 $(PY) -m pytest

test-full: install
	DDPM_QUICK=0 $(PY) -m pytest

clean-venv:
	rm -rf $(VENV)
