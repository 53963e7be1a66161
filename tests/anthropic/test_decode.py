"""Anthropic Messages request → ``Job``: what each field becomes, and the 400s in the client's own terms."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.base import ToolChoice, ToolSpec
from server.config import Limits
from server.dialects.anthropic.decode import decode, prompt_job
from server.errors import InvalidRequest, PayloadTooLarge
from server.job import Call, Turn, family_messages

LIMITS = Limits()
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOL = {"name": "get_weather", "description": "Weather", "input_schema": SCHEMA, "cache_control": {"type": "ephemeral"}}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **fields}


def test_minimal_request() -> None:
    job = decode(body(), LIMITS)
    assert job.model == "m" and job.max_tokens == 100 and not job.stream
    assert job.messages == (Turn("user", "hi", at="messages.0"),)
    assert job.tools == () and job.tool_choice == ToolChoice("none") and job.extra == {}


def test_system_blocks_and_sampling() -> None:
    system = [
        {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Be kind."},
    ]
    job = decode(
        body(
            system=system,
            temperature=0.2,
            top_p=0.9,
            top_k=40,
            stop_sequences=["END"],
            stream=True,
            metadata={"user_id": "u"},
        ),
        LIMITS,
    )
    assert job.messages[0] == Turn("system", "Be brief.\n\nBe kind.", at="system")
    assert (job.temperature, job.top_p, job.top_k, job.stop) == (0.2, 0.9, 40, ("END",))
    assert job.stream and job.include_usage
    assert job.sampling() == {"temperature": 0.2, "top_p": 0.9, "top_k": 40}  # metadata is not sent on
    assert decode(body(system="plain"), LIMITS).messages[0] == Turn("system", "plain", at="system")


def test_tools_and_choices() -> None:
    job = decode(body(tools=[TOOL]), LIMITS)
    assert job.tools == (ToolSpec("get_weather", "Weather", SCHEMA),)
    assert (job.tool_choice, job.parallel_tool_calls) == (ToolChoice("auto"), True)
    expected = {
        "auto": (ToolChoice("auto"), True),
        "any": (ToolChoice("required"), True),
        "none": (ToolChoice("none"), True),
    }
    for kind, want in expected.items():
        got = decode(body(tools=[TOOL], tool_choice={"type": kind}), LIMITS)
        assert (got.tool_choice, got.parallel_tool_calls) == want
    named = decode(
        body(tools=[TOOL], tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}),
        LIMITS,
    )
    assert (named.tool_choice, named.parallel_tool_calls) == (ToolChoice("required", "get_weather"), False)


def test_conversation_with_tool_use_results_and_thinking() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Weather in "}, {"type": "text", "text": "Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "I need the tool.", "signature": "sig"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Lyon"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Here you go."},  # before the results: they are put first
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "down"}],
                    "is_error": True,
                },
            ],
        },
        {"role": "assistant", "content": "Paris is sunny."},
    ]
    job = decode(body(tools=[TOOL], messages=messages), LIMITS)
    assert job.messages == (
        Turn("user", "Weather in Paris?", at="messages.0"),
        Turn(
            "assistant",
            "Checking.",
            (Call("toolu_1", "get_weather", '{"city":"Paris"}'), Call("toolu_2", "get_weather", '{"city":"Lyon"}')),
            reasoning="I need the tool.",
            at="messages.1",
        ),
        Turn("tool", "sunny", tool_call_id="toolu_1", at="messages.2.content.1"),
        Turn("tool", "Error: down", tool_call_id="toolu_2", at="messages.2.content.2"),
        Turn("user", "Here you go.", at="messages.2"),
        Turn("assistant", "Paris is sunny.", at="messages.3"),
    )


def test_calls_only_turn_has_no_content_and_images_become_parts() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Look"}, image]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [image]}]},
    ]
    job = decode(body(tools=[TOOL], messages=messages), LIMITS)
    url = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    assert job.messages[0].content == ({"type": "text", "text": "Look"}, url)
    assert job.messages[1].content is None
    assert job.messages[2] == Turn("tool", (url,), tool_call_id="t", at="messages.2.content.0")
    # a text-only family refuses them naming the client's block, in the client's words
    with pytest.raises(InvalidRequest, match=r"^messages\.0 holds an image") as err:
        family_messages(job)
    assert err.value.param == "messages.0"
    without_first = decode(body(tools=[TOOL], messages=[{"role": "user", "content": "Look"}, *messages[1:]]), LIMITS)
    with pytest.raises(InvalidRequest, match=r"^messages\.2\.content\.0 holds an image"):
        family_messages(without_first)


@pytest.mark.parametrize(
    ("thinking", "effort"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, "low"),
        ({"type": "enabled", "budget_tokens": 8000}, "medium"),
        ({"type": "enabled", "budget_tokens": 32000}, "high"),
        ({"type": "disabled"}, None),
        ({"type": "adaptive"}, None),
    ],
)
def test_thinking_sets_the_reasoning_switch(thinking: dict[str, Any], effort: str | None) -> None:
    assert decode(body(thinking=thinking), LIMITS).reasoning_effort == effort


def test_output_config_effort() -> None:
    assert decode(body(output_config={"effort": "max"}), LIMITS).reasoning_effort == "xhigh"


def test_count_tokens_request_needs_no_max_tokens() -> None:
    job, _ = prompt_job({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [TOOL]}, LIMITS)
    assert job.tools and job.max_tokens is None


def _error(b: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as err:
        decode(b, LIMITS)
    return err.value


def test_history_errors_name_the_clients_message() -> None:
    use = {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}]}
    err = _error(
        body(tools=[TOOL], messages=[{"role": "user", "content": "hi"}, use, {"role": "user", "content": "?"}])
    )
    assert err.param == "messages.1" and "toolu_a" in err.message
    err = _error(body(messages=[{"role": "user", "content": "hi"}, use]))
    assert err.param == "messages.1" and "no tool_result" in err.message
    orphan = {
        "role": "user",
        "content": [{"type": "text", "text": "x"}, {"type": "tool_result", "tool_use_id": "nope"}],
    }
    err = _error(body(messages=[orphan]))
    assert err.param == "messages.0.content.1.tool_use_id"
    misplaced = {"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "toolu_a"}]}
    assert _error(body(messages=[{"role": "user", "content": "x"}, misplaced])).param == "messages.1"
    twice = {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "d", "name": "f", "input": {}},
            {"type": "tool_use", "id": "d", "name": "f", "input": {}},
        ],
    }
    assert _error(body(messages=[{"role": "user", "content": "x"}, twice])).param == "messages.1.content.1.id"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": [{"type": "document"}]}]}, "messages.0.content.0"),
        ({"messages": [{"role": "user", "content": [{"text": "no type"}]}]}, "messages.0.content.0"),
        ({"tools": [{"name": "bad name!", "input_schema": {}}]}, "tools.0"),
        ({"tools": [{"name": "f", "input_schema": {"type": "array"}}]}, "tools.0"),
        ({"tools": [TOOL, TOOL]}, "tools.1.name"),
        ({"tools": [{"type": "bash_20250124", "name": "bash"}]}, "tools.0"),
        ({"tools": [TOOL], "tool_choice": {"type": "tool", "name": "other"}}, "tool_choice.name"),
        ({"tool_choice": {"type": "any"}}, "tool_choice"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice"),
        ({"temperature": 1.5}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"stream": "yes"}, "stream"),
        ({"thinking": {"type": "enabled"}}, "thinking"),
        ({"system": [{"type": "image"}]}, "system.0.type"),
    ],
)
def test_bad_requests_name_their_param(fields: dict[str, Any], param: str) -> None:
    b = body(**fields)
    if fields.get("max_tokens", 1) is None:
        del b["max_tokens"]
    assert _error(b).param == param


def test_limits_apply() -> None:
    with pytest.raises(PayloadTooLarge):
        decode(body(messages=[{"role": "user", "content": "x"}] * 3), Limits(max_messages=2))
    with pytest.raises(InvalidRequest) as err:
        decode(body(tools=[TOOL, {**TOOL, "name": "b"}]), Limits(max_tools=1))
    assert err.value.param == "tools"
