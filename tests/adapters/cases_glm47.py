"""Conformance cases for the glm47 family: GLM-4.7's compact calls after the reasoning its prompt opened.

The default adapter thinks: the prompt ends with ``<think>``, so every text starts inside the
reasoning and content begins after ``</think>``.
"""

from __future__ import annotations

from adapters.base import Outcome
from tests.adapters.cases_glm45 import block
from tests.adapters.conformance import Call, Case
from tests.adapters.tools_common import TOOLS

__all__ = ["TOOLS", "CASES", "big_call"]


def call(name: str, *pairs: tuple[str, str]) -> str:
    return block(name, *pairs, compact=True)


CASES = [
    Case("plain_text", "</think>Hello there!", content="Hello there!"),
    Case(
        "reasoning_then_call",
        "The user wants weather.</think>" + call("get_weather", ("city", "Paris"), ("days", "3")),
        reasoning="The user wants weather.",
        calls=(Call("get_weather", {"city": "Paris", "days": 3}),),
        exact_arguments=('{"city": "Paris", "days": 3}',),
    ),
    Case(
        "reasoning_text_and_call",
        "Check first.</think>I will check.<tool_call>now</tool_call>",
        reasoning="Check first.",
        content="I will check.",
        calls=(Call("now", {}),),
    ),
    Case(
        "parallel_calls_back_to_back",
        "</think>" + call("get_weather", ("city", "Beijing")) + call("get_weather", ("city", "Shanghai")),
        calls=(Call("get_weather", {"city": "Beijing"}), Call("get_weather", {"city": "Shanghai"})),
    ),
    Case(
        "newline_layout_read_too",
        "</think>" + block("get_weather", ("city", "Oslo"), ("metric", "false")),
        calls=(Call("get_weather", {"city": "Oslo", "metric": False}),),
    ),
    Case(
        "string_that_looks_like_json_stays_string",
        "</think>" + call("get_weather", ("city", "123"), ("days", "2")),
        calls=(Call("get_weather", {"city": "123", "days": 2}),),
    ),
    Case(
        "tool_call_while_thinking_is_reasoning",
        "maybe " + call("now") + " no</think>No call needed.",
        reasoning="maybe " + call("now") + " no",
        content="No call needed.",
    ),
    Case(
        "value_with_markup_kept_verbatim",
        "</think>" + call("save_note", ("text", 'a <b>b</b>\n "c" {d}'), ("tags", '["x"]')),
        calls=(Call("save_note", {"text": 'a <b>b</b>\n "c" {d}', "tags": ["x"]}),),
    ),
    Case(
        "unknown_name_dropped",
        "</think>Hmm " + call("delete_everything", ("really", "true")),
        content="Hmm " + call("delete_everything", ("really", "true")),
        rejected=(("delete_everything", Outcome.DROPPED),),
    ),
    Case(
        "literal_marker_in_prose",
        "</think>Wrap calls in <tool_call> and </tool_call> tags.",
        content="Wrap calls in <tool_call> and </tool_call> tags.",
        rejected=((None, Outcome.INVALID),),
    ),
    Case(
        "truncated_value_repaired",
        "ok</think><tool_call>get_weather<arg_key>city</arg_key><arg_value>Par",
        reasoning="ok",
        calls=(Call("get_weather", {"city": "Par"}, Outcome.REPAIRED),),
    ),
    Case("thinking_cut_off", "still thinking about <tool_", reasoning="still thinking about <tool_"),
    Case(
        "unicode_kept",
        "</think>" + call("get_weather", ("city", "Köln 🌧 東京")),
        calls=(Call("get_weather", {"city": "Köln 🌧 東京"}),),
        exact_arguments=('{"city": "Köln 🌧 東京"}',),
    ),
]


def big_call(n: int) -> str:
    return "Save it.</think>" + call("save_note", ("text", "x{y}" * (n // 4)))
