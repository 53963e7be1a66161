"""One reconstructor of ``chat.completion.chunk`` streams, asserting the OpenAI delta rules on the way.

Every test that reads a chat stream (the family conformance kit through the real encoder, the
hosted-quirk tests over HTTP, the client suites) reassembles it here, as the SDK stream helpers do,
so the rules are written once (DESIGN.md §5):

- the same ``id``/``created``/``model`` on every chunk; ``finish_reason`` once per choice, last;
- per tool call a fixed integer ``index``, from 0 in order; ``id``, ``type`` and ``function.name``
  exactly once, in its first delta; then only ``function.arguments`` fragments;
- each call whole before the next call's first byte (openai-python's and openai-node's helpers and
  LlamaIndex treat a new index as the end of the previous call): once a later index appears, an
  earlier one never gets another fragment;
- the arguments of every call concatenate to a JSON object text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Rebuilt:
    """One choice as a client ends up with it."""

    content: str = ""
    reasoning: str = ""
    calls: list[dict[str, str]] = field(default_factory=list)  # id, name, arguments
    finish_reason: str | None = None
    role: str | None = None


@dataclass
class _Choice:
    rebuilt: Rebuilt = field(default_factory=Rebuilt)
    open_index: int | None = None
    by_index: dict[int, dict[str, str]] = field(default_factory=dict)


def rebuild(chunks: Iterable[dict[str, Any]], *, json_arguments: bool = True) -> dict[int, Rebuilt]:
    """Choices by index, reassembled from decoded chunks; an ``AssertionError`` names the rule broken."""
    envelope: tuple[Any, Any, Any] | None = None
    choices: dict[int, _Choice] = {}
    for chunk in chunks:
        head = (chunk.get("id"), chunk.get("created"), chunk.get("model"))
        assert envelope is None or head == envelope, f"envelope changed: {head} after {envelope}"
        envelope = head
        assert chunk.get("object") == "chat.completion.chunk"
        for raw in chunk["choices"]:
            state = choices.setdefault(raw["index"], _Choice())
            _apply(state, raw)
    out: dict[int, Rebuilt] = {}
    for index, state in choices.items():
        for call in state.rebuilt.calls:
            if json_arguments:
                assert isinstance(json.loads(call["arguments"]), dict), f"arguments not a JSON object: {call}"
        ids = [c["id"] for c in state.rebuilt.calls]
        assert len(set(ids)) == len(ids), f"call ids must be unique: {ids}"
        out[index] = state.rebuilt
    return out


def _apply(state: _Choice, raw: dict[str, Any]) -> None:
    msg = state.rebuilt
    assert msg.finish_reason is None, "a delta after the choice's finish_reason"
    delta = raw["delta"]
    if "role" in delta:
        assert msg.role is None, "role sent twice"
        msg.role = delta["role"]
    msg.content += delta.get("content") or ""
    msg.reasoning += delta.get("reasoning_content") or ""
    for tc in delta.get("tool_calls") or ():
        index = tc["index"]
        assert isinstance(index, int)
        if index not in state.by_index:
            assert index == len(state.by_index), f"call index {index}, expected {len(state.by_index)}"
            assert set(tc) == {"index", "id", "type", "function"}, f"first delta must carry id/type/name: {tc}"
            assert tc["type"] == "function" and tc["id"] and tc["function"].get("name"), tc
            assert set(tc["function"]) <= {"name", "arguments"}
            call = {"id": tc["id"], "name": tc["function"]["name"], "arguments": tc["function"].get("arguments", "")}
            state.by_index[index] = call
            msg.calls.append(call)
            state.open_index = index
        else:
            assert index == state.open_index, f"call {index} got a fragment after call {state.open_index} began"
            assert set(tc) == {"index", "function"}, f"id/type repeated after the first delta: {tc}"
            assert set(tc["function"]) == {"arguments"}, f"name repeated after the first delta: {tc}"
            state.by_index[index]["arguments"] += tc["function"]["arguments"]
    if raw.get("finish_reason") is not None:
        msg.finish_reason = raw["finish_reason"]


def sse_chunks(lines: Iterable[str]) -> list[dict[str, Any]]:
    """``data:`` lines of an event stream (blank lines and comments skipped) → decoded chunks; the
    stream must end with ``[DONE]`` and carry no error frame."""
    data = [line[5:].strip() for line in lines if line.startswith("data:")]
    assert data and data[-1] == "[DONE]", f"stream did not end with [DONE]: {data[-1:]}"
    chunks = [json.loads(d) for d in data[:-1]]
    assert not [c for c in chunks if "error" in c], f"error frame in the stream: {chunks}"
    return [c for c in chunks if c.get("choices")]
