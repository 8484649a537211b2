# Two commands matter (README "Quick start"): `make demo` and `make test`.
# Both create .venv with Python 3.11 and install ftdecide plus its
# first-party plugins in editable mode; nothing else needs to be present.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
EXAMPLE := src/ftdecide/examples/triage

.PHONY: setup demo test bench clean

$(STAMP): pyproject.toml plugins/openai/pyproject.toml plugins/azure/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -e '.[test]' -e plugins/openai -e plugins/azure
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/ftdecide validate $(EXAMPLE)/train.jsonl --model gpt-4o-mini-2024-07-18
	$(BIN)/ftdecide estimate $(EXAMPLE)/train.jsonl --model gpt-4o-mini-2024-07-18 \
		--requests-per-month 100000 --shots 4
	$(BIN)/ftdecide estimate $(EXAMPLE)/train.jsonl --model azure/gpt-4o-mini --tier global \
		--requests-per-month 100000 --shots 4

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/tokens.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info plugins/*/src/*.egg-info .pytest_cache .hypothesis
