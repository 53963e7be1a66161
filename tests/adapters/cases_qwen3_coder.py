"""Conformance cases for the qwen3_coder family (``<function=…>`` blocks, values typed by the schema)."""

from __future__ import annotations

from adapters.base import Outcome
from tests.adapters.conformance import Call, Case
from tests.adapters.tools_common import TOOLS

__all__ = ["TOOLS", "CASES", "big_call"]


def function(name: str, *params: tuple[str, str]) -> str:
    body = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in params)
    return f"<function={name}>\n{body}</function>"


def block(name: str, *params: tuple[str, str]) -> str:
    """One call as Qwen3-Coder's template writes it."""
    return f"<tool_call>\n{function(name, *params)}\n</tool_call>"


CASES = [
    Case("plain_text", "Hello there, how can I help?", content="Hello there, how can I help?"),
    Case(
        "single_call_typed_by_schema",
        block("get_weather", ("city", "Paris"), ("days", "3")),
        calls=(Call("get_weather", {"city": "Paris", "days": 3}),),
        exact_arguments=('{"city": "Paris", "days": 3}',),
    ),
    Case(
        "string_that_looks_like_a_number_stays_a_string",
        block("get_weather", ("city", "1234"), ("metric", "true")),
        calls=(Call("get_weather", {"city": "1234", "metric": True}),),
    ),
    Case(
        "python_style_values_from_history_read_back",
        block("get_weather", ("city", "None"), ("metric", "True"), ("days", " 2 ")),
        calls=(Call("get_weather", {"city": "None", "metric": True, "days": 2}),),
    ),
    Case(
        "array_and_multiline_text",
        block("save_note", ("text", "line 1\n  <b>two</b> {x} \\ \"q\""), ("tags", '["a", "b"]')),
        calls=(Call("save_note", {"text": 'line 1\n  <b>two</b> {x} \\ "q"', "tags": ["a", "b"]}),),
    ),
    Case(
        "text_before_and_after",
        "Let me check.\n" + block("now") + "\nDone.",
        content="Let me check.Done.",
        calls=(Call("now", {}),),
    ),
    Case(
        "parallel_blocks",
        block("get_weather", ("city", "Paris")) + "\n" + block("get_weather", ("city", "Oslo")),
        calls=(Call("get_weather", {"city": "Paris"}), Call("get_weather", {"city": "Oslo"})),
    ),
    Case(
        "two_functions_in_one_block",
        "<tool_call>\n" + function("now") + "\n" + function("get_weather", ("city", "Rome")) + "\n</tool_call>",
        calls=(Call("now", {}), Call("get_weather", {"city": "Rome"})),
    ),
    Case(
        "compact_values_without_newlines",
        "<tool_call><function=get_weather><parameter=city>Lyon</parameter></function></tool_call>",
        calls=(Call("get_weather", {"city": "Lyon"}),),
    ),
    Case(
        "missing_wrapper_and_closing_function",
        "Sure.\n<function=get_weather>\n<parameter=city>\nBern\n</parameter>\n</tool_call>",
        content="Sure.",
        calls=(Call("get_weather", {"city": "Bern"}),),
    ),
    Case(
        "missing_parameter_end_tag",
        block("get_weather", ("city", "Dallas\n<parameter=days>\n4")),
        calls=(Call("get_weather", {"city": "Dallas", "days": 4}),),
    ),
    Case(
        "unknown_function_dropped",
        "Hmm " + block("rm_rf", ("path", "/")),
        content="Hmm \n" + function("rm_rf", ("path", "/")) + "\n",
        rejected=(("rm_rf", Outcome.DROPPED),),
    ),
    Case(
        "name_without_closing_bracket_is_text",
        "<tool_call>\n<function=get_weather\n<parameter=city>X</parameter>\n</function>\n</tool_call>",
        content="<function=get_weather\n<parameter=city>X</parameter>\n</function>\n",
        rejected=((None, Outcome.INVALID),),
    ),
    Case(
        "function_marker_in_prose",
        "Use the syntax <function= carefully; it is just text.",
        content="Use the syntax <function= carefully; it is just text.",
        rejected=((None, Outcome.INVALID),),
    ),
    Case(
        "unicode_kept",
        block("get_weather", ("city", "Köln 🌧 東京")),
        calls=(Call("get_weather", {"city": "Köln 🌧 東京"}),),
        exact_arguments=('{"city": "Köln 🌧 東京"}',),
    ),
    Case(
        "truncated_value_repaired",
        "Checking.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nPar",
        content="Checking.",
        calls=(Call("get_weather", {"city": "Par"}, Outcome.REPAIRED),),
    ),
    Case(
        "coercion_by_schema",
        block("get_weather", ("city", "Oslo"), ("days", "7.0"), ("metric", "false")),
        calls=(Call("get_weather", {"city": "Oslo", "days": 7, "metric": False}),),
    ),
]


def big_call(n: int) -> str:
    return "I will save it.\n" + block("save_note", ("text", "x<y>{z}\n" * (n // 8)))
