"""Upstream answers → neutral items, whatever quirks the provider has.

Normalises: arguments sent as an object, missing ``id``/``type``, ids repeated on every chunk,
parallel calls all on ``index`` 0, names repeated on every chunk, legacy ``function_call``
answers, provider finish reasons. Tool-call arguments are gathered per call and finalised (json
repair, schema coercion) like local ones before the call is emitted, once, complete — or, with the
model's ``stream_arguments: incremental``, sent while they arrive through an ``ArgumentStream``
(``adapters/arg_stream.py``: only text that finalisation cannot change goes out; what is left is
settled when the call ends, so fragments always concatenate to one JSON object).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from adapters.arg_stream import ArgumentStream
from adapters.base import (
    Event,
    Outcome,
    ParsedCall,
    ParsedMessage,
    ReasoningDelta,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolSpec,
)
from adapters.calls import finalize_arguments, new_call_id
from server.backends.providers import map_finish_reason

NameBack = Callable[[str], str]


def _finalize(name: str, raw: str | Mapping[str, Any] | None, tools: Mapping[str, ToolSpec]) -> tuple[Outcome, str]:
    outcome, text = finalize_arguments(raw, tools.get(name))
    if text is None:
        # A hosted API's call structure is authoritative: keep the call, with its arguments as sent.
        raw_text = raw if isinstance(raw, str) else orjson.dumps(raw).decode()
        return Outcome.INVALID, raw_text
    return outcome, text


def message_from_upstream(msg: Mapping[str, Any], tools: Mapping[str, ToolSpec], name_back: NameBack) -> ParsedMessage:
    """A non-streamed ``choices[i].message`` → ParsedMessage with OpenAI-shaped calls."""
    out = ParsedMessage()
    content = msg.get("content")
    if isinstance(content, list):  # some providers answer with parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    out.content = content or ""
    out.reasoning = msg.get("reasoning_content") or msg.get("reasoning") or ""
    calls = list(msg.get("tool_calls") or [])
    fc = msg.get("function_call")
    if not calls and isinstance(fc, Mapping):
        calls = [{"function": fc}]
    for call in calls:
        fn = call.get("function") or {}
        name = name_back(str(fn.get("name") or ""))
        outcome, args = _finalize(name, fn.get("arguments"), tools)
        out.tool_calls.append(ParsedCall(str(call.get("id") or new_call_id()), name, args, outcome))
    return out


@dataclass(slots=True)
class _PendingCall:
    key: int
    id: str | None = None
    name: str = ""
    parts: list[str] = field(default_factory=list)
    obj: Mapping[str, Any] | None = None
    index: int | None = None  # the client-side index, given when the call is announced
    client_id: str = ""
    stream: ArgumentStream | None = None  # incremental: the arguments sent so far
    fed: int = 0  # parts given to ``stream``
    ended: bool = False  # its ToolCallEnd went out before the choice finished

    def looks_complete(self) -> bool:
        if self.obj is not None:
            return True
        try:
            return isinstance(orjson.loads("".join(self.parts)), dict)
        except orjson.JSONDecodeError:
            return False


class ChoiceNormalizer:
    """One streamed choice: upstream deltas in, events out. A call is announced (``ToolCallStart``)
    as soon as its name is known, on indices 0, 1, … in the order calls start; its arguments follow
    when the choice finishes, complete and finalised. ``incremental``: an announced call's arguments
    go out as they arrive (as far as ``ArgumentStream`` finds them final), and a call whose object
    has closed ends as soon as a later call begins; the rest is settled when the choice finishes."""

    def __init__(self, tools: Mapping[str, ToolSpec], name_back: NameBack, *, incremental: bool = False) -> None:
        self._tools = tools
        self._name_back = name_back
        self._incremental = incremental
        self._calls: list[_PendingCall] = []
        self._by_key: dict[int, _PendingCall] = {}
        self.calls_emitted = 0

    def delta(self, delta: Mapping[str, Any]) -> list[Event]:
        events: list[Event] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            events.append(ReasoningDelta(str(reasoning)))
        content = delta.get("content")
        if content:
            events.append(TextDelta(str(content)))
        elif delta.get("role") and not events:
            events.append(TextDelta(""))  # the opening frame: lets the client's first byte go out now
        calls = delta.get("tool_calls")
        if calls:
            for tc in calls:
                self._announce(self._call_delta(tc), events)
        elif isinstance(delta.get("function_call"), Mapping):
            self._announce(self._call_delta({"index": 0, "function": delta["function_call"]}), events)
        if self._incremental and (calls or delta.get("function_call")):
            self._stream(events)
        return events

    def _stream(self, events: list[Event]) -> None:
        """Send what each announced call's arguments allow; end a call whose object closed once a
        later call has begun (a well-behaved upstream sends nothing more for it)."""
        for n, call in enumerate(self._calls):
            if call.index is None or call.ended:
                continue
            if call.stream is None:
                tool = self._tools.get(self._name_back(call.name))
                call.stream = ArgumentStream(tool.parameters if tool is not None else None)
            if call.obj is not None:
                call.stream.hold()  # an object: finalised whole at the end
            for part in call.parts[call.fed :]:
                fragment = call.stream.feed(part)
                if fragment:
                    events.append(ToolCallArgsDelta(call.index, fragment))
            call.fed = len(call.parts)
            if call.stream.complete and n < len(self._calls) - 1:
                events.extend(self._settle(call))

    def _settle(self, call: _PendingCall) -> list[Event]:
        """The rest of a streamed call's arguments and its end (``ArgumentStream.settle``)."""
        assert call.stream is not None and call.index is not None
        raw: str | Mapping[str, Any] | None = call.obj if call.obj is not None else "".join(call.parts)
        outcome, text = finalize_arguments(raw, self._tools.get(self._name_back(call.name)))
        tail, kept = call.stream.settle(text)
        call.ended = True
        events: list[Event] = [ToolCallArgsDelta(call.index, tail)] if tail else []
        return [*events, ToolCallEnd(call.index, outcome if kept else Outcome.REPAIRED)]

    def _announce(self, call: _PendingCall, events: list[Event]) -> None:
        if call.index is None and call.name:
            call.index = self.calls_emitted
            self.calls_emitted += 1
            call.client_id = call.id or new_call_id()
            events.append(ToolCallStart(call.index, call.client_id, self._name_back(call.name)))

    def _call_delta(self, tc: Mapping[str, Any]) -> _PendingCall:
        fn = tc.get("function") or {}
        key = tc.get("index")
        call_id = tc.get("id") or None
        name = fn.get("name") or None
        known = self._by_key.get(key) if isinstance(key, int) else None
        current = known if known is not None else self._calls[-1] if self._calls else None
        new = (
            current is None
            or (isinstance(key, int) and known is None)
            or (call_id is not None and current.id is not None and call_id != current.id)
            # several calls on one index without ids: a name after a complete call starts the next
            or (
                name is not None
                and current.name != ""
                and (current.parts or current.obj)
                and call_id is None
                and current.looks_complete()
            )
        )
        if new or current is None:
            current = _PendingCall(key=key if isinstance(key, int) else len(self._calls))
            self._calls.append(current)
            if isinstance(key, int):
                self._by_key[key] = current  # a later call on the same index takes the key over
        if call_id is not None and current.id is None:
            current.id = str(call_id)
        if name is not None and not current.name:
            current.name = str(name)
        args = fn.get("arguments")
        if isinstance(args, str):  # the usual fragment first: the Mapping check is an ABC's, slower
            if args:
                current.parts.append(args)
        elif isinstance(args, Mapping):
            current.obj = args
        return current

    def finish(self) -> list[Event]:
        events: list[Event] = []
        for call in self._calls:
            if call.ended:
                continue
            self._announce(call, events)  # a call whose name never came is announced nameless here
            if call.stream is not None and call.stream.sent:
                events.extend(self._settle(call))
                continue
            if call.index is None:
                call.index = self.calls_emitted
                self.calls_emitted += 1
                events.append(ToolCallStart(call.index, call.id or new_call_id(), ""))
            name = self._name_back(call.name)
            raw: str | Mapping[str, Any] | None = call.obj if call.obj is not None else "".join(call.parts)
            outcome, args = _finalize(name, raw, self._tools)
            events.append(ToolCallArgsDelta(call.index, args))
            events.append(ToolCallEnd(call.index, outcome))
        self._calls.clear()
        self._by_key.clear()
        return events


def finish_reason(raw: Any, has_calls: bool) -> str:
    mapped = map_finish_reason(raw) or "stop"
    if has_calls and mapped in ("stop", "tool_calls"):
        return "tool_calls"
    if not has_calls and mapped == "tool_calls":
        return "stop"  # a provider that says tool_calls without sending any
    return mapped


def client_stop(stop_reason: Any, stops: tuple[str, ...]) -> str | None:
    """The client's stop sequence that ended a choice, from a ``stop_reason`` naming the matched
    string (vLLM's field; some OpenAI-compatible servers send it too). Only the client's own stops
    count: a local family's end-of-turn strings are in the same stop list."""
    return stop_reason if isinstance(stop_reason, str) and stop_reason in stops else None
