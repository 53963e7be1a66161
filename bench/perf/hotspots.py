"""Summarises py-spy's collapsed stacks (`--format raw`, as `bench.perf.run --py-spy DIR` writes them):
the share of samples per package (inclusive: a frame anywhere on the stack) and the functions with
the most inclusive and the most self time. Enough to say where a proxy's CPU goes without a browser.

    .venv/bin/python -m bench.perf.hotspots DIR/toolrelay-stream-c8.txt [--top 25]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# "function (path/to/file.py:123)" → function, file; the line is dropped so a function counts once.
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")
_SITE = re.compile(r".*/(?:site-packages|lib/python3\.\d+)/")
_ROOT = str(Path(__file__).resolve().parents[2]) + "/"  # the checkout the profiled proxy ran from


def _where(file: str) -> str:
    """A short name for a frame's file: the package path under site-packages, or the repo path."""
    short = _SITE.sub("", file)
    return short.split(_ROOT, 1)[-1]


def _package(file: str) -> str:
    short = _where(file)
    parts = short.split("/")
    if parts[0] in ("server", "adapters", "bench") and len(parts) > 1:
        return "/".join(parts[:2]) if len(parts) > 2 else parts[0] + "/" + parts[1]
    return parts[0].removesuffix(".py")


def _frames(stack: str) -> list[tuple[str, str]]:
    out = []
    for raw in stack.split(";"):
        m = _FRAME.match(raw)
        if m:
            out.append((m["func"], _where(m["file"])))
    return out


def summarise(path: Path, top: int) -> str:
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = _frames(stack)
        if not frames:
            continue
        total += n
        names = {f"{func} ({file})" for func, file in frames}
        for name in names:
            inclusive[name] += n
        for package in {_package(file) for _, file in frames}:
            packages[package] += n
        func, file = frames[-1]
        own[f"{func} ({file})"] += n
    if not total:
        return f"{path}: no samples\n"

    def block(title: str, counts: Counter[str]) -> list[str]:
        rows = [f"{title}:"]
        rows += [f"  {100 * c / total:5.1f}%  {name}" for name, c in counts.most_common(top)]
        return rows

    lines = [f"{path.name}: {total} samples (busy, not idle)"]
    lines += block("packages (inclusive)", packages)
    lines += block("functions (inclusive)", inclusive)
    lines += block("functions (self)", own)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for path in args.files:
        sys.stdout.write(summarise(path, args.top) + "\n")


if __name__ == "__main__":
    main()
