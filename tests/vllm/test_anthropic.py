"""The messages door end to end: the ``anthropic`` SDK → toolrelay → the real CPU vLLM serving SmolLM2
(``make run``'s model, hermes family in emulation): forced tool calls created and streamed, a
``tool_result`` round trip, thinking blocks in the history, ``count_tokens`` equal to the request's own
``input_tokens`` (vLLM's ``/tokenize``), vLLM's ``stop_reason`` as ``stop_sequence``, and errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import jsonschema
import pytest

from tests.anthropic.events import check_message, message_from_events, sse

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(900)]

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city"],
}
WEATHER = {"name": "get_weather", "description": "Get the current weather in a city.", "input_schema": SCHEMA}
ASK = [{"role": "user", "content": "What is the weather like in Paris today?"}]
GREEDY = {"temperature": 0}  # sent as extra_body: newer SDKs leave sampling fields out of create()


@pytest.fixture()
def claude(relay_url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=relay_url.removesuffix("/v1"), api_key="unused", max_retries=0, timeout=300) as c:
        yield c


def forced(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "smollm2", "max_tokens": 80, "tools": [WEATHER], "messages": ASK}
    body["tool_choice"] = {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}
    return {**body, **extra}


def test_forced_call_created_and_streamed_alike(claude: anthropic.Anthropic, relay_url: str) -> None:
    message = claude.messages.create(**forced(), extra_body=GREEDY)
    check_message(message.model_dump())
    [use] = [b for b in message.content if b.type == "tool_use"]
    assert use.name == "get_weather" and message.stop_reason == "tool_use"
    jsonschema.validate(use.input, SCHEMA)

    root = relay_url.removesuffix("/v1")
    with httpx.stream("POST", f"{root}/v1/messages", json={**forced(), **GREEDY, "stream": True}, timeout=300) as r:
        assert r.status_code == 200
        built = message_from_events(list(sse(r.iter_lines())))
    assert [(b["name"], b["input"]) for b in built["content"] if b["type"] == "tool_use"] == [(use.name, use.input)]
    with claude.messages.stream(**forced(), extra_body=GREEDY) as stream:
        final = stream.get_final_message()
    assert [(b.name, b.input) for b in final.content if b.type == "tool_use"] == [(use.name, use.input)]
    assert final.usage.input_tokens == message.usage.input_tokens > 0


def test_tool_result_round_trip_with_thinking_in_history(claude: anthropic.Anthropic) -> None:
    first = claude.messages.create(**forced(), extra_body=GREEDY)
    [use] = [b for b in first.content if b.type == "tool_use"]
    history = [
        *ASK,
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "The user wants the weather; I call the tool.", "signature": ""},
                *[b.model_dump(exclude_none=True) for b in first.content],
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Sunny, 24 C"}]},
    ]
    answer = claude.messages.create(
        model="smollm2",
        max_tokens=40,
        tools=[WEATHER],
        messages=history,
        thinking={"type": "enabled", "budget_tokens": 1024},
        extra_body=GREEDY,
    )
    check_message(answer.model_dump())
    assert answer.stop_reason in ("end_turn", "max_tokens")
    assert not [b for b in answer.content if b.type == "tool_use"]
    assert "".join(b.text for b in answer.content if b.type == "text").strip()


def test_count_tokens_is_the_requests_own_input_tokens(claude: anthropic.Anthropic) -> None:
    body = forced(system="You answer questions about the weather.")
    counted = claude.messages.count_tokens(
        model=body["model"], system=body["system"], tools=body["tools"], tool_choice=body["tool_choice"], messages=ASK
    )
    used = claude.messages.create(**body, extra_body=GREEDY).usage.input_tokens
    assert counted.input_tokens == used


def test_stop_sequence_named_by_vllm(claude: anthropic.Anthropic) -> None:
    body = {"model": "smollm2", "max_tokens": 60, "messages": [{"role": "user", "content": "Describe the sea."}]}
    free = claude.messages.create(**body, extra_body=GREEDY)
    text = "".join(b.text for b in free.content if b.type == "text")
    assert "e" in text, text  # greedy, so the stopped run writes the same text up to its first "e"
    stopped = claude.messages.create(**body, stop_sequences=["e"], extra_body=GREEDY)
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", "e")
    assert "".join(b.text for b in stopped.content if b.type == "text") == text[: text.index("e")]


def test_errors_on_the_local_path(claude: anthropic.Anthropic) -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    with pytest.raises(anthropic.BadRequestError) as bad:
        claude.messages.create(
            model="smollm2",
            max_tokens=10,
            messages=[{"role": "user", "content": [{"type": "text", "text": "?"}, image]}],
        )
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model="claude-opus-4-1", max_tokens=10, messages=ASK)
