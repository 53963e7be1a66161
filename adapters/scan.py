"""Incremental scanning primitives shared by every family parser.

Each helper keeps the state it needs between feeds so that the work per character stays O(1)
amortised: nothing here rescans text it has already looked at, apart from a bounded overlap of
``longest marker - 1`` characters. Every helper adds the number of characters it examined to a
``Meter``; tests use that counter (not wall time) to prove streamed parsing is linear.

- ``MarkerSet``: find the earliest of several markers in a small text buffer, and how long a
  suffix must be held back because it could be the start of a marker (``cut`` does both).
- ``UntilMarker``: collect a (possibly huge) body across feeds until an end marker appears.
- ``Balanced``: collect one bracketed value (JSON object/array, Python call list) across feeds and
  report where its outermost bracket closes; brackets inside string literals are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(slots=True)
class Meter:
    """Characters examined by the scanning helpers of one parser (a deterministic cost measure)."""

    chars: int = 0


class MarkerSet:
    """A fixed set of literal markers. Meant for *small* buffers: pending text plus one delta."""

    def __init__(self, markers: Sequence[str], meter: Meter | None = None) -> None:
        if not markers or any(not m for m in markers):
            raise ValueError("markers must be non-empty strings")
        self.markers = tuple(markers)
        self.longest = max(len(m) for m in markers)
        self._prefixes = {m[:k] for m in markers for k in range(1, len(m))}
        self._prefix_ends = {p[-1] for p in self._prefixes}  # cheap first test for ``held``
        self._meter = meter if meter is not None else Meter()
        self._single = self.markers[0] if len(self.markers) == 1 else None
        # longest first: at one position the regex tries alternatives in order
        by_length = sorted(set(self.markers), key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(m) for m in by_length))

    def search(self, buf: str, start: int = 0) -> tuple[int, str] | None:
        """``(index, marker)`` of the earliest marker at or after ``start`` (longest wins a tie).

        One left-to-right scan that stops at the first hit, so searching again after a hit costs
        only the text after it.
        """
        if self._single is not None:  # the common case, kept cheap: streaming calls this per delta
            i = buf.find(self._single, start)
            self._meter.chars += (len(buf) if i < 0 else i + len(self._single)) - start
            return None if i < 0 else (i, self._single)
        m = self._pattern.search(buf, start)
        self._meter.chars += (len(buf) if m is None else m.end()) - start
        return None if m is None else (m.start(), m.group())

    def cut(self, buf: str) -> tuple[str, str | None, str]:
        """Split ``buf`` at its earliest marker: ``(text before, marker, text after)``.

        Without a marker, ``(safe, None, held)``: ``safe`` cannot be part of any marker and may go
        out now; ``held`` is the suffix that may still begin one and must wait for the next delta.
        Every parser that streams text up to a marker goes through here, so the hold-back rule
        lives in one place.
        """
        hit = self.search(buf)
        if hit is None:
            keep = self.held(buf)
            return buf[: len(buf) - keep], None, buf[len(buf) - keep :]
        i, marker = hit
        return buf[:i], marker, buf[i + len(marker) :]

    def held(self, buf: str) -> int:
        """Length of the longest suffix of ``buf`` that is a proper prefix of some marker."""
        self._meter.chars += 1
        if not buf or buf[-1] not in self._prefix_ends:
            return 0
        for k in range(min(len(buf), self.longest - 1), 0, -1):
            self._meter.chars += 1
            if buf[-k:] in self._prefixes:
                return k
        return 0


class UntilMarker:
    """Collects text across feeds until one of ``ends`` appears.

    ``add(delta)`` returns None while no end marker has been seen, else ``(body, marker, rest)``:
    everything collected before the marker, the marker itself, and the unconsumed remainder of
    this delta. Only the delta plus the held-back suffix of earlier text that could begin a marker
    (at most ``longest - 1`` characters) is searched per call.

    With a ``gate`` (a ``QuoteTracker``), every collected character is shown to it once, in order,
    and a marker found while ``gate.in_string`` is body text, not an end (markers must not contain
    quotes or backslashes, so showing their characters to the gate changes nothing).
    """

    def __init__(self, ends: Sequence[str], meter: Meter | None = None, gate: QuoteTracker | None = None) -> None:
        self._ends = MarkerSet(ends, meter)
        self._gate = gate
        self._parts: list[str] = []
        self._tail = ""  # collected suffix that may begin an end marker split across feeds

    def add(self, delta: str) -> tuple[str, str, str] | None:
        window = self._tail + delta if self._tail else delta
        shown = len(self._tail)  # the tail was shown to the gate with its own delta
        start = 0
        while (hit := self._ends.search(window, start)) is not None:
            i, marker = hit
            if self._gate is not None:
                self._gate.add(window[shown : i + len(marker)])
                shown = max(shown, i + len(marker))
                if self._gate.in_string:
                    start = i + len(marker)  # inside a string literal: keep collecting
                    continue
            collected = "".join(self._parts)
            body = collected[: len(collected) - len(self._tail)] + window[:i]
            return body, marker, window[i + len(marker) :]
        if self._gate is not None:
            self._gate.add(window[shown:])
        self._parts.append(delta)
        keep = self._ends.held(window)
        self._tail = window[len(window) - keep :]
        return None

    def text(self) -> str:
        """Everything collected so far (for a body cut off at the end of the message)."""
        return "".join(self._parts)


class QuoteTracker:
    """Whether text fed so far ends inside a JSON string literal (``"`` with ``\\`` escapes).

    Lets a parser tell an end marker that closes a call from the same characters written inside
    a string argument. Only quotes and backslashes are looked at, via one regex search each.
    """

    _SPECIAL = re.compile(r'["\\]')

    def __init__(self, meter: Meter | None = None) -> None:
        self._meter = meter if meter is not None else Meter()
        self.in_string = False
        self._escape = False

    def add(self, text: str) -> None:
        self._meter.chars += len(text)
        i, n = 0, len(text)
        if self._escape and n:
            self._escape, i = False, 1
        while (m := self._SPECIAL.search(text, i)) is not None:
            i = m.end()
            if m.group() == '"':
                self.in_string = not self.in_string
            elif self.in_string:  # an escape: the next character is taken literally
                if i >= n:
                    self._escape = True
                    return
                i += 1


class Balanced:
    """Finds the end of one bracketed value fed in pieces, starting at its opening bracket.

    ``brackets`` pairs openers with closers (``"{}[]"`` for JSON, ``"()[]{}"`` for Python);
    ``quotes`` are the string delimiters, inside which brackets do not count and ``\\`` escapes the
    next character. Bracket kinds are not matched against each other: only depth matters, and a
    malformed value is the caller's to judge once it is complete.
    """

    def __init__(self, brackets: str = "{}[]", quotes: str = '"', meter: Meter | None = None) -> None:
        self._open = set(brackets[0::2])
        self._close = set(brackets[1::2])
        self._closer_of = dict(zip(brackets[0::2], brackets[1::2], strict=True))
        self._stack: list[str] = []  # closers still owed, innermost last (for ``closing``)
        specials = brackets + quotes + "\\"
        self._outside = re.compile("[" + re.escape(specials) + "]")
        self._inside = {q: re.compile("[" + re.escape(q + "\\") + "]") for q in quotes}
        self._meter = meter if meter is not None else Meter()
        self._parts: list[str] = []
        self.depth = 0
        self._quote: str | None = None
        self._escape = False

    def add(self, delta: str) -> int | None:
        """Consume ``delta``; return the index just past the closing bracket, or None if still open."""
        i, n = 0, len(delta)
        while i < n:
            if self._escape:
                self._escape = False
                i += 1
                continue
            pattern = self._outside if self._quote is None else self._inside[self._quote]
            m = pattern.search(delta, i)
            if m is None:
                break
            c = m.group()
            i = m.end()
            if c == "\\":
                self._escape = self._quote is not None
            elif self._quote is not None:
                self._quote = None  # the matching quote: the string literal ends
            elif c in self._open:
                self.depth += 1
                self._stack.append(self._closer_of[c])
            elif c in self._close:
                self.depth -= 1
                if self._stack:
                    self._stack.pop()
                if self.depth <= 0:
                    self._meter.chars += i
                    self._parts.append(delta[:i])
                    return i
            else:
                self._quote = c
        self._meter.chars += n
        self._parts.append(delta)
        return None

    @property
    def in_string(self) -> bool:
        return self._quote is not None

    def text(self) -> str:
        """Everything consumed so far (the whole value once ``add`` has returned an index)."""
        return "".join(self._parts)

    def closing(self) -> str:
        """What would close a value cut off here: the open string's quote, then owed brackets.

        A dangling backslash (cut off mid-escape) must be dropped by the caller first; see
        ``ends_in_escape``.
        """
        return (self._quote or "") + "".join(reversed(self._stack))

    @property
    def ends_in_escape(self) -> bool:
        return self._escape
