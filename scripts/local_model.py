"""``make run MODEL=… [FAMILY=…]``: serve a model from this disk instead of the embedded SmolLM2.

``MODEL`` is a Hugging Face model directory (one with ``config.json``) or a ``.gguf`` file. A GGUF is
converted once into a plain Hugging Face directory under the cache (``scripts/prepare_model.py
--gguf``, run with the vLLM venv's python: vLLM's CPU build does not serve GGUF), keyed by the
file's name and size so that a changed file is converted again.

``AUTO=gated`` (a weak or base model that does not call tools on its own under ``tool_choice: auto``)
lets toolrelay decide call-or-text with the model-free lexical gate (``adapters.auto_gate.LEXICAL_GATE``)
before the model generates; only families with an ``auto_policy`` (hermes) take it.

``FAMILY`` is the toolrelay family that renders and parses the model's tool calls (``hermes``,
``qwen3``, ``llama3_json``, ``mistral`` …). Left out, it is read off the model's chat template by
``adapters.detect`` (as ``toolrelay detect-family`` does), with the ``family_options`` the template
calls for; a template that no rule recognises stops with a message asking for it.

The launcher then writes a config like ``config/local.yaml`` with one model, named after the
directory or file (``Qwen2.5-0.5B-Instruct`` → ``qwen2.5-0.5b-instruct``), and serves it.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from adapters.auto_gate import LEXICAL_GATE
from adapters.detect import DSV32_ENCODING, TEMPLATE_FILES, Detection, detect_files
from scripts.vllm_server import ROOT, SERVED_NAME, cache_dir


@dataclass(frozen=True, slots=True)
class LocalModel:
    name: str  # what clients send as "model"
    model_dir: Path  # what vLLM serves
    family: str
    options: Mapping[str, Any] = field(default_factory=dict)  # family_options the template calls for


def model_name(path: Path) -> str:
    stem = path.stem if path.suffix == ".gguf" else path.name
    return re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-") or "local"


def detect(model_dir: Path) -> Detection | None:
    """The family its chat template speaks (``toolrelay detect-family``'s reading of the files)."""
    found = [n for n in (*TEMPLATE_FILES, DSV32_ENCODING) if (model_dir / n).is_file()]
    files = {n: "" if n == DSV32_ENCODING else (model_dir / n).read_text(encoding="utf-8") for n in found}
    return detect_files(files)


Runner = Callable[[Sequence[str]], str]


def _run(argv: Sequence[str]) -> str:
    return subprocess.run(list(argv), check=True, stdout=subprocess.PIPE, text=True).stdout


def converted_dir(gguf: Path, python: Path, run: Runner = _run) -> Path:
    """The Hugging Face directory made from ``gguf`` (converted on first use, then cached)."""
    target = cache_dir() / "models" / f"{model_name(gguf)}-{gguf.stat().st_size}"
    out = run([str(python), str(ROOT / "scripts" / "prepare_model.py"), "--gguf", str(gguf), "--out", str(target)])
    return Path(out.strip().splitlines()[-1])


def resolve(model: str, family: str | None, python: Callable[[], Path], run: Runner = _run) -> LocalModel:
    """``MODEL`` (and ``FAMILY``) → what to serve; ``SystemExit`` with a message when it cannot be."""
    path = Path(model).expanduser().resolve()
    if path.is_file() and path.suffix == ".gguf":
        model_dir = converted_dir(path, python(), run)
    elif path.is_dir() and (path / "config.json").is_file():
        model_dir = path
    else:
        raise SystemExit(f"MODEL={model}: not a Hugging Face model directory (with config.json) or a .gguf file")
    from adapters import REGISTRY

    if family is not None:
        if family not in REGISTRY:
            raise SystemExit(f"FAMILY={family}: unknown; known: {sorted(REGISTRY)}")
        return LocalModel(model_name(path), model_dir, family)
    found = detect(model_dir)
    if found is None:
        known = sorted(REGISTRY)
        raise SystemExit(f"MODEL={model}: cannot tell its family from its chat template; pass FAMILY=one of {known}")
    return LocalModel(model_name(path), model_dir, found.family, found.options)


def with_auto(model: LocalModel, policy: str) -> LocalModel:
    """``model`` with ``tool_choice: auto`` decided by ``policy`` (``gated``: the lexical gate);
    ``SystemExit`` when its family has no such option."""
    options: dict[str, Any] = {**model.options, "auto_policy": policy}
    if policy == "gated":
        options["auto_gate"] = {k: v for k, v in asdict(LEXICAL_GATE).items() if v}
    from adapters import REGISTRY

    try:  # the family's own constructor is the judge of its options, as at config load
        type(REGISTRY[model.family])(**options)
    except (TypeError, ValueError) as err:
        raise SystemExit(f"AUTO={policy}: not an option of the {model.family} family ({err})") from err
    return replace(model, options=options)


def write_config(model: LocalModel, path: Path) -> Path:
    """A config like ``config/local.yaml`` serving ``model`` (the family's defaults: ``auto`` free,
    as a tool-trained model wants; a weak model's ``auto_gate`` is calibrated per model, see
    docs/accuracy.md)."""
    entry: dict[str, Any] = {"backend": "local", "model": SERVED_NAME, "family": model.family, "fallbacks": []}
    if model.options:
        entry["family_options"] = dict(model.options)
    config = {
        "backends": {"local": {"kind": "vllm", "urls": ["${VLLM_URL:-http://127.0.0.1:8001/v1}"]}},
        "models": {model.name: entry},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# written by `make run MODEL={model.model_dir}` (scripts/local_model.py)\n" + yaml.safe_dump(config),
        encoding="utf-8",
    )
    return path
