"""kimi_k2 family specifics, against Moonshot's own templates and vLLM's/SGLang's parser tests.

Oracles (data, not code; sources and licences in ``tests/adapters/vendor/README.md``):

- prompts: every conversation below rendered by the bundled template equals the vendored official
  template (``tests/adapters/vendor/moonshotai-Kimi-K2-*.jinja``) rendered on the same messages
  (with the ids ``render`` gives them), K2-Instruct-0905 and K2-Thinking both;
- parses: the raw model texts of vLLM's ``tests/tool_parsers/test_kimi_k2_tool_parser.py`` and
  SGLang's ``TestKimiK2Detector`` parse to the calls those tests assert. Where toolrelay decides
  otherwise by design, the case says why and asserts what toolrelay does instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.base import CallRecord, Message, Outcome, ParsedMessage, ToolChoice, ToolSpec
from adapters.kimi_k2 import (
    ARG_BEGIN,
    CALL_BEGIN,
    CALL_END,
    SECTION_BEGIN,
    SECTION_END,
    KimiK2Adapter,
    renumber_calls,
)
from adapters.render import render_with_template
from tests.adapters.conformance import RENDER_SCENARIOS, RENDER_TOOLS

VENDOR = Path(__file__).parent / "vendor"
OFFICIAL = {
    False: (VENDOR / "moonshotai-Kimi-K2-Instruct-0905.jinja").read_text(encoding="utf-8"),
    True: (VENDOR / "moonshotai-Kimi-K2-Thinking.jinja").read_text(encoding="utf-8"),
}
WEATHER, CLOCK = RENDER_TOOLS

# --------------------------------------------------------------------------- prompts


def _loop() -> list[Message]:
    """Two user questions, a tool loop each, reasoning on every assistant turn (interleaved)."""
    return [
        Message("system", "Be brief."),
        Message("user", "Weather in Paris?"),
        Message(
            "assistant",
            "Checking.",
            (CallRecord("call_1", "get_weather", '{"city": "Paris"}'),),
            reasoning="I need the weather tool.",
        ),
        Message("tool", '{"temp": 21}', tool_call_id="call_1", name="get_weather"),
        Message("assistant", "21 C in Paris.", reasoning="The tool said 21."),
        Message("user", "And the time, and Oslo?"),
        Message(
            "assistant",
            None,
            (
                CallRecord("call_2", "get_time", "{}"),
                CallRecord("call_3", "get_weather", '{"city": "Oslo", "unit": "celsius"}'),
            ),
            reasoning="Two calls at once.",
        ),
        Message("tool", "12:00", tool_call_id="call_2"),
        Message("tool", '{"temp": 5}', tool_call_id="call_3"),
    ]


CONVERSATIONS: dict[str, tuple[list[Message], list[ToolSpec]]] = {
    name: (s.messages, s.tools) for name, s in RENDER_SCENARIOS.items() if s.tool_choice.mode == "auto"
}
CONVERSATIONS["interleaved_tool_loops"] = (_loop(), RENDER_TOOLS)
CONVERSATIONS["loop_then_answer"] = ([*_loop(), Message("assistant", "12:00; 5 C in Oslo.", reasoning="Done.")], [])
CONVERSATIONS["named_tool_turns"] = (
    [Message("user", "Hi", name="ana"), Message("assistant", "Hello ana.", name="kimi"), Message("user", "Time?")],
    [CLOCK],
)


@pytest.mark.parametrize("thinking", [False, True], ids=["instruct_0905", "thinking"])
@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
def test_prompt_equals_the_official_template(conversation: str, thinking: bool) -> None:
    messages, tools = CONVERSATIONS[conversation]
    ours = KimiK2Adapter(thinking=thinking).render(messages, tools, ToolChoice())
    theirs = render_with_template(OFFICIAL[thinking], renumber_calls(messages), tools, add_generation_prompt=True)
    assert ours == theirs


def test_ids_are_renumbered_across_the_conversation_and_results_follow() -> None:
    prompt = KimiK2Adapter(thinking=True).render(_loop(), RENDER_TOOLS, ToolChoice())
    ids = re.findall(r"<\|tool_call_begin\|>(.*?)<\|tool_call_argument_begin\|>", prompt)
    assert ids == ["functions.get_weather:0", "functions.get_time:1", "functions.get_weather:2"]
    assert re.findall(r"## Return of (\S+)", prompt) == ids
    assert "call_1" not in prompt and "call_3" not in prompt


def test_a_result_answers_the_latest_call_with_its_id() -> None:
    # a client that reuses an id across turns (some SDKs count from 0 per turn)
    turn = [
        Message("user", "a"),
        Message("assistant", None, (CallRecord("0", "get_time", "{}"),)),
        Message("tool", "1", tool_call_id="0"),
        Message("user", "b"),
        Message("assistant", None, (CallRecord("0", "get_time", "{}"),)),
        Message("tool", "2", tool_call_id="0"),
    ]
    returns = [m.tool_call_id for m in renumber_calls(turn) if m.role == "tool"]
    assert returns == ["functions.get_time:0", "functions.get_time:1"]


def test_thinking_keeps_reasoning_only_after_the_last_plain_reply() -> None:
    prompt = KimiK2Adapter(thinking=True).render(_loop(), RENDER_TOOLS, ToolChoice())
    assert "<think></think>Checking." in prompt and "I need the weather tool." not in prompt
    assert "<think></think>21 C in Paris." in prompt
    assert "<think>Two calls at once.</think><|tool_calls_section_begin|>" in prompt
    instruct = KimiK2Adapter().render(_loop(), RENDER_TOOLS, ToolChoice())
    assert "<think>" not in instruct


def test_forced_choice_adds_the_instruction_to_the_default_system_turn() -> None:
    prompt = KimiK2Adapter().render([Message("user", "Time?")], [CLOCK], ToolChoice("required", "get_time"))
    assert "<|im_system|>system<|im_middle|>You are Kimi, an AI assistant created by Moonshot AI.\n\nYou must call" in (
        prompt
    )


def test_a_models_own_template_gets_renumbered_ids_too() -> None:
    own = KimiK2Adapter(chat_template=OFFICIAL[True])
    ours = KimiK2Adapter(thinking=True)
    assert own.render(_loop(), RENDER_TOOLS, ToolChoice()) == ours.render(_loop(), RENDER_TOOLS, ToolChoice())


# --------------------------------------------------------------------------- parser: ids and reasoning


def parse(text: str, tools: list[ToolSpec] | None = None, **kwargs: Any) -> ParsedMessage:
    return KimiK2Adapter(**kwargs).parser(tools if tools is not None else RENDER_TOOLS).parse(text)


def call(head: str, args: str) -> str:
    return f"{CALL_BEGIN}{head}{ARG_BEGIN}{args}{CALL_END}"


def test_ids_are_the_ones_written_and_stay_unique() -> None:
    text = SECTION_BEGIN + call("functions.get_time:4", "{}") + call("functions.get_time:4", "{}")
    text += call("get_weather:1", '{"city": "Rome"}') + call("functions.get_time", "{}") + SECTION_END
    ids = [c.id for c in parse(text).tool_calls]
    assert ids == ["functions.get_time:4", "functions.get_time:5", "functions.get_weather:1", "functions.get_time:6"]


def test_k2_thinking_output_splits_reasoning_from_the_calls() -> None:
    text = "<think>Let me look it up.</think>One moment." + SECTION_BEGIN + call("functions.get_time:0", "{}")
    msg = parse(text + SECTION_END, thinking=True)
    assert (msg.reasoning, msg.content, [c.name for c in msg.tool_calls]) == (
        "Let me look it up.",
        "One moment.",
        ["get_time"],
    )


# --------------------------------------------------------------------------- constraint


@pytest.mark.parametrize("thinking", [False, True])
def test_named_constraint_lets_the_model_count_and_types_the_arguments(thinking: bool) -> None:
    adapter = KimiK2Adapter(thinking=thinking)
    found = adapter.constraint(RENDER_TOOLS, ToolChoice("required", "get_weather"))
    assert found is not None
    assert found.prefill.endswith(SECTION_BEGIN + CALL_BEGIN + "functions.get_weather:")
    assert found.prefill.startswith("<think></think>") == thinking
    pattern = re.compile(found.structured_outputs["regex"])
    good = "3" + ARG_BEGIN + '{"city": "Oslo", "unit": "celsius"}' + CALL_END + SECTION_END
    assert pattern.fullmatch(good)
    assert not pattern.fullmatch("3" + ARG_BEGIN + '{"unit": "celsius"}' + CALL_END + SECTION_END)
    assert not pattern.fullmatch("x" + ARG_BEGIN + '{"city": "Oslo"}' + CALL_END + SECTION_END)
    msg = adapter.parser(RENDER_TOOLS).parse(found.prefill + good)
    assert [(c.id, c.name, json.loads(c.arguments), c.outcome) for c in msg.tool_calls] == [
        ("functions.get_weather:3", "get_weather", {"city": "Oslo", "unit": "celsius"}, Outcome.PARSED)
    ]
    assert msg.content == "" and msg.reasoning == ""


def test_required_among_tools_picks_one_typed_call() -> None:
    found = KimiK2Adapter().constraint(RENDER_TOOLS, ToolChoice("required"), parallel_tool_calls=False)
    assert found is not None and found.prefill.endswith("functions.")
    pattern = re.compile(found.structured_outputs["regex"])
    tail = CALL_END + SECTION_END
    assert pattern.fullmatch("get_time:0" + ARG_BEGIN + "{}" + tail)
    assert pattern.fullmatch("get_weather:12" + ARG_BEGIN + '{"city": "Oslo"}' + tail)
    assert not pattern.fullmatch("get_weather:0" + ARG_BEGIN + '{"unit": "celsius"}' + tail)  # no city
    assert not pattern.fullmatch("rm:0" + ARG_BEGIN + "{}" + tail)


@pytest.mark.parametrize("mode", ["auto", "none"])
def test_no_constraint_unless_forced(mode: str) -> None:
    assert KimiK2Adapter().constraint(RENDER_TOOLS, ToolChoice(mode)) is None  # type: ignore[arg-type]


# --------------------------------------------------------------------------- vendor parser expectations

VLLM = "vllm tests/tool_parsers/test_kimi_k2_tool_parser.py"
SGLANG = "sglang test/registered/function_call/test_function_call_parser.py (TestKimiK2Detector)"


def _tool(tool_name: str, **props: str) -> ToolSpec:
    return ToolSpec(tool_name, "", {"type": "object", "properties": {k: {"type": t} for k, t in props.items()}})


# the tools the vendor tests' outputs name (vLLM's parser accepts any name; toolrelay only offered ones)
VENDOR_TOOLS = [
    _tool("get_weather", city="string", unit="string"),
    _tool("get_news", topic="string"),
    _tool("send_email", to="string", subject="string"),
    _tool("process_html", html="string"),
    _tool("process_data", name="string", value="integer"),
    _tool("test"),
    _tool("bad", city="string"),
    _tool("good", city="string"),
    _tool("valid", city="string"),
    _tool("get_tourist_attractions", city="string"),
    _tool("get_current_weather", location="string"),
]


def vllm_tool(tool_id: str, args: str) -> str:
    """vLLM's test helper writes a space after the id."""
    return f"{CALL_BEGIN}{tool_id} {ARG_BEGIN}{args}{CALL_END}"


def wrap(*calls: str) -> str:
    return SECTION_BEGIN + "".join(calls) + SECTION_END


@dataclass(frozen=True)
class Expect:
    source: str
    text: str
    calls: list[tuple[str, Any]]  # (name, arguments as parsed JSON; None: not asserted)
    content: str | None = None  # None: not asserted
    ids: list[str] | None = None
    tools: list[ToolSpec] | None = None
    differs: str = ""  # why toolrelay's answer differs from the vendor's, which then is not compared


WEATHER_ONLY = [_tool("get_weather", city="string", unit="string")]
READ_FILE = _tool("read_file", path="string")
BOOK_FLIGHT = _tool("book_flight", city="string")

EXPECTED: dict[str, Expect] = {
    "vllm_no_tools": Expect(VLLM, "This is a test", [], "This is a test"),
    "vllm_single_tool_call": Expect(
        VLLM, "I'll check. " + wrap(vllm_tool("functions.get_weather:0", '{"city": "Beijing"}')),
        [("get_weather", {"city": "Beijing"})], "I'll check. ",
    ),
    "vllm_parallel_tool_calls": Expect(
        VLLM,
        "Compare weather. "
        + wrap(
            vllm_tool("functions.get_weather:0", '{"city": "Beijing"}'),
            vllm_tool("functions.get_weather:1", '{"city": "Shanghai"}'),
        ),
        [("get_weather", {"city": "Beijing"}), ("get_weather", {"city": "Shanghai"})], "Compare weather. ",
    ),
    "vllm_three_tool_calls": Expect(
        VLLM,
        "Multiple tasks. "
        + wrap(
            vllm_tool("functions.get_weather:0", '{"city": "New York"}'),
            vllm_tool("functions.get_news:1", '{"topic": "technology"}'),
            vllm_tool("functions.send_email:2", '{"to": "user@example.com", "subject": "Daily Update"}'),
        ),
        [
            ("get_weather", {"city": "New York"}),
            ("get_news", {"topic": "technology"}),
            ("send_email", {"to": "user@example.com", "subject": "Daily Update"}),
        ],
        "Multiple tasks. ",
    ),
    "vllm_angle_brackets_in_json": Expect(
        VLLM, "Process HTML. " + wrap(vllm_tool("functions.process_html:0", '{"html": "<div>content</div>"}')),
        [("process_html", {"html": "<div>content</div>"})], "Process HTML. ",
    ),
    "vllm_multiline_json": Expect(
        VLLM, "Formatted. " + wrap(vllm_tool("functions.process_data:0", '{\n  "name": "test",\n  "value": 123\n}')),
        [("process_data", {"name": "test", "value": 123})], "Formatted. ",
    ),
    "vllm_no_functions_prefix": Expect(
        VLLM, "No prefix. " + wrap(vllm_tool("get_weather:0", '{"city": "Tokyo"}')),
        [("get_weather", {"city": "Tokyo"})], "No prefix. ",
    ),
    "vllm_empty_arguments": Expect(
        VLLM, "Empty args. " + wrap(vllm_tool("functions.test:0", "{}")), [("test", {})], "Empty args. "
    ),
    "vllm_native_id_extracted": Expect(
        VLLM, "Checking weather. " + wrap(vllm_tool("functions.get_weather:0", '{"city": "Tokyo"}')),
        [("get_weather", {"city": "Tokyo"})], ids=["functions.get_weather:0"],
    ),
    "vllm_multi_turn_native_id_continuity": Expect(
        VLLM, "Now let me get news. " + wrap(vllm_tool("functions.get_news:0", '{"topic": "weather in Beijing"}')),
        [("get_news", {"topic": "weather in Beijing"})], ids=["functions.get_news:0"],
    ),
    "vllm_bare_counter_multiple_tools_infers_by_args": Expect(
        VLLM, "Let me check. " + wrap(vllm_tool("0", json.dumps({"city": "Tokyo", "unit": "celsius"}))),
        [("get_weather", {"city": "Tokyo", "unit": "celsius"})], tools=[READ_FILE, *WEATHER_ONLY],
    ),
    "vllm_bare_counter_ambiguous_skipped": Expect(
        VLLM, "Let me check. " + wrap(vllm_tool("0", '{"city": "Tokyo"}')), [], tools=[*WEATHER_ONLY, BOOK_FLIGHT]
    ),
    "vllm_bare_counter_malformed_json_skipped": Expect(
        VLLM, "Let me check. " + wrap(vllm_tool("0", '{"city": "Tokyo"')), [], tools=[*WEATHER_ONLY, BOOK_FLIGHT]
    ),
    "vllm_empty_tool_section": Expect(VLLM, "Reasoning. " + SECTION_BEGIN + SECTION_END, []),
    "vllm_streaming_three_different_tools": Expect(
        VLLM,
        "Multiple tasks. "
        + wrap(
            vllm_tool("functions.get_weather:0", '{"city": "NYC"} '),
            vllm_tool("functions.get_news:1", '{"topic": "tech"} '),
            vllm_tool("functions.send_email:2", '{"to": "a@b.com"} '),
        ),
        [("get_weather", {"city": "NYC"}), ("get_news", {"topic": "tech"}), ("send_email", {"to": "a@b.com"})],
        ids=["functions.get_weather:0", "functions.get_news:1", "functions.send_email:2"],
    ),
    "sglang_single_tool_call": Expect(
        SGLANG, wrap(call("functions.get_weather:0", '{"city": "Paris"}')), [("get_weather", {"city": "Paris"})], ""
    ),
    "sglang_multiple_tool_calls": Expect(
        SGLANG,
        wrap(
            call("functions.get_weather:0", '{"city": "Paris"}'),
            call("functions.get_tourist_attractions:1", '{"city": "London"}'),
        ),
        [("get_weather", {"city": "Paris"}), ("get_tourist_attractions", {"city": "London"})], "",
    ),
    "sglang_mtp_complete_call_in_one_chunk": Expect(
        SGLANG,
        wrap(vllm_tool("functions.get_current_weather:0", '{"location": "杭州"}')),
        [("get_current_weather", {"location": "杭州"})],
    ),
    # ---- where toolrelay decides otherwise (the case asserts toolrelay's own answer)
    "vllm_invalid_json_still_extracted": Expect(
        VLLM,
        "Help. "
        + wrap(
            vllm_tool("functions.bad:0", '{"city": "Beijing"'),
            vllm_tool("functions.good:1", '{"city": "Shanghai"}'),
        ),
        [("bad", {"city": "Beijing"}), ("good", {"city": "Shanghai"})],
        differs="vLLM returns the broken arguments as written; toolrelay repairs them (outcome repaired)",
    ),
    "vllm_invalid_funcall_id_skipped": Expect(
        VLLM,
        "Help. "
        + wrap(
            vllm_tool("functions.invalid.0", '{"city": "Beijing"}'),
            vllm_tool("functions.valid:1", '{"city": "Shanghai"}'),
        ),
        [("valid", {"city": "Shanghai"})],
        "Help. " + vllm_tool("functions.invalid.0", '{"city": "Beijing"}'),
        differs="vLLM drops the call silently; toolrelay rejects it (no such tool) and keeps its text as content",
    ),
    "vllm_bare_counter": Expect(
        VLLM, "Let me check. " + wrap(vllm_tool("0", json.dumps({"city": "Tokyo", "unit": "celsius"}))),
        [("get_weather", {"city": "Tokyo", "unit": "celsius"})], ids=["functions.get_weather:0"], tools=WEATHER_ONLY,
        differs="vLLM returns the id '0' as written; toolrelay names it functions.get_weather:0 (Kimi's id form)",
    ),
    "vllm_truncated_tool_call_no_end_marker": Expect(
        VLLM, "I'll check. " + SECTION_BEGIN + CALL_BEGIN + "functions.get_weather:0 " + ARG_BEGIN + '{"city": "Bei',
        [("get_weather", {"city": "Bei"})], ids=["functions.get_weather:0"],
        differs="vLLM returns the cut-off arguments as written ('{\"city\": \"Bei'); toolrelay repairs them",
    ),
    "vllm_content_after_tool_section": Expect(
        VLLM, "Before. " + wrap(vllm_tool("functions.get_weather:0", '{"city": "Tokyo"} ')) + " After tools.",
        [("get_weather", {"city": "Tokyo"})], "Before.After tools.",
        differs="vLLM drops text after the section; toolrelay keeps it as content",
    ),
    "vllm_noise_between_markers": Expect(
        VLLM,
        "Reasoning. " + SECTION_BEGIN + " spurious noise " + vllm_tool("functions.test:0", '{"k": "v"} ') + SECTION_END,
        [("test", {"k": "v"})], "Reasoning.  spurious noise",
        differs="vLLM drops text inside the section; toolrelay keeps text that is not a call as content",
    ),
}  # fmt: skip


def _layout(content: str) -> str:
    # whitespace next to a call is layout for toolrelay (dropped); vLLM keeps the space before it
    return content.strip()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vendor_parser_expectations(name: str) -> None:
    case = EXPECTED[name]
    tools = case.tools if case.tools is not None else VENDOR_TOOLS
    msg = KimiK2Adapter().parser(tools).parse(case.text)
    assert [(c.name, json.loads(c.arguments)) for c in msg.tool_calls] == case.calls
    if case.content is not None:
        assert msg.content == _layout(case.content)
    if case.ids is not None:
        assert [c.id for c in msg.tool_calls] == case.ids


def vendor_counts() -> tuple[int, int]:
    """(vendor expectations toolrelay meets as they are, ones where it decides otherwise by design)."""
    differs = sum(1 for c in EXPECTED.values() if c.differs)
    return len(EXPECTED) - differs, differs
