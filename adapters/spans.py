"""``SpanParser``: content with calls written as bracketed values that open with one character.

For formats without a start marker — llama3_json's ``{"name": …}`` objects, pythonic's
``[f(a=1)]`` lists — any ``{`` or ``[`` in prose might begin a call. The parser:

1. streams text until one of the ``openers`` characters (or a marker in ``drop_markers``, removed
   wherever it appears in content: ``<|python_tag|>``, ``<|eom_id|>`` …);
2. buffers a short *candidate* from the opener and asks ``prefix_state(candidate)`` whether it can
   still be a call (``None`` = undecided, ``False`` = not a call: the opener goes out as text at
   once and scanning resumes after it, ``True`` = call-shaped);
3. collects a call-shaped value with ``scan.Balanced`` (brackets inside strings ignored) until its
   outermost bracket closes, then ``decode_span(text, closing=None)`` turns it into calls;
4. at the end of the message, a value cut off mid-way goes to ``decode_span(text, closing)`` where
   ``closing`` is what would close it (open quote + owed brackets), for repair.

``decode_span`` returns None when the value turns out not to be a call at all (it stays text), or
a list of ``(Decoded | None, raw)``: each entry becomes a call, or its raw text plus a rejection.
After an accepted call, leading ``separators`` (e.g. llama's ``;``) and whitespace are dropped.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from adapters.base import ToolSpec
from adapters.parsing import Decoded, StreamParser
from adapters.scan import Balanced, MarkerSet

#: a candidate longer than this without a decision is prose (bounds hold-back latency)
CANDIDATE_LIMIT = 256

SpanCalls = list[tuple[Decoded | None, str]]


class SpanParser(StreamParser):
    openers: str = "{"
    brackets: str = "{}[]"
    quotes: str = '"'
    drop_markers: tuple[str, ...] = ()
    separators: str = ""

    def __init__(self, tools: Sequence[ToolSpec], **kwargs: Any) -> None:
        super().__init__(tools, **kwargs)
        self._markers = MarkerSet((*self.openers, *self.drop_markers), self.meter)
        self._buf = ""
        self._candidate: str | None = None
        self._span: Balanced | None = None
        self._after_call = False

    @abc.abstractmethod
    def prefix_state(self, candidate: str) -> bool | None:
        """Can ``candidate`` (which starts with one of the openers) still become a call?"""

    @abc.abstractmethod
    def decode_span(self, text: str, closing: str | None) -> SpanCalls | None:
        """Calls in one complete (``closing`` None) or cut-off value; None when it is not a call."""

    # ------------------------------------------------------------------ state machine

    def _consume(self, delta: str) -> None:
        while delta:
            if self._span is not None:
                delta = self._feed_span(delta)
            elif self._candidate is not None:
                delta = self._feed_candidate(delta)
            else:
                delta = self._feed_text(delta)

    def _feed_text(self, delta: str) -> str:
        if self._after_call:
            delta = delta.lstrip(self.separators + " \t\r\n")
            if not delta:
                return ""
            self._after_call = False
        before, marker, after = self._markers.cut(self._buf + delta)
        self._buf = ""
        self._text(before)
        if marker is None:
            self._buf = after
            return ""
        if marker not in self.openers:
            return after  # a dropped marker: continue after it
        self._candidate = ""
        return marker + after

    def _feed_candidate(self, delta: str) -> str:
        assert self._candidate is not None
        candidate = self._candidate + delta
        state = self.prefix_state(candidate)
        if state is None and len(candidate) > CANDIDATE_LIMIT:
            state = False
        if state is None:
            self._candidate = candidate
            return ""
        self._candidate = None
        if state is False:
            self._text(candidate[:1])
            return candidate[1:]
        self._span = Balanced(self.brackets, self.quotes, self.meter)
        return self._feed_span(candidate)

    def _feed_span(self, delta: str) -> str:
        assert self._span is not None
        end = self._span.add(delta)
        if end is None:
            return ""
        text = self._span.text()
        self._span = None
        self._emit_span(text, self.decode_span(text, None))
        return delta[end:]

    def _emit_span(self, text: str, calls: SpanCalls | None) -> None:
        if calls is None:
            self._text(text)
            return
        before = self.calls_emitted
        for decoded, raw in calls:
            self._call(decoded, raw)
        self._after_call = self.calls_emitted > before

    def _end(self) -> None:
        if self._span is not None:
            span, self._span = self._span, None
            text = span.text()
            cut = text[:-1] if span.ends_in_escape else text
            calls = self.decode_span(cut, span.closing())
            self._emit_span(text, calls if calls is not None else [(None, text)])
        elif self._candidate is not None:
            self._text(self._candidate)
            self._candidate = None
        if self._buf:
            self._text(self._buf)
            self._buf = ""
