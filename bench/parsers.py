"""Parser throughput per family: one-shot vs streamed, at growing argument sizes.

Run: ``.venv/bin/python -m bench.parsers`` (options: ``--sizes 1024,16384,131072 --repeat 3
--families hermes,qwen3``). Prints a markdown table.

For each family and size the raw model text holds one tool call whose string argument has that
many characters (plus a sentence of prose before it). The text is parsed three ways with a fresh
parser each time: one-shot (``parse``), streamed in 4-character deltas (about one token each), and
streamed one character per delta. Linear parsers show a constant time per kB across sizes; a
parser that rescanned its buffer per delta would grow with the square of the size in the streamed
columns. Times are the best of ``--repeat`` runs. The last two columns are deterministic: the
characters the scanning helpers examined (``parser.meter``) per input character, one-shot and
streamed one character at a time; they stay flat across sizes when the work is linear.

Texts come from the generators below for the families that live next to this bench's author, and
from ``tests.adapters.cases_<family>.big_call`` for any other registered family.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable, Sequence

from adapters import REGISTRY
from adapters.base import Adapter, ToolSpec

NOTE = ToolSpec(
    "save_note",
    "Save a note.",
    {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
)
PROSE = "Sure, I will save that note for you now. "


def _payload(n: int) -> str:
    # Characters that exercise the scanners: braces, brackets, quotes, a marker-like "<".
    unit = 'ab{c}[d] "e" <f '
    return (unit * (n // len(unit) + 1))[:n]


def _hermes(n: int) -> str:
    body = json.dumps({"name": "save_note", "arguments": {"text": _payload(n)}})
    return f"{PROSE}\n<tool_call>\n{body}\n</tool_call>"


def _qwen3(n: int) -> str:
    return "<think>\nThe user wants a note saved.\n</think>\n\n" + _hermes(n)


def _llama3_json(n: int) -> str:
    return PROSE + "<|python_tag|>" + json.dumps({"name": "save_note", "parameters": {"text": _payload(n)}})


def _pythonic(n: int) -> str:
    return PROSE + f"[save_note(text={_payload(n)!r})]"


def _gpt_oss(n: int) -> str:
    # harmony: the prose as a commentary preamble, then the call message (vLLM cuts the <|call|>)
    preamble = f"<|channel|>commentary<|message|>{PROSE}<|end|><|start|>assistant"
    head = "<|channel|>commentary to=functions.save_note <|constrain|>json<|message|>"
    return preamble + head + json.dumps({"text": _payload(n)})


GENERATORS: dict[str, Callable[[int], str]] = {
    "hermes": _hermes,
    "qwen3": _qwen3,
    "llama3_json": _llama3_json,
    "pythonic": _pythonic,
    "gpt_oss": _gpt_oss,
}


def _source(family: str) -> tuple[Callable[[int], str], Sequence[ToolSpec]] | None:
    if family in GENERATORS:
        return GENERATORS[family], [NOTE]
    try:
        module = importlib.import_module(f"tests.adapters.cases_{family}")
    except ModuleNotFoundError:
        return None
    return module.big_call, module.TOOLS


def _time(adapter: Adapter, tools: Sequence[ToolSpec], text: str, step: int, repeat: int) -> tuple[float, float]:
    """Best wall time, and the meter's examined characters per input character."""
    best, work = float("inf"), float("nan")
    for _ in range(repeat):
        parser = adapter.parser(tools)
        start = time.perf_counter()
        if step == 0:
            msg = parser.parse(text)
            calls = len(msg.tool_calls)
        else:
            calls = 0
            for i in range(0, len(text), step):
                calls += sum(1 for e in parser.feed(text[i : i + step]) if type(e).__name__ == "ToolCallEnd")
            calls += sum(1 for e in parser.finish() if type(e).__name__ == "ToolCallEnd")
        best = min(best, time.perf_counter() - start)
        if calls != 1:
            raise SystemExit(f"expected one call, got {calls}")
        meter = getattr(parser, "meter", None)
        work = meter.chars / len(text) if meter is not None else float("nan")
    return best, work


def run(families: Sequence[str], sizes: Sequence[int], repeat: int) -> list[str]:
    lines = [
        "| family | argument | one-shot | µs/kB | 4-char deltas | µs/kB | 1-char deltas | µs/kB"
        " | examined/char one-shot | examined/char 1-char |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for family in families:
        found = _source(family)
        if found is None:
            continue
        make, tools = found
        adapter = REGISTRY[family]
        for size in sizes:
            text = make(size)
            kb = len(text) / 1024
            cells, works = [], []
            for step in (0, 4, 1):
                seconds, work = _time(adapter, tools, text, step, repeat)
                cells += [f"{seconds * 1e3:.2f} ms", f"{seconds * 1e6 / kb:.0f}"]
                works.append(work)
            cells += [f"{works[0]:.2f}", f"{works[2]:.2f}"]
            label = f"{size // 1024} kB" if size >= 1024 else f"{size} B"
            lines.append(f"| {family} | {label} | " + " | ".join(cells) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1024,16384,131072")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--families", default=",".join(sorted(REGISTRY)))
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    families = [f for f in args.families.split(",") if f in REGISTRY]
    sys.stdout.write("\n".join(run(families, sizes, args.repeat)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
