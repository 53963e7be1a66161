"""Time to first argument byte, ``stream_arguments: whole`` vs ``incremental`` (not a test).

One tool call whose arguments carry a 4 kB ``content`` string (``LONG_CONTENT``), streamed to a
client through toolrelay (a subprocess, ``python -m server``) from two fake backends running in
this process, each with a fixed delay per token:

- ``hosted``: the fake upstream (``tests/fakes/fake_upstream.py``, quirk ``long_args``) sends the
  arguments in 3-character fragments, one SSE chunk each, ``--delay`` apart;
- ``vllm``: the fake vLLM (``tests/fakes/fake_vllm.py``) replays a hermes call token by token
  (``--delay`` per token) under ``tool_choice`` naming the tool (a forced call, as incremental
  streaming on the vLLM path requires).

Per path and mode: the median over ``--n`` requests of the time to the first non-empty
``arguments`` fragment the client reads (TTFAB), the time to the whole answer, and the fragments
the call arrived in.

    python -m bench.arg_stream --n 5 --delay 0.002
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.fakes.fake_upstream import LONG_CONTENT, FakeUpstream
from tests.fakes.fake_vllm import FakeVllm, tokens
from tests.servers import serve_app, spawn_toolrelay

TOOL = {
    "type": "function",
    "function": {
        "name": "write_weather_report",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "path": {"type": "string"}, "content": {"type": "string"}},
        },
    },
}
ARGS = json.dumps({"path": "f.py", "content": LONG_CONTENT}, ensure_ascii=False)
RAW = f'<tool_call>\n{{"name": "write_weather_report", "arguments": {ARGS}}}\n</tool_call><|im_end|>'
MODES = ("whole", "incremental")


def _fakes(delay: float, conn: Connection) -> None:
    """Child process: both fakes, ``delay`` per token, until terminated (apart from the client, so
    the client's reading does not slow the fakes' clocks)."""
    upstream, vllm = FakeUpstream(), FakeVllm(default=RAW, served="writer")
    upstream.delay = vllm.delay = delay
    with serve_app(upstream.app) as up, serve_app(vllm.app) as local:
        conn.send((up, local))
        while True:
            time.sleep(3600)


@contextlib.contextmanager
def relay(delay: float) -> Iterator[str]:
    ours, theirs = multiprocessing.Pipe()
    fakes = multiprocessing.get_context("spawn").Process(target=_fakes, args=(delay, theirs), daemon=True)
    fakes.start()
    try:
        up, local = ours.recv()
        models: dict[str, Any] = {}
        for mode in MODES:
            models[f"hosted-{mode}"] = {"backend": "up", "model": "fake+long_args", "stream_arguments": mode}
            local_model = {"backend": "local", "model": "writer", "family": "hermes", "stream_arguments": mode}
            models[f"vllm-{mode}"] = local_model
        config = {
            "backends": {
                "up": {"kind": "upstream", "base_url": f"{up}/v1"},
                "local": {"kind": "vllm", "urls": [f"{local}/v1"]},
            },
            "models": models,
        }
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.yaml"
            path.write_text(yaml.safe_dump(config))
            with spawn_toolrelay(path) as url:
                yield url
    finally:
        fakes.terminate()
        fakes.join(10)


def one(client: httpx.Client, model: str) -> tuple[float, float, int]:
    """(seconds to the first argument byte, seconds to the end, fragments) of one streamed request."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": "What is the weather in Paris? Write it to f.py."}],
        "tools": [TOOL],
        "stream": True,
    }
    if model.startswith("vllm"):
        body["tool_choice"] = {"type": "function", "function": {"name": "write_weather_report"}}
    first: float | None = None
    fragments, arguments = 0, ""
    started = time.perf_counter()
    with client.stream("POST", "/chat/completions", json=body) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            for choice in json.loads(line[6:]).get("choices") or ():
                for tc in choice["delta"].get("tool_calls") or ():
                    piece = tc["function"].get("arguments") or ""
                    if piece:
                        first = first if first is not None else time.perf_counter() - started
                        fragments += 1
                        arguments += piece
    total = time.perf_counter() - started
    assert first is not None and isinstance(json.loads(arguments), dict), "no valid arguments arrived"
    return first, total, fragments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5, help="requests per path and mode")
    parser.add_argument("--delay", type=float, default=0.002, help="seconds per token (upstream chunk)")
    args = parser.parse_args(argv)
    chunks = len(range(0, len(json.dumps({"location": "Paris", "content": LONG_CONTENT}, ensure_ascii=False)), 3))
    rows = []
    with relay(args.delay) as url, httpx.Client(base_url=url, timeout=120) as client:
        for path in ("hosted", "vllm"):
            for mode in MODES:
                one(client, f"{path}-{mode}")  # warm-up: connections, first-use costs
                runs = [one(client, f"{path}-{mode}") for _ in range(args.n)]
                first, total, fragments = (statistics.median(r[k] for r in runs) for k in range(3))
                rows.append((path, mode, first, total, fragments))
    units = {"hosted": f"{chunks} chunks", "vllm": f"{len(tokens(RAW.split('<|im_end|>')[0]))} tokens"}
    out = sys.stdout
    out.write(f"4,096-character argument, {args.delay * 1000:g} ms per token, median of {args.n}\n\n")
    out.write("| path | stream_arguments | first argument byte | whole answer | argument fragments |\n")
    out.write("|---|---|---:|---:|---:|\n")
    for path, mode, first, total, fragments in rows:
        times = f"{first * 1000:.0f} ms | {total * 1000:.0f} ms"
        out.write(f"| {path} ({units[path]}) | {mode} | {times} | {fragments:.0f} |\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
