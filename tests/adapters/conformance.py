"""The shared conformance kit every family runs (see test_conformance.py, test_render.py).

A family takes part by adding ``tests/adapters/cases_<family>.py`` that defines:

- ``TOOLS: list[ToolSpec]`` — the request's tools for its cases;
- ``CASES: list[Case]`` — raw model texts and what must come out of them;
- ``big_call(n: int) -> str`` — a raw text holding one call whose string argument is ``n``
  characters long (used for the linear-cost check);
- optionally ``ID_PATTERN`` (regex a call id must match; default ``call_`` + 24 alphanumerics);
- golden prompts in ``tests/adapters/golden/<family>/<scenario>.txt`` for every scenario in
  ``RENDER_SCENARIOS`` (write them with ``UPDATE_GOLDEN=1``, then read every one by eye).

Helpers here: feeding a parser with any split, ``check_delta_rules`` (the events through the real
chat encoder into the shared reconstructor, ``tests.reconstruct``), and ``summary`` (a parse without
ids, for comparing streaming and one-shot results).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.base import (
    Adapter,
    CallRecord,
    CallRejected,
    Event,
    Message,
    Outcome,
    ParsedMessage,
    ReasoningDelta,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolChoice,
    ToolSpec,
)
from server.backends.base import Delta, Finish
from server.dialects.chat.stream import ChunkEncoder
from tests.reconstruct import rebuild, sse_chunks

DEFAULT_ID = re.compile(r"call_[A-Za-z0-9]{24}")


@dataclass(frozen=True)
class Call:
    """An expected call: name, arguments as an object (compared after json.loads), outcome."""

    name: str
    arguments: dict[str, Any]
    outcome: Outcome = Outcome.PARSED


@dataclass(frozen=True)
class Case:
    """One raw text and the message it must parse to (``rejected``: (name, outcome) pairs)."""

    id: str
    text: str
    content: str = ""
    calls: tuple[Call, ...] = ()
    reasoning: str = ""
    rejected: tuple[tuple[str | None, Outcome], ...] = ()
    exact_arguments: tuple[str, ...] | None = None  # the argument strings, when the text matters


# --------------------------------------------------------------------------- feeding


def feed_chunks(adapter: Adapter, tools: Sequence[ToolSpec], chunks: Iterable[str]) -> list[Event]:
    parser = adapter.parser(tools)
    events: list[Event] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.finish()
    return events


def split_at(text: str, cuts: Iterable[int]) -> list[str]:
    points = sorted({c for c in cuts if 0 < c < len(text)})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def chunks_of(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


Summary = tuple[str, str, tuple[tuple[str, str, Outcome], ...], tuple[tuple[str | None, Outcome], ...]]


def summary(msg: ParsedMessage) -> Summary:
    """Everything a parse decides, minus the random ids."""
    return (
        msg.content,
        msg.reasoning,
        tuple((c.name, c.arguments, c.outcome) for c in msg.tool_calls),
        tuple((r.name, r.outcome) for r in msg.rejected),
    )


# --------------------------------------------------------------------------- OpenAI delta rules


def check_event_order(events: Sequence[Event]) -> None:
    """Start → ≥1 args → End per call, indices 0.. in order, nothing after End, rejects follow text."""
    open_index: int | None = None
    ended: set[int] = set()
    seen_args = False
    next_index = 0
    for i, ev in enumerate(events):
        if isinstance(ev, ToolCallStart):
            assert open_index is None, "a call started while another was open"
            assert ev.index == next_index, f"call index {ev.index}, expected {next_index}"
            open_index, seen_args = ev.index, False
            next_index += 1
        elif isinstance(ev, ToolCallArgsDelta):
            assert ev.index == open_index, "arguments outside their call"
            seen_args = True
        elif isinstance(ev, ToolCallEnd):
            assert ev.index == open_index and seen_args, "end without start or arguments"
            assert ev.outcome in (Outcome.PARSED, Outcome.REPAIRED)
            ended.add(ev.index)
            open_index = None
        else:
            assert open_index is None, f"{type(ev).__name__} inside a call"
            if isinstance(ev, CallRejected):
                assert ev.outcome in (Outcome.INVALID, Outcome.DROPPED)
                assert i > 0 and isinstance(events[i - 1], TextDelta), "a rejection must follow its text"
            elif isinstance(ev, TextDelta | ReasoningDelta):
                assert ev.text, "empty text delta"
    assert open_index is None, "a call was never ended"


def check_delta_rules(events: Sequence[Event], id_pattern: re.Pattern[str] = DEFAULT_ID) -> None:
    """The OpenAI streaming rules, on what the real chat encoder writes for these events.

    The events go through ``server.dialects.chat.stream.ChunkEncoder`` into the one shared
    reconstructor (``tests.reconstruct``), which asserts the delta rules as it reassembles the
    message the way the SDK stream helpers do; the result must equal ``ParsedMessage.from_events``.
    """
    check_event_order(events)
    encoder = ChunkEncoder("chatcmpl-conformance", 0, "m", legacy=False, include_usage=False)
    frames = b"".join(encoder.encode(Delta(0, ev)) for ev in events) + encoder.encode(Finish(0, "stop"))
    # split on "\n" only: str.splitlines also breaks at U+0085 and friends inside the JSON
    [rebuilt] = rebuild(sse_chunks([*frames.decode().split("\n"), "data: [DONE]"])).values()
    for call in rebuilt.calls:
        assert id_pattern.fullmatch(call["id"]), f"bad call id {call['id']!r}"
    msg = ParsedMessage.from_events(events)
    assert rebuilt.content == msg.content and rebuilt.reasoning == msg.reasoning
    assert [(c["id"], c["name"], c["arguments"]) for c in rebuilt.calls] == [
        (c.id, c.name, c.arguments) for c in msg.tool_calls
    ]


def check_case(msg: ParsedMessage, case: Case) -> None:
    assert msg.content == case.content
    assert msg.reasoning == case.reasoning
    got = [(c.name, json.loads(c.arguments), c.outcome) for c in msg.tool_calls]
    assert got == [(c.name, c.arguments, c.outcome) for c in case.calls]
    assert [(r.name, r.outcome) for r in msg.rejected] == list(case.rejected)
    if case.exact_arguments is not None:
        assert tuple(c.arguments for c in msg.tool_calls) == case.exact_arguments


# --------------------------------------------------------------------------- render scenarios

WEATHER = ToolSpec(
    "get_weather",
    "Current weather for a city.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name, e.g. Köln"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
)
CLOCK = ToolSpec("get_time", "The current time in UTC.", {"type": "object", "properties": {}})
RENDER_TOOLS = [WEATHER, CLOCK]

_CALLS = (
    CallRecord("call_a", "get_weather", '{"city": "Paris", "unit": "celsius"}'),
    CallRecord("call_b", "get_weather", '{"city": "Köln"}'),
)
_CONVERSATION = [
    Message("system", "You are a concise assistant."),
    Message("user", "What is the weather in Paris and in Köln?"),
    Message("assistant", None, _CALLS),
    Message("tool", '{"temp": 21, "sky": "clear"}', tool_call_id="call_a", name="get_weather"),
    Message("tool", '{"temp": 17, "sky": "rain"}', tool_call_id="call_b", name="get_weather"),
]


@dataclass(frozen=True)
class Scenario:
    messages: list[Message]
    tools: list[ToolSpec] = field(default_factory=lambda: list(RENDER_TOOLS))
    tool_choice: ToolChoice = ToolChoice()
    parallel_tool_calls: bool = True


RENDER_SCENARIOS: dict[str, Scenario] = {
    "plain_chat": Scenario(
        [
            Message("system", "You are a concise assistant."),
            Message("user", "Hello!"),
            Message("assistant", "Hi. How can I help?"),
            Message("user", "Tell me a joke."),
        ],
        tools=[],
    ),
    "tools_no_system": Scenario([Message("user", "What time is it?")]),
    "parallel_calls_and_results": Scenario(_CONVERSATION),
    "assistant_text_and_call": Scenario(
        [
            Message("user", "Weather in Oslo?"),
            Message("assistant", "Let me check.", (CallRecord("call_c", "get_weather", '{"city": "Oslo"}'),)),
            Message("tool", "Sunny, 12 C", tool_call_id="call_c"),
            Message("assistant", "It is sunny and 12 C in Oslo."),
            Message("user", "Thanks! And the time?"),
        ]
    ),
    "parameterless_call": Scenario(
        [
            Message("user", "Time?"),
            Message("assistant", None, (CallRecord("call_d", "get_time", ""),)),
            Message("tool", "12:00", tool_call_id="call_d"),
        ]
    ),
    "tool_choice_none": Scenario(_CONVERSATION[:2], tool_choice=ToolChoice("none")),
    "tool_choice_required": Scenario(_CONVERSATION[:2], tool_choice=ToolChoice("required")),
    "tool_choice_required_single": Scenario(
        _CONVERSATION[:2], tool_choice=ToolChoice("required"), parallel_tool_calls=False
    ),
    "tool_choice_named": Scenario(_CONVERSATION[:2], tool_choice=ToolChoice("required", "get_weather")),
}


def render_scenario(adapter: Adapter, scenario: Scenario) -> str:
    return adapter.render(
        scenario.messages,
        scenario.tools,
        scenario.tool_choice,
        parallel_tool_calls=scenario.parallel_tool_calls,
    )


BigCall = Callable[[int], str]
