# medkb: `make demo` (install, build a knowledge base from the bundled sample, ask two questions) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
KB     ?= demo-kb
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ORT_DISABLE_TELEMETRY := 1

.PHONY: demo test test-fast lint bench browser notebook clean

demo: $(VENV)/.installed
	$(BIN)/medkb ingest corpora/sample --kb $(KB)
	$(BIN)/medkb ask "What are the contraindications of metformin?" --kb $(KB)
	$(BIN)/medkb ask "How is type 2 diabetes diagnosed?" --kb $(KB)

test: $(VENV)/.installed-test browser
	$(BIN)/python -m pytest

# unit and contract tests on fakes: no bundled model, no notebooks (a test that loads one fails; mark it e2e)
test-fast: $(VENV)/.installed-test
	MEDKB_TEST_FAST=1 $(BIN)/python -m pytest -m "not e2e" tests

lint: $(VENV)/.installed-test
	$(BIN)/ruff check kb ingest retrieval generation corpora tests benchmarks experiments
	$(BIN)/lint-imports

# JupyterLab (the notebook extra) on the notebooks, on 127.0.0.1; 02 and 03 read the MEDKB_DATA_DIR folder
notebook: $(VENV)/.installed-notebook
	$(BIN)/jupyter lab notebooks --ServerApp.ip=127.0.0.1 $$([ "$$(id -u)" = 0 ] && echo --allow-root)

bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/query.py

# torch first and pinned: a CPU build; anything else lets pip pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[serve]'
	@echo "building llama.cpp (llama-cpp-python, about 13 minutes) for the default 1.5B model ..."
	$(BIN)/python -m pip install -q -e '.[llama]' || echo "llama.cpp did not build: medkb answers with the 0.5B model on transformers"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# the page tests drive Debian's chromium through chromedriver (browsers cannot be downloaded by a test tool here);
# without them, and without root to install them, those tests skip and say why
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium and chromium-driver for the page tests ..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "no chromium: the page tests will skip (apt-get install chromium chromium-driver)"; fi

$(VENV)/.installed-notebook: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[notebook]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[bench]'
	touch $@

clean:
	rm -rf $(KB) .pytest_cache build *.egg-info
