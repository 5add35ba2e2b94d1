# The README's two commands: `make demo` and `make test`. Both create the environment first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	# pinned: this version's CPU build lies on disk; an unpinned torch pulls a multi-GB CUDA build
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python -m hashsearch.demo indexes/stdlib-docstrings.jsonl
	$(BIN)/hashsearch index indexes/stdlib-docstrings.jsonl --index indexes/stdlib --overwrite
	$(BIN)/hashsearch info indexes/stdlib
	$(BIN)/hashsearch query indexes/stdlib "read and write compressed archive files" -k 5
	$(BIN)/hashsearch query indexes/stdlib "parse command line arguments" -k 5
	$(BIN)/hashsearch query indexes/stdlib "send an email over SMTP" -k 5 --no-rerank
	$(BIN)/hashsearch similar indexes/stdlib json.dumps -k 5

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check hashsearch tests benchmarks

bench: install
	$(BIN)/python benchmarks/codes.py

clean:
	rm -rf $(VENV) indexes/stdlib indexes/stdlib-docstrings.jsonl
