"""Helpers for the family oracles: BFCL entries as adapter inputs, and a family's raw call text.

The raw text an assistant writes for a set of calls is taken from the family's own ``render()``:
the conversation rendered with the assistant turn, minus the same conversation rendered up to the
generation prompt, cut at the family's first stop string (vLLM strips stop strings before the
parser sees the text). So the oracles exercise the family's template and parser together, and no
format is written twice.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from adapters.base import Adapter, CallRecord, Message, ParsedMessage, ToolChoice, ToolSpec
from bench import bfcl_support as bfcl

ALL_FAMILIES = (
    "hermes",
    "qwen3",
    "llama3_json",
    "pythonic",
    "mistral",
    "deepseek_v3",
    "glm4",
    "glm45",
    "kimi_k2",
    "deepseek_v32",
    "qwen3_coder",
    "glm47",
    "minimax_m2",
)
_QUESTION = Message("user", "Please make the calls.")


def tool_specs(toolset: bfcl.ToolSet) -> list[ToolSpec]:
    return [
        ToolSpec(t["function"]["name"], t["function"]["description"], t["function"]["parameters"])
        for t in toolset.tools
    ]


def call_records(answer: bfcl.Answer, toolset: bfcl.ToolSet) -> list[CallRecord]:
    """A BFCL answer as the assistant's earlier calls, under their OpenAI names."""
    records = []
    for i, call in enumerate(answer):
        ((name, args),) = call.items()
        records.append(CallRecord(f"call{i:05d}", toolset.to_openai[name], json.dumps(args, ensure_ascii=False)))
    return records


def raw_call_text(adapter: Adapter, tools: Sequence[ToolSpec], calls: Sequence[CallRecord]) -> str:
    """What the model writes for ``calls`` in ``adapter``'s format (see the module docstring)."""
    auto = ToolChoice("auto")
    prompt = adapter.render([_QUESTION], tools, auto, add_generation_prompt=True)
    turn = Message("assistant", None, tool_calls=tuple(calls))
    full = adapter.render([_QUESTION, turn], tools, auto, add_generation_prompt=False)
    if not full.startswith(prompt):
        # the prompt opens a reasoning block that a history turn only has when it carries
        # reasoning (GLM-4.7, MiniMax-M2): the model thinks, then calls
        turn = Message("assistant", None, tool_calls=tuple(calls), reasoning="I make the calls.")
        full = adapter.render([_QUESTION, turn], tools, auto, add_generation_prompt=False)
    if not full.startswith(prompt):
        raise AssertionError(f"{adapter.name}: the history does not extend the generation prompt")
    raw = full[len(prompt) :]
    cuts = [raw.find(stop) for stop in adapter.stop if stop in raw]
    return raw[: min(cuts)] if cuts else raw


def stream_parse(adapter: Adapter, tools: Sequence[ToolSpec], text: str, rng: random.Random) -> ParsedMessage:
    """Feed ``text`` to a fresh parser in random pieces (1 to 12 characters), then finish."""
    parser = adapter.parser(tools)
    events = []
    i = 0
    while i < len(text):
        n = rng.randint(1, 12)
        events.extend(parser.feed(text[i : i + n]))
        i += n
    events.extend(parser.finish())
    return ParsedMessage.from_events(events)


def parsed_answer(parsed: ParsedMessage, toolset: bfcl.ToolSet) -> bfcl.Answer:
    return bfcl.answer_from_calls(((c.name, c.arguments) for c in parsed.tool_calls), toolset)


def as_messages(entry_messages: Sequence[dict[str, Any]]) -> list[Message]:
    return [Message(m["role"], m["content"]) for m in entry_messages]
