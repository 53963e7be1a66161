"""Anthropic's rules for a ``message`` and for the stream of events that builds one, checked the way
a client relies on them (the SDKs' ``messages.stream`` accumulator, Claude Code):

- a message: ``msg_`` id, role assistant, blocks ``thinking`` / ``text`` / ``tool_use``; every
  ``tool_use`` has a unique ``toolu_`` id, a name and an ``input`` object; ``stop_reason`` is
  ``tool_use`` exactly when there are tool uses (or ``max_tokens`` cut the turn); ``stop_sequence``
  is set exactly when ``stop_reason`` is ``stop_sequence``; usage counts are integers.
- a stream: ``event: NAME`` equal to the data's ``type``; ``message_start`` first (empty content,
  no stop reason), ``message_stop`` last, ``ping`` anywhere between, never ``error``; blocks one at a
  time at indices 0, 1, … — ``content_block_start``, deltas of the block's own kind
  (``text_delta`` / ``thinking_delta`` or ``signature_delta`` / ``input_json_delta``) naming its
  index, ``content_block_stop``; a ``tool_use`` starts with its id and name and ``input: {}``, and
  its ``partial_json`` fragments join into one JSON object; one ``message_delta`` after the last
  block, with the stop reason and the output token count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

STOP_REASONS = {"end_turn", "tool_use", "max_tokens", "stop_sequence", "refusal"}
_DELTAS = {"text": {"text_delta"}, "thinking": {"thinking_delta", "signature_delta"}, "tool_use": {"input_json_delta"}}


def sse(lines: Iterable[str]) -> Iterator[tuple[str | None, str]]:
    """SSE lines → (event name, data) pairs."""
    name: str | None = None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = None, []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield name, "\n".join(data)


def check_message(msg: dict[str, Any]) -> dict[str, Any]:
    assert msg["type"] == "message" and msg["role"] == "assistant", msg
    assert msg["id"].startswith("msg_"), msg["id"]
    ids: list[str] = []
    for block in msg["content"]:
        kind = block["type"]
        assert kind in ("text", "thinking", "tool_use"), f"unexpected block type {kind!r}"
        if kind == "tool_use":
            assert block["id"].startswith("toolu_") and block["name"], block
            assert isinstance(block["input"], dict), f"tool_use input must be an object: {block['input']!r}"
            ids.append(block["id"])
        elif kind == "text":
            assert isinstance(block["text"], str)
        else:
            assert isinstance(block["thinking"], str) and isinstance(block["signature"], str)
    assert len(set(ids)) == len(ids), f"tool_use ids repeat: {ids}"
    reason = msg["stop_reason"]
    assert reason in STOP_REASONS, reason
    if reason != "max_tokens":
        assert (reason == "tool_use") == bool(ids), f"stop_reason {reason!r} with {len(ids)} tool uses"
    assert (msg["stop_sequence"] is not None) == (reason == "stop_sequence"), msg
    usage = msg["usage"]
    assert isinstance(usage["input_tokens"], int) and isinstance(usage["output_tokens"], int), usage
    return msg


def message_from_events(events: Sequence[tuple[str | None, str]]) -> dict[str, Any]:
    """Check a stream's events and return the message they build (itself checked)."""
    assert events, "the stream had no events"
    data = [json.loads(d) for _, d in events]
    for n, ((name, _), d) in enumerate(zip(events, data, strict=True)):
        assert name == d["type"], f"event {n}: 'event: {name}' but type {d['type']!r}"
        assert d["type"] != "error", f"error event: {d}"
    data = [d for d in data if d["type"] != "ping"]
    assert data[0]["type"] == "message_start", data[0]["type"]
    assert data[-1]["type"] == "message_stop", data[-1]["type"]
    msg = dict(data[0]["message"])
    assert msg["content"] == [] and msg["stop_reason"] is None and msg["stop_sequence"] is None, msg
    msg["content"] = []
    open_block: dict[str, Any] | None = None
    partial = ""
    deltas = 0
    for d in data[1:-1]:
        kind = d["type"]
        assert deltas == 0, f"{kind} after message_delta"
        if kind == "content_block_start":
            assert open_block is None, f"block {d['index']} started while block {len(msg['content']) - 1} is open"
            assert d["index"] == len(msg["content"]), f"block index {d['index']}, expected {len(msg['content'])}"
            open_block, partial = dict(d["content_block"]), ""
            if open_block["type"] == "tool_use":
                assert open_block["id"] and open_block["name"] and open_block["input"] == {}, open_block
            msg["content"].append(open_block)
        elif kind == "content_block_delta":
            assert open_block is not None and d["index"] == len(msg["content"]) - 1, f"delta for a closed block: {d}"
            delta = d["delta"]
            assert delta["type"] in _DELTAS[open_block["type"]], f"{delta['type']} in a {open_block['type']} block"
            if delta["type"] == "text_delta":
                open_block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                open_block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                open_block["signature"] = delta["signature"]
            else:
                partial += delta["partial_json"]
        elif kind == "content_block_stop":
            assert open_block is not None and d["index"] == len(msg["content"]) - 1, f"stop for a closed block: {d}"
            if open_block["type"] == "tool_use":
                open_block["input"] = json.loads(partial or "{}")
            open_block = None
        else:
            assert kind == "message_delta", f"unexpected event {kind}"
            assert open_block is None, "message_delta while a block is open"
            deltas += 1
            msg.update(d["delta"])
            usage = d["usage"]
            assert isinstance(usage["output_tokens"], int), usage
            msg["usage"] = {**msg["usage"], **usage}
    assert deltas == 1, "exactly one message_delta must come before message_stop"
    return check_message(msg)
