"""One real toolrelay (in-process uvicorn on loopback) in front of both fakes, once per session,
with the response store in a temporary SQLite file.

Models: ``hosted`` → the hosted-style fake upstream (provider openai); ``vllm-1``/``-2``/``-3`` → the
fake vLLM replaying recorded hermes output with 1, 2 or 3 calls (as ``tests/clients``);
``reasoning`` → the fake upstream answering with reasoning content (provider deepseek);
``passthrough`` → the fake upstream's own ``/v1/responses`` (``responses: passthrough``);
``short`` → the fake vLLM's recorded text answer, for cut-off answers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from server.app import create_app
from server.config import parse_settings
from tests.clients.common import ROUTES, TOOL_NAME, WEATHER_PARAMETERS, Route
from tests.fakes.fake_upstream import FakeUpstream
from tests.fakes.fake_vllm import FakeVllm
from tests.servers import serve_app

UPSTREAM_KEY = "sk-upstream-SECRET-0123456789"
# The Responses API's flat function tool
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": TOOL_NAME,
    "description": "The current weather in a city",
    "parameters": WEATHER_PARAMETERS,
    "strict": True,
}
_RESPONSE = re.compile(r"<tool_response>\n(.*?)\n</tool_response>", re.S)


def settings(upstream_url: str, vllm_url: str, store: dict[str, Any]) -> dict[str, Any]:
    models: dict[str, Any] = {
        "hosted": {"backend": "hosted", "model": "fake"},
        "reasoning": {"backend": "deepseek", "model": "fake+reasoning"},
        "passthrough": {"backend": "openai-native", "model": "fake"},
        "short": {"backend": "local", "model": "text", "family": "hermes"},
    }
    for n in (1, 2, 3):
        models[f"vllm-{n}"] = {"backend": "local", "model": f"hermes_weather_{n}", "family": "hermes"}
    hosted = {"kind": "upstream", "base_url": f"{upstream_url}/v1", "api_key": UPSTREAM_KEY}
    return {
        "backends": {
            "hosted": {**hosted, "provider": "openai"},
            "deepseek": {**hosted, "provider": "deepseek"},
            "openai-native": {**hosted, "provider": "openai", "responses": "passthrough"},
            "local": {"kind": "vllm", "urls": [f"{vllm_url}/v1"], "health_interval": 0.5},
        },
        "models": models,
        "responses": {"store": store},
    }


@dataclass
class Relay:
    """toolrelay's /v1 base URL and the two fakes behind it."""

    url: str
    upstream: FakeUpstream
    vllm: FakeVllm
    store_path: Path

    def clear(self) -> None:
        self.upstream.requests.clear()
        self.vllm.requests.clear()

    def results_seen(self, route: Route) -> list[str]:
        """The tool results the backend was given on its latest request, in order."""
        if route.path == "hosted":
            messages = self.upstream.requests[-1]["messages"]
            calls = [c for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]
            results = [m for m in messages if m["role"] == "tool"]
            assert [r["tool_call_id"] for r in results] == [c["id"] for c in calls]
            return [str(r["content"]) for r in results]
        return _RESPONSE.findall(self.vllm.requests[-1]["prompt"])


@pytest.fixture(scope="session")
def relay_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    upstream, vllm = FakeUpstream(), FakeVllm()
    store_path = tmp_path_factory.mktemp("responses") / "store.sqlite3"
    with serve_app(upstream.app) as upstream_url, serve_app(vllm.app) as vllm_url:
        config = settings(upstream_url, vllm_url, {"url": f"sqlite:///{store_path}"})
        with serve_app(create_app(parse_settings(config))) as url:
            yield Relay(f"{url}/v1", upstream, vllm, store_path)


@pytest.fixture()
def relay(relay_session: Relay) -> Relay:
    relay_session.clear()
    return relay_session


@pytest.fixture()
def client(relay: Relay) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=relay.url, api_key="client-key", max_retries=0, timeout=30) as c:
        yield c


@pytest.fixture()
def http(relay: Relay) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=relay.url.removesuffix("/v1"), timeout=30) as c:
        yield c


@pytest.fixture(params=ROUTES, ids=[r.id for r in ROUTES])
def route(request: pytest.FixtureRequest) -> Route:
    chosen: Route = request.param
    return chosen
