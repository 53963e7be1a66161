"""Conformance cases for the minimax_m2 family: ``<invoke>`` calls after the reasoning its prompt opened.

The prompt ends with ``<think>\\n``, so every text starts inside the reasoning.
"""

from __future__ import annotations

from adapters.base import Outcome
from tests.adapters.conformance import Call, Case
from tests.adapters.tools_common import TOOLS

__all__ = ["TOOLS", "CASES", "big_call"]


def invoke(name: str, *params: tuple[str, str]) -> str:
    body = "".join(f'<parameter name="{k}">{v}</parameter>\n' for k, v in params)
    return f'<invoke name="{name}">\n{body}</invoke>\n'


def section(*invokes: str) -> str:
    """Calls as MiniMax-M2's template writes them."""
    return "<minimax:tool_call>\n" + "".join(invokes) + "</minimax:tool_call>"


THOUGHT = "The user wants the weather.\n</think>\n\n"

CASES = [
    Case("plain_text", "\n</think>\n\nHello there!", content="Hello there!"),
    Case(
        "reasoning_then_call",
        THOUGHT + section(invoke("get_weather", ("city", "Paris"), ("days", "3"))),
        reasoning="The user wants the weather.",
        calls=(Call("get_weather", {"city": "Paris", "days": 3}),),
        exact_arguments=('{"city": "Paris", "days": 3}',),
    ),
    Case(
        "text_then_call",
        THOUGHT + "Let me check.\n" + section(invoke("now")),
        reasoning="The user wants the weather.",
        content="Let me check.",
        calls=(Call("now", {}),),
    ),
    Case(
        "parallel_invokes_in_one_section",
        THOUGHT + section(invoke("get_weather", ("city", "NYC")), invoke("get_weather", ("city", "LA"))),
        reasoning="The user wants the weather.",
        calls=(Call("get_weather", {"city": "NYC"}), Call("get_weather", {"city": "LA"})),
    ),
    Case(
        "string_that_looks_like_a_number_stays_a_string",
        "</think>" + section(invoke("get_weather", ("city", "42"), ("metric", "true"))),
        calls=(Call("get_weather", {"city": "42", "metric": True}),),
    ),
    Case(
        "array_and_markup_in_values",
        "</think>" + section(invoke("save_note", ("text", 'a <b>b</b> "c"\n{d}'), ("tags", '["x", "y"]'))),
        calls=(Call("save_note", {"text": 'a <b>b</b> "c"\n{d}', "tags": ["x", "y"]}),),
    ),
    Case(
        "missing_invoke_end",
        "</think>" + '<minimax:tool_call>\n<invoke name="now">\n</minimax:tool_call>',
        calls=(Call("now", {}),),
    ),
    Case(
        "call_while_thinking_is_reasoning",
        "maybe " + section(invoke("now")) + "\n</think>\n\nNo call.",
        reasoning="maybe " + section(invoke("now")),
        content="No call.",
    ),
    Case(
        "unknown_name_dropped",
        "</think>Hmm " + section(invoke("rm", ("path", "/"))),
        content="Hmm \n" + invoke("rm", ("path", "/")),  # the section tags are layout, dropped
        rejected=(("rm", Outcome.DROPPED),),
    ),
    Case(
        "invoke_marker_in_prose",
        "</think>Write <invoke name= tags yourself.",
        content="Write <invoke name= tags yourself.",
        rejected=((None, Outcome.INVALID),),
    ),
    Case(
        "truncated_value_repaired",
        '</think><minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Par',
        calls=(Call("get_weather", {"city": "Par"}, Outcome.REPAIRED),),
    ),
    Case("thinking_cut_off", "still thinking about <invo", reasoning="still thinking about <invo"),
    Case(
        "unicode_kept",
        "</think>" + section(invoke("get_weather", ("city", "Köln 🌧 東京"))),
        calls=(Call("get_weather", {"city": "Köln 🌧 東京"}),),
        exact_arguments=('{"city": "Köln 🌧 東京"}',),
    ),
]


def big_call(n: int) -> str:
    return "Save it.\n</think>\n\n" + section(invoke("save_note", ("text", "x<y>{z}\n" * (n // 8))))
