"""Conformance cases for the gpt_oss family (harmony messages after ``<|start|>assistant``).

Most texts end where vLLM cuts them: before the ``<|call|>``/``<|return|>`` stop string. A few keep
the stop marker, as a completion parsed without vLLM's stop handling would.
"""

from __future__ import annotations

import json

from adapters.base import Outcome
from tests.adapters.conformance import Call, Case
from tests.adapters.tools_common import TOOLS

__all__ = ["TOOLS", "CASES", "big_call"]

NEXT = "<|end|><|start|>assistant"


def analysis(text: str) -> str:
    return f"<|channel|>analysis<|message|>{text}"


def call(name: str, arguments: str, *, ctype: str = " <|constrain|>json") -> str:
    """A call message's header and body, as the model writes it (channel first)."""
    return f"<|channel|>commentary to=functions.{name}{ctype}<|message|>{arguments}"


def final(text: str) -> str:
    return f"<|channel|>final<|message|>{text}"


CASES = [
    Case("plain_answer", final("Hello there!"), content="Hello there!"),
    Case(
        "reasoning_then_call",
        analysis("The user wants the weather; call get_weather.") + NEXT + call("get_weather", '{"city": "Paris"}'),
        reasoning="The user wants the weather; call get_weather.",
        calls=(Call("get_weather", {"city": "Paris"}),),
        exact_arguments=('{"city": "Paris"}',),
    ),
    Case(
        "reasoning_then_answer_with_return",
        analysis("Simple greeting.") + NEXT + final("Hi! How can I help?") + "<|return|>",
        reasoning="Simple greeting.",
        content="Hi! How can I help?",
    ),
    Case(
        "recipient_before_channel_and_call_marker_kept",
        " to=functions.get_weather<|channel|>commentary <|constrain|>json"
        '<|message|>{"city": "Oslo", "days": 3}<|call|>',
        calls=(Call("get_weather", {"city": "Oslo", "days": 3}),),
    ),
    Case(
        "constrain_glued_and_bare_json_type",
        call("get_weather", '{"city": "Rome"}', ctype="<|constrain|>json")
        + "<|call|><|start|>assistant"
        + call("now", "{}", ctype=" json"),
        calls=(Call("get_weather", {"city": "Rome"}), Call("now", {})),
    ),
    Case(
        "preamble_then_call",
        analysis("Two steps.")
        + NEXT
        + "<|channel|>commentary<|message|>**Plan**: check the time, then save a note."
        + NEXT
        + call("now", ""),
        reasoning="Two steps.",
        content="**Plan**: check the time, then save a note.",
        calls=(Call("now", {}),),
        exact_arguments=("{}",),
    ),
    Case(
        "several_messages_per_kind_joined_by_newline",
        analysis("First thought.") + NEXT + analysis("Second thought.") + NEXT + final("Answer."),
        reasoning="First thought.\nSecond thought.",
        content="Answer.",
    ),
    Case(
        "call_then_answer_in_one_text",
        call("get_weather", '{"city": "Paris"}') + "<|call|><|start|>assistant" + final("It is sunny."),
        content="It is sunny.",
        calls=(Call("get_weather", {"city": "Paris"}),),
    ),
    Case(
        "markers_inside_a_json_string_are_argument_text",
        call("save_note", '{"text": "ends with <|end|> and <|start|>assistant<|channel|>final"}'),
        calls=(Call("save_note", {"text": "ends with <|end|> and <|start|>assistant<|channel|>final"}),),
    ),
    Case(
        "verbatim_text_with_markup_and_unicode",
        final('  Köln 🌧 東京 <b>"q"</b> {x} <|not_a_marker|>\n'),
        content='  Köln 🌧 東京 <b>"q"</b> {x} <|not_a_marker|>\n',
    ),
    Case(
        "coercion_by_schema",
        call("get_weather", '{"city": 42, "days": "10", "metric": "true"}'),
        calls=(Call("get_weather", {"city": "42", "days": 10, "metric": True}),),
    ),
    Case(
        "truncated_arguments_repaired",
        analysis("Call it.") + NEXT + call("get_weather", '{"city": "Par'),
        reasoning="Call it.",
        calls=(Call("get_weather", {"city": "Par"}, Outcome.REPAIRED),),
    ),
    Case(
        "unknown_tool_dropped_verbatim",
        call("delete_everything", '{"really": true}') + "<|call|>",
        content=call("delete_everything", '{"really": true}') + "<|call|>",
        rejected=(("delete_everything", Outcome.DROPPED),),
    ),
    Case(
        "builtin_tool_recipient_dropped",
        analysis("Search first.") + "<|end|><|start|>assistant to=browser.search<|channel|>analysis code<|message|>"
        '{"query": "weather"}',
        reasoning="Search first.",
        content='<|start|>assistant to=browser.search<|channel|>analysis code<|message|>{"query": "weather"}',
        rejected=(("browser.search", Outcome.DROPPED),),
    ),
    Case(
        "bare_recipient_on_analysis_channel",  # harmony's test_simple_tool_call writes to=lookup_weather
        analysis("Use the tool.") + "<|end|><|start|>assistant to=now<|channel|>analysis code<|message|>{}",
        reasoning="Use the tool.",
        calls=(Call("now", {}),),
    ),
    Case(
        "arguments_not_an_object_stay_content",
        call("get_weather", "Paris please"),
        content=call("get_weather", "Paris please"),
        rejected=(("get_weather", Outcome.INVALID),),
    ),
    Case(
        "header_without_message_marker_salvaged",  # harmony's non-strict parser reads it the same way
        "<|channel|>analysis I must refuse<|end|><|start|>assistant" + final("I can't help with that.") + "<|return|>",
        reasoning="I must refuse",
        content="I can't help with that.",
    ),
    Case("no_harmony_at_all", "Just prose, no markers.", content="Just prose, no markers."),
    Case(
        "missing_end_before_next_channel",
        analysis("Thinking") + final("Done."),
        reasoning="Thinking",
        content="Done.",
    ),
    Case(
        "reasoning_cut_off",
        analysis("still thinking about <|chan"),
        reasoning="still thinking about <|chan",
    ),
    Case(
        "double_encoded_arguments_repaired",
        call("now", json.dumps("{}")),
        calls=(Call("now", {}, Outcome.REPAIRED),),
    ),
]


def big_call(n: int) -> str:
    arguments = json.dumps({"text": ('x{y}"<|' * (n // 7 + 1))[:n]})
    return analysis("Save it.") + NEXT + call("save_note", arguments)
