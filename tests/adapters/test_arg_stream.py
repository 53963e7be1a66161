"""``stream_arguments: incremental`` (adapters/arg_stream.py): what is sent is never contradicted.

``ArgumentStream`` alone (any JSON layout and split gives exactly the finalised text; a cut-off
or coerced object always ends as one JSON object, usually as the finalised one), and
``StreamedArgumentsParser`` on every family whose forced call writes JSON arguments: the call is
announced and its arguments stream while the model writes them, and the message is the one the
family's own parser reads (through the real chat encoder into the shared reconstructor).
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest

from adapters import REGISTRY
from adapters.arg_stream import ARGUMENT_HEADS, ArgumentStream, stream_first_call
from adapters.base import (
    Event,
    Outcome,
    ParsedMessage,
    ToolCallArgsDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolChoice,
    ToolSpec,
)
from adapters.calls import finalize_arguments
from tests.adapters.conformance import check_delta_rules, summary
from tests.adapters.tools_common import TOOLS, WEATHER

LETTERS = ["a", "z", " ", ".", "é", '"', "\\", "\n", "\t", "\x01", "😀", "/", "\u2028"]


def value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randint(0, 7 if depth < 3 else 4)
    if kind == 0:
        return rng.randint(-(10**6), 10**6)
    if kind == 1:
        return rng.choice([1.5, -0.25, 1e-7, 3.0, 1e100])
    if kind == 2:
        return rng.choice([True, False, None])
    if kind in (3, 4):
        return "".join(rng.choice(LETTERS) for _ in range(rng.randint(0, 12)))
    if kind == 5:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {"k" + str(i) + rng.choice(["", "é", '"']): value(rng, depth + 1) for i in range(rng.randint(0, 4))}


def layout(obj: Any, style: int) -> str:
    if style == 0:
        return json.dumps(obj)  # ASCII escapes: \u00e9, surrogate pairs
    if style == 1:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    if style == 2:
        return json.dumps(obj, indent=2)
    return " " + json.dumps(obj, ensure_ascii=False) + "\n"


def pieces(text: str, rng: random.Random) -> list[str]:
    out, i = [], 0
    while i < len(text):
        n = rng.randint(1, 9)
        out.append(text[i : i + n])
        i += n
    return out


def streamed(text: str, rng: random.Random, tool: ToolSpec | None = None) -> tuple[list[str], str, bool, Outcome]:
    """(fragments sent while reading, the settling tail, whether the finalised text was kept, outcome)."""
    stream = ArgumentStream(tool.parameters if tool is not None else None)
    fragments = [f for piece in pieces(text, rng) if (f := stream.feed(piece))]
    outcome, final = finalize_arguments(text, tool)
    tail, kept = stream.settle(final)
    if not fragments:  # nothing sent: the call goes out whole, as with stream_arguments: whole
        assert tail == (final or "")
    return fragments, tail, kept, outcome


@pytest.mark.parametrize("seed", range(6))
def test_valid_arguments_in_any_layout_and_split_stream_as_exactly_the_finalised_text(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        obj = {f"p{i}": value(rng) for i in range(rng.randint(0, 5))}
        text = layout(obj, rng.randint(0, 3))
        fragments, tail, kept, _ = streamed(text, rng)
        assert kept and tail == "", text
        assert "".join(fragments) == json.dumps(obj, ensure_ascii=False) == finalize_arguments(text, None)[1]


@pytest.mark.parametrize("seed", range(6))
def test_cut_off_arguments_always_end_as_one_json_object(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(300):
        text = layout({f"p{i}": value(rng) for i in range(rng.randint(1, 5))}, rng.randint(0, 3))
        cut = text[: rng.randint(0, len(text))]
        fragments, tail, kept, outcome = streamed(cut, rng)
        if not fragments:
            continue
        sent = "".join(fragments) + tail
        assert isinstance(json.loads(sent), dict), cut
        if kept:
            assert sent == finalize_arguments(cut, None)[1]


def test_a_long_string_streams_in_many_fragments_and_a_cut_keeps_the_repaired_text() -> None:
    body = "word " * 800
    text = json.dumps({"path": "notes.txt", "text": body})
    stream = ArgumentStream(None)
    fragments = [f for i in range(0, len(text), 7) if (f := stream.feed(text[i : i + 7]))]
    assert len(fragments) > 400 and "".join(fragments) + stream.settle(json.dumps(json.loads(text)))[0] == text
    # cut off inside the string (max_tokens): repair closes it, and that is an extension of what went out
    cut = text[: len(text) // 2]
    rng = random.Random(3)
    fragments, tail, kept, outcome = streamed(cut, rng)
    assert kept and outcome is Outcome.REPAIRED and len(fragments) > 10
    assert "".join(fragments) + tail == finalize_arguments(cut, None)[1]
    assert tail.endswith('"}') and not tail.startswith(" ")  # json repair trims trailing spaces: held back


@pytest.mark.parametrize(
    ("text", "sent_before_end"),
    [
        # a string for an integer: coercion rewrites it, so sending stops before it; the rest follows
        ('{"city": "Paris", "days": "3", "metric": true}', '{"city": "Paris"'),
        # a whole float for an integer: coerced to 3
        ('{"city": "Oslo", "days": 3.0}', '{"city": "Oslo"'),
        # a value of the right type is never held
        ('{"city": "Oslo", "days": 3}', '{"city": "Oslo", "days": 3}'),
        # not strict JSON: a trailing comma, a single-quoted key
        ('{"city": "Rome", }', '{"city": "Rome"'),
        ("{'city': 'Rome'}", ""),
    ],
)
def test_what_coercion_or_repair_changes_is_held(text: str, sent_before_end: str) -> None:
    stream = ArgumentStream(WEATHER.parameters)
    sent = "".join(stream.feed(c) for c in text)
    assert sent == sent_before_end
    outcome, final = finalize_arguments(text, WEATHER)
    tail, kept = stream.settle(final)
    assert final is not None and sent + tail == final and (kept or not sent)


def test_when_finalisation_contradicts_what_was_sent_the_sent_text_is_closed() -> None:
    stream = ArgumentStream(None)
    sent = stream.feed('{"a": "one", "b": [1, ')
    assert sent == '{"a": "one", "b": [1'
    tail, kept = stream.settle('{"something": "else"}')
    assert not kept and sent + tail == '{"a": "one", "b": [1]}'
    # a key written twice: json.loads keeps the last value, but the first one went out
    stream = ArgumentStream(WEATHER.parameters)
    sent = stream.feed('{"city": "A", "city": "B"}')
    tail, kept = stream.settle(finalize_arguments('{"city": "A", "city": "B"}', WEATHER)[1])
    assert not kept and sent + tail == '{"city": "A"}'
    stream = ArgumentStream(None)
    sent = stream.feed('{"a": "unfinished')
    tail, kept = stream.settle(None)  # no object could be made at all
    assert not kept and json.loads(sent + tail) == {"a": "unfinished"}


# --------------------------------------------------------------------------- local families

LONG = {"text": "Line one of a long note.\n" + "lorem ipsum dolor sit amet " * 60, "tags": ["a", "b"]}


def forced_output(family: str, prefill: str, tool: str, arguments: str) -> str:
    """What a model writes after a forced call's prefill, in its family's format."""
    if family in ("hermes", "qwen3"):
        return json.dumps({"name": tool})[:-1] + f', "arguments": {arguments}}}\n</tool_call>'
    if family == "llama3_json":
        return json.dumps({"name": tool})[:-1] + f', "parameters": {arguments}}}'
    if family == "mistral":
        if prefill.endswith("[ARGS]"):
            return arguments
        return "[" + json.dumps({"name": tool})[:-1] + f', "arguments": {arguments}}}]'
    if family == "deepseek_v3":
        return arguments + "<｜tool▁call▁end｜><｜tool▁calls▁end｜>"
    if family == "kimi_k2":
        return "0<|tool_call_argument_begin|>" + arguments + "<|tool_call_end|><|tool_calls_section_end|>"
    return arguments  # glm4, gpt_oss: the name is prefilled, the object follows


def tokens(text: str) -> list[str]:
    return re.findall(r"<[|｜][^|｜]+[|｜]>|\[[A-Z_]+\]|\s?\w+|\s?[^\w\s]|\s+", text)


@pytest.mark.parametrize("family", sorted(ARGUMENT_HEADS))
def test_forced_call_arguments_stream_while_the_model_writes_them(family: str) -> None:
    adapter = REGISTRY[family]
    constraint = adapter.constraint(TOOLS, ToolChoice("required", "save_note"), parallel_tool_calls=False)
    assert constraint is not None
    text = constraint.prefill + forced_output(family, constraint.prefill, "save_note", json.dumps(LONG))
    parser = stream_first_call(adapter.parser(TOOLS), family, TOOLS)
    per_token = [parser.feed(constraint.prefill)] + [parser.feed(t) for t in tokens(text[len(constraint.prefill) :])]
    events: list[Event] = [e for batch in per_token for e in batch] + parser.finish()
    start = next(n for n, batch in enumerate(per_token) if any(isinstance(e, ToolCallStart) for e in batch))
    sending = [n for n, batch in enumerate(per_token) if any(isinstance(e, ToolCallArgsDelta) for e in batch)]
    assert start < len(per_token) // 10, "announced as soon as the name and the object's brace are read"
    assert len(sending) > len(per_token) // 2, "fragments go out while the arguments are written"
    assert not any(isinstance(e, ToolCallEnd) for batch in per_token[:-3] for e in batch)
    check_delta_rules(events, re.compile(r".+"))
    got = ParsedMessage.from_events(events)
    want = adapter.parser(TOOLS).parse(text)
    assert summary(got) == summary(want) and json.loads(got.tool_calls[0].arguments) == LONG
    assert got.tool_calls[0].arguments == want.tool_calls[0].arguments and parser.calls_emitted == 1
    if family == "kimi_k2":
        assert got.tool_calls[0].id == "functions.save_note:0"
    if family == "mistral":
        assert re.fullmatch(r"[A-Za-z0-9]{9}", got.tool_calls[0].id)


@pytest.mark.parametrize("family", sorted(ARGUMENT_HEADS))
def test_forced_call_among_several_tools_names_its_tool_first(family: str) -> None:
    adapter = REGISTRY[family]
    constraint = adapter.constraint(TOOLS, ToolChoice("required"), parallel_tool_calls=False)
    assert constraint is not None
    prefill = constraint.prefill
    arguments = '{"city": "Paris", "days": 2}'
    if family in ("glm4", "deepseek_v3", "gpt_oss", "mistral") and "get_weather" not in prefill:
        head = {"glm4": "get_weather\n", "deepseek_v3": "get_weather<｜tool▁sep｜>", "mistral": "get_weather[ARGS]"}
        gpt = "get_weather <|constrain|>json<|message|>"
        lead = gpt if family == "gpt_oss" else head.get(family, "")
        if family == "mistral" and not prefill.rstrip().endswith("]"):
            lead = ""  # the array dialect: the envelope carries the name
        text = prefill + lead + forced_output(family, prefill + lead, "get_weather", arguments)
    elif family == "kimi_k2":
        text = prefill + "get_weather:" + forced_output(family, prefill, "get_weather", arguments)
    else:
        text = prefill + forced_output(family, prefill, "get_weather", arguments)
    parser = stream_first_call(adapter.parser(TOOLS), family, TOOLS)
    events = [e for t in [prefill, *tokens(text[len(prefill) :])] for e in parser.feed(t)] + parser.finish()
    check_delta_rules(events, re.compile(r".+"))
    got = ParsedMessage.from_events(events)
    assert summary(got) == summary(adapter.parser(TOOLS).parse(text))
    assert [(c.name, json.loads(c.arguments)) for c in got.tool_calls] == [("get_weather", json.loads(arguments))]
    assert sum(isinstance(e, ToolCallArgsDelta) for e in events) > 1


def test_cut_off_forced_call_ends_valid_and_later_calls_keep_their_order() -> None:
    adapter = REGISTRY["hermes"]
    call = '<tool_call>\n{"name": "save_note", "arguments": {"text": "half a no'
    parser = stream_first_call(adapter.parser(TOOLS), "hermes", TOOLS)
    events = [e for t in tokens(call) for e in parser.feed(t)] + parser.finish()
    check_delta_rules(events, re.compile(r".+"))
    [only] = ParsedMessage.from_events(events).tool_calls
    assert json.loads(only.arguments) == {"text": "half a no"} and only.outcome is Outcome.REPAIRED
    # two calls: the first streams, the second comes whole after it, on index 1
    two = (
        '<tool_call>\n{"name": "save_note", "arguments": {"text": "x"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "now", "arguments": {}}\n</tool_call>'
    )
    parser = stream_first_call(adapter.parser(TOOLS), "hermes", TOOLS)
    events = [e for t in tokens(two) for e in parser.feed(t)] + parser.finish()
    check_delta_rules(events, re.compile(r".+"))
    assert [(c.name, c.arguments) for c in ParsedMessage.from_events(events).tool_calls] == [
        ("save_note", '{"text": "x"}'),
        ("now", "{}"),
    ]


def test_families_without_json_arguments_keep_their_parser() -> None:
    for family in sorted(set(REGISTRY) - set(ARGUMENT_HEADS)):
        parser = REGISTRY[family].parser(TOOLS)
        assert stream_first_call(parser, family, TOOLS) is parser
