"""``make run MODEL=… [FAMILY=…]``: serve a model from this disk instead of the embedded SmolLM2.

``MODEL`` is a Hugging Face model directory (one with ``config.json``) or a ``.gguf`` file. A GGUF is
converted once into a plain Hugging Face directory under the cache (``scripts/prepare_model.py
--gguf``, run with the vLLM venv's python: vLLM's CPU build does not serve GGUF), keyed by the
file's name and size so that a changed file is converted again.

``FAMILY`` is the toolrelay family that renders and parses the model's tool calls (``hermes``,
``qwen3``, ``llama3_json``, ``mistral`` …). Left out, it is read off the model's chat template
(``guess_family``); a template that none of the rules recognise stops with a message asking for it.

The launcher then writes a config like ``config/local.yaml`` with one model, named after the
directory or file (``Qwen2.5-0.5B-Instruct`` → ``qwen2.5-0.5b-instruct``), and serves it.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from scripts.vllm_server import ROOT, SERVED_NAME, cache_dir

# Chat-template fingerprints → family, first match wins (most specific first).
FAMILY_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("<|im_start|>", "<think>"), "qwen3"),
    (("<|im_start|>",), "hermes"),
    (("<|start_header_id|>",), "llama3_json"),
    (("[AVAILABLE_TOOLS]",), "mistral"),
    (("[INST]",), "mistral"),
    (("<｜tool▁calls▁begin｜>",), "deepseek_v3"),
    (("<arg_key>",), "glm45"),
    (("[gMASK]",), "glm4"),
)


@dataclass(frozen=True, slots=True)
class LocalModel:
    name: str  # what clients send as "model"
    model_dir: Path  # what vLLM serves
    family: str


def model_name(path: Path) -> str:
    stem = path.stem if path.suffix == ".gguf" else path.name
    return re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-") or "local"


def chat_template(model_dir: Path) -> str:
    """The model's chat template: ``chat_template.jinja`` (recent transformers) or the
    ``chat_template`` entry of ``tokenizer_config.json``."""
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = model_dir / "tokenizer_config.json"
    if config.is_file():
        template = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
        if isinstance(template, str):
            return template
        if isinstance(template, list):  # named templates: [{"name": "default", "template": …}, …]
            return "\n".join(str(t.get("template", "")) for t in template if isinstance(t, dict))
    return ""


def guess_family(template: str) -> str | None:
    for needles, family in FAMILY_RULES:
        if all(n in template for n in needles):
            return family
    return None


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

    chosen = family or guess_family(chat_template(model_dir))
    if chosen is None:
        known = sorted(REGISTRY)
        raise SystemExit(f"MODEL={model}: cannot tell its family from its chat template; pass FAMILY=one of {known}")
    if chosen not in REGISTRY:
        raise SystemExit(f"FAMILY={chosen}: unknown; known: {sorted(REGISTRY)}")
    return LocalModel(model_name(path), model_dir, chosen)


def write_config(model: LocalModel, path: Path) -> Path:
    """A config like ``config/local.yaml`` serving ``model`` (the family's defaults: ``auto`` free,
    as a tool-trained model wants; a weak model's ``auto_gate`` is calibrated per model, see
    docs/accuracy.md)."""
    config = {
        "backends": {"local": {"kind": "vllm", "urls": ["${VLLM_URL:-http://127.0.0.1:8001/v1}"]}},
        "models": {model.name: {"backend": "local", "model": SERVED_NAME, "family": model.family, "fallbacks": []}},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# written by `make run MODEL={model.model_dir}` (scripts/local_model.py)\n" + yaml.safe_dump(config),
        encoding="utf-8",
    )
    return path
