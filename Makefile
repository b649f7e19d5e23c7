# The two front-door commands (see README.md):
#   make lab    install everything into .venv and open the series in JupyterLab
#   make test   install whatever is missing and run the whole test suite in quick mode
# CI (.ci/run) also runs:
#   make matrix every notebook in each environment the README offers besides this one (Colab's runtime, Binder's,
#               the package's floors), each built from its own spec (envs/matrix.py; ENVS="colab" for one)
# Instructors (docs/teaching.md):
#   make present NB=01_forward_process   JupyterLab straight into the live RISE slideshow of one notebook
#   make slides   each notebook as reveal.js slides in build/slides/, viewable offline
#                 (SLIDES_FLAGS="--execute" with DDPM_QUICK=1 for decks with pictures, fast)
#   make student  regenerate the committed student edition student/ (nbgrader solution regions stubbed)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install data lab present test test-full matrix clean-venv browser slides student

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# FashionMNIST, offline first: the known folders (ddpm_helpers/core/data.py); then Debian's package
# dataset-fashion-mnist when we are root on Debian/Ubuntu (as `make browser` does for chromium);
# only then the download through torchvision (needs internet).
data: $(STAMP)
	@$(PY) -m ddpm_helpers.cli.data --no-download >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	   { apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	     { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; }; }; then \
	  echo "make data: installed Debian's dataset-fashion-mnist"; \
	fi
	$(PY) -m ddpm_helpers.cli.data

# JupyterLab with live slides: jupyterlab-rise comes with requirements.txt; its settings (a slide taller
# than the screen scrolls) go into the environment's JupyterLab overrides.json.
lab: install data
	$(PY) -m ddpm_helpers.cli.slides rise-settings
	$(VENV)/bin/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# Live slides: open notebook NB straight in the RISE slideshow, figures at presentation size.
NB ?= 01_forward_process
present: install data
	$(PY) -m ddpm_helpers.cli.slides rise-settings
	url=$$($(PY) -m ddpm_helpers.cli.slides rise-path $(NB)) || exit 1; \
	DDPM_FIGURES=presentation $(VENV)/bin/jupyter lab notebooks/ --LabApp.default_url=/$$url \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root)

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

test: install browser data
	DDPM_QUICK=1 $(PY) -m pytest

test-full: install browser data
	DDPM_QUICK=0 $(PY) -m pytest

# Colab's runtime (envs/colab/pip-freeze.txt), Binder's (binder/) and the floors (pyproject.toml): each environment
# built (or reused from ~/.cache/ddpm_helpers/envs when its spec is unchanged), every notebook run in it, quick mode.
ENVS ?=
matrix: install data
	DDPM_QUICK=1 $(PY) envs/matrix.py --jobs 2 $(ENVS)

# Offline decks: reveal.js and MathJax are fetched once from npm (build/vendor/) and copied beside them.
SLIDES_FLAGS ?=
slides: install
	$(PY) -m ddpm_helpers.cli.editions slides $(SLIDES_FLAGS)

student: install
	$(PY) -m ddpm_helpers.cli.editions student

clean-venv:
	rm -rf $(VENV)
