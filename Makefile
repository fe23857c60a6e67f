# `make run` rebuilds the example datasets; `make test` runs the suite. Both set up .venv first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.refinery-installed
export HF_HUB_OFFLINE := 1
export GX_ANALYTICS_ENABLED := false

.PHONY: setup run test lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned, so resolving the rest never pulls another (multi-GB CUDA) torch; the
	# package index pip is configured with decides whether that is a CPU or a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/refinery rebuild examples/rebuild.yaml

test: setup
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check refinery pipelines transforms schemas tests benchmarks examples

clean:
	rm -rf out .pytest_cache
