"""``tool_choice: "none"``: the answer is text, and never carries tool-call markup (pure, no I/O).

Under ``none`` the prompt declares no tools, but a model that saw calls earlier in the conversation
(or was trained to call) may still write ``<tool_call>{…}</tool_call>``. Parsed without tools, that
block would come back as text: the client would show raw markup to its user. So the family's call
markup is cut out of the text stream before the family's parser sees it:

- families whose calls sit between markers (``BlockParser``: hermes, qwen3, glm45, deepseek, kimi …):
  everything from the start marker to the end marker; a block left open runs to the end;
- families whose call section runs to the end of the message: from the marker on
  (``[TOOL_CALLS]`` for mistral, ``<|python_tag|>`` for llama3_json);
- gpt_oss, whose calls are whole harmony messages told apart by their header's recipient
  (``to=functions.X``): its own parser finds them, and drops them (``StreamParser.drop_calls``);
- families with no marker at all (pythonic's bare ``[f(x=1)]``, glm4's name line) cannot be told
  from text and are left alone.

Only content is stripped: a reasoning section (``<think>…</think>``, ``[THINK]…[/THINK]``) is never
read for calls, so call markup the model thinks about stays in ``reasoning_content`` as written
(the stripper is the parser's ``content_filter``, which sees text after the reasoning section).

``parser_for`` is the one entry point: the family's parser, set up for ``none``.
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.base import Adapter, Event, ParsedMessage, Parser, ToolChoice, ToolSpec
from adapters.parsing import BlockParser, StreamParser
from adapters.scan import MarkerSet, UntilMarker

# Families whose call section has a start marker and runs to the end of the message.
TO_END_MARKERS: dict[str, str] = {"mistral": "[TOOL_CALLS]", "llama3_json": "<|python_tag|>"}
# Families whose parser knows a call by its message header, not by a text marker: it drops them.
DROPS_CALLS = frozenset({"gpt_oss"})


class MarkupStripper:
    """Removes ``start … end`` spans from a text stream (``ends`` None: ``start`` to the end).

    Holds back only a suffix that may begin ``start``; text inside a span is dropped as it comes.
    ``ends`` may include ``start`` (hermes: an unclosed block is ended by the next one), which
    opens the next span at once.
    """

    def __init__(self, start: str, ends: Sequence[str] | None) -> None:
        self._start = start
        self._starts = MarkerSet([start])
        self._ends = tuple(ends) if ends else None
        self._held = ""
        self._inside: UntilMarker | None = None
        self._to_end = False

    def feed(self, delta: str) -> str:
        out: list[str] = []
        while delta and not self._to_end:
            if self._inside is not None:
                found = self._inside.add(delta)
                if found is None:
                    return "".join(out)
                _, end, delta = found
                self._inside = UntilMarker(self._ends) if end == self._start and self._ends else None
                continue
            before, marker, delta = self._starts.cut(self._held + delta)
            out.append(before)
            if marker is None:
                self._held = delta
                break
            self._held = ""
            if self._ends is None:
                self._to_end = True
            else:
                self._inside = UntilMarker(self._ends)
        return "".join(out)

    def finish(self) -> str:
        """The message ended: a held suffix that never became a marker is text after all."""
        held, self._held = self._held, ""
        return "" if self._inside is not None or self._to_end else held


class NoCallsParser:
    """A family parser (built without tools) behind a ``MarkupStripper``, for a parser that is no
    ``StreamParser`` (every registered family's is one; see ``parser_for``)."""

    def __init__(self, inner: Parser, stripper: MarkupStripper) -> None:
        self._inner = inner
        self._stripper = stripper

    def feed(self, delta: str) -> list[Event]:
        text = self._stripper.feed(delta)
        return self._inner.feed(text) if text else []

    def finish(self) -> list[Event]:
        rest = self._stripper.finish()
        events = self._inner.feed(rest) if rest else []
        return events + self._inner.finish()

    @property
    def calls_emitted(self) -> int:
        return self._inner.calls_emitted

    def parse(self, text: str) -> ParsedMessage:
        events = self.feed(text)
        events += self.finish()
        return ParsedMessage.from_events(events)


def stripper_for(adapter: Adapter) -> MarkupStripper | None:
    """The family's call markup, as a stripper; None for families without a marker."""
    probe = adapter.parser(())
    if isinstance(probe, BlockParser) and probe.start:
        return MarkupStripper(probe.start, probe.ends or None)
    marker = TO_END_MARKERS.get(adapter.name)
    return MarkupStripper(marker, None) if marker else None


def parser_for(adapter: Adapter, tools: Sequence[ToolSpec], tool_choice: ToolChoice) -> Parser:
    """The parser of one generated message: the family's own, or under ``none`` one that reads no
    calls and lets no call markup through."""
    if tool_choice.mode != "none":
        return adapter.parser(tools)
    inner = adapter.parser(())
    stripper = stripper_for(adapter)
    if isinstance(inner, StreamParser):
        inner.content_filter = stripper  # content only: reasoning is never read for calls
        inner.drop_calls = adapter.name in DROPS_CALLS
        return inner
    return inner if stripper is None else NoCallsParser(inner, stripper)
