"""deepseek_v32 family specifics, against DeepSeek's own encoding and vLLM's/SGLang's parser tests.

Oracles (data, not code; sources and licences in ``tests/adapters/vendor/README.md``):

- prompts: DeepSeek's encoding test (``tests/adapters/vendor/deepseek_v32/test_input.json`` →
  ``test_output.txt``, thinking mode) rendered by the bundled template equals the published text
  (less the BOS token, which vLLM's tokenizer adds); so does every prefix of that conversation
  that keeps its last user turn, and the example of the model card;
- parses: each assistant turn of that published text, as the model wrote it, parses back to the
  turn of ``test_input.json``; the raw texts of vLLM's
  ``tests/tool_parsers/test_deepseekv32_tool_parser.py`` and SGLang's ``TestDeepSeekV32Detector``
  parse to the calls those tests assert. Where toolrelay decides otherwise by design, the case
  says why and asserts what toolrelay does instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.base import CallRecord, Message, Outcome, ToolChoice, ToolSpec
from adapters.deepseek_v32 import CALLS_BEGIN, CALLS_END, DSML, EOS, INVOKE, INVOKE_END, DeepSeekV32Adapter
from tests.adapters.cases_deepseek_v32 import calls, invoke, param
from tests.adapters.conformance import RENDER_TOOLS

VENDOR = Path(__file__).parent / "vendor" / "deepseek_v32"
BOS = "<｜begin▁of▁sentence｜>"
DATA = json.loads((VENDOR / "test_input.json").read_text(encoding="utf-8"))
# the published prompt, less BOS, and less the newline that ends the file (not the encoding's)
PUBLISHED = (VENDOR / "test_output.txt").read_text(encoding="utf-8").removeprefix(BOS).removesuffix("\n")


def as_message(m: dict[str, Any]) -> Message:
    calls_ = tuple(
        CallRecord(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in m.get("tool_calls") or ()
    )
    return Message(
        m["role"], m.get("content"), calls_, m.get("tool_call_id"), m.get("name"), m.get("reasoning_content")
    )


TOOLS = [
    ToolSpec(t["function"]["name"], t["function"]["description"], t["function"]["parameters"]) for t in DATA["tools"]
]
MESSAGES = [as_message(m) for m in DATA["messages"]]
THINKING = DeepSeekV32Adapter(thinking=True)

# --------------------------------------------------------------------------- prompts


def test_prompt_equals_deepseeks_encoding_test() -> None:
    assert THINKING.render(MESSAGES, TOOLS, ToolChoice(), add_generation_prompt=False) == PUBLISHED


LAST_USER = max(i for i, m in enumerate(MESSAGES) if m.role == "user")
PREFIXES = list(range(LAST_USER + 1, len(MESSAGES)))


@pytest.mark.parametrize("end", PREFIXES)
def test_prefixes_keeping_the_last_user_turn_are_prefixes_of_the_published_prompt(end: int) -> None:
    # the encoding renders a turn from the turn and the last user turn alone, so a conversation cut
    # after that turn renders as the start of the published text, growing with each turn
    shorter = THINKING.render(MESSAGES[:end], TOOLS, ToolChoice())
    longer = THINKING.render(MESSAGES[: end + 1], TOOLS, ToolChoice())
    assert PUBLISHED.startswith(shorter) and PUBLISHED.startswith(longer) and len(shorter) < len(longer)


def test_model_card_example() -> None:
    # deepseek-ai/DeepSeek-V3.2 README: encode_messages(..., thinking_mode="thinking")
    messages = [
        Message("user", "hello"),
        Message("assistant", "Hello! I am DeepSeek.", reasoning="thinking..."),
        Message("user", "1+1=?"),
    ]
    want = (
        "<｜User｜>hello<｜Assistant｜></think>Hello! I am DeepSeek.<｜end▁of▁sentence｜>"
        "<｜User｜>1+1=?<｜Assistant｜><think>"
    )
    assert THINKING.render(messages, [], ToolChoice()) == want


def test_chat_mode_closes_every_turn_and_writes_no_reasoning() -> None:
    prompt = DeepSeekV32Adapter().render(MESSAGES, TOOLS, ToolChoice(), add_generation_prompt=False)
    assert "<think>" not in prompt.split("<functions>")[1]
    assert "User is now asking" not in prompt
    assert prompt.count("<｜Assistant｜></think>") == 2
    assert prompt.endswith("</function_results>\n\n</think>" + MESSAGES[-1].content + EOS)  # type: ignore[operator]


def test_tools_without_a_system_message_follow_an_empty_one() -> None:
    prompt = DeepSeekV32Adapter().render([Message("user", "Hi")], RENDER_TOOLS, ToolChoice())
    assert prompt.startswith("\n\n## Tools\n\nYou have access to a set of tools")
    assert prompt.endswith("</functions>\n<｜User｜>Hi<｜Assistant｜></think>")


def test_results_of_a_turn_are_one_block_closed_after_the_last() -> None:
    turn = [
        Message("user", "Weather in Paris and Oslo?"),
        Message(
            "assistant",
            None,
            (CallRecord("a", "get_weather", '{"city": "Paris"}'), CallRecord("b", "get_weather", '{"city": "Oslo"}')),
        ),
        Message("tool", "21", tool_call_id="a"),
    ]
    half = DeepSeekV32Adapter().render(turn, RENDER_TOOLS, ToolChoice())
    assert half.endswith("\n\n<function_results>\n<result>21</result>")  # the encoding waits for the second
    whole = DeepSeekV32Adapter().render([*turn, Message("tool", "5", tool_call_id="b")], RENDER_TOOLS, ToolChoice())
    assert whole.endswith("<result>21</result>\n<result>5</result>\n</function_results>\n\n</think>")


# --------------------------------------------------------------------------- parses of the published turns


def published_turns() -> list[tuple[str, bool]]:
    """Each assistant turn of the published prompt as the model generated it, and whether the
    prompt before it opened a think block (the parser then starts inside the reasoning)."""
    turns = []
    for chunk in PUBLISHED.split(EOS)[:-1]:
        opener = max(chunk.rfind("<｜Assistant｜>"), chunk.rfind("</function_results>\n\n"))
        head = chunk[opener:]
        start = min(i for i in (head.find("<think>"), head.find("</think>")) if i >= 0)
        thinking = head.startswith("<think>", start)
        turns.append((head[start + len("<think>" if thinking else "</think>") :], thinking))
    return turns


TURNS = published_turns()
ASSISTANT = [(i, m) for i, m in enumerate(DATA["messages"]) if m["role"] == "assistant"]


def test_every_published_assistant_turn_was_found() -> None:
    assert len(TURNS) == len(ASSISTANT) == 5


@pytest.mark.parametrize("k", range(5))
def test_published_turn_parses_back_to_the_conversation(k: int) -> None:
    text, thinking = TURNS[k]
    index, want = ASSISTANT[k]
    msg = DeepSeekV32Adapter(thinking=thinking).parser(TOOLS).parse(text)
    want_calls = [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in want.get("tool_calls", [])]
    assert [(c.name, json.loads(c.arguments)) for c in msg.tool_calls] == want_calls
    assert all(c.outcome is Outcome.PARSED for c in msg.tool_calls)
    assert msg.content == (want.get("content") or "")
    # the encoding writes reasoning back only after the last user turn
    assert msg.reasoning == (want["reasoning_content"] if index > LAST_USER else "")


# --------------------------------------------------------------------------- constraint


@pytest.mark.parametrize("thinking", [False, True])
def test_named_constraint_types_each_parameter(thinking: bool) -> None:
    adapter = DeepSeekV32Adapter(thinking=thinking)
    weather = ToolSpec(
        "get_weather",
        "",
        {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "unit": {"type": "string", "enum": ["c", "f"]},
            },
            "required": ["city"],
        },
    )
    found = adapter.constraint([weather], ToolChoice("required", "get_weather"))
    assert found is not None
    assert found.prefill == ("</think>" if thinking else "") + f'\n\n{CALLS_BEGIN}\n{INVOKE} name="get_weather">\n'
    pattern = re.compile(found.structured_outputs["regex"])
    tail = f"{INVOKE_END}\n{CALLS_END}"
    good = param("city", "Köln am Rhein") + "\n" + param("days", 3) + "\n" + tail
    assert pattern.fullmatch(good)
    assert pattern.fullmatch(param("city", "Oslo") + "\n" + param("unit", "f") + "\n" + tail)
    assert not pattern.fullmatch(param("days", 3) + "\n" + tail)  # city is required
    assert not pattern.fullmatch(param("city", "Oslo") + "\n" + param("days", "3") + "\n" + tail)  # string="true"
    assert not pattern.fullmatch(param("city", "Oslo") + "\n" + param("unit", "k") + "\n" + tail)
    msg = adapter.parser([weather]).parse(found.prefill + good)
    assert [(c.name, json.loads(c.arguments), c.outcome) for c in msg.tool_calls] == [
        ("get_weather", {"city": "Köln am Rhein", "days": 3}, Outcome.PARSED)
    ]
    assert msg.content == "" and msg.reasoning == ""


def test_required_among_tools_names_one_and_types_its_parameters() -> None:
    found = DeepSeekV32Adapter().constraint(RENDER_TOOLS, ToolChoice("required"), parallel_tool_calls=False)
    assert found is not None and found.prefill.endswith(f'{INVOKE} name="')
    pattern = re.compile(found.structured_outputs["regex"])
    tail = f"{INVOKE_END}\n{CALLS_END}"
    assert pattern.fullmatch('get_time">\n\n' + tail)
    assert pattern.fullmatch('get_weather">\n' + param("city", "Oslo") + "\n" + tail)
    assert not pattern.fullmatch('get_weather">\n\n' + tail)
    assert not pattern.fullmatch('rm">\n\n' + tail)


@pytest.mark.parametrize("mode", ["auto", "none"])
def test_no_constraint_unless_forced(mode: str) -> None:
    assert DeepSeekV32Adapter().constraint(RENDER_TOOLS, ToolChoice(mode)) is None  # type: ignore[arg-type]


# --------------------------------------------------------------------------- vendor parser expectations

VLLM = "vllm tests/tool_parsers/test_deepseekv32_tool_parser.py"
SGLANG = "sglang test/registered/function_call/test_function_call_parser.py (TestDeepSeekV32Detector)"
FC_START, FC_END = CALLS_BEGIN, CALLS_END
INV_START, PARAM_START, PARAM_END = f'{INVOKE} name="', f'<{DSML}parameter name="', f"</{DSML}parameter>"


def build_tool_call(func_name: str, params: dict[str, str]) -> str:
    """vLLM's test helper: string parameters, written without newlines between them."""
    strs = "".join(f'{PARAM_START}{k}" string="true">{v}{PARAM_END}' for k, v in params.items())
    return f'{FC_START}\n{INV_START}{func_name}">\n{strs}\n{INVOKE_END}\n{FC_END}'


def block(name: str, *params: tuple[str, str, str]) -> str:
    """One call in vLLM's tests' layout with (key, string attribute, text) parameters."""
    lines = "".join(f'{PARAM_START}{k}" string="{s}">{v}{PARAM_END}\n' for k, s, v in params)
    return f'{FC_START}\n{INV_START}{name}">\n{lines}{INVOKE_END}\n{FC_END}'


def tool(name: str, **props: Any) -> ToolSpec:
    return ToolSpec(name, "", {"type": "object", "properties": props})


@dataclass(frozen=True)
class Expect:
    source: str
    text: str
    calls: list[tuple[str, Any]]
    content: str | None = None  # None: not asserted
    tools: tuple[ToolSpec, ...] = ()
    differs: str = ""  # why toolrelay's answer differs from the vendor's, which then is not compared


S = {"type": "string"}
SEARCH = tool("search", query=S, topn={"type": "integer"}, source={"type": "string", "enum": ["web", "news"]})
SPOT = tool("get_favorite_tourist_spot", city=S)
GENERIC = (
    tool("get_time"),
    tool("get_weather", location=S, date=S),
    tool("fn_a"),
    tool("fn_b"),
    tool("func_a"),
    tool("func_b"),
    tool("fn"),
    tool("my_func"),
    tool("get_date"),
)
TIMER = tool(
    "set_timer",
    wait={
        "anyOf": [
            {"type": "object", "properties": {"type": {"const": "until"}, "date": S}},
            {"type": "object", "properties": {"type": {"const": "for"}, "minutes": {"type": "number"}}},
        ]
    },
    patches={"oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "null"}]},
)
COERCE = tool(
    "coerce",
    union_value={"type": ["null", "string"]},
    bad_int={"type": "integer"},
    nullable_string={"type": ["null", "string"]},
    null_string=S,
    whole_number={"type": "number"},
)

EXPECTED: dict[str, Expect] = {
    "vllm_no_tool_call": Expect(VLLM, "just some text", [], "just some text"),
    "vllm_single_tool_no_params": Expect(
        VLLM, f'{FC_START}\n{INV_START}get_time">\n{INVOKE_END}\n{FC_END}', [("get_time", {})], ""
    ),
    "vllm_single_tool_with_params": Expect(
        VLLM, build_tool_call("get_weather", {"location": "SF", "date": "2024-01-16"}),
        [("get_weather", {"location": "SF", "date": "2024-01-16"})], "",
    ),
    "vllm_content_before_tool_call": Expect(
        VLLM, "Sure, let me check! " + build_tool_call("get_weather", {"location": "NYC"}),
        [("get_weather", {"location": "NYC"})], "Sure, let me check! ",
    ),
    "vllm_multiple_tools": Expect(
        VLLM,
        f"{FC_START}\n{INV_START}get_weather\">\n{PARAM_START}location\" string=\"true\">SF{PARAM_END}\n{INVOKE_END}\n"
        f"{INV_START}get_weather\">\n{PARAM_START}location\" string=\"true\">NYC{PARAM_END}\n{INVOKE_END}\n{FC_END}",
        [("get_weather", {"location": "SF"}), ("get_weather", {"location": "NYC"})],
    ),
    "vllm_type_conversion": Expect(
        VLLM, block("toggle", ("enabled", "false", "true"), ("count", "false", "42")),
        [("toggle", {"enabled": True, "count": 42})],
        tools=(tool("toggle", enabled={"type": "boolean"}, count={"type": "integer"}),),
    ),
    "vllm_string_attr_true_coerced_by_schema": Expect(
        VLLM, block("score", ("value", "true", "42")), [("score", {"value": 42})],
        tools=(tool("score", value={"type": "integer"}),),
    ),
    "vllm_string_attr_false_allows_schema_conversion": Expect(
        VLLM, block("score", ("value", "false", "42")), [("score", {"value": 42})],
        tools=(tool("score", value={"type": "integer"}),),
    ),
    "vllm_composed_schema_object_and_array": Expect(
        VLLM,
        block("set_timer", ("wait", "false", '{"type":"for","minutes":2880}'),
              ("patches", "false", '[{"op":"replace","path":"/schedule","value":"quiet"}]')),
        [("set_timer", {"wait": {"type": "for", "minutes": 2880},
                        "patches": [{"op": "replace", "path": "/schedule", "value": "quiet"}]})],
        tools=(TIMER,),
    ),
    "vllm_object_and_array_params": Expect(
        VLLM, block("update", ("tags", "false", '["a", "b"]'), ("meta", "false", '{"k": 1}')),
        [("update", {"tags": ["a", "b"], "meta": {"k": 1}})],
        tools=(tool("update", tags={"type": "array"}, meta={"type": "object"}),),
    ),
    "vllm_number_param": Expect(
        VLLM, block("measure", ("ratio", "false", "3.14"), ("whole", "false", "5.0")),
        [("measure", {"ratio": 3.14, "whole": 5})],
        tools=(tool("measure", ratio={"type": "number"}, whole={"type": "number"}),),
    ),
    "vllm_multi_typed_schema": Expect(
        VLLM, block("set_val", ("count", "false", "42"), ("label", "false", "hello")),
        [("set_val", {"count": 42, "label": "hello"})],
        tools=(tool("set_val", count={"type": ["integer", "null"]}, label={"type": ["string", "null"]}),),
    ),
    "vllm_multi_typed_null_value": Expect(
        VLLM, block("clear", ("value", "false", "null")), [("clear", {"value": None})],
        tools=(tool("clear", value={"type": ["integer", "null"]}),),
    ),
    "vllm_null_coerced_back_to_string_by_schema": Expect(
        VLLM, block("echo", ("text", "false", "null")), [("echo", {"text": "null"})], tools=(tool("echo", text=S),)
    ),
    "vllm_conversion_fallbacks": Expect(
        VLLM,
        block("coerce", ("union_value", "false", "hello"), ("bad_int", "false", "abc"),
              ("nullable_string", "false", "null"), ("null_string", "false", "null"), ("whole_number", "false", "3.0")),
        [("coerce", {"union_value": "hello", "bad_int": "abc", "nullable_string": None, "null_string": "null",
                     "whole_number": 3})],
        tools=(COERCE,),
    ),
    "vllm_long_string_argument": Expect(
        VLLM, block("emit", ("text", "true", "A" * 4096)), [("emit", {"text": "A" * 4096})],
        tools=(tool("emit", text=S),),
    ),
    "vllm_multiple_tools_streaming": Expect(
        VLLM,
        f"{FC_START}\n{INV_START}func_a\">\n{PARAM_START}p\" string=\"true\">v1{PARAM_END}\n{INVOKE_END}\n"
        f"{INV_START}func_b\">\n{PARAM_START}q\" string=\"true\">v2{PARAM_END}\n{INVOKE_END}\n{FC_END}",
        [("func_a", {"p": "v1"}), ("func_b", {"q": "v2"})],
    ),
    "vllm_false_partial_marker": Expect(VLLM, "<｜DSM some regular text", [], "<｜DSM some regular text"),
    "vllm_no_marker_leak_with_prefix": Expect(
        VLLM, "Hello!" + build_tool_call("fn", {"a": "b"}), [("fn", {"a": "b"})], "Hello!"
    ),
    "vllm_delimiter_preserved": Expect(
        VLLM, "Here is the weather: " + build_tool_call("get_weather", {"location": "Tokyo"}),
        [("get_weather", {"location": "Tokyo"})], "Here is the weather: ",
    ),
    "sglang_xml_format": Expect(
        SGLANG,
        "I'll help you with information about San Francisco and get its favorite tourist spot for you.\n\n\n"
        f"        {FC_START}\n\n            {INV_START}get_favorite_tourist_spot\">\n\n"
        f"                {PARAM_START}city\" string=\"true\">San Francisco{PARAM_END}\n\n            {INVOKE_END}\n\n"
        f"            {INV_START}search\">\n"
        f"                {PARAM_START}query\" string=\"true\">WebNav benchmark{PARAM_END}\n"
        f"                {PARAM_START}topn\" string=\"false\">10{PARAM_END}\n"
        f"                {PARAM_START}source\" string=\"true\">web{PARAM_END}\n            {INVOKE_END}\n"
        f"        {FC_END}\n        ",
        [("get_favorite_tourist_spot", {"city": "San Francisco"}),
         ("search", {"query": "WebNav benchmark", "topn": 10, "source": "web"})],
        "I'll help you with information about San Francisco and get its favorite tourist spot for you.",
        tools=(SEARCH, SPOT),
    ),
    "sglang_json_format": Expect(
        SGLANG,
        "I'll help you.\n\n        " + FC_START + "\n            " + INV_START + 'get_favorite_tourist_spot">\n'
        '            {\n                "city": "San Francisco"\n            }\n        ' + INVOKE_END + "\n"
        "            " + INV_START + 'search">\n            {\n                "query": "WebNav benchmark",\n'
        '                "topn": 10,\n                "source": "web"\n            }\n        ' + INVOKE_END + "\n"
        "        " + FC_END + "\n        ",
        [("get_favorite_tourist_spot", {"city": "San Francisco"}),
         ("search", {"query": "WebNav benchmark", "topn": 10, "source": "web"})],
        "I'll help you.",
        tools=(SEARCH, SPOT),
    ),
    "sglang_streaming_xml_format": Expect(
        SGLANG,
        f"{FC_START}\n            {INV_START}get_favorite_tourist_spot\">\n"
        f"                {PARAM_START}city\" string=\"true\">San Francisco{PARAM_END}\n"
        f"                {PARAM_START}another_city\" string=\"true\">London{PARAM_END}\n"
        f"                {PARAM_START}topn\" string=\"false\">10{PARAM_END}\n"
        f'                {PARAM_START}obj" string="false">{{"name": "John", "age": 30}}{PARAM_END}\n'
        f"            {INVOKE_END}\n        {FC_END}",
        [("get_favorite_tourist_spot",
          {"city": "San Francisco", "another_city": "London", "topn": 10, "obj": {"name": "John", "age": 30}})],
        tools=(SEARCH, SPOT),
    ),
    "sglang_no_parameters": Expect(
        SGLANG, f"Let me get the current date for you.\n\n{FC_START}\n{INV_START}get_date\">\n{INVOKE_END}\n{FC_END}",
        [("get_date", {})], "Let me get the current date for you.",
    ),
    "sglang_no_parameters_with_whitespace": Expect(
        SGLANG, f"{FC_START}\n{INV_START}get_date\">\n\n{INVOKE_END}\n{FC_END}", [("get_date", {})]
    ),
    # ---- where toolrelay decides otherwise (the case asserts toolrelay's own answer)
    "vllm_string_attr_true_coerced_by_composed_schema": Expect(
        VLLM, block("set_timer", ("wait", "true", '{"type":"for","minutes":2880}')),
        [("set_timer", {"wait": '{"type":"for","minutes":2880}'})],
        tools=(tool("set_timer", wait={"anyOf": [{"type": "object"}, {"type": "null"}]}),),
        differs="vLLM reads anyOf to turn the string into an object; toolrelay's coercion leaves anyOf alone "
        "(ambiguous in general), so a value the model marked string stays a string",
    ),
    "vllm_arguments_wrapper_repaired": Expect(
        VLLM, block("get_weather", ("arguments", "false", '{"location":"Beijing"}')),
        [("get_weather", {"arguments": {"location": "Beijing"}})],
        tools=(tool("get_weather", location=S),),
        differs="vLLM unwraps a lone 'arguments' parameter; toolrelay keeps the parameters as written",
    ),
    "vllm_input_wrapper_repaired": Expect(
        VLLM, block("get_weather", ("input", "true", '{"location":"Beijing"}')),
        [("get_weather", {"input": '{"location":"Beijing"}'})],
        tools=(tool("get_weather", location=S),),
        differs="vLLM unwraps a lone 'input' parameter; toolrelay keeps the parameters as written",
    ),
    "vllm_no_schema_parses_json": Expect(
        VLLM, block("unknown_fn", ("count", "false", "42"), ("flag", "false", "true")), [],
        differs="vLLM returns calls to tools nobody offered; toolrelay rejects them (dropped, text kept as content)",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vendor_parser_expectations(name: str) -> None:
    case = EXPECTED[name]
    msg = DeepSeekV32Adapter().parser(list(case.tools or GENERIC)).parse(case.text)
    assert [(c.name, json.loads(c.arguments)) for c in msg.tool_calls] == case.calls
    if case.content is not None:
        # whitespace next to a call is layout for toolrelay (dropped); vLLM keeps the space before it
        assert msg.content == case.content.strip()


def test_unknown_tool_keeps_its_text() -> None:
    msg = DeepSeekV32Adapter().parser(list(GENERIC)).parse(EXPECTED["vllm_no_schema_parses_json"].text)
    assert [(r.name, r.outcome) for r in msg.rejected] == [("unknown_fn", Outcome.DROPPED)]
    assert 'name="unknown_fn"' in msg.content


def test_conformance_helpers_write_what_the_encoding_writes() -> None:
    # the conformance cases build calls with these helpers: they must match the published layout
    text = calls(invoke("get_datetime", param("timezone", "America/New_York")))
    assert text + EOS in PUBLISHED
