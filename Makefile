# The README's commands. Each installs what it needs by itself.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast lint typecheck run vllm-env prometheus store-servers checkov bench-parsers bench-perf clean

$(STAMP): pyproject.toml tests/oracles/requirements.txt tests/clients/requirements-nodeps.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,bench]'
	# bfcl-eval (test oracle only) without its dependencies: they pull a CUDA torch and every vendor SDK.
	$(BIN)/pip install -q -r tests/oracles/requirements.txt
	$(BIN)/pip install -q --no-deps bfcl-eval==2026.3.23
	# LlamaIndex's OpenAI classes (tests/clients) pin openai<3; openai-agents needs openai>=3.
	$(BIN)/pip install -q --no-deps -r tests/clients/requirements-nodeps.txt
	# openai-harmony's o200k vocabulary, offline, for its oracle (tests/adapters/test_gpt_oss_oracle.py)
	$(BIN)/python scripts/harmony_vocab.py >/dev/null
	touch $(STAMP)

# openai-node for the client-compatibility suite (tests/clients), exactly as its package-lock pins it.
NODE_CLIENTS := tests/clients/node
NODE_STAMP := $(NODE_CLIENTS)/node_modules/.installed
$(NODE_STAMP): $(NODE_CLIENTS)/package.json $(NODE_CLIENTS)/package-lock.json
	cd $(NODE_CLIENTS) && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

lint: install
	$(BIN)/ruff check server adapters tests bench scripts examples

typecheck: install
	$(BIN)/mypy

# The CPU vLLM venv and the SmolLM2 model directory (cached in ~/.cache/toolrelay).
vllm-env:
	bash scripts/vllm_env.sh >/dev/null
	"$$(bash scripts/vllm_env.sh)" scripts/prepare_model.py >/dev/null

prometheus:
	bash scripts/install_prometheus.sh >/dev/null

# Redis and PostgreSQL server binaries: the shared response-store tests start their own servers.
store-servers:
	bash scripts/install_store_servers.sh >/dev/null

# checkov (scans deploy/k8s) in its own venv, cached in ~/.cache/toolrelay: it pins many packages.
checkov:
	bash scripts/checkov_env.sh >/dev/null

# Every test: unit, conformance, oracles, real uvicorn + openai SDK, real vLLM, real Prometheus.
test: install lint typecheck vllm-env prometheus store-servers checkov
	TOOLRELAY_REQUIRE_VLLM=1 TOOLRELAY_REQUIRE_STORES=1 $(BIN)/python -m pytest -q

# The quick loop while developing: everything that needs no vLLM or Prometheus.
test-fast: install
	$(BIN)/python -m pytest -q -m "not vllm and not prometheus"

# `make run MODEL=path/to/hf-dir-or.gguf [FAMILY=hermes] [AUTO=gated]` serves another local model
# (scripts/local_model.py).
run: install
	$(BIN)/python -m scripts.run_local $(if $(MODEL),--model "$(MODEL)") $(if $(FAMILY),--family "$(FAMILY)") $(if $(AUTO),--auto "$(AUTO)")

bench-parsers: install
	$(BIN)/python -m bench.parsers

bench-perf: install
	bash scripts/litellm_env.sh
	$(BIN)/python -m bench.perf.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
