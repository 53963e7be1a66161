"""Calibrate the ``auto`` gate (``adapters/auto_gate.py``) on BFCL, talking to vLLM directly.

Two steps, both against one vLLM OpenAI server (``/v1/completions``), with toolrelay's own rendering
of each item (the shipped family adapter and options):

``features``: for every item of the chosen categories, the gate's inputs — the marker scores (one
one-token request, ``server/backends/vllm_gate.py``) and the lexical relevance — and, for items
where a call is the right answer, whether the ``required`` call (the call the gate would make) is
right by BFCL's checker (calibration split only: the held-out figures come from the HTTP runs of
``bench/bfcl.py``). One JSON line per item.

``fit``: on the calibration split (even positions in each category file, so the sample is spread
over the whole file, which gets harder along its length), a logistic regression of "a call is
right" on the features, then the bias that keeps ``--min-no-call`` of the calibration split's
irrelevance items uncalled; prints the weights for ``auto_gate:`` and the split's figures for both
halves (odd positions are held out: judge the policy on them).

    python -m bench.auto_gate_calibrate features --base-url http://127.0.0.1:8101/v1 \\
        --categories simple_python,irrelevance,live_simple,live_irrelevance --out gate.jsonl
    python -m bench.auto_gate_calibrate fit gate.jsonl --features margin,name_overlap,bm25
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

import httpx

from adapters.auto_gate import MarkerScore
from adapters.base import Message, ToolChoice, ToolSpec
from adapters.hermes import HermesAdapter
from adapters.relevance import relevance
from bench import bfcl_report
from bench import bfcl_support as bfcl
from bench.auto_gate_fit import fit_report
from server.backends.vllm_gate import VllmMarkerScorer

NO_CALL = frozenset({"irrelevance", "live_irrelevance"})
MARKER = "<tool_call>"


def tool_specs(toolset: bfcl.ToolSet) -> list[ToolSpec]:
    return [
        ToolSpec(t["function"]["name"], t["function"].get("description", ""), t["function"].get("parameters") or {})
        for t in toolset.tools
    ]


def messages_of(entry: bfcl.Entry) -> list[Message]:
    return [Message(m["role"], m.get("content")) for m in entry.messages]


async def required_call(
    client: httpx.AsyncClient,
    base: str,
    model: str,
    adapter: HermesAdapter,
    entry: bfcl.Entry,
    max_tokens: int,
    prompt_choice: ToolChoice,
) -> dict[str, Any]:
    """The ``required`` call (its constraint) after the prompt rendered for ``prompt_choice``:
    ``required`` is what toolrelay sends for ``required``; ``auto`` is the gate's own prompt, which
    vLLM has just prefilled for the gate (its prefix cache then serves the call for free)."""
    toolset = bfcl.to_openai_tools(entry.functions)
    tools, msgs, choice = tool_specs(toolset), messages_of(entry), ToolChoice("required")
    prompt = adapter.render(msgs, tools, prompt_choice, parallel_tool_calls=True)
    constraint = adapter.constraint(tools, choice, parallel_tool_calls=True)
    assert constraint is not None
    body = {
        "model": model,
        "prompt": prompt + constraint.prefill,
        "max_tokens": max_tokens,
        "temperature": 0,
        "skip_special_tokens": False,
        "stop": list(adapter.stop),
        "structured_outputs": dict(constraint.structured_outputs),
    }
    started = time.perf_counter()
    response = await client.post(f"{base}/completions", json=body, timeout=600)
    response.raise_for_status()
    text = response.json()["choices"][0]["text"]
    parsed = adapter.parser(tools).parse(constraint.prefill + text)
    calls = [(c.name, c.arguments) for c in parsed.tool_calls]
    try:
        verdict = bfcl.score(entry, bfcl.answer_from_calls(calls, toolset))
        right = verdict.valid
    except bfcl.AnswerError:
        right = False
    key = f"{prompt_choice.mode}_prompt"
    return {f"{key}_right": right, f"{key}_s": time.perf_counter() - started}


async def item_features(
    client: httpx.AsyncClient,
    scorer: VllmMarkerScorer,
    args: argparse.Namespace,
    adapter: HermesAdapter,
    entry: bfcl.Entry,
    position: int,
) -> dict[str, Any]:
    toolset = bfcl.to_openai_tools(entry.functions)
    tools, msgs = tool_specs(toolset), messages_of(entry)
    prompt = adapter.render(msgs, tools, ToolChoice("auto"), parallel_tool_calls=True)
    started = time.perf_counter()
    mark: MarkerScore = await scorer(prompt, MARKER)
    row: dict[str, Any] = {
        "id": entry.id,
        "category": entry.category,
        "position": position,
        "should_call": entry.category not in NO_CALL,
        "marker": mark.marker,
        "best": mark.best,
        "gate_s": time.perf_counter() - started,
        **asdict(relevance(msgs, tools)),
    }
    if row["should_call"] and args.required and position % args.required_every == 0:
        for choice in (ToolChoice("required"), ToolChoice("auto")):
            row.update(await required_call(client, args.base_url, args.model, adapter, entry, args.max_tokens, choice))
    return row


def spread(entries: Sequence[bfcl.Entry], every: int) -> list[tuple[int, bfcl.Entry]]:
    """Every ``every``-th item with its position in the file (never the first N)."""
    return [(i, e) for i, e in enumerate(entries) if i % every == 0]


def interleaved(groups: Sequence[Sequence[tuple[int, bfcl.Entry]]]) -> list[tuple[int, bfcl.Entry]]:
    """All groups' items in a low-discrepancy order (the k-th item of a group at the fractional part
    of k·φ), so that a run stopped early still holds a sample spread over the whole of every file."""
    golden = (5**0.5 - 1) / 2
    keyed = [((k * golden) % 1.0, j, item) for j, g in enumerate(groups) for k, item in enumerate(g)]
    return [item for _, _, item in sorted(keyed, key=lambda t: (t[0], t[1]))]


async def features(args: argparse.Namespace) -> None:
    adapter = HermesAdapter(call_format="regex", auto_policy="triggered")  # config/local.yaml's smollm2
    everies = args.every or [1] * len(args.categories)
    if len(everies) != len(args.categories):
        raise SystemExit("--every: one number, or one per category")
    if len(everies) == 1:
        everies = everies * len(args.categories)
    items = interleaved([spread(bfcl.load_entries(c), n) for c, n in zip(args.categories, everies, strict=True)])
    done_ids = {r["id"] for r in _read(args.out)} if args.resume else set()
    items = [(p, e) for p, e in items if e.id not in done_ids]
    gate = asyncio.Semaphore(args.concurrency)
    done = 0
    async with httpx.AsyncClient() as client:
        scorer = VllmMarkerScorer(client, args.base_url, args.model)

        with open(args.out, "a" if args.resume else "w", encoding="utf-8") as out:

            async def one(position: int, entry: bfcl.Entry) -> None:
                nonlocal done
                async with gate:
                    row = await item_features(client, scorer, args, adapter, entry, position)
                out.write(json.dumps(row) + "\n")  # as they come: a long run can be read while it goes
                out.flush()
                done += 1
                if done % 50 == 0:
                    sys.stderr.write(f"{done}/{len(items)}\n")

            await asyncio.gather(*(one(p, e) for p, e in items))


def refresh_relevance(rows: list[dict[str, Any]]) -> None:
    """Recompute the lexical features with the code as it is now (they need no model), so that a
    change to ``adapters/relevance.py`` does not need another pass over vLLM."""
    by_id = {e.id: e for c in {r["category"] for r in rows} for e in bfcl.load_entries(c)}
    for row in rows:
        entry = by_id[row["id"]]
        row.update(asdict(relevance(messages_of(entry), tool_specs(bfcl.to_openai_tools(entry.functions)))))


def split_accuracy(report: dict[str, Any]) -> str:
    """Per category of a ``bench/bfcl.py`` report: correct items on the calibration split (even
    positions in the category file), the held-out split (odd) and in all, and how many items
    ended in a call."""
    positions = {e.id: i for c in report["categories"] for i, e in enumerate(bfcl.load_entries(c))}
    lines = []
    for category in report["categories"]:
        items = [it for it in report["items"] if it["category"] == category]
        parts = []
        for name, keep in (("calibration", 0), ("held out", 1), ("all", None)):
            chosen = [it for it in items if keep is None or positions[it["id"]] % 2 == keep]
            right = sum(1 for it in chosen if it["valid"])
            parts.append(f"{name} {right}/{len(chosen)}" + (f" ({right / len(chosen):.1%})" if chosen else ""))
        called = sum(1 for it in items if it.get("answer"))
        lines.append(f"  {category:18} " + " · ".join(parts) + f" · called {called}/{len(items)}")
    return "\n".join(lines)


def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        report: dict[str, Any] = json.load(f)
    return report


def _read(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.auto_gate_calibrate", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="step", required=True)
    f = sub.add_parser("features")
    f.add_argument("--base-url", default="http://127.0.0.1:8101/v1")
    f.add_argument("--model", default="smol")
    f.add_argument("--categories", type=lambda t: [bfcl.resolve_category(c) for c in _csv(t)], required=True)
    f.add_argument(
        "--every",
        type=lambda t: [int(n) for n in _csv(t)],
        default=None,
        help="every N-th item (per category: N,M,…); keep N odd so that both splits get items",
    )
    f.add_argument("--required", action="store_true", help="also run and score the required call")
    f.add_argument(
        "--required-every", type=int, default=2, help="... on positions divisible by this (even: calibration only)"
    )
    f.add_argument("--max-tokens", type=int, default=256)
    f.add_argument("--concurrency", type=int, default=2)
    f.add_argument("--out", required=True)
    f.add_argument("--resume", action="store_true", help="keep the rows already in --out, add the missing ones")
    fit = sub.add_parser("fit")
    fit.add_argument("rows", nargs="+")
    fit.add_argument("--features", type=_csv, default=["margin", "name_overlap", "bm25"])
    fit.add_argument("--min-no-call", type=float, default=0.90, help="calibration irrelevance kept uncalled")
    sp = sub.add_parser("splits", help="bench/bfcl.py reports' accuracy on each split, those with one label merged")
    sp.add_argument("reports", nargs="+")
    ch = sub.add_parser("chart", help="one bar chart of bench/bfcl.py reports, those with one label merged")
    ch.add_argument("png")
    ch.add_argument("reports", nargs="+")
    mg = sub.add_parser("merge", help="bench/bfcl.py reports (parts of one run, same label) as one report")
    mg.add_argument("out")
    mg.add_argument("reports", nargs="+")
    args = ap.parse_args(list(argv) if argv is not None else None)
    if args.step in ("chart", "splits", "merge"):
        series = bfcl_report.merged([_load(path) for path in args.reports])
        if args.step == "chart":
            bfcl_report.plot(series, args.png)
        elif args.step == "merge":
            if len(series) != 1:
                ap.error(f"merge: the reports hold {len(series)} labels, expected one")
            with open(args.out, "w", encoding="utf-8") as sink:
                json.dump(series[0], sink, indent=1, ensure_ascii=False)
        else:
            for report in series:
                sys.stdout.write(f"{bfcl_report.label(report)}\n{split_accuracy(report)}\n")
        return 0
    if args.step == "features":
        asyncio.run(features(args))
        return 0
    rows = [r for path in args.rows for r in _read(path)]
    refresh_relevance(rows)
    sys.stdout.write(fit_report(rows, args.features, args.min_no_call) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
