"""Base classes for family parsers: event output, call finalisation, reasoning, marker blocks.

``StreamParser`` owns what every family shares:

- ``feed``/``finish``/``parse`` (``parse`` is feed-all + finish, so streaming and one-shot parsing
  cannot disagree), and the event list a feed returns;
- an optional reasoning section at the very start of the message (``<think>…</think>``), streamed
  as ``ReasoningDelta`` and never searched for calls;
- the content channel's whitespace policy: leading whitespace of the message, whitespace right
  after ``</think>`` or an accepted call, and trailing whitespace right before an accepted call are
  dropped (they are layout, not content); all other text is kept verbatim;
- ``_call(name, arguments, raw)``: looks the name up among the request's tools, runs
  ``calls.finalize_arguments`` and emits ``ToolCallStart`` → ``ToolCallArgsDelta`` →
  ``ToolCallEnd(outcome)`` with a fresh id, or, for an unknown name / arguments that cannot be
  made an object, emits ``raw`` as ``TextDelta`` followed by ``CallRejected``.

Subclasses implement ``_consume(delta)`` (content after any reasoning) and ``_end()`` (flush at the
end of the message). Two switches serve ``tool_choice: none`` (``no_calls.py``): ``content_filter``
sees content text before ``_consume`` (never the reasoning section, where call markup is thought,
not a call), and ``drop_calls`` makes ``_call`` drop a call-shaped span instead of emitting it or
its raw text. ``BlockParser`` is a complete subclass for formats whose calls sit between a
start and an end marker (hermes ``<tool_call>…</tool_call>``, glm45, deepseek): a family only
supplies the markers and ``decode(body, complete)``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from adapters.base import (
    CallRejected,
    Event,
    Outcome,
    ParsedMessage,
    ReasoningDelta,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolSpec,
)
from adapters.calls import finalize_arguments, new_call_id
from adapters.scan import MarkerSet, Meter, QuoteTracker, UntilMarker


class _Channel:
    """Whitespace policy for one output channel: hold trailing whitespace until we know its fate."""

    def __init__(self) -> None:
        self.hold = ""
        self.at_start = True

    def push(self, s: str) -> str:
        if self.at_start:
            s = s.lstrip()
            if not s:
                return ""
            self.at_start = False
        body = s.rstrip()
        if not body:
            self.hold += s
            return ""
        out = self.hold + body
        self.hold = s[len(body) :]
        return out

    def boundary(self) -> None:
        """A call or the end of reasoning: whitespace on both sides of it is layout."""
        self.hold = ""
        self.at_start = True

    def flush(self) -> str:
        out, self.hold = self.hold, ""
        return out


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a family made of one call-shaped span: name, raw arguments, whether it was mended."""

    name: str
    arguments: str | Mapping[str, Any] | None
    repaired: bool = False


IdFactory = Callable[[], str]


class ContentFilter(Protocol):
    """Rewrites the content text stream (``no_calls.MarkupStripper``): ``feed`` returns what passes
    now, ``finish`` what it still held when the message ended."""

    def feed(self, delta: str) -> str: ...

    def finish(self) -> str: ...


class StreamParser(abc.ABC):
    """Shared machinery of an incremental parser; see the module docstring."""

    #: ``(open, close)`` of a reasoning section allowed at the very start of the message, or None.
    reasoning_markers: tuple[str, str] | None = None
    #: ``tool_choice: none`` (``no_calls.parser_for``): content passes this filter first, and
    #: call-shaped spans the parser finds are dropped whole.
    content_filter: ContentFilter | None = None
    drop_calls: bool = False

    def __init__(
        self,
        tools: Sequence[ToolSpec],
        *,
        id_factory: IdFactory = new_call_id,
        starts_in_reasoning: bool = False,
    ) -> None:
        self.tools: dict[str, ToolSpec] = {t.name: t for t in tools}
        self.meter = Meter()
        self._new_id = id_factory
        self._events: list[Event] = []
        self._content = _Channel()
        self._thought = _Channel()
        self._index = 0
        # reasoning state: "pre" (may still open), "in", "done"
        self._rstate = "done"
        self._rbuf = ""
        if self.reasoning_markers is not None:
            self._rstate = "in" if starts_in_reasoning else "pre"
            self._rclose = MarkerSet([self.reasoning_markers[1]], self.meter)

    # ------------------------------------------------------------------ public protocol

    def feed(self, delta: str) -> list[Event]:
        if delta:
            if self._rstate != "done":
                delta = self._feed_reasoning(delta)
            if delta:
                self._content_in(delta)
        return self._take()

    def finish(self) -> list[Event]:
        if self._rstate == "pre":
            self._rstate = "done"
            if self._rbuf:
                self._content_in(self._rbuf)
        elif self._rstate == "in":
            self._reasoning(self._rbuf)  # reasoning cut off by max_tokens
            self._rstate = "done"
        self._rbuf = ""
        if self.content_filter is not None:
            rest = self.content_filter.finish()
            if rest:
                self._consume(rest)
        self._end()
        self._flush_text()
        return self._take()

    def parse(self, text: str) -> ParsedMessage:
        """Feed everything, then finish (call on a fresh parser)."""
        events = self.feed(text)
        events += self.finish()
        return ParsedMessage.from_events(events)

    def _content_in(self, delta: str) -> None:
        if self.content_filter is not None:
            delta = self.content_filter.feed(delta)
        if delta:
            self._consume(delta)

    # ------------------------------------------------------------------ for subclasses

    @abc.abstractmethod
    def _consume(self, delta: str) -> None:
        """Process content text (everything after any reasoning section)."""

    @abc.abstractmethod
    def _end(self) -> None:
        """The message ended: emit whatever is still pending."""

    def _text(self, s: str) -> None:
        if s:
            out = self._content.push(s)
            if out:
                self._events.append(TextDelta(out))

    def _flush_text(self) -> None:
        out = self._content.flush()
        if out:
            self._events.append(TextDelta(out))

    def _reasoning(self, s: str) -> None:
        if s:
            out = self._thought.push(s)
            if out:
                self._events.append(ReasoningDelta(out))

    def _call(self, decoded: Decoded | None, raw: str) -> None:
        """Emit one call, or ``raw`` as text plus ``CallRejected`` when it cannot be a call."""
        if self.drop_calls:
            self._content.boundary()  # the span is gone; whitespace around it is layout
            return
        if decoded is None:
            self._reject(None, Outcome.INVALID, raw)
            return
        tool = self.tools.get(decoded.name)
        if tool is None:
            self._reject(decoded.name, Outcome.DROPPED, raw)
            return
        outcome, arguments = finalize_arguments(decoded.arguments, tool)
        if arguments is None:
            self._reject(decoded.name, Outcome.INVALID, raw)
            return
        if decoded.repaired:
            outcome = Outcome.REPAIRED
        self._content.boundary()
        index = self._index
        self._index += 1
        self._events.append(ToolCallStart(index, self._new_id(), decoded.name))
        self._events.append(ToolCallArgsDelta(index, arguments))
        self._events.append(ToolCallEnd(index, outcome))

    def _reject(self, name: str | None, outcome: Outcome, raw: str) -> None:
        self._text(raw)
        self._flush_text()  # the raw span is content as written, trailing whitespace included
        self._events.append(CallRejected(name, outcome))

    @property
    def calls_emitted(self) -> int:
        return self._index

    # ------------------------------------------------------------------ internals

    def _take(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def _feed_reasoning(self, delta: str) -> str:
        """Handle the reasoning prefix; return the part of ``delta`` that is content."""
        assert self.reasoning_markers is not None
        opener, closer = self.reasoning_markers
        buf = self._rbuf + delta
        self._rbuf = ""
        if self._rstate == "pre":
            stripped = buf.lstrip()
            if stripped.startswith(opener):
                self._rstate = "in"
                buf = stripped[len(opener) :]
            elif opener.startswith(stripped):
                self._rbuf = buf  # could still become the opener
                return ""
            else:
                self._rstate = "done"
                return buf
        before, marker, after = self._rclose.cut(buf)
        self._reasoning(before)
        if marker is None:
            self._rbuf = after
            return ""
        self._rstate = "done"
        self._content.boundary()
        return after


class BlockParser(StreamParser):
    """Content with calls between a start and an end marker.

    Subclasses set ``start`` and ``ends`` and implement ``decode(body, complete)``. ``ends`` may
    include ``start``: a block left unclosed is then ended by the next block's start marker (the
    model forgot ``</tool_call>`` between two calls). ``drop`` lists layout markers (deepseek's
    section begin/end) removed wherever they stand in content; one that is also in ``ends`` closes
    an unclosed block without becoming part of its raw text. ``complete`` is
    False when the message ended inside the block (cut off by ``max_tokens``); return None when the
    body is not a call at all (its raw text then stays content with outcome ``invalid``).
    Text outside blocks streams as it arrives, holding back only a suffix that may begin ``start``.

    With ``json_strings = True`` (bodies are JSON), an end marker that appears inside a JSON string
    literal of the body is argument text, not the end of the block: a call may carry the literal
    ``</tool_call>`` in an argument. The price: a body with an unbalanced quote runs to the end of
    the message (and then stays content as an invalid call).
    """

    start: str = ""
    ends: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    json_strings: bool = False

    def __init__(self, tools: Sequence[ToolSpec], **kwargs: Any) -> None:
        super().__init__(tools, **kwargs)
        self._starts = MarkerSet([self.start, *self.drop], self.meter)
        self._buf = ""
        self._block: UntilMarker | None = None
        if self.json_strings and any('"' in e or "\\" in e for e in self.ends):
            raise ValueError("json_strings needs end markers without quotes or backslashes")

    @abc.abstractmethod
    def decode(self, body: str, complete: bool) -> Decoded | None:
        """Turn one block body into a call (or None when it is not one)."""

    def _consume(self, delta: str) -> None:
        while delta:
            if self._block is not None:
                found = self._block.add(delta)
                if found is None:
                    return
                body, end, delta = found
                self._block = None
                # an end that is the next start or a layout marker is not part of this call's text
                closing = "" if end == self.start or end in self.drop else end
                self._call(self.decode(body, True), self.start + body + closing)
                if end == self.start:  # the next block opened before this one was closed
                    self._open_block()
                continue
            before, marker, delta = self._starts.cut(self._buf + delta)
            self._text(before)
            if marker is None:
                self._buf = delta
                return
            self._buf = ""
            if marker == self.start:
                self._open_block()

    def _open_block(self) -> None:
        gate = QuoteTracker(self.meter) if self.json_strings else None
        self._block = UntilMarker(self.ends, self.meter, gate)

    def _end(self) -> None:
        if self._block is not None:
            body = self._block.text()
            self._block = None
            self._call(self.decode(body, False), self.start + body)
        elif self._buf:
            self._text(self._buf)
            self._buf = ""
