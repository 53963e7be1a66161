"""The chat door's stream: items → ``chat.completion.chunk`` SSE frames, one ``ChoiceState`` per choice.

The OpenAI delta rules are kept here and only here: the role once at the start of each choice,
per tool call a fixed ``index`` with ``id``/``type``/``name`` in its first delta and then only
``arguments`` fragments, ``finish_reason`` on the last chunk of the choice, ``usage: null`` on
every chunk and a final usage chunk with ``choices: []`` when the client asked for it. The
envelope of a chunk is serialised once per stream; only the choice is encoded per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from adapters.base import (
    ReasoningDelta,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallStart,
)
from server.backends.base import Delta, Finish, StreamItem, Usage
from server.errors import ProxyError


@dataclass(slots=True)
class ChoiceState:
    role_sent: bool = False
    calls: int = 0
    finished: bool = False


class ChunkEncoder:
    """Implements ``server.dialects.base.StreamEncoder`` for ``POST /v1/chat/completions``."""

    def __init__(self, completion_id: str, created: int, model: str, *, legacy: bool, include_usage: bool) -> None:
        self.legacy = legacy
        self.include_usage = include_usage
        head = orjson.dumps(
            {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        )
        self._prefix = b"data: " + head[:-1] + b',"choices":['
        self._suffix = b'],"usage":null}\n\n' if include_usage else b"]}\n\n"
        self._states: dict[int, ChoiceState] = {}
        self.finish_reasons: dict[int, str] = {}
        self.usage: Usage | None = None

    def _frame(self, index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self._prefix + orjson.dumps(choice) + self._suffix

    def _state(self, index: int) -> ChoiceState:
        st = self._states.get(index)
        if st is None:
            st = self._states[index] = ChoiceState()
        return st

    def open(self) -> bytes:
        return b""  # the first chunk opens the stream (the role frame)

    def encode(self, item: StreamItem) -> bytes:
        if isinstance(item, Delta):
            return self._delta(item) or b""
        if isinstance(item, Finish):
            st = self._state(item.choice)
            st.finished = True
            reason = item.reason
            if self.legacy and reason == "tool_calls":
                reason = "function_call"
            self.finish_reasons[item.choice] = reason
            delta: dict[str, Any] = {} if st.role_sent else {"role": "assistant", "content": ""}
            st.role_sent = True
            return self._frame(item.choice, delta, reason)
        self.usage = item
        return b""

    def _delta(self, item: Delta) -> bytes | None:
        st = self._state(item.choice)
        ev = item.event
        delta: dict[str, Any]
        if isinstance(ev, TextDelta):
            if not ev.text:
                if st.role_sent:
                    return None
                st.role_sent = True
                return self._frame(item.choice, {"role": "assistant", "content": ""})
            delta = {"content": ev.text}
        elif isinstance(ev, ReasoningDelta):
            if not ev.text:
                return None
            delta = {"reasoning_content": ev.text}
        elif isinstance(ev, ToolCallStart):
            st.calls += 1
            if self.legacy:
                if ev.index != 0:
                    return None
                delta = {"function_call": {"name": ev.name, "arguments": ""}}
            else:
                delta = {
                    "tool_calls": [
                        {
                            "index": ev.index,
                            "id": ev.id,
                            "type": "function",
                            "function": {"name": ev.name, "arguments": ""},
                        }
                    ]
                }
        elif isinstance(ev, ToolCallArgsDelta):
            if not ev.fragment:
                return None
            if self.legacy:
                if ev.index != 0:
                    return None
                delta = {"function_call": {"arguments": ev.fragment}}
            else:
                delta = {"tool_calls": [{"index": ev.index, "function": {"arguments": ev.fragment}}]}
        else:
            return None  # ToolCallEnd, CallRejected: nothing for the wire (they feed metrics)
        if not st.role_sent:
            st.role_sent = True
            delta = {"role": "assistant", **({"content": None} if "content" not in delta else {}), **delta}
        return self._frame(item.choice, delta)

    async def close(self) -> bytes:
        """The usage chunk (when asked for) and the end marker."""
        out = b""
        if self.include_usage:
            usage = self.usage or Usage(0, 0)
            out += self._prefix + b'],"usage":' + orjson.dumps(usage_json(usage)) + b"}\n\n"
        return out + b"data: [DONE]\n\n"

    def error(self, err: ProxyError) -> bytes:
        """After the stream started an error can only be a frame: the OpenAI error body, then the end."""
        return b"data: " + orjson.dumps(err.body()) + b"\n\ndata: [DONE]\n\n"


def usage_json(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }
