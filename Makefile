# The two commands of the README. Each creates or reuses .venv, installs what it needs, and runs.
#   make demo   remove the backgrounds of Data/test/images into Data/test/outputs (u2netp, official weights)
#   make test   the whole suite: unit tests plus every notebook under nbmake in smoke mode
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SHELL  := /bin/bash
# pytest-xdist workers of `make test` (the CI machine has 2 cores; tests/conftest.py groups the
# tests that share state or need GB of memory, so that two of those never run side by side)
TEST_WORKERS ?= 2

.PHONY: demo test install install-test lint clean-outputs

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt scripts/install_test_extras.sh
	bash scripts/install_test_extras.sh $(PY)
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(PY) -m RMBG samples Data/test/images
	$(PY) -m RMBG remove -i Data/test/images -o Data/test/outputs

test: install-test
	RMBG_SMOKE=1 $(PY) -m pytest -q -p no:cacheprovider --durations=15 -n $(TEST_WORKERS) --nbmake tests notebooks workspace.ipynb

clean-outputs:
	rm -rf Data/test/outputs Data/smoke
