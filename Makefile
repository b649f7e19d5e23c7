# The two front-door commands (see README.md):
#   make lab    install everything into .venv and open the series in JupyterLab
#   make test   install whatever is missing and run the whole test suite in quick mode
# Instructors:
#   make slides   each notebook as reveal.js slides in build/slides/
#   make student  the student edition (solutions replaced by # TODO stubs) in build/student/
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install data lab test test-full clean-venv browser slides student

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

data: $(STAMP)
	$(PY) -m ddpm_helpers.data

lab: install data
	$(VENV)/bin/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# Headless Chromium for tests/test_browser.py: Debian's package (Playwright drives it; no browser
# download). Installed with apt-get when missing and we are root; otherwise says how.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
	  echo "make browser: no chromium found; the browser test needs it: sudo apt-get install chromium" \
	       "(Debian/Ubuntu) or $(PY) -m playwright install chromium"; \
	fi

test: install browser
	DDPM_QUICK=1 $(PY) -m pytest

test-full: install browser
	DDPM_QUICK=0 $(PY) -m pytest

slides: install
	$(PY) -m ddpm_helpers.editions slides

student: install
	$(PY) -m ddpm_helpers.editions student

clean-venv:
	rm -rf $(VENV)
