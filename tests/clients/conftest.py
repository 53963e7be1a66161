"""One real toolrelay (``python -m server``, uvicorn on loopback) in front of both fakes, once per
session: model ``hosted`` goes to the hosted-style fake upstream, ``vllm-1``/``-2``/``-3`` to the fake
vLLM replaying recorded hermes output with 1, 2 or 3 calls. Tests take a ``route`` (path × calls)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.clients.common import ROUTES, Route
from tests.fakes.fake_upstream import FakeUpstream
from tests.fakes.fake_vllm import FakeVllm
from tests.servers import serve_app, spawn_toolrelay

_RESPONSE = re.compile(r"<tool_response>\n(.*?)\n</tool_response>", re.S)


@dataclass
class Relay:
    """toolrelay's /v1 base URL and the two fakes behind it."""

    url: str
    upstream: FakeUpstream
    vllm: FakeVllm

    def clear(self) -> None:
        self.upstream.requests.clear()
        self.vllm.requests.clear()

    def backend_requests(self, route: Route) -> int:
        return len(self.upstream.requests if route.path == "hosted" else self.vllm.requests)

    def results_seen(self, route: Route) -> list[str]:
        """The tool results the backend was given on its latest request, in the order sent."""
        if route.path == "hosted":
            messages = self.upstream.requests[-1]["messages"]
            calls = [c for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]
            results = [m for m in messages if m["role"] == "tool"]
            # each call answered once, by its id: the ids went out and came back intact
            assert sorted(r["tool_call_id"] for r in results) == sorted(c["id"] for c in calls)
            return [str(r["content"]) for r in results]
        return _RESPONSE.findall(self.vllm.requests[-1]["prompt"])


def _config(path: Path, upstream_url: str, vllm_url: str) -> Path:
    models: dict[str, dict[str, str]] = {"hosted": {"backend": "hosted", "model": "fake"}}
    for n in (1, 2, 3):
        models[f"vllm-{n}"] = {"backend": "local", "model": f"hermes_weather_{n}", "family": "hermes"}
    config = {
        "backends": {
            "hosted": {"kind": "upstream", "provider": "openai", "base_url": f"{upstream_url}/v1", "api_key": "sk-x"},
            "local": {"kind": "vllm", "urls": [f"{vllm_url}/v1"], "health_interval": 0.5},
        },
        "models": models,
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def relay_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    upstream, vllm = FakeUpstream(), FakeVllm()
    with serve_app(upstream.app) as upstream_url, serve_app(vllm.app) as vllm_url:
        config = _config(tmp_path_factory.mktemp("clients") / "models.yaml", upstream_url, vllm_url)
        with spawn_toolrelay(config) as url:
            yield Relay(url, upstream, vllm)


@pytest.fixture()
def relay(relay_session: Relay) -> Relay:
    relay_session.clear()
    return relay_session


@pytest.fixture(params=ROUTES, ids=[r.id for r in ROUTES])
def route(request: pytest.FixtureRequest) -> Route:
    chosen: Route = request.param
    return chosen
