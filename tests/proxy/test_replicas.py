"""A vLLM replica whose engine fails every request while its ``/health`` still says 200 must not
take the model down: the dispatcher's retry goes to another replica (the failing one is marked
down until a later healthy probe), so every request is served."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from server.app import create_app
from server.config import parse_settings
from tests.fakes.fake_vllm import FakeVllm
from tests.servers import serve_app

TEXT = "Hello there.<|im_end|>"


@pytest.fixture(scope="module")
def relay() -> Iterator[tuple[FakeVllm, FakeVllm, str]]:
    bad, good = FakeVllm(default=TEXT), FakeVllm(default=TEXT)
    bad.fail_status = 500
    with serve_app(bad.app) as bad_url, serve_app(good.app) as good_url:
        # The circuit (per backend model) is out of the way here: several requests can reach the bad
        # replica at once before it is marked down, and five failures in a row would open it.
        retry = {"attempts": 2, "backoff_initial": 0.0, "backoff_max": 0.0, "circuit_failures": 100}
        settings = parse_settings(
            {
                "backends": {
                    "local": {"kind": "vllm", "urls": [f"{bad_url}/v1", f"{good_url}/v1"], "retry": retry},
                },
                "models": {"smollm2": {"backend": "local", "model": "smol", "family": "hermes", "max_tokens": 8}},
            }
        )
        with serve_app(create_app(settings)) as url:
            yield bad, good, url


def test_a_replica_answering_500_is_passed_over_by_the_retry(relay: tuple[FakeVllm, FakeVllm, str]) -> None:
    bad, good, url = relay

    async def ask(client: httpx.AsyncClient) -> int:
        body = {"model": "smollm2", "messages": [{"role": "user", "content": "hi"}]}
        return (await client.post(f"{url}/v1/chat/completions", json=body)).status_code

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            return list(await asyncio.gather(*(ask(client) for _ in range(9))))

    assert asyncio.run(burst()) == [200] * 9
    assert good.requests, "the healthy replica served the requests"
    # the bad one was tried at most once per request that picked it first, never twice for one request
    assert len(bad.requests) <= 9
