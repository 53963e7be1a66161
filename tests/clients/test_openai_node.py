"""openai-node (npm ``openai`` 6.x, installed from tests/clients/node/package-lock.json by ``make
install``) against toolrelay over real HTTP: ``chat.completions.stream`` and ``runTools`` with a
strict zod tool, on both paths, with 1, 2 and 3 calls. ``node/client.mjs`` does the SDK work and
prints what it saw as JSON; the assertions are here."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.clients.common import Route, parsed
from tests.clients.conftest import Relay

NODE_DIR = Path(__file__).parent / "node"


def run_node(mode: str, relay: Relay, route: Route) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is not on PATH (the client suite needs Node.js 20+)"
    installed = NODE_DIR / "node_modules" / "openai" / "package.json"
    assert installed.exists(), f"openai-node is not installed in {NODE_DIR}: run `make install` (npm ci there)"
    proc = subprocess.run(
        [node, "client.mjs", mode, relay.url, route.model, route.question],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"openai-node {mode} failed: {proc.stderr.strip()}"
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_stream_helper_strict_zod_tool(relay: Relay, route: Route) -> None:
    out = run_node("stream", relay, route)
    assert out["strict"] is True
    want = [{"index": i, "name": name, "args": args} for i, (name, args) in enumerate(route.calls)]
    got = [{"index": e["index"], "name": e["name"], "args": parsed(e["arguments"])} for e in out["done"]]
    assert got == want, "one tool_calls.function.arguments.done per call, in order, with its whole arguments"
    assert [e["parsed"] for e in out["done"]] == [args for _, args in route.calls]
    assert out["finish_reason"] == "tool_calls"
    assert [(c["name"], c["parsed"]) for c in out["calls"]] == route.calls
    assert len({c["id"] for c in out["calls"]}) == route.n


@pytest.mark.parametrize("mode", ["run-tools", "run-tools-stream"])
def test_run_tools_strict_zod_tool(mode: str, relay: Relay, route: Route) -> None:
    out = run_node(mode, relay, route)
    assert out["strict"] is True
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["user", "assistant", *["tool"] * route.n, "assistant"], "one tool turn, then the answer"
    call_turn = out["messages"][1]
    assert [(c["name"], parsed(c["arguments"])) for c in call_turn["calls"]] == route.calls
    results = out["messages"][2 : 2 + route.n]
    assert [r["tool_call_id"] for r in results] == [c["id"] for c in call_turn["calls"]]
    assert relay.results_seen(route) == route.reports
    assert out["content"] == route.final_answer(route.reports)
