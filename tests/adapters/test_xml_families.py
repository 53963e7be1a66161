"""qwen3_coder, glm47 and minimax_m2 specifics: schema-typed values, forced-call constraints read back
by the family's own parser and accepted by a real structured-output engine, history round trips,
thinking switches. (The shared suite, golden prompts, vendor-template and vLLM-test oracles are
elsewhere.)"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import REGISTRY
from adapters.base import Adapter, CallRecord, Message, Outcome, ToolChoice
from adapters.glm47 import Glm47Adapter
from adapters.minimax_m2 import MiniMaxM2Adapter
from adapters.xmlcalls import text_without, typed_value
from tests.adapters.conformance import RENDER_TOOLS
from tests.adapters.test_schema_regex import _engine_accepts, _grammar
from tests.adapters.test_vendor_templates import BOOK, BOOK_ARGS

REQUIRED = ToolChoice("required")
NAMED = ToolChoice("required", "get_weather")
FAMILIES = ["qwen3_coder", "glm47", "minimax_m2"]


# --------------------------------------------------------------------------- values


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["</parameter>", "</arg_value>", "</a"]), st.data())
def test_text_without_is_exactly_the_texts_lacking_the_word(word: str, data: st.DataObject) -> None:
    alphabet = sorted(set(word)) + ["x", "\n"]
    pieces = data.draw(st.lists(st.one_of(st.sampled_from(alphabet), st.sampled_from([word, word[:-1]])), max_size=8))
    text = "".join(pieces)
    assert (re.fullmatch(text_without(word), text) is not None) == (word not in text)


def test_text_without_refuses_words_it_cannot_express() -> None:
    with pytest.raises(ValueError):
        text_without("<a<")  # the first character recurs: the one-loop automaton would be wrong


@pytest.mark.parametrize(
    ("text", "schema", "untyped", "value"),
    [
        ("007", {"type": "string"}, "json", "007"),
        ("null", {"type": "string"}, "json", "null"),  # null only where the schema allows it
        ("null", {"anyOf": [{"type": "string"}, {"type": "null"}]}, "text", None),
        ("None", {"type": ["integer", "null"]}, "text", None),  # Qwen3-Coder's history writes str(None)
        ("5", {"anyOf": [{"type": "integer"}, {"type": "null"}]}, "text", 5),
        ("5", {"anyOf": [{"type": "string"}, {"type": "integer"}]}, "text", "5"),
        ("celsius", {"enum": ["celsius", "fahrenheit"]}, "text", "celsius"),
        ("[1, 2]", {"type": "array"}, "text", [1, 2]),
        ("NaN", {"type": "number"}, "json", "NaN"),  # not JSON: left for the finaliser to judge
        ("12", None, "json", 12),  # glm: a key without a schema is read as JSON
        ("12", None, "text", "12"),  # qwen3_coder, minimax_m2: it stays text, as in vLLM
    ],
)
def test_values_are_typed_by_the_schema(text: str, schema: Any, untyped: Any, value: Any) -> None:
    assert typed_value(text, schema, untyped) == value


# --------------------------------------------------------------------------- constraints

# after the prefill: a good output, and the same output badly typed (or missing a required key)
FORCED: list[tuple[str, Adapter, ToolChoice, str, str]] = [
    (
        "qwen3_coder-named",
        REGISTRY["qwen3_coder"],
        NAMED,
        "<parameter=city>\nif a < b: print('</p>')\n</parameter>\n<parameter=unit>\ncelsius\n</parameter>\n"
        "</function>\n</tool_call>",
        "<parameter=unit>\ncelsius\n</parameter>\n</function>\n</tool_call>",
    ),
    (
        "qwen3_coder-required",
        REGISTRY["qwen3_coder"],
        REQUIRED,
        "get_time>\n</function>\n</tool_call>",
        "get_weather>\n<parameter=unit>\nkelvin\n</parameter>\n</function>\n</tool_call>",
    ),
    (
        "glm47-named",
        REGISTRY["glm47"],
        NAMED,
        "<arg_key>city</arg_key><arg_value>Oslo <3</arg_value></tool_call>",
        "<arg_key>city</arg_key><arg_value>Oslo</arg_value><arg_key>unit</arg_key><arg_value>K</arg_value>"
        "</tool_call>",
    ),
    (
        "glm46-required",
        Glm47Adapter(dialect="4.6"),
        REQUIRED,
        "get_weather\n<arg_key>city</arg_key>\n<arg_value>Oslo</arg_value>\n</tool_call>",
        "rm\n</tool_call>",
    ),
    (
        "minimax_m2-named",
        REGISTRY["minimax_m2"],
        NAMED,
        '<parameter name="city">Köln</parameter>\n</invoke>\n</minimax:tool_call>',
        '<parameter name="city">Köln</parameter>\n<parameter name="unit">hot</parameter>\n</invoke>\n'
        "</minimax:tool_call>",
    ),
    (
        "minimax_m2-required",
        REGISTRY["minimax_m2"],
        REQUIRED,
        'get_weather">\n<parameter name="city">Paris</parameter>\n<parameter name="unit">celsius</parameter>\n'
        "</invoke>\n</minimax:tool_call>",
        'get_weather">\n</invoke>\n</minimax:tool_call>',
    ),
]


@pytest.mark.parametrize(("label", "adapter", "choice", "good", "bad"), FORCED, ids=[f[0] for f in FORCED])
def test_constraint_forces_what_the_parser_reads(
    label: str, adapter: Adapter, choice: ToolChoice, good: str, bad: str
) -> None:
    found = adapter.constraint(RENDER_TOOLS, choice, parallel_tool_calls=False)
    assert found is not None and set(found.structured_outputs) == {"regex"}
    pattern = found.structured_outputs["regex"]
    assert re.fullmatch(pattern, good) and not re.fullmatch(pattern, bad)
    grammar = _grammar(found)  # vLLM's guidance backend (llguidance) takes the same regex
    assert _engine_accepts(grammar, good) and not _engine_accepts(grammar, bad)
    msg = adapter.parser(RENDER_TOOLS).parse(found.prefill + good)
    assert len(msg.tool_calls) == 1 and msg.tool_calls[0].outcome == Outcome.PARSED
    assert msg.content == "" and msg.reasoning == "" and not msg.rejected
    if choice.name is not None:
        assert msg.tool_calls[0].name == choice.name


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("choice", [ToolChoice("auto"), ToolChoice("none")])
def test_auto_and_none_are_not_constrained(family: str, choice: ToolChoice) -> None:
    assert REGISTRY[family].constraint(RENDER_TOOLS, choice) is None


def test_forced_prefills_close_the_reasoning_the_prompt_opened() -> None:
    def prefill(adapter: Adapter) -> str:
        found = adapter.constraint(RENDER_TOOLS, ToolChoice("required", "get_time"))
        assert found is not None
        return found.prefill

    assert prefill(Glm47Adapter()) == "</think><tool_call>get_time"
    assert prefill(Glm47Adapter(thinking=False)) == "<tool_call>get_time"
    assert prefill(Glm47Adapter(dialect="4.6")) == "\n<think></think>\n<tool_call>get_time\n"
    assert prefill(MiniMaxM2Adapter()) == '</think>\n\n<minimax:tool_call>\n<invoke name="get_time">\n'
    assert prefill(MiniMaxM2Adapter(reasoning_in_prompt=False)) == '<minimax:tool_call>\n<invoke name="get_time">\n'
    assert prefill(REGISTRY["qwen3_coder"]) == "<tool_call>\n<function=get_time>\n"


# --------------------------------------------------------------------------- history and prompts

# how to cut the last assistant turn out of a rendered history, and a parser reading it as output
TURNS: dict[str, tuple[str, str, Adapter]] = {
    "qwen3_coder": ("<|im_start|>assistant\n", "<|im_end|>", REGISTRY["qwen3_coder"]),
    "glm47": ("<|assistant|>", "<|observation|>", REGISTRY["glm47"]),
    "glm46": ("<|assistant|>", "<|observation|>", Glm47Adapter(dialect="4.6")),
    "minimax_m2": ("]~b]ai\n", "[e~[", MiniMaxM2Adapter(reasoning_in_prompt=False)),
}


@pytest.mark.parametrize("family", sorted(TURNS))
def test_history_renders_calls_the_way_the_parser_reads_them(family: str) -> None:
    start, end, adapter = TURNS[family]
    call = CallRecord("call_b", BOOK.name, BOOK_ARGS)
    history = [Message("user", "Book it."), Message("assistant", "Booking.", (call,))]
    prompt = adapter.render(history, [BOOK], ToolChoice(), add_generation_prompt=False)
    turn = prompt.rsplit(start, 1)[1].split(end, 1)[0]
    msg = adapter.parser([BOOK]).parse(turn)
    assert [(c.name, json.loads(c.arguments)) for c in msg.tool_calls] == [(BOOK.name, json.loads(BOOK_ARGS))]
    assert msg.content == "Booking."


def test_glm47_thinking_switches() -> None:
    hi = [Message("user", "Hi")]
    assert REGISTRY["glm47"].render(hi, [], ToolChoice()).endswith("<|user|>Hi<|assistant|><think>")
    assert Glm47Adapter(thinking=False).render(hi, [], ToolChoice()).endswith("<|assistant|></think>")
    assert Glm47Adapter(dialect="4.6", thinking=False).render(hi, [], ToolChoice()).endswith(
        "<|user|>\nHi/nothink<|assistant|>\n<think></think>"
    )
    # the 4.7 prompt opened the think block: the output starts inside it
    msg = REGISTRY["glm47"].parser(RENDER_TOOLS).parse("Greet.</think>Hello!")
    assert (msg.reasoning, msg.content) == ("Greet.", "Hello!")
    msg = Glm47Adapter(dialect="4.6").parser(RENDER_TOOLS).parse("\n<think>Greet.</think>\nHello!")
    assert (msg.reasoning, msg.content) == ("Greet.", "Hello!")


def test_minimax_keeps_reasoning_only_after_the_last_user_turn() -> None:
    calls = (CallRecord("call_t", "get_time", "{}"),)
    history = [
        Message("user", "Time?"),
        Message("assistant", "Noon.", reasoning="Old thought."),
        Message("user", "Again?"),
        Message("assistant", None, calls, reasoning="Call the clock."),
        Message("tool", "12:01", tool_call_id="call_t"),
    ]
    prompt = REGISTRY["minimax_m2"].render(history, RENDER_TOOLS, ToolChoice())
    assert "Old thought." not in prompt
    assert ']~b]ai\n<think>\nCall the clock.\n</think>\n\n<minimax:tool_call>\n<invoke name="get_time">' in prompt
    assert prompt.endswith("]~b]tool\n<response>12:01</response>[e~[\n]~b]ai\n<think>\n")
