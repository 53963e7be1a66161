"""The messages door's stream: items → Anthropic SSE events (``event: NAME`` + ``data: JSON``).

The order the SDKs rely on is kept here and only here: ``message_start`` and a ``ping`` first;
then content blocks one at a time, each ``content_block_start`` → its deltas →
``content_block_stop`` with indices 0, 1, … (``thinking`` with ``thinking_delta``, ``text`` with
``text_delta``, ``tool_use`` with ``input_json_delta``); then ``message_delta`` with the stop
reason and the usage, and ``message_stop``. A failure after the start is an ``error`` event.

Blocks never interleave: a ``tool_use`` block opens when its call starts (a hosted call is shown
at its name) and closes when the call ends; text or reasoning arriving meanwhile waits and
follows it as a block of its own. A call's arguments go out as one ``input_json_delta`` once the
call is whole — the backends emit a call's arguments at its end anyway, and only then is it known
whether they are an object (``input`` must be one; see ``body.input_json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from adapters.base import ReasoningDelta, TextDelta, ToolCallArgsDelta, ToolCallEnd, ToolCallStart
from server.backends.base import Delta, Finish, StreamItem, Usage
from server.dialects.anthropic.body import input_json, stop_reason, tool_use_id
from server.errors import ProxyError


def event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"


@dataclass(slots=True)
class _Block:
    index: int
    kind: str  # text | thinking | tool_use
    call: int | None = None  # the call's index on a tool_use block
    arguments: list[str] = field(default_factory=list)


class EventEncoder:
    """Implements ``server.dialects.base.StreamEncoder`` for ``POST /v1/messages``."""

    def __init__(self, message_id: str, model: str, error_body: Any) -> None:
        self.message_id = message_id
        self.model = model
        self._error_body = error_body
        self._open: _Block | None = None
        self._blocks = 0
        self._held: list[Delta] = []  # text/reasoning that arrived while a tool_use block was open
        self.reason = "stop"
        self.stop_sequence: str | None = None
        self.usage: Usage | None = None

    def open(self) -> bytes:
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return event("message_start", {"message": message}) + event("ping", {})

    def encode(self, item: StreamItem) -> bytes:
        if isinstance(item, Usage):
            self.usage = item
            return b""
        if item.choice != 0:
            return b""  # the door never asks for more than one choice
        if isinstance(item, Finish):
            self.reason, self.stop_sequence = item.reason, item.stop_sequence
            return self._flush()
        return self._delta(item)

    def _delta(self, item: Delta) -> bytes:
        ev = item.event
        if isinstance(ev, TextDelta | ReasoningDelta):
            if not ev.text:
                return b""  # the opening frame of the chat door: message_start went out already
            if self._open is not None and self._open.kind == "tool_use":
                self._held.append(item)
                return b""
            kind = "text" if isinstance(ev, TextDelta) else "thinking"
            out = b"" if self._open is not None and self._open.kind == kind else self._start(kind)
            assert self._open is not None
            delta = {"type": "text_delta", "text": ev.text}
            if kind == "thinking":
                delta = {"type": "thinking_delta", "thinking": ev.text}
            return out + event("content_block_delta", {"index": self._open.index, "delta": delta})
        if isinstance(ev, ToolCallStart):
            out = self._close_block()
            block = {"type": "tool_use", "id": tool_use_id(ev.id), "name": ev.name, "input": {}}
            return out + self._start("tool_use", block, call=ev.index)
        if isinstance(ev, ToolCallArgsDelta):
            if self._open is not None and self._open.call == ev.index:
                self._open.arguments.append(ev.fragment)
            return b""
        if isinstance(ev, ToolCallEnd) and self._open is not None and self._open.call == ev.index:
            return self._close_block() + self._release()
        return b""  # CallRejected: its text went out as text; it feeds the metrics only

    def _start(self, kind: str, block: dict[str, Any] | None = None, call: int | None = None) -> bytes:
        out = self._close_block()
        self._open = _Block(self._blocks, kind, call)
        self._blocks += 1
        if block is None:
            block = {"type": "text", "text": ""}
            if kind == "thinking":
                block = {"type": "thinking", "thinking": "", "signature": ""}
        return out + event("content_block_start", {"index": self._open.index, "content_block": block})

    def _close_block(self) -> bytes:
        block, self._open = self._open, None
        if block is None:
            return b""
        out = b""
        if block.kind == "tool_use":
            delta = {"type": "input_json_delta", "partial_json": input_json("".join(block.arguments))}
            out = event("content_block_delta", {"index": block.index, "delta": delta})
        return out + event("content_block_stop", {"index": block.index})

    def _release(self) -> bytes:
        """What waited for a tool_use block to close, now that it has."""
        held, self._held = self._held, []
        return b"".join(self._delta(d) for d in held)

    def _flush(self) -> bytes:
        """Every block closed, the waiting ones included."""
        out = self._close_block() + self._release()
        return out + self._close_block()

    async def close(self) -> bytes:
        out = self._flush()
        kind = stop_reason(self.reason, self.stop_sequence)
        usage: dict[str, int] = {"output_tokens": 0}
        if self.usage is not None:
            usage = {"input_tokens": self.usage.prompt_tokens, "output_tokens": self.usage.completion_tokens}
        delta = {"stop_reason": kind, "stop_sequence": self.stop_sequence if kind == "stop_sequence" else None}
        return out + event("message_delta", {"delta": delta, "usage": usage}) + event("message_stop", {})

    def error(self, err: ProxyError) -> bytes:
        body: dict[str, Any] = self._error_body(err)
        return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"
