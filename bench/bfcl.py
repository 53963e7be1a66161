"""BFCL accuracy through any OpenAI-compatible chat endpoint: toolrelay, or a vLLM server's own API.

Each BFCL item (``bench/bfcl_support.py``) goes out as one ``/v1/chat/completions`` request with the
openai SDK: the question's messages, its functions as OpenAI tools, the chosen ``tool_choice``,
``parallel_tool_calls`` and temperature. The returned tool calls (names mapped back to BFCL's) are
scored with BFCL's own AST checker; no call at all is the right answer for ``irrelevance``. The
report gives accuracy and latency per category and, when the endpoint is toolrelay, the parse
outcomes the run caused (deltas of ``toolrelay_tool_calls_total`` on its ``/metrics``).

    python -m bench.bfcl --model smollm2 --base-url http://127.0.0.1:8080/v1 \\
        --categories simple_python,multiple --limit 20 --tool-choice required --out run.json --plot run.png
    python -m bench.bfcl --plot both.png --plot-with auto.json required.json   # chart earlier runs only

The full run is a benchmark, not a test; results and commands live in ``docs/accuracy.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import httpx
import openai

from bench import bfcl_report as report
from bench import bfcl_support as bfcl
from bench.bfcl_report import ItemResult


@dataclass(frozen=True, slots=True)
class RunConfig:
    model: str
    base_url: str
    api_key: str = "EMPTY"
    categories: tuple[str, ...] = bfcl.CATEGORIES
    limit: int | None = None
    every: int = 1  # every N-th item of each category, from its first (a sample spread over the file)
    start: int = 0  # ... from this position: parts 0..N-1 of `every N` together are the whole category
    tool_choice: Literal["auto", "required"] = "auto"
    parallel_tool_calls: bool | None = None  # None: leave the field out, the server's default applies
    temperature: float = 0.0
    max_tokens: int | None = None
    concurrency: int = 4
    timeout_s: float = 300.0
    stream: bool = False
    label: str | None = None


def _request(config: RunConfig, entry: bfcl.Entry, toolset: bfcl.ToolSet) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": config.model,
        "messages": list(entry.messages),
        "tools": list(toolset.tools),
        "tool_choice": config.tool_choice,
        "temperature": config.temperature,
    }
    if config.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = config.parallel_tool_calls
    if config.max_tokens is not None:
        body["max_tokens"] = config.max_tokens
    return body


@dataclass(slots=True)
class _Reply:
    content: str
    calls: list[tuple[str, str]]
    finish_reason: str | None


async def _complete(client: openai.AsyncOpenAI, body: dict[str, Any]) -> _Reply:
    response = await client.chat.completions.create(**body)
    choice = response.choices[0]
    calls = [(c.function.name, c.function.arguments) for c in choice.message.tool_calls or [] if c.type == "function"]
    return _Reply(choice.message.content or "", calls, choice.finish_reason)


async def _stream(client: openai.AsyncOpenAI, body: dict[str, Any]) -> _Reply:
    # Rebuild the message from deltas the way the SDK's users do: name once, arguments concatenated.
    content: list[str] = []
    names: dict[int, str] = {}
    arguments: dict[int, list[str]] = {}
    finish: str | None = None
    stream = await client.chat.completions.create(**body, stream=True)
    async for chunk in stream:
        for choice in chunk.choices:
            content.append(choice.delta.content or "")
            for delta in choice.delta.tool_calls or []:
                if delta.function and delta.function.name:
                    names[delta.index] = names.get(delta.index, "") + delta.function.name
                if delta.function and delta.function.arguments:
                    arguments.setdefault(delta.index, []).append(delta.function.arguments)
            finish = choice.finish_reason or finish
    calls = [(names.get(i, ""), "".join(arguments.get(i, []))) for i in sorted(names.keys() | arguments.keys())]
    return _Reply("".join(content), calls, finish)


async def run_item(client: openai.AsyncOpenAI, config: RunConfig, entry: bfcl.Entry) -> ItemResult:
    toolset = bfcl.to_openai_tools(entry.functions)
    body = _request(config, entry, toolset)
    started = time.perf_counter()
    try:
        reply = await (_stream(client, body) if config.stream else _complete(client, body))
    except openai.APIError as exc:
        return ItemResult(
            entry.id,
            entry.category,
            valid=False,
            latency_s=time.perf_counter() - started,
            error=f"{type(exc).__name__}: {exc}"[:500],
            request_failed=True,
        )
    elapsed = time.perf_counter() - started
    text = reply.content[:500]
    try:
        answer = bfcl.answer_from_calls(reply.calls, toolset)
    except bfcl.AnswerError as exc:
        error = str(exc)
        return ItemResult(entry.id, entry.category, False, elapsed, error, False, reply.finish_reason, [], text)
    verdict = bfcl.score(entry, answer)
    return ItemResult(
        entry.id, entry.category, verdict.valid, elapsed, verdict.error, False, reply.finish_reason, answer, text
    )


async def run_items(config: RunConfig, entries: Sequence[bfcl.Entry]) -> list[ItemResult]:
    """Every entry, at most ``config.concurrency`` in flight; results in the entries' order."""
    gate = asyncio.Semaphore(max(1, config.concurrency))
    async with openai.AsyncOpenAI(
        base_url=config.base_url, api_key=config.api_key, timeout=config.timeout_s, max_retries=0
    ) as client:

        async def one(entry: bfcl.Entry) -> ItemResult:
            async with gate:
                return await run_item(client, config, entry)

        return list(await asyncio.gather(*(one(e) for e in entries)))


def run_bench(config: RunConfig) -> dict[str, Any]:
    """Run the configured categories and return the JSON report (see ``bfcl_report.summarise``)."""
    entries = [
        e for c in config.categories for e in bfcl.load_entries(c, config.limit)[config.start :: max(1, config.every)]
    ]
    url = report.metrics_url(config.base_url)
    with httpx.Client(timeout=10.0) as http:
        before = report.tool_call_counts(url, http)
        started = time.perf_counter()
        items = asyncio.run(run_items(config, entries))
        wall = time.perf_counter() - started
        after = report.tool_call_counts(url, http)
    outcomes = report.outcome_delta(before, after)
    return report.summarise(asdict(config), items, outcomes, wall)


# --------------------------------------------------------------------------- command line


def _categories(text: str) -> tuple[str, ...]:
    try:
        return tuple(bfcl.resolve_category(c.strip()) for c in text.split(",") if c.strip())
    except bfcl.UnknownCategory as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _flag(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.bfcl", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model name the endpoint knows (toolrelay: a configured model)")
    p.add_argument("--base-url", default="http://127.0.0.1:8080/v1", help="OpenAI base URL, ending in /v1")
    p.add_argument("--api-key", default="EMPTY")
    p.add_argument("--categories", type=_categories, default=bfcl.CATEGORIES, help="comma-separated")
    p.add_argument("--limit", type=int, default=None, help="first N items of each category")
    p.add_argument("--every", type=int, default=1, help="every N-th item of each category (spread, not first N)")
    p.add_argument("--start", type=int, default=0, help="... from this position (run a category in parts)")
    p.add_argument("--tool-choice", choices=("auto", "required"), default="auto")
    p.add_argument("--parallel-tool-calls", type=_flag, default=None, help="true|false (default: not sent)")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    p.add_argument("--stream", action="store_true", help="stream responses and rebuild them from deltas")
    p.add_argument("--label", default=None, help="name of this run in tables and charts")
    p.add_argument("--out", default=None, help="write the JSON report here")
    p.add_argument("--plot", default=None, help="write a PNG bar chart of accuracy by category here")
    p.add_argument("--plot-with", nargs="*", default=[], help="earlier JSON reports to chart beside this run")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    earlier = []
    for path in args.plot_with:
        with open(path, encoding="utf-8") as f:
            earlier.append(json.load(f))
    if args.model is None:
        if not (args.plot and earlier):
            _parser().error("--model is required (or give --plot with --plot-with to chart earlier runs)")
        report.plot(earlier, args.plot)
        return 0
    config = RunConfig(
        model=args.model,
        base_url=args.base_url,
        api_key=args.api_key,
        categories=args.categories,
        limit=args.limit,
        every=args.every,
        start=args.start,
        tool_choice=args.tool_choice,
        parallel_tool_calls=args.parallel_tool_calls,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        concurrency=args.concurrency,
        timeout_s=args.timeout,
        stream=args.stream,
        label=args.label,
    )
    result = run_bench(config)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1, ensure_ascii=False)
    if args.plot:
        report.plot([*earlier, result], args.plot)
    sys.stdout.write(f"BFCL · {report.label(result)} · {config.base_url}\n{report.markdown_table(result)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
