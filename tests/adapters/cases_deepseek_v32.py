"""Conformance cases for the deepseek_v32 family: DSML function-call blocks."""

from __future__ import annotations

import json
from typing import Any

from adapters.base import Outcome
from adapters.deepseek_v32 import CALLS_BEGIN, CALLS_END, DSML, INVOKE, INVOKE_END, PARAM_END
from tests.adapters.conformance import Call, Case
from tests.adapters.tools_common import TOOLS

__all__ = ["TOOLS", "CASES", "big_call", "param", "invoke", "calls"]


def param(key: str, value: Any, string: str | None = None) -> str:
    """One parameter as DeepSeek's encoding writes it (``string`` given: that attribute, text as is)."""
    if string is None:
        string = "true" if isinstance(value, str) else "false"
        value = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return f'<{DSML}parameter name="{key}" string="{string}">{value}{PARAM_END}'


def invoke(name: str, *params: str) -> str:
    return f'{INVOKE} name="{name}">\n' + "\n".join(params) + f"\n{INVOKE_END}"


def calls(*invokes: str) -> str:
    return "\n\n" + CALLS_BEGIN + "\n" + "\n".join(invokes) + "\n" + CALLS_END


CASES = [
    Case("plain_text", "Hello there, how can I help?", content="Hello there, how can I help?"),
    Case(
        "single_call",
        "Let me check." + calls(invoke("get_weather", param("city", "Paris"), param("days", 3))),
        content="Let me check.",
        calls=(Call("get_weather", {"city": "Paris", "days": 3}),),
        exact_arguments=('{"city": "Paris", "days": 3}',),
    ),
    Case(
        "parallel_calls",
        calls(invoke("get_weather", param("city", "Oslo")), invoke("now")),
        calls=(Call("get_weather", {"city": "Oslo"}), Call("now", {})),
    ),
    Case(
        "reasoning_then_call",
        "<think>The user wants the weather.</think>" + calls(invoke("get_weather", param("city", "Nice"))),
        reasoning="The user wants the weather.",
        calls=(Call("get_weather", {"city": "Nice"}),),
    ),
    Case(
        "string_attribute_and_schema_types",
        calls(
            invoke(
                "save_note",
                param("text", "null", "false"),
                param("tags", '["a", "b"]', "false"),
            ),
            invoke("get_weather", param("city", "42", "true"), param("days", "7", "true"), param("metric", True)),
        ),
        calls=(
            Call("save_note", {"text": "null", "tags": ["a", "b"]}),
            Call("get_weather", {"city": "42", "days": 7, "metric": True}),
        ),
    ),
    Case(
        "non_json_value_with_string_false_stays_text",
        calls(invoke("save_note", param("text", "hello <b>world</b>", "false"))),
        calls=(Call("save_note", {"text": "hello <b>world</b>"}),),
    ),
    Case(
        "json_object_inside_invoke",
        calls(f'{INVOKE} name="get_weather">\n{{"city": "Rome", "days": 1}}\n{INVOKE_END}'),
        calls=(Call("get_weather", {"city": "Rome", "days": 1}),),
    ),
    Case(
        "indented_layout",
        "Sure.\n\n    "
        + CALLS_BEGIN
        + "\n        "
        + INVOKE
        + ' name="get_weather">\n            '
        + param("city", "San Francisco")
        + "\n        "
        + INVOKE_END
        + "\n    "
        + CALLS_END
        + "\n    ",
        content="Sure.",
        calls=(Call("get_weather", {"city": "San Francisco"}),),
    ),
    Case(
        "half_markers_in_prose",
        "<｜DSM some regular text, <｜DSML｜func and </｜DSML are not ours.",
        content="<｜DSM some regular text, <｜DSML｜func and </｜DSML are not ours.",
    ),
    Case(
        "unknown_name_dropped",
        "Hmm" + calls(invoke("delete_everything", param("really", True))),
        # a rejected call is content as written, the layout newlines around it included
        content="Hmm\n\n\n" + invoke("delete_everything", param("really", True)) + "\n",
        rejected=(("delete_everything", Outcome.DROPPED),),
    ),
    Case(
        "invoke_without_name_invalid",
        "Say " + INVOKE + ">\n" + INVOKE_END + " please",
        content="Say " + INVOKE + ">\n" + INVOKE_END + " please",
        rejected=((None, Outcome.INVALID),),
    ),
    Case(
        "braces_quotes_and_markers_in_values",
        # (DSML has no escaping: a value holding a whole invoke tag would end the invoke)
        calls(invoke("save_note", param("text", 'a {b} "c" [d] </｜DSML｜invok <｜DSML｜parameter \\ e}'))),
        calls=(Call("save_note", {"text": 'a {b} "c" [d] </｜DSML｜invok <｜DSML｜parameter \\ e}'}),),
    ),
    Case(
        "unicode_and_newlines_kept",
        calls(invoke("save_note", param("text", "Köln 🌧 東京\nline two\n"))),
        calls=(Call("save_note", {"text": "Köln 🌧 東京\nline two\n"}),),
        exact_arguments=('{"text": "Köln 🌧 東京\\nline two\\n"}',),
    ),
    Case(
        "parameterless_call",
        calls(invoke("now")),
        calls=(Call("now", {}),),
        exact_arguments=("{}",),
    ),
    Case(
        "truncated_in_a_value_repaired",
        "Sure." + "\n\n" + CALLS_BEGIN + "\n" + INVOKE + ' name="get_weather">\n' + param("days", 2) + "\n"
        f'<{DSML}parameter name="city" string="true">Par',
        content="Sure.",
        calls=(Call("get_weather", {"city": "Par", "days": 2}, Outcome.REPAIRED),),
    ),
    Case(
        "missing_invoke_end_before_next_invoke",
        "\n\n" + CALLS_BEGIN + "\n" + INVOKE + ' name="now">\n' + invoke("get_weather", param("city", "Bern")) + "\n",
        calls=(Call("now", {}), Call("get_weather", {"city": "Bern"})),
    ),
    Case(
        "text_after_calls",
        calls(invoke("now")) + "\nDone.",
        content="Done.",
        calls=(Call("now", {}),),
    ),
    Case(
        "coercion_by_schema",
        calls(invoke("get_weather", param("city", 42), param("days", "10"), param("metric", "true"))),
        calls=(Call("get_weather", {"city": "42", "days": 10, "metric": True}),),
    ),
]


def big_call(n: int) -> str:
    return "Saving." + calls(invoke("save_note", param("text", "x{y}" * (n // 4))))
