"""Stream items → the response's output items, and the SSE events that build them.

One ``OutputBuilder`` serves both answers, so a JSON response and a stream cannot disagree: the
JSON answer feeds it a finished completion (replayed as items) with events off; the stream feeds
it live and sends its events. Output items open and close in order:

- ``reasoning`` (the backend's reasoning content, as one summary text part),
- ``message`` (one ``output_text`` part),
- ``function_call`` per call (``call_id`` is the backend's call id), ``custom_tool_call`` for a
  custom tool.

A new kind of content closes the open item. A call arrives whole and in order (the pipeline's
``in_call_order``); text or reasoning that arrives while a call is open waits until it ends.
Every event carries ``type`` and ``sequence_number`` (from 0, one stream).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from adapters.base import ReasoningDelta, TextDelta, ToolCallArgsDelta, ToolCallEnd, ToolCallStart
from server.backends.base import Finish, StreamItem, Usage
from server.dialects.base import Answer
from server.dialects.responses.decode import Context
from server.errors import ProxyError

# finish reason → (status, incomplete_details.reason)
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def item_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


@dataclass(slots=True)
class _Open:
    """The output item being built."""

    index: int
    item: dict[str, Any]
    parts: list[str] = field(default_factory=list)
    call: int | None = None  # the backend's call index, for a call

    @property
    def kind(self) -> str:
        return str(self.item["type"])


class OutputBuilder:
    def __init__(self, context: Context, answer: Answer, *, events: bool) -> None:
        self.context = context
        self.answer = answer
        self.events = events
        self.seq = 0
        self.output: list[dict[str, Any]] = []
        self.open: _Open | None = None
        self.held: list[StreamItem] = []  # text/reasoning that arrived while a call was open
        self.reason: str | None = None
        self.usage: Usage | None = None

    # ------------------------------------------------------------------ events

    def event(self, kind: str, **fields: Any) -> bytes:
        if not self.events:
            return b""
        payload = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def response(self, status: str, *, error: dict[str, Any] | None = None) -> dict[str, Any]:
        """The response object as it stands."""
        incomplete = _INCOMPLETE.get(self.reason or "") if status == "incomplete" else None
        usage = self.usage
        text = "".join(
            part["text"]
            for item in self.output
            if item["type"] == "message"
            for part in item["content"]
            if part["type"] == "output_text"
        )
        return {
            "id": self.answer.id,
            "object": "response",
            "created_at": self.answer.created,
            "status": status,
            "completed_at": int(time.time()) if status == "completed" else None,
            "background": False,
            "error": error,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "model": self.answer.model,
            "output": list(self.output),
            "output_text": text,
            **self.context.echo,
            "service_tier": "default",
            "usage": None
            if usage is None
            else {
                "input_tokens": usage.prompt_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": usage.completion_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            },
        }

    def start(self) -> bytes:
        snapshot = self.response("in_progress")
        return self.event("response.created", response=snapshot) + self.event("response.in_progress", response=snapshot)

    # ------------------------------------------------------------------ items

    def feed(self, item: StreamItem) -> bytes:
        if isinstance(item, Usage):
            self.usage = item
            return b""
        if item.choice != 0:
            return b""  # the Responses API has one answer per response
        if isinstance(item, Finish):
            self.reason = item.reason
            return b""
        ev = item.event
        if isinstance(ev, TextDelta | ReasoningDelta):
            if not ev.text:
                return b""
            if self.open is not None and self.open.kind in ("function_call", "custom_tool_call"):
                self.held.append(item)
                return b""
            return self._content(ev)
        if isinstance(ev, ToolCallStart):
            out = self._close()
            return out + self._open_call(ev)
        if isinstance(ev, ToolCallArgsDelta):
            return self._call_delta(ev)
        if isinstance(ev, ToolCallEnd):
            out = self._close()
            held, self.held = self.held, []
            for later in held:
                out += self.feed(later)
            return out
        return b""  # CallRejected: for metrics only

    def _add(self, item: dict[str, Any], call: int | None = None) -> bytes:
        self.open = _Open(len(self.output), item, call=call)
        self.output.append(item)
        return self.event("response.output_item.added", output_index=self.open.index, item=dict(item))

    def _content(self, ev: TextDelta | ReasoningDelta) -> bytes:
        want = "reasoning" if isinstance(ev, ReasoningDelta) else "message"
        out = self._open_content(want) if self.open is None or self.open.kind != want else b""
        assert self.open is not None
        self.open.parts.append(ev.text)
        if want == "reasoning":
            return out + self.event(
                "response.reasoning_summary_text.delta", **self._where(), summary_index=0, delta=ev.text
            )
        return out + self.event(
            "response.output_text.delta", **self._where(), content_index=0, delta=ev.text, logprobs=[]
        )

    def _open_content(self, want: str) -> bytes:
        out = self._close()
        if want == "reasoning":
            out += self._add({"id": item_id("rs"), "type": "reasoning", "summary": [], "status": "in_progress"})
            out += self.event(
                "response.reasoning_summary_part.added",
                **self._where(),
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )
        else:
            out += self._add(
                {"id": item_id("msg"), "type": "message", "status": "in_progress", "role": "assistant", "content": []}
            )
            out += self.event(
                "response.content_part.added",
                **self._where(),
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            )
        return out

    def _where(self) -> dict[str, Any]:
        assert self.open is not None
        return {"item_id": self.open.item["id"], "output_index": self.open.index}

    def _open_call(self, ev: ToolCallStart) -> bytes:
        if ev.name in self.context.custom_names:
            item = {
                "id": item_id("ctc"),
                "type": "custom_tool_call",
                "status": "in_progress",
                "call_id": ev.id,
                "name": ev.name,
                "input": "",
            }
        else:
            item = {
                "id": item_id("fc"),
                "type": "function_call",
                "status": "in_progress",
                "call_id": ev.id,
                "name": ev.name,
                "arguments": "",
            }
        return self._add(item, call=ev.index)

    def _call_delta(self, ev: ToolCallArgsDelta) -> bytes:
        if self.open is None or self.open.call != ev.index or not ev.fragment:
            return b""
        self.open.parts.append(ev.fragment)
        kind = "response.function_call_arguments.delta"
        if self.open.kind == "custom_tool_call":
            kind = "response.custom_tool_call_input.delta"
        return self.event(kind, **self._where(), delta=ev.fragment)

    def _close(self, status: str = "completed") -> bytes:
        """End the open item: its ``.done`` events with the whole text, then ``output_item.done``."""
        current, self.open = self.open, None
        if current is None:
            return b""
        self.open = current  # for _where
        text = "".join(current.parts)
        item = current.item
        out = b""
        if current.kind == "reasoning":
            part: dict[str, Any] = {"type": "summary_text", "text": text}
            out += self.event("response.reasoning_summary_text.done", **self._where(), summary_index=0, text=text)
            out += self.event("response.reasoning_summary_part.done", **self._where(), summary_index=0, part=part)
            item["summary"] = [part]
        elif current.kind == "message":
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            out += self.event("response.output_text.done", **self._where(), content_index=0, text=text, logprobs=[])
            out += self.event("response.content_part.done", **self._where(), content_index=0, part=part)
            item["content"] = [part]
        elif current.kind == "custom_tool_call":
            item["input"] = text
            out += self.event("response.custom_tool_call_input.done", **self._where(), input=text)
        else:
            item["arguments"] = text
            out += self.event(
                "response.function_call_arguments.done", **self._where(), name=item["name"], arguments=text
            )
        item["status"] = status
        out += self.event("response.output_item.done", output_index=current.index, item=dict(item))
        self.open = None
        return out

    # ------------------------------------------------------------------ the end

    def finish(self) -> tuple[dict[str, Any], bytes]:
        """The final response object, and the events that close the open item (not the lifecycle event)."""
        status = "incomplete" if self.reason in _INCOMPLETE else "completed"
        out = b""
        for later in self.held:  # a call that never ended cannot hold text back any longer
            out += self.feed(later)
        self.held = []
        out += self._close("incomplete" if status == "incomplete" else "completed")
        if not self.output:
            # an empty answer is still an answer: one empty message, as OpenAI gives
            out += self._open_content("message") + self._close()
        return self.response(status), out

    def fail(self, err: ProxyError) -> bytes:
        """After the stream started: an ``error`` event, then ``response.failed``."""
        body = err.body()["error"]
        out = self.event("error", code=body["code"], message=body["message"], param=body["param"], error=body)
        if self.open is not None:
            self.output[self.open.index]["status"] = "incomplete"
            self.open = None
        failed = self.response("failed", error={"code": body["code"] or body["type"], "message": body["message"]})
        return out + self.event("response.failed", response=failed)


def lifecycle(builder: OutputBuilder, response: dict[str, Any]) -> bytes:
    """``response.completed`` or ``response.incomplete`` for the final response."""
    kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
    return builder.event(kind, response=response)
