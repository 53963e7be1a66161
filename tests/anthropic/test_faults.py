"""Backend failures through the messages door (the fault-injecting upstream): before the stream
starts they are plain answers in Anthropic's shape with the status the proxy gives every door; once
it started, an ``error`` event ends it, after whatever was already sent; never a 500 for a fault."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.anthropic.events import sse
from tests.faults.fault_upstream import FaultUpstream
from tests.faults.harness import Relay, relay, settings_for

MODELS = {
    name: ("once", f"fault:{name}", [])
    for name in ("ok", "truncate", "midreset", "garbage", "s429-1", "s500", "s503", "reset", "html500")
}


@pytest.fixture(scope="module")
def faulty() -> Iterator[Relay]:
    fault = FaultUpstream()
    with fault.running() as url, relay(settings_for(url, MODELS)) as r:
        yield r


def post(r: Relay, model: str, *, stream: bool) -> httpx.Response:
    body: dict[str, Any] = {"model": model, "max_tokens": 20, "stream": stream}
    body["messages"] = [{"role": "user", "content": "hi"}]
    return httpx.post(f"{r.url}/messages", json=body, timeout=30)


@pytest.mark.parametrize("model", ["truncate", "midreset"])
def test_a_stream_that_breaks_ends_with_an_error_event(faulty: Relay, model: str) -> None:
    r = post(faulty, model, stream=True)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = list(sse(r.text.split("\n")))
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-1] == "error", names
    assert "message_stop" not in names
    error = json.loads(events[-1][1])
    assert error["type"] == "error" and error["error"]["type"] == "api_error" and error["error"]["message"]


@pytest.mark.parametrize(
    ("model", "status", "kind", "sdk_error"),
    [
        ("s429-1", 429, "rate_limit_error", anthropic.RateLimitError),
        ("s500", 500, "api_error", anthropic.InternalServerError),
        ("s503", 503, "overloaded_error", anthropic.InternalServerError),
        ("reset", 502, "api_error", anthropic.InternalServerError),
        ("html500", 502, "api_error", anthropic.InternalServerError),
        ("garbage", 502, "api_error", anthropic.InternalServerError),
    ],
)
def test_failures_before_the_stream_are_answers_in_anthropic_shape(
    faulty: Relay, model: str, status: int, kind: str, sdk_error: type[anthropic.APIStatusError]
) -> None:
    for stream in (False, True):
        r = post(faulty, model, stream=stream)
        assert r.status_code == status, r.text
        assert r.json() == {"type": "error", "error": {"type": kind, "message": r.json()["error"]["message"]}}
    with anthropic.Anthropic(base_url=faulty.url.removesuffix("/v1"), api_key="x", max_retries=0) as client:
        with pytest.raises(sdk_error) as err:
            client.messages.create(model=model, max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == status


def test_ok_streams_whole(faulty: Relay) -> None:
    names = [name for name, _ in sse(post(faulty, "ok", stream=True).text.split("\n"))]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
