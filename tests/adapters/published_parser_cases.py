"""Raw model outputs and what vLLM's own parser tests assert about them, as data (test oracle).

Source: vLLM (https://github.com/vllm-project/vllm, Apache-2.0), files
``tests/tool_parsers/test_qwen3coder_tool_parser.py``, ``test_glm47_moe_tool_parser.py`` and
``test_minimax_m2_tool_parser.py``: each ``Published`` below names the test it was taken from. Only
the raw strings, the tools and the asserted results are taken, never the code. Where a vLLM test
asserts less than the whole result (a name, a count, a substring) only that is kept, so nothing
here goes beyond what vLLM's authors wrote down.

vLLM's tool parsers see the text after reasoning has been split off, and several of these tests
pass no tools at all (any name is then accepted, every value stays a string); here such a name is
a tool without a schema, which gives the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.base import ToolSpec

Calls = tuple[tuple[str, dict[str, Any]], ...]


@dataclass(frozen=True)
class Published:
    family: str
    test: str  # "file::test[id]" in vLLM's tests/tool_parsers/
    text: str | tuple[str, ...]  # one text, or the deltas the test streams
    tools: tuple[ToolSpec, ...]
    calls: Calls | None = None  # every call, in order (name, arguments)
    names: tuple[str, ...] | None = None  # only the names (and so the count) are asserted
    content: str | None = None  # the content ("" for vLLM's None)
    contains: str | None = None  # only a substring of the content is asserted


def _untyped(*names: str) -> tuple[ToolSpec, ...]:
    return tuple(ToolSpec(n) for n in names)


# --------------------------------------------------------------------------- qwen3_coder

_WEATHER = ToolSpec(
    "get_current_weather",
    "Get the current weather",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city name"},
            "state": {"type": "string", "description": "The state code"},
            "unit": {"type": "string", "enum": ["fahrenheit", "celsius"]},
        },
        "required": ["city", "state"],
    },
)
_AREA = ToolSpec(
    "calculate_area",
    "Calculate area of a shape",
    {
        "type": "object",
        "properties": {"shape": {"type": "string"}, "dimensions": {"type": "object"}, "precision": {"type": "integer"}},
    },
)
QWEN_TOOLS = (_WEATHER, _AREA)
Q = "test_qwen3coder_tool_parser.py::"

_DALLAS = (
    "<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n"
    "</parameter>\n<parameter=unit>\nfahrenheit\n</parameter>\n</function>\n</tool_call>"
)
_DALLAS_ARGS = {"city": "Dallas", "state": "TX", "unit": "fahrenheit"}
_RECTANGLE = (
    "<tool_call>\n<function=calculate_area>\n<parameter=shape>\nrectangle\n</parameter>\n<parameter=dimensions>\n"
    '{"width": 10, \n "height": 20}\n</parameter>\n<parameter=precision>\n2\n</parameter>\n</function>\n</tool_call>'
)
_ORLANDO = (
    "<tool_call>\n<function=get_current_weather>\n<parameter=city>\nOrlando\n</parameter>\n<parameter=state>\nFL\n"
    "</parameter>\n<parameter=unit>\n{unit}\n</parameter>\n</function>\n</tool_call>"
)
_CIRCLE = (
    "Let me calculate that area for you.<tool_call>\n<function=calculate_area>\n<parameter=shape>\ncircle\n"
    '</parameter>\n<parameter=dimensions>\n{"radius": 15.5}\n</parameter>\n<parameter=precision>\n3\n</parameter>\n'
    "</function>\n</tool_call>"
)
_CIRCLE_ARGS = {"shape": "circle", "dimensions": {"radius": 15.5}, "precision": 3}
_MISSING_END = (
    "Let me check the weather for you:\n<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n"
    "<parameter=state>\nTX\n</parameter>\n<parameter=unit>\nfahrenheit\n</parameter>\n</function>\n</tool_call>"
)

_TYPES = ToolSpec(
    "test_types",
    "",
    {
        "type": "object",
        "properties": {
            "int_param": {"type": "integer"},
            "float_param": {"type": "float"},
            "bool_param": {"type": "boolean"},
            "str_param": {"type": "string"},
            "obj_param": {"type": "object"},
        },
    },
)
_ANYOF = ToolSpec(
    "test_anyof",
    "",
    {
        "type": "object",
        "properties": {
            "anyof_int": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 5},
            "anyof_str": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "anyof_array": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
            "anyof_obj": {"anyOf": [{"type": "object"}, {"type": "null"}]},
            "type_as_array": {"type": ["integer", "null"]},
            "multi_non_null": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
        },
    },
)
_SEARCH = ToolSpec(
    "search_web",
    "",
    {
        "type": "object",
        "properties": {
            "query": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "count": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 5},
            "verbose": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
        },
    },
)
_RECORD = ToolSpec(
    "update_record",
    "",
    {"type": "object", "properties": {"data": {"anyOf": [{"type": "object"}, {"type": "null"}]}}},
)
_GREET = ToolSpec("greet", "", {"type": "object", "properties": {"message": {"type": "string"}}})

QWEN3_CODER: list[Published] = [
    Published(
        "qwen3_coder",
        Q + "test_extract_tool_calls_no_tools",
        "This is a test response without any tool calls",
        QWEN_TOOLS,
        calls=(),
        content="This is a test response without any tool calls",
    ),
    Published(
        "qwen3_coder",
        Q + "test_extract_tool_calls[single_tool]",
        _DALLAS,
        QWEN_TOOLS,
        calls=(("get_current_weather", _DALLAS_ARGS),),
        content="",
    ),
    Published(
        "qwen3_coder",
        Q + "test_extract_tool_calls[single_tool_with_content]",
        "Sure! Let me check the weather for you." + _DALLAS,
        QWEN_TOOLS,
        calls=(("get_current_weather", _DALLAS_ARGS),),
        content="Sure! Let me check the weather for you.",
    ),
    Published(
        "qwen3_coder",
        Q + "test_extract_tool_calls[single_tool_multiline_param]",
        _RECTANGLE,
        QWEN_TOOLS,
        calls=(("calculate_area", {"shape": "rectangle", "dimensions": {"width": 10, "height": 20}, "precision": 2}),),
        content="",
    ),
    Published(
        "qwen3_coder",
        Q + "test_extract_tool_calls[parallel_tools]",
        _DALLAS + "\n" + _ORLANDO.format(unit="fahrenheit"),
        QWEN_TOOLS,
        calls=(
            ("get_current_weather", _DALLAS_ARGS),
            ("get_current_weather", {"city": "Orlando", "state": "FL", "unit": "fahrenheit"}),
        ),
        content="",
    ),
    Published(
        "qwen3_coder",
        Q + "test_extract_tool_calls_streaming[parallel_tools]",
        _DALLAS + "\n" + _ORLANDO.format(unit="celsius"),
        QWEN_TOOLS,
        calls=(
            ("get_current_weather", _DALLAS_ARGS),
            ("get_current_weather", {"city": "Orlando", "state": "FL", "unit": "celsius"}),
        ),
        content="",
    ),
    Published(
        "qwen3_coder",
        Q + "test_extract_tool_calls[tool_with_typed_params]",
        _CIRCLE,
        QWEN_TOOLS,
        calls=(("calculate_area", _CIRCLE_ARGS),),
        content="Let me calculate that area for you.",
    ),
    Published(
        "qwen3_coder",
        Q + "test_extract_tool_calls_fallback_no_tags",
        "<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n"
        "</function>",
        QWEN_TOOLS,
        names=("get_current_weather",),
    ),
    Published(
        "qwen3_coder",
        Q + "test_extract_tool_calls_type_conversion",
        "<tool_call>\n<function=test_types>\n<parameter=int_param>\n42\n</parameter>\n<parameter=float_param>\n3.14\n"
        "</parameter>\n<parameter=bool_param>\ntrue\n</parameter>\n<parameter=str_param>\nhello world\n</parameter>\n"
        '<parameter=obj_param>\n{"key": "value"}\n</parameter>\n</function>\n</tool_call>',
        (_TYPES,),
        calls=(
            (
                "test_types",
                {
                    "int_param": 42,
                    "float_param": 3.14,
                    "bool_param": True,
                    "str_param": "hello world",
                    "obj_param": {"key": "value"},
                },
            ),
        ),
    ),
    Published(
        "qwen3_coder",
        Q + "test_extract_tool_calls_anyof_type_conversion",
        "<tool_call>\n<function=test_anyof>\n<parameter=anyof_int>\n5\n</parameter>\n<parameter=anyof_str>\nhello\n"
        '</parameter>\n<parameter=anyof_array>\n["a", "b", "c"]\n</parameter>\n'
        '<parameter=anyof_obj>\n{"key": "value"}\n'
        "</parameter>\n<parameter=type_as_array>\n42\n</parameter>\n<parameter=multi_non_null>\nsome text\n"
        "</parameter>\n</function>\n</tool_call>",
        (_ANYOF,),
        calls=(
            (
                "test_anyof",
                {
                    "anyof_int": 5,
                    "anyof_str": "hello",
                    "anyof_array": ["a", "b", "c"],
                    "anyof_obj": {"key": "value"},
                    "type_as_array": 42,
                    "multi_non_null": "some text",
                },
            ),
        ),
    ),
    Published(
        "qwen3_coder",
        Q + "test_extract_tool_calls_anyof_type_conversion_streaming",
        "<tool_call>\n<function=search_web>\n<parameter=query>\nvllm tool parser\n</parameter>\n<parameter=count>\n10\n"
        "</parameter>\n<parameter=verbose>\ntrue\n</parameter>\n</function>\n</tool_call>",
        (_SEARCH,),
        calls=(("search_web", {"query": "vllm tool parser", "count": 10, "verbose": True}),),
    ),
    Published(
        "qwen3_coder",
        Q + "test_extract_tool_calls_missing_closing_parameter_tag",
        _MISSING_END,
        QWEN_TOOLS,
        calls=(("get_current_weather", _DALLAS_ARGS),),
        contains="Let me check the weather for you:",
    ),
    Published(
        "qwen3_coder",
        Q + "test_extract_tool_calls_streaming_incremental",
        "I'll check the weather.<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n"
        "<parameter=state>\nTX\n</parameter>\n</function>\n</tool_call>",
        QWEN_TOOLS,
        calls=(("get_current_weather", {"city": "Dallas", "state": "TX"}),),
    ),
    Published(
        "qwen3_coder",
        Q + "test_extract_tool_calls_streaming_missing_opening_tag",
        "I'll check the weather for you.\n\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n"
        "<parameter=state>\nTX\n</parameter>\n<parameter=unit>\nfahrenheit\n</parameter>\n</function>\n</tool_call>",
        QWEN_TOOLS,
        calls=(("get_current_weather", _DALLAS_ARGS),),
        contains="I'll check the weather for you.",
    ),
    Published(
        "qwen3_coder",
        Q + "test_none_tool_calls_filtered",
        "<tool_call>\n<function=bad_func_no_gt\n</function>\n</tool_call>\n<tool_call>\n<function=get_current_weather>\n"
        "<parameter=city>Dallas</parameter>\n<parameter=state>TX</parameter>\n</function>\n</tool_call>",
        QWEN_TOOLS,
        calls=(("get_current_weather", {"city": "Dallas", "state": "TX"}),),
    ),
    Published(
        "qwen3_coder",
        Q + "test_anyof_parameter_not_double_encoded",
        '<tool_call>\n<function=update_record>\n<parameter=data>{"key": "value", "count": 42}</parameter>\n'
        "</function>\n</tool_call>",
        (_RECORD,),
        calls=(("update_record", {"data": {"key": "value", "count": 42}}),),
    ),
    Published(
        "qwen3_coder",
        Q + "test_streaming_multi_param_single_chunk",
        (
            "<tool_call>",
            "\n<function=get_current_weather>",
            "\n",
            "<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>"
            "\n<parameter=unit>\nfahrenheit\n</parameter>",
            "\n</function>",
            "\n</tool_call>",
        ),
        QWEN_TOOLS,
        calls=(("get_current_weather", _DALLAS_ARGS),),
    ),
    Published(
        "qwen3_coder",
        Q + "test_no_double_serialization_string_args",
        "<tool_call>\n<function=greet>\n<parameter=message>hello world</parameter>\n</function>\n</tool_call>",
        (_GREET,),
        calls=(("greet", {"message": "hello world"}),),
    ),
]

# --------------------------------------------------------------------------- glm47

GLM_TOOLS = (
    ToolSpec("get_current_date"),
    ToolSpec(
        "get_weather", "", {"type": "object", "properties": {"city": {"type": "string"}, "date": {"type": "string"}}}
    ),
)
G = "test_glm47_moe_tool_parser.py::TestGlm47"

GLM47: list[Published] = [
    Published("glm47", G + "ExtractToolCalls::test_no_tool_call", "This is a plain response.", GLM_TOOLS, calls=(),
              content="This is a plain response."),  # fmt: skip
    Published("glm47", G + "ExtractToolCalls::test_zero_arg_inline", "<tool_call>get_current_date</tool_call>",
              GLM_TOOLS, calls=(("get_current_date", {}),), content=""),  # fmt: skip
    Published("glm47", G + "ExtractToolCalls::test_zero_arg_newline", "<tool_call>get_current_date\n</tool_call>",
              GLM_TOOLS, names=("get_current_date",)),  # fmt: skip
    Published(
        "glm47",
        G + "ExtractToolCalls::test_args_same_line",
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Beijing</arg_value></tool_call>",
        GLM_TOOLS,
        calls=(("get_weather", {"city": "Beijing"}),),
    ),
    Published(
        "glm47",
        G + "ExtractToolCalls::test_args_with_newlines",
        "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Beijing</arg_value>\n</tool_call>",
        GLM_TOOLS,
        calls=(("get_weather", {"city": "Beijing"}),),
    ),
    Published("glm47", G + "ExtractToolCalls::test_content_before", "Checking.<tool_call>get_current_date</tool_call>",
              GLM_TOOLS, names=("get_current_date",), content="Checking."),  # fmt: skip
    Published(
        "glm47",
        G + "ExtractToolCalls::test_multiple",
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Beijing</arg_value></tool_call>"
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Shanghai</arg_value></tool_call>",
        GLM_TOOLS,
        names=("get_weather", "get_weather"),
    ),
    Published("glm47", G + "ExtractToolCalls::test_whitespace_content_none",
              "  \n  <tool_call>get_current_date</tool_call>", GLM_TOOLS, names=("get_current_date",),
              content=""),  # fmt: skip
    Published("glm47", G + "Streaming::test_no_args", ("<tool_call>", "get_current_date", "</tool_call>"), GLM_TOOLS,
              names=("get_current_date",)),  # fmt: skip
    Published(
        "glm47",
        G + "Streaming::test_with_args",
        ("<tool_call>", "get_weather\n", "<arg_key>city</arg_key>", "<arg_value>", "Beijing", "</arg_value>",
         "</tool_call>"),  # fmt: skip
        GLM_TOOLS,
        calls=(("get_weather", {"city": "Beijing"}),),
    ),
    Published(
        "glm47",
        G + "Streaming::test_delays_prefix_only_tool_name_until_exact_match",
        ("<tool_call>get", "_weather<arg_key>city</arg_key><arg_value>Beijing</arg_value></tool_call>"),
        GLM_TOOLS,
        calls=(("get_weather", {"city": "Beijing"}),),
    ),
]

# --------------------------------------------------------------------------- minimax_m2

M = "test_minimax_m2_tool_parser.py::"
_NULLABLE = ToolSpec(
    "update_profile",
    "",
    {"type": "object", "properties": {"nickname": {"anyOf": [{"type": "string"}, {"type": "null"}]}}},
)
_SETTINGS = ToolSpec(
    "update_settings",
    "",
    {"type": "object", "properties": {"config": {"anyOf": [{"type": "object"}, {"type": "null"}]}}},
)
_SEATTLE = '<parameter name="city">Seattle</parameter>'

MINIMAX_M2: list[Published] = [
    Published("minimax_m2", M + "TestContentStreaming::test_plain_content", ("Hello ", "world"), (), calls=(),
              content="Hello world"),  # fmt: skip
    Published(
        "minimax_m2",
        M + "TestContentStreaming::test_content_before_tool_call",
        (
            "Let me check. ",
            '<minimax:tool_call><invoke name="get_weather">' + _SEATTLE + "</invoke></minimax:tool_call>",
        ),
        _untyped("get_weather"),
        names=("get_weather",),
        content="Let me check. ",
    ),
    Published(
        "minimax_m2",
        M + "TestSingleInvoke::test_incremental_chunks",
        ("<minimax:tool_call>", '<invoke name="get_weather">', _SEATTLE, "</invoke></minimax:tool_call>"),
        _untyped("get_weather"),
        calls=(("get_weather", {"city": "Seattle"}),),
    ),
    Published(
        "minimax_m2",
        M + "TestSingleInvoke::test_multiple_params",
        ("<minimax:tool_call>", '<invoke name="get_weather">', _SEATTLE, '<parameter name="days">5</parameter>',
         "</invoke></minimax:tool_call>"),  # fmt: skip
        _untyped("get_weather"),
        calls=(("get_weather", {"city": "Seattle", "days": "5"}),),
    ),
    Published(
        "minimax_m2",
        M + "TestMultipleInvokes::test_two_invokes_incremental",
        (
            "<minimax:tool_call>",
            '<invoke name="search_web"><parameter name="query">OpenAI</parameter></invoke>',
            '<invoke name="search_web"><parameter name="query">Gemini</parameter></invoke>',
            "</minimax:tool_call>",
        ),
        _untyped("search_web"),
        calls=(("search_web", {"query": "OpenAI"}), ("search_web", {"query": "Gemini"})),
    ),
    Published(
        "minimax_m2",
        M + "TestMultipleInvokes::test_two_invokes_in_single_delta",
        (
            "<minimax:tool_call>",
            '<invoke name="fn_a"><parameter name="x">1</parameter></invoke>'
            '<invoke name="fn_b"><parameter name="y">2</parameter></invoke>',
            "</minimax:tool_call>",
        ),
        _untyped("fn_a", "fn_b"),
        names=("fn_a", "fn_b"),
    ),
    Published(
        "minimax_m2",
        M + "TestMultipleInvokes::test_different_functions",
        (
            "<minimax:tool_call>",
            '<invoke name="get_weather"><parameter name="city">NYC</parameter></invoke>',
            '<invoke name="get_stock"><parameter name="ticker">AAPL</parameter></invoke>',
            "</minimax:tool_call>",
        ),
        _untyped("get_weather", "get_stock"),
        names=("get_weather", "get_stock"),
    ),
    Published(
        "minimax_m2",
        M + "TestInternalState::test_prev_tool_call_arr_single",
        '<minimax:tool_call><invoke name="fn"><parameter name="a">1</parameter></invoke></minimax:tool_call>',
        _untyped("fn"),
        calls=(("fn", {"a": "1"}),),
    ),
    Published(
        "minimax_m2",
        M + "TestInternalState::test_prev_tool_call_arr_multiple",
        (
            "<minimax:tool_call>",
            '<invoke name="search"><parameter name="q">hello</parameter></invoke>',
            '<invoke name="search"><parameter name="q">world</parameter></invoke>',
            "</minimax:tool_call>",
        ),
        _untyped("search"),
        calls=(("search", {"q": "hello"}), ("search", {"q": "world"})),
    ),
    Published(
        "minimax_m2",
        M + "TestDeltaMessageFormat::test_tool_call_fields",
        '<minimax:tool_call><invoke name="fn"><parameter name="k">v</parameter></invoke></minimax:tool_call>',
        _untyped("fn"),
        calls=(("fn", {"k": "v"}),),
    ),
    Published(
        "minimax_m2",
        M + "TestLargeChunks::test_header_and_params_in_separate_chunks",
        (
            '<minimax:tool_call><invoke name="get_weather">',
            _SEATTLE + '<parameter name="days">5</parameter></invoke></minimax:tool_call>',
        ),
        _untyped("get_weather"),
        calls=(("get_weather", {"city": "Seattle", "days": "5"}),),
    ),
    Published(
        "minimax_m2",
        M + "TestAnyOfNullableParam::test_anyof_nullable_param_non_null_value",
        '<minimax:tool_call><invoke name="update_profile"><parameter name="nickname">Alice</parameter></invoke>'
        "</minimax:tool_call>",
        (_NULLABLE,),
        calls=(("update_profile", {"nickname": "Alice"}),),
    ),
    Published(
        "minimax_m2",
        M + "TestAnyOfNullableParam::test_anyof_nullable_param_null_value",
        '<minimax:tool_call><invoke name="update_profile"><parameter name="nickname">null</parameter></invoke>'
        "</minimax:tool_call>",
        (_NULLABLE,),
        calls=(("update_profile", {"nickname": None}),),
    ),
    Published(
        "minimax_m2",
        M + "TestAnyOfNullableParam::test_anyof_nullable_param_object_value",
        '<minimax:tool_call><invoke name="update_settings"><parameter name="config">{"theme": "dark", "fontSize": 14}'
        "</parameter></invoke></minimax:tool_call>",
        (_SETTINGS,),
        calls=(("update_settings", {"config": {"theme": "dark", "fontSize": 14}}),),
    ),
]

ALL: list[Published] = QWEN3_CODER + GLM47 + MINIMAX_M2
