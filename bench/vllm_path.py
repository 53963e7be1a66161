"""The same prompts on the same CPU vLLM, three ways, timed and checked (not a test).

1. ``relay``: through toolrelay (hermes family; it renders the prompt, adds a schema-typed
   structured-outputs constraint for ``required``, parses the raw stream).
2. ``raw``: vLLM's ``/v1/completions`` called directly with exactly the body toolrelay sends (the
   same rendered prompt, constraint and stop strings), streamed and read to the end: ``relay - raw``
   is the time toolrelay adds per request.
3. ``vllm-chat``: vLLM's own ``/v1/chat/completions`` with tools, served with
   ``--enable-auto-tool-choice --tool-call-parser hermes`` and toolrelay's hermes template as its
   chat template (the SmolLM2 template has no tools), so both see the same tool declaration.

Prompts: the first ``--n`` items of a BFCL category (``bfcl-eval``), with ``tool_choice`` required
and auto, temperature 0. Per path: mean and median latency, completion tokens per second, the share
of answers whose tool calls all name an offered tool with arguments valid against its JSON schema,
and BFCL's own AST verdict.

    python -m bench.vllm_path --n 12                       # starts vLLM and toolrelay itself
    python -m bench.vllm_path --vllm-url http://127.0.0.1:8012/v1 --relay-url http://127.0.0.1:8000/v1

A vLLM given with ``--vllm-url`` must have been started with the flags above
(``scripts.vllm_server.VllmServer(extra_args=bench.vllm_path.VLLM_TOOL_ARGS)``) and serve ``smol``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import yaml

from adapters.hermes import QWEN25_DEFAULT_SYSTEM
from bench import bfcl_support as bfcl
from scripts import procs
from scripts.vllm_server import ROOT, SERVED_NAME, VllmServer
from server.backends.vllm import VllmBackend
from server.config import VllmBackendConfig, parse_settings
from server.dialects.chat.decode import decode
from server.routing import Router
from server.transport import Connections

HERMES_TEMPLATE = ROOT / "adapters" / "templates" / "hermes.jinja"
VLLM_TOOL_ARGS = ("--enable-auto-tool-choice", "--tool-call-parser", "hermes", "--chat-template", str(HERMES_TEMPLATE))
MAX_TOKENS = 128


@dataclass
class Result:
    latency: float
    completion_tokens: int
    calls: list[tuple[str, str]]
    error: str = ""


@dataclass
class PathStats:
    results: list[Result] = field(default_factory=list)
    schema_valid: int = 0
    bfcl_valid: int = 0

    def summary(self) -> dict[str, Any]:
        ok = [r for r in self.results if not r.error]
        lat = [r.latency for r in ok]
        tokens = sum(r.completion_tokens for r in ok)
        n = len(self.results)
        return {
            "n": n,
            "errors": n - len(ok),
            "mean_s": statistics.fmean(lat) if lat else None,
            "median_s": statistics.median(lat) if lat else None,
            "tokens_per_s": tokens / sum(lat) if lat and sum(lat) else None,
            "with_calls": sum(1 for r in ok if r.calls),
            "schema_valid": self.schema_valid / n if n else None,
            "bfcl_valid": self.bfcl_valid / n if n else None,
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def relay_config(vllm_url: str) -> dict[str, Any]:
    return {
        "backends": {"local": {"kind": "vllm", "urls": [vllm_url]}},
        "models": {"smollm2": {"backend": "local", "model": SERVED_NAME, "family": "hermes"}},
    }


def chat_body(entry: bfcl.Entry, toolset: bfcl.ToolSet, tool_choice: str, model: str) -> dict[str, Any]:
    return {
        "model": model,
        "messages": list(entry.messages),
        "tools": list(toolset.tools),
        "tool_choice": tool_choice,
        "temperature": 0,
        "max_tokens": MAX_TOKENS,
    }


def schema_valid(calls: Sequence[tuple[str, str]], toolset: bfcl.ToolSet) -> bool:
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in toolset.tools}
    if not calls:
        return False
    for name, arguments in calls:
        if name not in schemas:
            return False
        try:
            jsonschema.validate(json.loads(arguments), schemas[name])
        except (ValueError, jsonschema.ValidationError, jsonschema.SchemaError):
            return False
    return True


def bfcl_valid(entry: bfcl.Entry, calls: Sequence[tuple[str, str]], toolset: bfcl.ToolSet) -> bool:
    try:
        return bfcl.score(entry, bfcl.answer_from_calls(calls, toolset)).valid
    except bfcl.AnswerError:
        return False


def chat_call(http: httpx.Client, url: str, body: dict[str, Any]) -> Result:
    t0 = time.perf_counter()
    response = http.post(f"{url}/chat/completions", json=body)
    latency = time.perf_counter() - t0
    if response.status_code != 200:
        return Result(latency, 0, [], f"HTTP {response.status_code}: {response.text[:200]}")
    data = response.json()
    message = data["choices"][0]["message"]
    calls = [(c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or []]
    return Result(latency, int(data["usage"]["completion_tokens"]), calls)


def raw_call(http: httpx.Client, vllm_url: str, body: dict[str, Any]) -> Result:
    t0 = time.perf_counter()
    tokens = 0
    with http.stream("POST", f"{vllm_url}/completions", json=body) as response:
        if response.status_code != 200:
            return Result(time.perf_counter() - t0, 0, [], f"HTTP {response.status_code}")
        for line in response.iter_lines():
            if line.startswith("data: {"):
                usage = json.loads(line[6:]).get("usage")
                tokens = int(usage["completion_tokens"]) if usage else tokens
    return Result(time.perf_counter() - t0, tokens, [])


def relay_body_for_vllm(backend: VllmBackend, router: Router, body: dict[str, Any]) -> dict[str, Any]:
    """Exactly what toolrelay sends to vLLM for this chat request."""
    job = decode(body, parse_settings(relay_config("http://x/v1")).limits)
    vllm_body, _ = backend.completion_body(job, router.route(body["model"])[0])
    return vllm_body


@contextlib.contextmanager
def services(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    with contextlib.ExitStack() as stack:
        vllm_url = args.vllm_url
        if vllm_url is None:
            server = VllmServer(port=free_port(), extra_args=VLLM_TOOL_ARGS, log=Path(args.log_dir) / "vllm.log")
            stack.enter_context(server)
            vllm_url = server.base_url
        relay_url = args.relay_url
        if relay_url is None:
            cfg = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "relay.yaml"
            cfg.write_text(yaml.safe_dump(relay_config(vllm_url)))
            port = free_port()
            proc = procs.spawn(
                [sys.executable, "-m", "server", "--config", str(cfg), "--port", str(port), "--log-level", "warning"],
                cwd=ROOT,
            )
            stack.callback(procs.stop, proc)
            procs.wait_http(f"http://127.0.0.1:{port}/ready", proc, 60, "toolrelay")
            relay_url = f"http://127.0.0.1:{port}/v1"
        yield vllm_url, relay_url


def run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    entries = bfcl.load_entries(args.category, args.n)
    report: dict[str, dict[str, Any]] = {}
    with services(args) as (vllm_url, relay_url), httpx.Client(timeout=300) as http:
        settings = parse_settings(relay_config(vllm_url))
        router = Router(settings)
        config = settings.backends["local"]
        assert isinstance(config, VllmBackendConfig)
        backend = VllmBackend("local", config, Connections())  # only renders bodies: no request goes out
        for tool_choice in args.tool_choice:
            stats = {name: PathStats() for name in ("relay", "raw", "vllm-chat")}
            for i, entry in enumerate([entries[0], *entries]):  # the first pass warms every path up
                toolset = bfcl.to_openai_tools(entry.functions)
                relay_body = chat_body(entry, toolset, tool_choice, "smollm2")
                vllm_chat = chat_body(entry, toolset, tool_choice, SERVED_NAME)
                vllm_chat["chat_template_kwargs"] = {"default_system": QWEN25_DEFAULT_SYSTEM}
                raw_body = relay_body_for_vllm(backend, router, relay_body)
                # vLLM compiles each new structured-outputs grammar once and caches it: one-token
                # calls first, untimed, so no path pays the compile cost for another.
                raw_call(http, vllm_url, {**raw_body, "max_tokens": 1})
                chat_call(http, vllm_url, {**vllm_chat, "max_tokens": 1})
                got = {
                    "relay": chat_call(http, relay_url, relay_body),
                    "raw": raw_call(http, vllm_url, raw_body),
                    "vllm-chat": chat_call(http, vllm_url, vllm_chat),
                }
                if i == 0:
                    continue
                for name, result in got.items():
                    stats[name].results.append(result)
                    if name != "raw":
                        stats[name].schema_valid += schema_valid(result.calls, toolset)
                        stats[name].bfcl_valid += bfcl_valid(entry, result.calls, toolset)
                sys.stderr.write(
                    f"{tool_choice} {entry.id}: "
                    + ", ".join(
                        f"{k} {v.latency:.2f}s {len(v.calls)} call(s){' ' + v.error if v.error else ''}"
                        for k, v in got.items()
                    )
                    + "\n"
                )
            report[tool_choice] = {name: s.summary() for name, s in stats.items()}
            # Paired per prompt, median: robust to the stalls a shared machine adds to single calls.
            pairs = zip(stats["relay"].results, stats["raw"].results, strict=True)
            added = [a.latency - b.latency for a, b in pairs if not a.error and not b.error]
            if added:
                report[tool_choice]["added_s_per_request"] = statistics.median(added)
    return report


def markdown(report: dict[str, dict[str, Any]], category: str) -> str:
    def f(v: Any, pct: bool = False) -> str:
        if v is None:
            return "–"
        return f"{100 * v:.0f}%" if pct else f"{v:.2f}"

    lines = [
        f"| tool_choice | path | n | mean s | median s | tokens/s | schema-valid calls | BFCL {category} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for choice, paths in report.items():
        for name in ("relay", "raw", "vllm-chat"):
            s = paths[name]
            valid = "n/a" if name == "raw" else f(s["schema_valid"], True)
            bfcl_ok = "n/a" if name == "raw" else f(s["bfcl_valid"], True)
            lines.append(
                f"| {choice} | {name} | {s['n']} | {f(s['mean_s'])} | {f(s['median_s'])} | "
                f"{f(s['tokens_per_s'])} | {valid} | {bfcl_ok} |"
            )
        if "added_s_per_request" in paths:
            added_ms = paths["added_s_per_request"] * 1000
            lines.append(f"| {choice} | relay − raw (median of pairs) | | {added_ms:.0f} ms | | | | |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--vllm-url", help="a running vLLM /v1 base started with VLLM_TOOL_ARGS (default: start one)")
    ap.add_argument("--relay-url", help="a running toolrelay /v1 base routing smollm2 to it (default: start one)")
    ap.add_argument("--category", default="simple_python")
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--tool-choice", nargs="+", default=["required", "auto"], choices=["required", "auto"])
    ap.add_argument("--log-dir", default=tempfile.gettempdir())
    ap.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = ap.parse_args(argv)
    report = run(args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    sys.stdout.write(markdown(report, args.category) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
