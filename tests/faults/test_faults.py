"""Every fault the upstream can throw, and exactly what an OpenAI SDK client sees.

Each test names its own ``x-request-id``, so the fault upstream's script restarts for it and its
hits can be read back: how many times the proxy tried, in which order, on which model.
After each test ``conftest.no_leaks`` checks that no connection, task or slot was left behind.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.faults.fault_upstream import TEXT, FaultUpstream
from tests.faults.harness import SECRET, Relay

MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def rid() -> str:
    return "req-" + secrets.token_hex(6)


@pytest.fixture()
def sdk(proxy: Relay) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=proxy.url, api_key="k", max_retries=0, timeout=10) as c:
        yield c


def ask(sdk: openai.OpenAI, model: str, request_id: str, stream: bool) -> str:
    headers = {"x-request-id": request_id}
    if not stream:
        reply = sdk.chat.completions.create(model=model, messages=MESSAGES, extra_headers=headers)
        return reply.choices[0].message.content or ""
    text = ""
    for chunk in sdk.chat.completions.create(model=model, messages=MESSAGES, stream=True, extra_headers=headers):
        for choice in chunk.choices:
            text += choice.delta.content or ""
    return text


def status_error(sdk: openai.OpenAI, model: str, request_id: str, stream: bool) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as info:
        ask(sdk, model, request_id, stream)
    return info.value


def error_of(exc: openai.APIStatusError) -> dict[str, object]:
    body = exc.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    err: dict[str, object] = body["error"]
    return err


# --------------------------------------------------------------------------- retried, then succeeded


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(
    ("model", "hits"),
    [
        ("retry-503", ["s503", "s503", "ok"]),
        ("retry-429", ["s429-0.3", "ok"]),
        ("retry-reset", ["reset", "ok"]),
        ("retry-nohead", ["nohead", "ok"]),
    ],
)
def test_retried_and_succeeded(
    sdk: openai.OpenAI, fault: FaultUpstream, model: str, hits: list[str], stream: bool
) -> None:
    r = rid()
    started = time.monotonic()
    assert ask(sdk, model, r, stream) == TEXT
    assert fault.hits_for(r) == hits
    if model == "retry-429":
        assert time.monotonic() - started >= 0.3  # Retry-After: 0.3 was honoured
    if model == "retry-nohead":
        assert time.monotonic() - started >= 0.6  # first_byte timeout, then the retry


def test_reset_mid_body_of_json_answer_is_retried(sdk: openai.OpenAI, fault: FaultUpstream) -> None:
    r = rid()
    assert ask(sdk, "retry-midreset", r, stream=False) == TEXT
    assert fault.hits_for(r) == ["midreset", "ok"]


# --------------------------------------------------------------------------- retries spent: typed error


@pytest.mark.parametrize(
    ("model", "status", "type_"),
    [
        ("always-500", 500, "server_error"),
        ("always-502", 502, "server_error"),
        ("always-503", 503, "server_error"),
        ("always-429", 429, "requests"),
    ],
)
def test_retries_spent_gives_typed_error_and_stops_sdk_retries(
    proxy: Relay, fault: FaultUpstream, model: str, status: int, type_: str
) -> None:
    r = rid()
    # The SDK's own retries are on: x-should-retry: false must stop them (3 hits, not 9).
    with openai.OpenAI(base_url=proxy.url, api_key="k", max_retries=2, timeout=10) as sdk:
        exc = status_error(sdk, model, r, stream=False)
    assert exc.status_code == status
    assert error_of(exc)["type"] == type_
    assert exc.response.headers["x-should-retry"] == "false"
    assert fault.hits_for(r) == [fault.hits_for(r)[0]] * 3


def test_client_error_is_not_retried(sdk: openai.OpenAI, fault: FaultUpstream) -> None:
    r = rid()
    exc = status_error(sdk, "bad-request", r, stream=False)
    assert exc.status_code == 400
    assert fault.hits_for(r) == ["s400"]
    assert "x-should-retry" not in exc.response.headers


def test_connection_refused_is_retried_then_bad_gateway(sdk: openai.OpenAI) -> None:
    exc = status_error(sdk, "refused", rid(), stream=True)
    assert exc.status_code == 502
    err = error_of(exc)
    assert (err["type"], err["code"]) == ("upstream_error", "bad_gateway")
    assert "cannot reach backend 'dead'" in str(err["message"])
    assert exc.response.headers["x-should-retry"] == "false"
    assert SECRET not in exc.response.text


# --------------------------------------------------------------------------- fell back


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(
    ("model", "hits", "at_most"),
    [
        ("long-429", ["s429-30", "ok"], 2.0),  # Retry-After 30 > retry_after_max 2: no wait, fall back
        ("503-then-fallback", ["s503", "s503", "s503", "ok"], 2.0),
        ("refused-fallback", ["ok"], 2.0),
        ("nohead-fallback", ["nohead", "ok"], 3.0),
    ],
)
def test_fell_back(
    sdk: openai.OpenAI, fault: FaultUpstream, model: str, hits: list[str], at_most: float, stream: bool
) -> None:
    r = rid()
    started = time.monotonic()
    assert ask(sdk, model, r, stream) == TEXT
    assert fault.hits_for(r) == hits
    assert time.monotonic() - started < at_most


def test_circuit_opens_and_skips_the_failing_backend(proxy: Relay, sdk: openai.OpenAI, fault: FaultUpstream) -> None:
    first, second, third = rid(), rid(), rid()
    assert ask(sdk, "503-then-fallback", first, False) == TEXT
    assert ask(sdk, "503-then-fallback", second, False) == TEXT
    assert proxy.state.dispatcher.circuits[("fault", "fault:s503")].state == "open"  # 5 failures in a row
    assert ask(sdk, "503-then-fallback", third, False) == TEXT
    assert fault.hits_for(second) == ["s503", "s503", "ok"]  # opened after the 5th failure
    assert fault.hits_for(third) == ["ok"]  # straight to the fallback
    # The circuit is per backend model: the backend's other models are still served there.
    other = rid()
    assert ask(sdk, "ok", other, False) == TEXT
    assert fault.hits_for(other) == ["ok"]
    assert proxy.state.dispatcher.circuits[("fault", "fault:ok")].state == "closed"


# --------------------------------------------------------------------------- broken upstream output


@pytest.mark.parametrize(
    ("model", "stream", "status", "code", "says"),
    [
        ("reset", False, 502, "bad_gateway", "cannot reach backend"),
        ("reset", True, 502, "bad_gateway", "cannot reach backend"),
        ("midreset", False, 502, "bad_gateway", "broke the connection"),
        ("truncate", False, 502, "bad_gateway", "not JSON"),
        ("nohead", False, 504, "upstream_timeout", "sent no response within 0.6s"),
        ("nohead", True, 504, "upstream_timeout", "sent no response within 0.6s"),
        ("stall", False, 504, "upstream_timeout", "did not answer in time"),
        ("garbage", False, 502, "bad_gateway", "not JSON"),
        ("garbage", True, 502, "bad_gateway", "not JSON"),
        ("html500", False, 502, None, "answered HTTP 500 with a body that is not an OpenAI error"),
        ("html500", True, 502, None, "answered HTTP 500 with a body that is not an OpenAI error"),
        ("html200", False, 502, "bad_gateway", "not JSON"),
        ("html200", True, 502, "bad_gateway", "text/html, not an event stream"),
    ],
)
def test_broken_upstream_gives_typed_error(
    sdk: openai.OpenAI, model: str, stream: bool, status: int, code: str | None, says: str
) -> None:
    exc = status_error(sdk, model, rid(), stream)
    assert exc.status_code == status
    err = error_of(exc)
    assert err["code"] == code
    assert err["type"] in ("upstream_error", "timeout")
    assert says in str(err["message"])


@pytest.mark.parametrize(
    ("model", "type_", "says"),
    [
        ("midreset", "upstream_error", "broke the stream"),
        ("truncate", "upstream_error", "ended the stream before it finished"),
        ("stall", "timeout", "stalled"),
    ],
)
def test_mid_stream_failure_gives_error_frame(http_proxy: httpx.Client, model: str, type_: str, says: str) -> None:
    """After the first byte went out the status is 200; the failure arrives as a typed error frame,
    the text before it intact, and the SDK raises it."""
    frames = sse_frames(http_proxy, model)
    assert frames[-1] == "[DONE]" and frames[-2].startswith('{"error"')
    err = json.loads(frames[-2])["error"]
    assert err["type"] == type_ and says in err["message"]
    assert any('"content":"Hello "' in f for f in frames[:-2])


def test_sdk_raises_on_error_frame(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.APIError, match="stalled"):
        ask(sdk, "stall", rid(), stream=True)


# --------------------------------------------------------------------------- upstream keys never leak


def test_echoed_upstream_key_is_redacted_in_error(http_proxy: httpx.Client) -> None:
    body = {"model": "echokey", "messages": [{"role": "user", "content": "hi"}]}
    r = http_proxy.post("/v1/chat/completions", json=body)
    assert r.status_code == 401
    assert "bad key Bearer ***" in r.json()["error"]["message"]
    assert SECRET not in r.text and SECRET not in str(r.headers)


def test_echoed_upstream_key_is_redacted_in_stream_error_frame(http_proxy: httpx.Client) -> None:
    frames = sse_frames(http_proxy, "echokeystream")
    assert "upstream failed for Bearer ***" in frames[-2]
    assert not any(SECRET in f for f in frames)


def test_upstream_key_not_in_metrics(http_proxy: httpx.Client) -> None:
    http_proxy.post("/v1/chat/completions", json={"model": "echokey", "messages": [{"role": "user", "content": "x"}]})
    assert SECRET not in http_proxy.get("/metrics").text


# --------------------------------------------------------------------------- helpers for raw SSE


@pytest.fixture()
def http_proxy(proxy: Relay) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.url.removesuffix("/v1"), timeout=10) as c:
        yield c


def sse_frames(http: httpx.Client, model: str) -> list[str]:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with http.stream("POST", "/v1/chat/completions", json=body, headers={"x-request-id": rid()}) as r:
        assert r.status_code == 200
        return [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
