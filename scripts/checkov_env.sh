#!/usr/bin/env bash
# Builds checkov (the Kubernetes manifest scanner the deploy tests run) in its own virtual
# environment, apart from toolrelay's (.venv): checkov pins many packages (boto3, pydantic,
# jsonschema, ...) at versions the proxy's dev tools must not inherit.
# Prints the checkov executable's path on the last line. Idempotent: a stamp file records the
# version it was built with; a matching stamp means there is nothing to do.
set -euo pipefail

CACHE="${TOOLRELAY_CACHE:-$HOME/.cache/toolrelay}"
VENV="$CACHE/venv-checkov"
REQ="checkov==3.3.30"
STAMP="$VENV/.toolrelay-stamp"
PY="${PY:-python3}"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$REQ" && -x "$VENV/bin/checkov" ]]; then
    echo "$VENV/bin/checkov"
    exit 0
fi

mkdir -p "$CACHE"
# One installer at a time: `make test` and a test run started by hand may both get here.
exec 9>"$CACHE/venv-checkov.lock"
flock 9
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$REQ" ]]; then
    test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip >&2
    "$VENV/bin/pip" install -q "$REQ" >&2
    echo "$REQ" >"$STAMP"
fi
echo "$VENV/bin/checkov"
