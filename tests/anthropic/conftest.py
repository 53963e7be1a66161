"""One real toolrelay (in-process uvicorn on loopback) in front of both fakes, once per session,
for the Anthropic SDK tests: ``hosted`` and ``reasoning`` go to the hosted-style fake upstream,
``vllm-1``/``-2``/``-3`` to the fake vLLM replaying recorded hermes output with 1, 2 or 3 calls,
``qwen3`` to its recorded think-then-call output, ``text`` to a plain answer. Names starting
``claude-`` are an alias of ``hosted`` (as Claude Code sends them). Clients must present ``KEY``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import pytest

from server.app import create_app
from server.config import parse_settings
from tests.fakes.fake_upstream import FakeUpstream
from tests.fakes.fake_vllm import FakeVllm
from tests.servers import serve_app

pytest.register_assert_rewrite("tests.anthropic.events")

KEY = "tr-anthropic-test-key"
LIMITED_KEY = "tr-anthropic-hosted-only"


def settings(upstream_url: str, vllm_url: str) -> dict[str, Any]:
    models: dict[str, Any] = {
        "hosted": {"backend": "hosted", "model": "fake"},
        "reasoning": {"backend": "deepseek", "model": "fake+reasoning"},
        "qwen3": {"backend": "local", "model": "qwen3", "family": "qwen3"},
        "text": {"backend": "local", "model": "text", "family": "hermes"},
    }
    for n in (1, 2, 3):
        models[f"vllm-{n}"] = {"backend": "local", "model": f"hermes_weather_{n}", "family": "hermes"}
    sha = hashlib.sha256
    return {
        "backends": {
            "hosted": {"kind": "upstream", "provider": "openai", "base_url": f"{upstream_url}/v1", "api_key": "sk-x"},
            "deepseek": {"kind": "upstream", "provider": "deepseek", "base_url": f"{upstream_url}/v1"},
            "local": {"kind": "vllm", "urls": [f"{vllm_url}/v1"], "health_interval": 0.5},
        },
        "models": models,
        "aliases": {"claude-*": "hosted"},
        "auth": {
            "keys": [
                {"sha256": sha(KEY.encode()).hexdigest(), "name": "all"},
                {"sha256": sha(LIMITED_KEY.encode()).hexdigest(), "name": "limited", "models": ["hosted"]},
            ]
        },
    }


@dataclass
class Relay:
    url: str  # toolrelay's root (the Anthropic SDK adds /v1 itself)
    upstream: FakeUpstream
    vllm: FakeVllm

    def clear(self) -> None:
        self.upstream.requests.clear()
        self.vllm.requests.clear()


@pytest.fixture(scope="session")
def relay_session() -> Iterator[Relay]:
    upstream, vllm = FakeUpstream(), FakeVllm()
    with serve_app(upstream.app) as upstream_url, serve_app(vllm.app) as vllm_url:
        app = create_app(parse_settings(settings(upstream_url, vllm_url)))
        with serve_app(app) as url:
            yield Relay(url, upstream, vllm)


@pytest.fixture()
def relay(relay_session: Relay) -> Relay:
    relay_session.clear()
    return relay_session


@pytest.fixture()
def client(relay: Relay) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=relay.url, api_key=KEY, max_retries=0, timeout=30) as c:
        yield c
