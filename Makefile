# ragship: `make demo` and `make test` set everything up on a fresh machine.
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOME_DIR ?= .ragship
HOST   ?= 127.0.0.1
PORT   ?= 8000
STAMP  := $(VENV)/.installed-dev

.PHONY: install demo ingest-demo serve test test-slow bench clean

# torch is pinned to 2.13.0 in pyproject (a CPU build on these machines; a bare `torch` pulls CUDA, GBs).
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

ingest-demo: install
	$(VENV)/bin/ragship --home $(HOME_DIR) ingest README.md docs

demo: ingest-demo
	$(VENV)/bin/ragship --home $(HOME_DIR) serve --host $(HOST) --port $(PORT)

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

bench: install
	$(PY) benchmarks/bench_scifact.py --out docs/benchmarks.md

clean:
	rm -rf $(HOME_DIR) .pytest_cache
