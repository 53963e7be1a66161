"""``tool_choice: none``: call markup never reaches the client as text (adapters/no_calls.py)."""

from __future__ import annotations

import importlib
import random

import pytest

from adapters import REGISTRY
from adapters.base import ParsedMessage, TextDelta, ToolChoice, ToolSpec
from adapters.no_calls import TO_END_MARKERS, MarkupStripper, parser_for
from adapters.parsing import BlockParser
from tests.adapters.conformance import Case
from tests.adapters.tools_common import TOOLS

NONE = ToolChoice("none")
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def pieces(text: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(text):
        n = rng.randint(1, 12)
        out.append(text[i : i + n])
        i += n
    return out


def streamed(family: str, text: str, tools: list[ToolSpec], seed: int) -> ParsedMessage:
    parser = parser_for(REGISTRY[family], tools, NONE)
    events = [e for piece in pieces(text, seed) for e in parser.feed(piece)] + parser.finish()
    return ParsedMessage.from_events(events)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize(
    ("text", "content"),
    [
        # the markup goes, the text around it stays as written
        (f"It is sunny.\n{CALL}", "It is sunny.\n"),
        (f"{CALL}\nDone, it is sunny.", "Done, it is sunny."),
        (f"Before {CALL} between {CALL} after", "Before  between  after"),
        # unclosed, as when max_tokens cuts the block: dropped to the end
        ('Let me check. <tool_call>\n{"name": "get_weather", "argu', "Let me check. "),
        # hermes: a block the model forgot to close is ended by the next one
        ('<tool_call>\n{"name": "now"}\n<tool_call>\n{"name": "now"}\n</tool_call>ok', "ok"),
        # text that only looks like the start of a marker is text
        ("if a < b and b <tool then <tool_cal", "if a < b and b <tool then <tool_cal"),
    ],
)
def test_hermes_none_strips_call_blocks_in_any_chunking(text: str, content: str, seed: int) -> None:
    msg = streamed("hermes", text, TOOLS, seed)
    assert msg.tool_calls == [] and msg.rejected == []
    assert "<tool_call>" not in msg.content and "</tool_call>" not in msg.content
    assert msg.content == content


def test_without_the_wrapper_the_markup_would_come_back_as_text() -> None:
    # what the backend did before: the family's parser with no tools keeps the block as content
    msg = REGISTRY["hermes"].parser(()).parse(f"It is sunny.\n{CALL}")
    assert "<tool_call>" in msg.content


def test_none_never_emits_a_call_even_for_an_offered_tool() -> None:
    parser = parser_for(REGISTRY["hermes"], TOOLS, NONE)
    events = parser.feed(CALL) + parser.finish()
    assert parser.calls_emitted == 0
    assert all(isinstance(e, TextDelta) for e in events)


def test_auto_and_required_keep_the_family_parser() -> None:
    for mode in ("auto", "required"):
        msg = parser_for(REGISTRY["hermes"], TOOLS, ToolChoice(mode)).parse(CALL)
        assert [c.name for c in msg.tool_calls] == ["get_weather"]


def test_to_end_families_cut_from_the_marker() -> None:
    mistral = parser_for(REGISTRY["mistral"], TOOLS, NONE).parse('Sure. [TOOL_CALLS][{"name": "now", "arguments": {}}]')
    assert mistral.content == "Sure. " and not mistral.tool_calls
    llama = parser_for(REGISTRY["llama3_json"], TOOLS, NONE).parse('Ok <|python_tag|>{"name": "now", "parameters": {}}')
    assert llama.content == "Ok " and not llama.tool_calls


@pytest.mark.parametrize("family", sorted(REGISTRY))
def test_every_family_reads_plain_text_as_its_own_parser_does(family: str) -> None:
    text = "The weather in Paris is sunny, 21 degrees."
    adapter = REGISTRY[family]
    assert parser_for(adapter, TOOLS, NONE).parse(text) == adapter.parser(()).parse(text)


def test_stripper_is_incremental() -> None:
    s = MarkupStripper("<tool_call>", ("</tool_call>",))
    assert s.feed("a <tool") == "a "  # "<tool" may begin the marker: held
    assert s.feed("_call>x") == ""
    assert s.feed("y</tool_") == ""
    assert s.feed("call> b") == " b"
    assert s.finish() == ""


# --------------------------------------------------------------------------- every family

MARKUP = {"gpt_oss": "to=functions.", **TO_END_MARKERS}
# calls written without markup (pythonic's list, glm4's name line, llama3_json's bare object) cannot
# be told from text: left alone, so their parser's rejection of an unknown name shows
NO_MARKER = {"pythonic", "glm4", "llama3_json"}


def family_cases(family: str) -> tuple[list[ToolSpec], list[Case]]:
    module = importlib.import_module(f"tests.adapters.cases_{family}")
    return module.TOOLS, module.CASES


def markup_of(family: str) -> str | None:
    probe = REGISTRY[family].parser(())
    return probe.start if isinstance(probe, BlockParser) and probe.start else MARKUP.get(family)


@pytest.mark.parametrize("family", sorted(REGISTRY))
def test_every_family_under_none_keeps_reasoning_and_drops_its_calls(family: str) -> None:
    """Each family's own conformance texts under ``none``: no call comes back; the reasoning is the
    family's reasoning as written (markup thought about there is not a call); content carries none
    of the family's call markup; a text without calls reads as the family's parser reads it; any
    split gives the same message."""
    tools, cases = family_cases(family)
    adapter = REGISTRY[family]
    marker = markup_of(family)
    for case in cases:
        want = adapter.parser(tools).parse(case.text)
        got = parser_for(adapter, tools, NONE).parse(case.text)
        assert got.tool_calls == [], case.id
        assert got.reasoning == want.reasoning, case.id
        if family not in NO_MARKER:
            assert got.rejected == [], case.id
        if want.tool_calls and marker is not None:
            assert marker not in got.content, case.id
        if not want.tool_calls and not want.rejected:
            assert got.content == want.content, case.id
        for seed in range(3):
            parser = parser_for(adapter, tools, NONE)
            events = [e for piece in pieces(case.text, seed) for e in parser.feed(piece)] + parser.finish()
            assert ParsedMessage.from_events(events) == got, (case.id, seed)


def test_gpt_oss_call_message_is_dropped_not_returned_as_text() -> None:
    raw = (
        "<|channel|>analysis<|message|>Weather needs get_weather.<|end|><|start|>assistant<|channel|>commentary"
        ' to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>'
    )
    msg = parser_for(REGISTRY["gpt_oss"], TOOLS, NONE).parse(raw)
    assert msg.tool_calls == [] and msg.rejected == [] and msg.content == ""
    assert msg.reasoning == "Weather needs get_weather."
    answer = "<|channel|>final<|message|>It is sunny.<|return|>"
    assert parser_for(REGISTRY["gpt_oss"], TOOLS, NONE).parse(answer).content == "It is sunny."


@pytest.mark.parametrize("family", ["qwen3", "glm47", "minimax_m2"])
def test_unclosed_markup_in_reasoning_does_not_swallow_the_answer(family: str) -> None:
    # the model thinks about "<tool_call>" without closing it, then answers
    opener = "<think>" if family == "qwen3" else ""  # glm47's and minimax's prompts opened it
    text = f"{opener}I could write <tool_call> or <minimax:tool_call> here.</think>The answer is 4."
    msg = parser_for(REGISTRY[family], TOOLS, NONE).parse(text)
    assert msg.reasoning == "I could write <tool_call> or <minimax:tool_call> here."
    assert msg.content == "The answer is 4."
