# Two commands do everything on a fresh machine:
#   make demo   create .venv, install, run the TIMIT recipe on the generated mini-TIMIT, print the PER table
#   make test   create .venv, install, run the test suite (what CI runs, after make lint)
#   make lint   ruff's linter and formatter check (make format applies the formatter)
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin

.PHONY: install demo test test-fast lint format clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,onnx,lhotse,arrow]'
	# The published PAGE-XML 2019 schema (ocrd_validators/page.xsd) that the tests validate written
	# pages against. --no-deps: the tests read the file only, never import the OCR-D framework.
	$(BIN)/python -m pip install --quiet --no-deps 'ocrd-validators==2.67.1'
	touch $@

demo: install
	PATH="$(BIN):$$PATH" recipes/timit/run.sh

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) recipes/*/data recipes/*/exp
