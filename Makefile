# Two commands do everything on a fresh machine:
#   make demo   create .venv, install, run the TIMIT recipe on the generated mini-TIMIT, print the PER table
#   make test   create .venv, install, run the test suite (what CI runs)
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin

.PHONY: install demo test test-fast clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,onnx]'
	touch $@

demo: install
	PATH="$(BIN):$$PATH" recipes/timit/run.sh

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) recipes/*/data recipes/*/exp
