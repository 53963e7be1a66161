"""The ``anthropic`` SDK against toolrelay over real HTTP, on both paths: the hosted-style fake upstream
(``hosted``) and the fake vLLM replaying recorded hermes output (``vllm-N``), with 1, 2 and 3 calls:
``messages.create`` and ``messages.stream`` with tools, a ``tool_result`` round trip, thinking blocks,
``count_tokens``, stop reasons, aliases, and the SDK's error classes on bad input."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import pytest

from tests.anthropic.conftest import KEY, LIMITED_KEY, Relay
from tests.anthropic.events import check_message, message_from_events, sse
from tests.clients.common import ROUTES, TOOL_NAME, WEATHER_PARAMETERS, Route, weather_report

WEATHER = {"name": TOOL_NAME, "description": "The current weather in a city", "input_schema": WEATHER_PARAMETERS}


def ask(route: Route) -> dict[str, Any]:
    return {
        "model": route.model,
        "max_tokens": 256,
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": route.question}],
    }


def calls_of(message: anthropic.types.Message) -> list[tuple[str, dict[str, Any]]]:
    return [(b.name, b.input) for b in message.content if b.type == "tool_use"]


def raw_stream(relay: Relay, body: dict[str, Any], key: str = KEY) -> list[tuple[str | None, str]]:
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    with httpx.stream("POST", f"{relay.url}/v1/messages", json={**body, "stream": True}, headers=headers) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        return list(sse(r.iter_lines()))


@pytest.mark.parametrize("route", ROUTES, ids=[r.id for r in ROUTES])
def test_create_with_tools(route: Route, client: anthropic.Anthropic) -> None:
    message = client.messages.create(**ask(route))
    check_message(message.model_dump())
    assert calls_of(message) == route.calls
    assert message.stop_reason == "tool_use" and message.stop_sequence is None
    assert message.model == route.model
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


@pytest.mark.parametrize("route", ROUTES, ids=[r.id for r in ROUTES])
def test_stream_with_tools(route: Route, client: anthropic.Anthropic, relay: Relay) -> None:
    # the events as they come over the wire, every ordering rule checked …
    built = message_from_events(raw_stream(relay, ask(route)))
    assert [(b["name"], b["input"]) for b in built["content"] if b["type"] == "tool_use"] == route.calls
    assert built["stop_reason"] == "tool_use"
    assert built["usage"]["input_tokens"] > 0 and built["usage"]["output_tokens"] > 0
    # … and as the SDK's stream helper accumulates them
    with client.messages.stream(**ask(route)) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert calls_of(final) == route.calls
    assert final.stop_reason == "tool_use"
    ids = [b.id for b in final.content if b.type == "tool_use"]
    assert len(set(ids)) == route.n and all(i.startswith("toolu_") for i in ids)


@pytest.mark.parametrize("route", ROUTES, ids=[r.id for r in ROUTES])
@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_tool_result_round_trip(route: Route, stream: bool, client: anthropic.Anthropic, relay: Relay) -> None:
    body = ask(route)
    first = client.messages.create(**body)
    uses = [b for b in first.content if b.type == "tool_use"]
    results = [
        {"type": "tool_result", "tool_use_id": b.id, "content": weather_report(str(b.input["location"]))} for b in uses
    ]
    body["messages"] = [
        *body["messages"],
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": results},
    ]
    if stream:
        with client.messages.stream(**body) as s:
            final = s.get_final_message()
    else:
        final = client.messages.create(**body)
    check_message(final.model_dump())
    assert final.stop_reason == "end_turn"
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].text == route.final_answer(route.reports)  # type: ignore[union-attr]
    if route.path == "hosted":
        messages = relay.upstream.requests[-1]["messages"]
        sent = [c["id"] for m in messages for c in m.get("tool_calls") or []]
        answered = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
        assert sent == answered == [b.id for b in uses]  # the toolu_ ids went out and came back intact
        assert [m["content"] for m in messages if m["role"] == "tool"] == route.reports
    else:
        prompt = relay.vllm.requests[-1]["prompt"]
        assert all(report in prompt for report in route.reports)


def test_thinking_blocks_hosted(client: anthropic.Anthropic, relay: Relay) -> None:
    body = {"model": "reasoning", "max_tokens": 64, "messages": [{"role": "user", "content": "Say hi"}]}
    message = client.messages.create(**body, thinking={"type": "enabled", "budget_tokens": 2048})
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "Let me think."  # type: ignore[union-attr]
    assert relay.upstream.requests[-1]["reasoning_effort"] == "low"  # the budget picks the effort
    built = message_from_events(raw_stream(relay, body))
    assert [b["type"] for b in built["content"]] == ["thinking", "text"]
    assert built["content"][0]["thinking"] == "Let me think."
    # the thinking block goes back as the assistant turn's reasoning
    history = [
        *body["messages"],
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]},
        {"role": "user", "content": "And again"},
    ]
    client.messages.create(model="reasoning", max_tokens=64, messages=history)
    assistant = relay.upstream.requests[-1]["messages"][1]
    assert assistant["role"] == "assistant" and assistant["reasoning_content"] == "Let me think."
    assert assistant["content"] == message.content[1].text  # type: ignore[union-attr]


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_thinking_blocks_local_family(stream: bool, client: anthropic.Anthropic) -> None:
    """qwen3 thinks in <think> … </think> before its call: a thinking block, then the tool use."""
    tool = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
    body: dict[str, Any] = {"model": "qwen3", "max_tokens": 200, "tools": [tool]}
    body["messages"] = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        with client.messages.stream(**body) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(**body)
    assert [b.type for b in message.content] == ["thinking", "tool_use"]
    assert "get_weather" in message.content[0].thinking  # type: ignore[union-attr]
    assert calls_of(message) == [("get_weather", {"city": "Paris", "days": 2})]


def test_count_tokens_exact_for_vllm(client: anthropic.Anthropic, relay: Relay) -> None:
    route = Route("vllm", 1)
    body = ask(route)
    counted = client.messages.count_tokens(model=body["model"], tools=body["tools"], messages=body["messages"])
    used = client.messages.create(**body).usage.input_tokens
    assert counted.input_tokens == used  # vLLM's /tokenize on the very prompt the request sends
    system = client.messages.count_tokens(
        model=body["model"],
        system="Answer in one short sentence. " * 20,
        tools=body["tools"],
        messages=body["messages"],
    )
    assert system.input_tokens > counted.input_tokens + 100


def test_count_tokens_estimate_for_hosted(client: anthropic.Anthropic, relay: Relay) -> None:
    short = client.messages.count_tokens(model="hosted", messages=[{"role": "user", "content": "hi"}])
    long = client.messages.count_tokens(
        model="claude-sonnet-4-5", tools=[WEATHER], messages=[{"role": "user", "content": "hi " * 400}]
    )
    assert 0 < short.input_tokens < 20
    assert long.input_tokens > short.input_tokens + 300
    assert relay.upstream.requests == []  # an estimate costs the hosted API nothing


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_stop_sequence_and_max_tokens(stream: bool, client: anthropic.Anthropic) -> None:
    def run(**kwargs: Any) -> anthropic.types.Message:
        body = {"model": "text", "messages": [{"role": "user", "content": "Weather?"}], **kwargs}
        if stream:
            with client.messages.stream(**body) as s:
                return s.get_final_message()
        return client.messages.create(**body)

    stopped = run(max_tokens=100, stop_sequences=["never", "sunny"])
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", "sunny")
    assert stopped.content[0].text == "Hello! It is "  # type: ignore[union-attr]
    ended = run(max_tokens=100, stop_sequences=["never"])
    assert (ended.stop_reason, ended.stop_sequence) == ("end_turn", None)
    cut = run(max_tokens=3)
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 3


def test_alias_serves_claude_names(client: anthropic.Anthropic, relay: Relay) -> None:
    message = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=50,
        messages=[{"role": "user", "content": "hello"}],
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    )
    assert message.model == "claude-sonnet-4-5"  # the name the client sent
    assert message.content[0].text == "You said: hello"  # type: ignore[union-attr]
    assert relay.upstream.requests[-1]["model"] == "fake"  # served by the model the alias names


def test_tool_choice_reaches_the_backend(client: anthropic.Anthropic, relay: Relay) -> None:
    base: dict[str, Any] = {"model": "hosted", "max_tokens": 50, "tools": [WEATHER]}
    base["messages"] = [{"role": "user", "content": "Tell me a joke"}]
    client.messages.create(**base, tool_choice={"type": "any", "disable_parallel_tool_use": True})
    sent = relay.upstream.requests[-1]
    assert sent["tool_choice"] == "required" and sent["parallel_tool_calls"] is False
    forced = client.messages.create(**base, tool_choice={"type": "tool", "name": TOOL_NAME})
    assert relay.upstream.requests[-1]["tool_choice"] == {"type": "function", "function": {"name": TOOL_NAME}}
    assert forced.stop_reason == "tool_use" and calls_of(forced) == [(TOOL_NAME, {"location": "Paris"})]
    none = client.messages.create(**base, tool_choice={"type": "none"})
    assert relay.upstream.requests[-1]["tool_choice"] == "none" and none.stop_reason == "end_turn"


def test_images_go_to_hosted_apis_and_are_refused_locally(client: anthropic.Anthropic, relay: Relay) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    content = [{"type": "text", "text": "What is this?"}, image]
    client.messages.create(model="hosted", max_tokens=20, messages=[{"role": "user", "content": content}])
    parts = relay.upstream.requests[-1]["messages"][0]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(model="text", max_tokens=20, messages=[{"role": "user", "content": content}])
    # named as the client wrote it: its message and an image, not the chat form it travels in
    assert err.value.body["error"]["message"].startswith("messages.0 holds an image")  # type: ignore[index]


# ---------------------------------------------------------------------------- errors


def error_of(exc: anthropic.APIStatusError) -> dict[str, Any]:
    body = exc.body
    assert isinstance(body, dict) and body["type"] == "error" and set(body["error"]) == {"type", "message"}, body
    return dict(body["error"])


BAD_INPUT: list[tuple[str, dict[str, Any], str]] = [
    ("temperature", {"extra_body": {"temperature": 1.5}}, "temperature"),
    ("block", {"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}, "document"),
    ("server-tool", {"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "server tool"),
    ("named-tool", {"tools": [WEATHER], "tool_choice": {"type": "tool", "name": "nope"}}, "'nope'"),
    ("any-no-tools", {"tool_choice": {"type": "any"}}, "at least one tool"),
    (
        "orphan-result",
        {"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x"}]}]},
        "toolu_x",
    ),
    (
        "unanswered-use",
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_a", "name": "f", "input": {}}]},
                {"role": "user", "content": "go on"},
            ]
        },
        "messages.1: tool_use ids were found without tool_result blocks",
    ),
    ("thinking-budget", {"thinking": {"type": "enabled", "budget_tokens": 10}}, "budget_tokens"),
]


@pytest.mark.parametrize(("field", "changes", "says"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_a_bad_request(
    field: str, changes: dict[str, Any], says: str, client: anthropic.Anthropic
) -> None:
    body = {"model": "hosted", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **changes}
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(**body)
    error = error_of(err.value)
    assert error["type"] == "invalid_request_error"
    assert says in error["message"]


def test_error_classes(relay: Relay, client: anthropic.Anthropic) -> None:
    ask_body = {"max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="no-such-model", **ask_body)  # type: ignore[arg-type]
    assert error_of(missing.value)["type"] == "not_found_error"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="no-such-model", messages=ask_body["messages"])  # type: ignore[arg-type]
    with anthropic.Anthropic(base_url=relay.url, api_key="wrong", max_retries=0) as wrong:
        with pytest.raises(anthropic.AuthenticationError) as denied:
            wrong.messages.create(model="hosted", **ask_body)  # type: ignore[arg-type]
    assert error_of(denied.value)["type"] == "authentication_error"
    with anthropic.Anthropic(base_url=relay.url, api_key=LIMITED_KEY, max_retries=0) as limited:
        limited.messages.create(model="hosted", **ask_body)  # type: ignore[arg-type]
        with pytest.raises(anthropic.PermissionDeniedError) as forbidden:
            limited.messages.create(model="vllm-1", **ask_body)  # type: ignore[arg-type]
        with pytest.raises(anthropic.PermissionDeniedError):
            limited.messages.count_tokens(model="vllm-1", messages=ask_body["messages"])  # type: ignore[arg-type]
    assert error_of(forbidden.value)["type"] == "permission_error"


def test_keys_and_errors_over_raw_http(relay: Relay) -> None:
    body = {"model": "hosted", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    url = f"{relay.url}/v1/messages"
    headers = {"anthropic-version": "2023-06-01", "anthropic-beta": "prompt-caching-2024-07-31"}
    assert httpx.post(url, json=body, headers={**headers, "x-api-key": KEY}).status_code == 200
    assert httpx.post(url, json=body, headers={**headers, "authorization": f"Bearer {KEY}"}).status_code == 200
    for sent in ({}, {"x-api-key": "wrong"}):
        r = httpx.post(url, json=body, headers={**headers, **sent})
        assert r.status_code == 401 and r.json()["type"] == "error"
        assert r.json()["error"]["type"] == "authentication_error"
    auth = {"x-api-key": KEY}
    cases = [
        (httpx.post(f"{url}/batches", json=body, headers=auth), 404, "not_found_error"),
        (httpx.get(url, headers=auth), 405, "invalid_request_error"),
        (httpx.post(url, content=b"{not json", headers=auth), 400, "invalid_request_error"),
        (httpx.post(url, json={**body, "max_tokens": None}, headers=auth), 400, "invalid_request_error"),
        (httpx.post(f"{url}/count_tokens", json={"model": "hosted"}, headers=auth), 400, "invalid_request_error"),
    ]
    for r, status, kind in cases:
        assert r.status_code == status, r.text
        assert r.json() == {"type": "error", "error": {"type": kind, "message": r.json()["error"]["message"]}}
    # the other doors keep their own shape
    chat = httpx.post(f"{relay.url}/v1/chat/completions", json={"model": "x"}, headers=auth)
    assert chat.status_code == 400 and set(chat.json()) == {"error"}


def test_stream_of_a_failing_backend_is_an_error_event(relay: Relay) -> None:
    relay.vllm.fail_status = 503
    try:
        r = httpx.post(
            f"{relay.url}/v1/messages",
            json={"model": "text", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "x"}]},
            headers={"x-api-key": KEY},
            timeout=30,
        )
    finally:
        relay.vllm.fail_status = None
    # nothing was sent yet, so the failure is a plain error answer in Anthropic's shape
    assert r.status_code == 503 and r.json()["error"]["type"] == "overloaded_error"
    assert r.headers.get("x-should-retry") == "false"  # toolrelay already retried
    assert json.loads(r.text)["type"] == "error"
