"""Conformance cases for the kimi_k2 family: sections of ``functions.NAME:IDX`` calls."""

from __future__ import annotations

import json
import re

from adapters.base import Outcome
from adapters.kimi_k2 import ARG_BEGIN, CALL_BEGIN, CALL_END, SECTION_BEGIN, SECTION_END
from tests.adapters.conformance import Call, Case
from tests.adapters.tools_common import TOOLS

__all__ = ["TOOLS", "CASES", "big_call", "ID_PATTERN", "STABLE_IDS"]

# the id is the one the model wrote (normalised), so the same text always gives the same ids
ID_PATTERN = re.compile(r"functions\.[A-Za-z0-9_.-]+:[0-9]+")
STABLE_IDS = True


def call(head: str, args: str) -> str:
    return f"{CALL_BEGIN}{head}{ARG_BEGIN}{args}{CALL_END}"


def section(*calls: str) -> str:
    return SECTION_BEGIN + "".join(calls) + SECTION_END


CASES = [
    Case("plain_text", "Hello there, how can I help?", content="Hello there, how can I help?"),
    Case(
        "single_call",
        "I'll check. " + section(call("functions.get_weather:0", '{"city": "Paris", "days": 3}')),
        content="I'll check.",
        calls=(Call("get_weather", {"city": "Paris", "days": 3}),),
        exact_arguments=('{"city": "Paris", "days": 3}',),
    ),
    Case(
        "parallel_calls",
        section(call("functions.get_weather:0", '{"city": "Oslo"}'), call("functions.now:1", "{}")),
        calls=(Call("get_weather", {"city": "Oslo"}), Call("now", {})),
    ),
    Case(
        "thinking_then_call",
        "<think>The user wants the weather.</think>" + section(call("functions.get_weather:3", '{"city": "Nice"}')),
        reasoning="The user wants the weather.",
        calls=(Call("get_weather", {"city": "Nice"}),),
    ),
    Case(
        "head_without_functions_prefix_and_spaces",
        section(call(" get_weather:0 ", '{"city": "Tokyo"}')),
        calls=(Call("get_weather", {"city": "Tokyo"}),),
    ),
    Case(
        "bare_counter_inferred_from_arguments",
        section(call("0", '{"city": "Oslo", "days": 2}')),
        calls=(Call("get_weather", {"city": "Oslo", "days": 2}),),
    ),
    Case(
        "bare_counter_ambiguous_invalid",
        "Say " + call("0", "{}"),
        content="Say " + call("0", "{}"),
        rejected=((None, Outcome.INVALID),),
    ),
    Case(
        "call_without_argument_marker_invalid",
        "Say " + CALL_BEGIN + "functions.now:0" + CALL_END + " please",
        content="Say " + CALL_BEGIN + "functions.now:0" + CALL_END + " please",
        rejected=((None, Outcome.INVALID),),
    ),
    Case(
        "unknown_name_dropped",
        "Hmm " + section(call("functions.delete_everything:0", '{"really": true}')),
        content="Hmm " + call("functions.delete_everything:0", '{"really": true}'),
        rejected=(("delete_everything", Outcome.DROPPED),),
    ),
    Case(
        "text_before_between_and_after",
        "Let me check.\n" + section(call("functions.now:0", "{}"), " and ", call("functions.now:1", "{}")) + "\nDone.",
        content="Let me check.andDone.",
        calls=(Call("now", {}), Call("now", {})),
    ),
    Case(
        "half_markers_in_prose",
        "The <|tool_call and <|tool_calls_section are not tokens; <|im_end is not ours.",
        content="The <|tool_call and <|tool_calls_section are not tokens; <|im_end is not ours.",
    ),
    Case(
        "braces_quotes_and_markers_in_strings",
        section(call("functions.save_note:0", json.dumps({"text": 'a {b} "c" [d] <|tool_call_begin \\ e}'}))),
        calls=(Call("save_note", {"text": 'a {b} "c" [d] <|tool_call_begin \\ e}'}),),
    ),
    Case(
        "unicode_kept",
        section(call("functions.get_weather:0", '{"city": "K\\u00f6ln \\ud83c\\udf27 東京"}')),
        calls=(Call("get_weather", {"city": "Köln 🌧 東京"}),),
        exact_arguments=('{"city": "Köln 🌧 東京"}',),
    ),
    Case(
        "parameterless_empty_arguments",
        section(call("functions.now:0", "")),
        calls=(Call("now", {}),),
        exact_arguments=("{}",),
    ),
    Case(
        "truncated_call_repaired",
        "Sure." + SECTION_BEGIN + CALL_BEGIN + "functions.get_weather:0" + ARG_BEGIN + '{"city": "Par',
        content="Sure.",
        calls=(Call("get_weather", {"city": "Par"}, Outcome.REPAIRED),),
    ),
    Case(
        "forced_call_ends_after_object",
        SECTION_BEGIN + CALL_BEGIN + "functions.get_weather:2" + ARG_BEGIN + '{"city": "Oslo"}',
        calls=(Call("get_weather", {"city": "Oslo"}),),
    ),
    Case(
        "missing_call_end_before_next_call",
        SECTION_BEGIN
        + CALL_BEGIN
        + "functions.now:0"
        + ARG_BEGIN
        + "{}"
        + call("functions.get_weather:1", '{"city": "Bern"}')
        + SECTION_END,
        calls=(Call("now", {}), Call("get_weather", {"city": "Bern"})),
    ),
    Case(
        "coercion_by_schema",
        section(call("functions.get_weather:0", '{"city": 42, "days": "10", "metric": "true"}')),
        calls=(Call("get_weather", {"city": "42", "days": 10, "metric": True}),),
    ),
    Case(
        "broken_json_repaired",
        section(call("functions.now:0", "{'tz': 'UTC',}")),
        calls=(Call("now", {"tz": "UTC"}, Outcome.REPAIRED),),
    ),
    Case(
        "empty_section",
        "Nothing to call." + section(),
        content="Nothing to call.",
    ),
]


def big_call(n: int) -> str:
    return "Saving.\n" + section(call("functions.save_note:0", json.dumps({"text": "x{y}" * (n // 4)})))
