"""Each provider quirk the fake reproduces; the client must always see the OpenAI contract."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.fake_upstream import FakeUpstream
from tests.proxy.conftest import UPSTREAM_KEY
from tests.proxy.test_flows import PARALLEL_Q, QUESTION, SEND, WEATHER
from tests.reconstruct import rebuild

USER = [{"role": "user", "content": QUESTION}]


def _sse_chunks(http: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    chunks = []
    with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    for line in lines[:-1]:
        assert line.startswith("data: ")
        chunks.append(json.loads(line[6:]))
    return chunks


def _calls_from_stream(chunks: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Reassemble tool calls as the SDK does, checking the delta rules on the way (each call whole)."""
    return rebuild(chunks)[0].calls


@pytest.mark.parametrize("model", ["args-object", "no-id", "repeat-id", "index0", "tool-use", "end-turn"])
def test_tool_call_quirks_non_streaming(client: openai.OpenAI, model: str) -> None:
    r = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": PARALLEL_Q}],
        tools=[WEATHER],  # type: ignore[list-item]
    )
    calls = r.choices[0].message.tool_calls or []
    assert r.choices[0].finish_reason == "tool_calls"  # end_turn / tool_use mapped, calls present
    assert [json.loads(c.function.arguments) for c in calls] == [{"location": "Paris"}, {"location": "Tokyo"}]
    assert all(isinstance(c.function.arguments, str) for c in calls)
    assert all(c.type == "function" and re.match(r"^call_\w+$", c.id) for c in calls)
    assert len({c.id for c in calls}) == 2


@pytest.mark.parametrize("model", ["args-object", "no-id", "repeat-id", "index0", "tool-use", "end-turn"])
def test_tool_call_quirks_streaming(http: httpx.Client, model: str) -> None:
    chunks = _sse_chunks(
        http, {"model": model, "messages": [{"role": "user", "content": PARALLEL_Q}], "tools": [WEATHER]}
    )
    calls = _calls_from_stream(chunks)
    assert [json.loads(c["arguments"]) for c in calls] == [{"location": "Paris"}, {"location": "Tokyo"}]
    assert len({c["id"] for c in calls}) == 2
    finishes = [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch["finish_reason"]]
    assert finishes == ["tool_calls"]
    assert len({c["id"] for c in chunks}) == 1


def test_finish_reason_end_turn_without_calls_is_stop(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="end-turn", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].finish_reason == "stop"


def test_broken_upstream_json_is_repaired(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="broken-json", messages=USER, tools=[WEATHER])  # type: ignore[list-item]
    [call] = r.choices[0].message.tool_calls or []
    assert json.loads(call.function.arguments) == {"location": "北京"}


def test_broken_upstream_json_is_repaired_streaming(http: httpx.Client) -> None:
    chunks = _sse_chunks(http, {"model": "broken-json", "messages": USER, "tools": [WEATHER]})
    [call] = _calls_from_stream(chunks)
    assert json.loads(call["arguments"]) == {"location": "北京"}


def test_reasoning_content_passes_through(client: openai.OpenAI, http: httpx.Client) -> None:
    r = client.chat.completions.create(model="reasoning", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.reasoning_content == "Let me think."  # type: ignore[attr-defined]
    chunks = _sse_chunks(http, {"model": "reasoning", "messages": [{"role": "user", "content": "hi"}]})
    text = "".join(ch["delta"].get("reasoning_content") or "" for c in chunks for ch in c["choices"])
    assert text == "Let me think."


def test_doubao_streamed_tools_served_from_non_streamed_call(client: openai.OpenAI, upstream: FakeUpstream) -> None:
    with client.chat.completions.stream(model="doubao", messages=USER, tools=[WEATHER, SEND]) as stream:  # type: ignore[list-item]
        for _ in stream:
            pass
        final = stream.get_final_completion()
    [call] = final.choices[0].message.tool_calls or []
    assert call.function.name == "get_current_weather"
    assert json.loads(call.function.arguments) == {"location": "北京"}
    assert upstream.requests[-1]["stream"] is False  # the fake refuses stream+tools; the proxy did not ask
    # without tools, the same model streams for real
    chunks = list(
        client.chat.completions.create(model="doubao", messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "You said: hi"
    assert upstream.requests[-1]["stream"] is True


def test_deepseek_thinking_model_gets_auto_for_required(client: openai.OpenAI, upstream: FakeUpstream) -> None:
    r = client.chat.completions.create(
        model="deepseek-reasoner", messages=USER, tools=[WEATHER], tool_choice="required"
    )  # type: ignore[list-item]
    assert upstream.requests[-1]["tool_choice"] == "auto"  # DeepSeek rejects "required" in thinking mode
    assert r.choices[0].finish_reason == "tool_calls"
    # a non-thinking DeepSeek model keeps "required"
    client.chat.completions.create(model="reasoning", messages=USER, tools=[WEATHER], tool_choice="required")  # type: ignore[list-item]
    assert upstream.requests[-1]["tool_choice"] == "required"


def test_mistral_ids_and_required(client: openai.OpenAI, upstream: FakeUpstream) -> None:
    first = client.chat.completions.create(
        model="mistral", messages=USER, tools=[WEATHER, SEND], tool_choice="required"
    )  # type: ignore[list-item]
    assert upstream.requests[-1]["tool_choice"] == "any"
    [call] = first.choices[0].message.tool_calls or []
    assert re.match(r"^[A-Za-z0-9]{9}$", call.id)
    # a history from another provider, with OpenAI-style ids, is mapped to 9-character ids consistently
    history: list[dict[str, Any]] = [
        *USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abcdefghijklmnopqrstuvwx",
                    "type": "function",
                    "function": {"name": "get_current_weather", "arguments": '{"location": "北京"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abcdefghijklmnopqrstuvwx", "content": "晴"},
    ]
    second = client.chat.completions.create(model="mistral", messages=history, tools=[WEATHER, SEND])  # type: ignore[arg-type]
    assert (second.choices[0].message.tool_calls or [])[0].function.name == "SendMessage"
    sent = upstream.requests[-1]["messages"]
    mapped = sent[1]["tool_calls"][0]["id"]
    assert re.match(r"^[A-Za-z0-9]{9}$", mapped) and sent[2]["tool_call_id"] == mapped
    # the same caller id maps to the same provider id on the next turn (stateless, deterministic)
    client.chat.completions.create(model="mistral", messages=history, tools=[WEATHER, SEND])  # type: ignore[arg-type]
    assert upstream.requests[-1]["messages"][1]["tool_calls"][0]["id"] == mapped
    # Mistral's own 9-character ids come back unchanged
    history2 = [*USER, _turn(call), {"role": "tool", "tool_call_id": call.id, "content": "晴"}]
    client.chat.completions.create(model="mistral", messages=history2, tools=[WEATHER, SEND])  # type: ignore[arg-type]
    assert upstream.requests[-1]["messages"][2]["tool_call_id"] == call.id


def _turn(call: Any) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
        ],
    }


ODD_TOOL = {
    "type": "function",
    "function": {
        "name": "Weather.lookup:v2",
        "description": "weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


@pytest.mark.parametrize("model", ["moonshot", "openai-names"])
def test_tool_names_mapped_for_provider_and_back(client: openai.OpenAI, upstream: FakeUpstream, model: str) -> None:
    tools = [ODD_TOOL, SEND]
    r = client.chat.completions.create(
        model=model,
        messages=USER,
        tools=tools,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "Weather.lookup:v2"}},
    )
    [call] = r.choices[0].message.tool_calls or []
    assert call.function.name == "Weather.lookup:v2"  # the caller's name, not the provider's
    sent_names = [t["function"]["name"] for t in upstream.requests[-1]["tools"]]
    assert "Weather.lookup:v2" not in sent_names
    assert upstream.requests[-1]["tool_choice"]["function"]["name"] == sent_names[0]
    # history with the caller's names is mapped the same way on the next turn
    history = [*USER, _turn(call), {"role": "tool", "tool_call_id": call.id, "content": "晴"}]
    client.chat.completions.create(model=model, messages=history, tools=tools)  # type: ignore[arg-type]
    assert upstream.requests[-1]["messages"][1]["tool_calls"][0]["function"]["name"] == sent_names[0]


def test_upstream_key_sent_but_never_echoed(client: openai.OpenAI, upstream: FakeUpstream) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="echo-key", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 401
    assert UPSTREAM_KEY not in str(info.value.body) and UPSTREAM_KEY not in info.value.response.text
    assert "***" in info.value.response.text
    assert upstream.headers[-1]["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_usage_missing_upstream_still_valid(http: httpx.Client) -> None:
    r = http.post("/v1/chat/completions", json={"model": "no-usage", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and "usage" not in r.json()
    chunks = _sse_chunks(
        http,
        {
            "model": "no-usage",
            "messages": [{"role": "user", "content": "hi"}],
            "stream_options": {"include_usage": True},
        },
    )
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 0


def test_stream_without_usage_request_has_no_usage_chunk(http: httpx.Client, upstream: FakeUpstream) -> None:
    chunks = _sse_chunks(http, {"model": "plain", "messages": [{"role": "user", "content": "hi"}]})
    assert all("usage" not in c for c in chunks)
    assert all(c["choices"] for c in chunks)
    # the proxy still asked the upstream for usage, for its own token metrics
    assert upstream.requests[-1]["stream_options"] == {"include_usage": True}
