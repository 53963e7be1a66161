"""Streaming a call's arguments while they are written (``stream_arguments: incremental``), never
contradicting what was already sent.

A client that reads argument fragments as they arrive (an agent UI showing a file being written)
cannot take a fragment back. So ``ArgumentStream`` does not forward the text it is given: it reads
it as JSON, incrementally, and sends the **canonical** text of what it has read so far, in exactly
the layout ``calls.finalize_arguments`` writes (``json.dumps(obj, ensure_ascii=False)``: ``", "``
and ``": "`` separators, strings re-escaped, numbers as Python writes them). When the object arrives
valid and coercion has nothing to change, the finalised text *is* what was sent. It sends only what
cannot change any more, and stops sending (``holding``) at the first thing that could:

- a key, with its ``, `` and ``: ``, goes out together with the first byte of its value, and so
  does an object's ``{`` (json repair turns an object cut off inside its first key into something
  else); a number or ``true``/``false``/``null`` once it has ended (a cut-off ``12`` or ``tr`` is
  never sent); a ``\\u`` escape once complete (a surrogate pair as one character); whitespace at
  the end of a string so far once something else follows it (json repair trims it from a cut-off
  string);
- anything that is not strict JSON (a trailing comma, a single quote, a raw control character, a
  lone surrogate, a second value for a key already sent, NaN, text before the ``{``) holds;
- a value whose type the tool's schema does not list holds *before* the value's first byte:
  ``coerce_to_schema`` may rewrite exactly such a value (``"2"`` for an integer), and the holding
  rule follows its rules (``calls.keeps_type``: ``properties``, ``additionalProperties``, ``items``;
  ``anyOf`` and ``$ref`` are not interpreted there, so never hold here).

When the call ends, ``settle(final)`` decides the rest, given the finalised text (json repair and
coercion done, ``None`` when no object could be made):

1. the finalised text begins with what was sent: the remainder goes out (nothing, when the
   arguments arrived valid; ``"}`` and the like when json repair closed a cut-off object) and the
   call keeps its outcome (parsed or repaired);
2. otherwise (repair or coercion changed something already sent, or no object at all): what was
   sent is closed as it stands (an open string gets its ``"``, open arrays and objects their
   brackets) and the call ends with outcome ``repaired``. The client then has valid JSON arguments
   that may lack what followed the point where sending stopped. The holding rules above keep this
   case rare: every coercion, and what json repair appends to an object cut off in a string, a
   number, a key or between members, fall under rule 1; what remains is json repair's own
   rewriting (it drops an empty last array item, and trims or re-escapes strings around a
   misplaced comma or quote), where the text as sent is the more faithful one.

Nothing sent (the arguments began with something other than ``{``, arrived as an object, or were
cut off before their first value): the finalised text goes out whole, exactly as with
``stream_arguments: whole`` (for a hosted call whose text no repair makes an object, that is its
text as given, outcome ``invalid``, as whole mode keeps it). Otherwise every fragment sent and
every remainder concatenate to one JSON object text.

The same reader serves both paths: ``server/backends/normalize.py`` feeds it a hosted upstream's
argument fragments; ``StreamedArgumentsParser`` below feeds it the arguments of a forced call a
local model is writing (vLLM, ``tool_choice`` required/named: the structured-outputs constraint
already types the arguments by the schema, so rule 2 is left for a reply cut off by ``max_tokens``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.base import (
    CallRejected,
    Event,
    Outcome,
    ParsedMessage,
    Parser,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolSpec,
)
from adapters.calls import keeps_type, new_call_id

_PLAIN = re.compile(r'[^"\\\x00-\x1f]+')  # string characters that need no escape, read as a run
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_CHARS = frozenset("+-0123456789.eE")
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}
_WS = " \t\n\r"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEX = frozenset("0123456789abcdefABCDEF")


def _canonical(ch: str) -> str:
    """One decoded string character as ``json.dumps(..., ensure_ascii=False)`` writes it."""
    return json.dumps(ch, ensure_ascii=False)[1:-1]


def _child_schema(schema: Any, key: str | None) -> Any:
    """The sub-schema ``coerce_to_schema`` applies to an object's member (``key``) or an array item."""
    if not isinstance(schema, Mapping):
        return None
    if key is None:
        return schema.get("items")
    props = schema.get("properties")
    props = props if isinstance(props, Mapping) else {}
    extra = schema.get("additionalProperties")
    return props.get(key, extra if isinstance(extra, Mapping) else None)


@dataclass(slots=True)
class _Frame:
    bracket: str  # "{" or "["
    schema: Any
    keys: set[str] = field(default_factory=set)


class ArgumentStream:
    """One call's arguments: raw JSON text in, canonical text that is safe to send out (see the
    module docstring). ``feed`` returns the fragment to send now (often ""); O(1) amortised per
    character, runs of plain string characters are copied in one step."""

    def __init__(self, schema: Mapping[str, Any] | None) -> None:
        self._schema = schema
        self._mode = "start"
        self._stack: list[_Frame] = []
        self._pending = ""  # ", ", keys, ": " and "{" not sent yet: they go out with a value's first byte
        self._unsent = 0  # objects whose "{" is still in ``_pending``
        self._spaces: list[str] = []  # trailing whitespace of a value string, held (json repair trims it)
        self._value_schema: Any = schema
        self._token = ""  # a number or literal being read, or a \u escape's hex digits
        self._key: list[str] | None = None  # the key being read (None: reading a value string)
        self._high = 0  # a high surrogate waiting for its low half
        self._in_string = False  # a value string whose opening quote was sent
        self._sent: list[str] = []
        self._out: list[str] = []

    # ------------------------------------------------------------------ public

    @property
    def complete(self) -> bool:
        """The top-level object was read whole and all of it was sent."""
        return self._mode == "done"

    @property
    def holding(self) -> bool:
        return self._mode == "hold"

    @property
    def sent(self) -> bool:
        return bool(self._sent)

    def hold(self) -> None:
        """Send nothing more (e.g. the upstream switched to arguments as an object)."""
        if self._mode != "done":
            self._mode = "hold"

    def feed(self, text: str) -> str:
        i, n = 0, len(text)
        while i < n and self._mode not in ("done", "hold"):
            i = self._step(text, i)
        out = "".join(self._out)
        self._out.clear()
        if out:
            self._sent.append(out)
        return out

    def settle(self, final: str | None) -> tuple[str, bool]:
        """What still goes out when the call ends, and whether ``final`` (the finalised arguments,
        None when there is no object) is what the client ends up with: rules 1 and 2 above."""
        sent = "".join(self._sent)
        if final is not None and final.startswith(sent):
            return final[len(sent) :], True
        return self._closing(), False

    # ------------------------------------------------------------------ reading

    def _step(self, text: str, i: int) -> int:
        mode = self._mode
        if mode == "string":
            return self._string(text, i)
        c = text[i]
        if mode == "escape":
            return self._escape(c, i)
        if mode == "unicode":
            return self._unicode(c, i)
        if mode in ("number", "literal"):
            if (c in _NUMBER_CHARS) if mode == "number" else c.isalpha():
                self._token += c
                return i + 1
            self._scalar_done()
            return i  # the delimiter is read again after the value (not at all once holding)
        if c in _WS:
            return i + 1
        if mode in ("value", "array_first"):
            if mode == "array_first" and c == "]":
                self._close(c)
                return i + 1
            return self._value(c, i)
        if mode == "after_value":
            return self._after_value(c, i)
        return self._structure(mode, c, i)

    def _string(self, text: str, i: int) -> int:
        plain = _PLAIN.match(text, i)
        if plain is not None and not self._high:
            self._run(plain.group())
            return plain.end()
        c = text[i]
        if self._high and c != "\\":
            return self._stop(i)  # a lone high surrogate
        if c == '"':
            self._end_string()
        elif c == "\\":
            self._mode = "escape"
        else:
            return self._stop(i)  # a raw control character: not strict JSON
        return i + 1

    def _structure(self, mode: str, c: str, i: int) -> int:
        """The object's opening brace, its keys and colons."""
        if mode == "start":
            if c != "{" or not keeps_type({}, self._schema):
                return self._stop(i)
            self._open(c, self._schema)
        elif mode in ("object_first", "key"):
            if c == '"':
                self._key = []
                self._mode = "string"
            elif c == "}" and mode == "object_first":
                self._close(c)
            else:
                return self._stop(i)
        elif mode == "colon" and c == ":":
            self._mode = "value"
        else:
            return self._stop(i)
        return i + 1

    def _value(self, c: str, i: int) -> int:
        schema = self._value_schema
        if c == '"':
            if not keeps_type("", schema):
                return self._stop(i)
            self._emit('"')
            self._in_string = True
            self._key = None
            self._mode = "string"
        elif c == "{" or c == "[":
            if not keeps_type({} if c == "{" else [], schema):
                return self._stop(i)
            self._open(c, schema)
        elif c == "-" or c.isdigit():
            self._mode, self._token = "number", c
        elif c in "tfn":
            self._mode, self._token = "literal", c
        else:
            return self._stop(i)
        return i + 1

    def _after_value(self, c: str, i: int) -> int:
        frame = self._stack[-1]
        if c == ",":
            self._pending = ", "
            if frame.bracket == "{":
                self._mode = "key"
            else:
                self._mode, self._value_schema = "value", _child_schema(frame.schema, None)
        elif (c == "}" and frame.bracket == "{") or (c == "]" and frame.bracket == "["):
            self._close(c)
        else:
            return self._stop(i)
        return i + 1

    def _escape(self, c: str, i: int) -> int:
        if c == "u":
            self._mode, self._token = "unicode", ""
            return i + 1
        if c not in _ESCAPES or self._high:
            return self._stop(i)
        self._char(_ESCAPES[c])
        self._mode = "string"
        return i + 1

    def _unicode(self, c: str, i: int) -> int:
        if c not in _HEX:
            return self._stop(i)
        self._token += c
        if len(self._token) < 4:
            return i + 1
        code = int(self._token, 16)
        self._mode = "string"
        if self._high:
            if not 0xDC00 <= code <= 0xDFFF:
                return self._stop(i)
            code = 0x10000 + ((self._high - 0xD800) << 10) + (code - 0xDC00)
            self._high = 0
        elif 0xD800 <= code <= 0xDBFF:
            self._high = code  # wait for the low half
            return i + 1
        elif 0xDC00 <= code <= 0xDFFF:
            return self._stop(i)
        self._char(chr(code))
        return i + 1

    def _run(self, run: str) -> None:
        """Characters that need no escape (canonical as they are)."""
        if self._key is not None:
            self._key.append(run)
            return
        body = run.rstrip()
        if body:
            self._emit("".join(self._spaces) + body)
            self._spaces.clear()
        if len(body) < len(run):
            self._spaces.append(run[len(body) :])

    def _char(self, ch: str) -> None:
        """One character written as an escape."""
        canonical = _canonical(ch)
        if self._key is not None:
            self._key.append(canonical)
        elif ch.isspace():
            self._spaces.append(canonical)
        else:
            self._emit("".join(self._spaces) + canonical)
            self._spaces.clear()

    def _end_string(self) -> None:
        if self._key is None:  # a value string
            self._emit("".join(self._spaces) + '"')
            self._spaces.clear()
            self._in_string = False
            self._after()
            return
        frame = self._stack[-1]
        key = json.loads('"' + "".join(self._key) + '"')  # the parts are canonical escapes already
        self._key = None
        if key in frame.keys:  # json.loads keeps the last value: what was sent would be wrong
            self._mode = "hold"
            return
        frame.keys.add(key)
        self._pending += json.dumps(key, ensure_ascii=False) + ": "
        self._mode, self._value_schema = "colon", _child_schema(frame.schema, key)

    def _scalar_done(self) -> bool:
        token, number = self._token, self._mode == "number"
        value: Any
        if number:
            if _NUMBER.fullmatch(token) is None:
                self._mode = "hold"
                return False
            try:
                value = json.loads(token)
            except ValueError:  # e.g. an integer longer than Python's digit limit
                self._mode = "hold"
                return False
            if isinstance(value, float) and not math.isfinite(value):
                self._mode = "hold"
                return False
        elif token in _LITERALS:
            value = _LITERALS[token]
        else:
            self._mode = "hold"
            return False
        if not keeps_type(value, self._value_schema):
            self._mode = "hold"
            return False
        self._emit(json.dumps(value) if number else token)
        self._after()
        return True

    # ------------------------------------------------------------------ structure

    def _open(self, bracket: str, schema: Any) -> None:
        self._stack.append(_Frame(bracket, schema))
        if bracket == "{":
            # sent with its first member's value: json repair may turn an object cut off inside
            # its first key into something else (an array of the key)
            self._pending += bracket
            self._unsent += 1
            self._mode = "object_first"
        else:
            self._emit(bracket)
            self._mode, self._value_schema = "array_first", _child_schema(schema, None)

    def _close(self, bracket: str) -> None:
        self._emit(bracket)
        self._stack.pop()
        self._after()

    def _after(self) -> None:
        self._mode = "after_value" if self._stack else "done"

    def _emit(self, s: str) -> None:
        if self._pending:
            self._out.append(self._pending)
            self._pending = ""
            self._unsent = 0
        self._out.append(s)

    def _stop(self, i: int) -> int:
        self._mode = "hold"
        return i

    def _closing(self) -> str:
        """What makes the text sent so far one JSON object (rule 2)."""
        if not self._sent:
            return ""
        tail = '"' if self._in_string else ""
        sent = self._stack[: len(self._stack) - self._unsent]
        return tail + "".join("}" if f.bracket == "{" else "]" for f in reversed(sent))


# --------------------------------------------------------------------------- local models


def _openai_id(name: str, m: re.Match[str]) -> str:
    return new_call_id()


@dataclass(frozen=True, slots=True)
class ArgumentsHead:
    """Where a family's forced call names its tool and its JSON arguments begin, in the text the
    parser reads (the constraint's prefill included): ``pattern`` ends at the arguments' ``{``; its
    group ``name`` is the tool (``json_name``: written as a JSON string); ``call_id`` makes the id
    the family's parser would give the call (from the match)."""

    pattern: re.Pattern[str]
    json_name: bool = False
    call_id: Callable[[str, re.Match[str]], str] = _openai_id


_JSON_NAME = r'"name"\s*:\s*(?P<name>"(?:[^"\\]|\\.)*")'


def _envelope(opener: str, args_key: str) -> re.Pattern[str]:
    return re.compile(opener + r"\s*\{\s*" + _JSON_NAME + r'\s*,\s*"' + args_key + r'"\s*:\s*\{')


def _kimi_id(name: str, m: re.Match[str]) -> str:
    return f"functions.{name}:{int(m.group('index'))}"  # as kimi_k2's parser names the first call


def _mistral_id(name: str, m: re.Match[str]) -> str:
    return new_call_id(9, "")


# Families whose forced call carries its arguments as a JSON object. The XML families (glm45,
# glm47, qwen3_coder, minimax_m2, deepseek_v32) write values as text typed later, and pythonic and
# chatglm3 write Python: their arguments exist as JSON only once the call is whole.
ARGUMENT_HEADS: dict[str, ArgumentsHead] = {
    "hermes": ArgumentsHead(_envelope(r"<tool_call>", "arguments"), json_name=True),
    "qwen3": ArgumentsHead(_envelope(r"<tool_call>", "arguments"), json_name=True),
    "llama3_json": ArgumentsHead(_envelope(r"\A\s*(?:<\|python_tag\|>)?", "(?:parameters|arguments)"), json_name=True),
    "mistral": ArgumentsHead(
        re.compile(
            r"\[TOOL_CALLS\]\s*(?:\[\s*\{\s*" + _JSON_NAME + r'\s*,\s*"arguments"\s*:\s*'
            r"|(?P<bare>[A-Za-z0-9_.\-]+)\[ARGS\])\{"
        ),
        json_name=True,
        call_id=_mistral_id,
    ),
    "deepseek_v3": ArgumentsHead(
        re.compile(
            r"<｜tool▁call▁begin｜>(?:function<｜tool▁sep｜>(?P<bare>[^\n<]+)\n```json\n"
            r"|(?P<name>[^\n<｜]+)<｜tool▁sep｜>)\{"
        )
    ),
    "glm4": ArgumentsHead(re.compile(r"\A\s*(?P<name>[A-Za-z0-9_.\-]+)\n\{")),
    "gpt_oss": ArgumentsHead(
        re.compile(r"to=functions\.(?P<name>[^\s<]+)\s*(?:<\|constrain\|>\s*)?(?:json\s*)?<\|message\|>\{")
    ),
    "kimi_k2": ArgumentsHead(
        re.compile(
            r"<\|tool_call_begin\|>\s*functions\.(?P<name>[^:\s<]+):(?P<index>[0-9]+)\s*"
            r"<\|tool_call_argument_begin\|>\s*\{"
        ),
        call_id=_kimi_id,
    ),
}
HEAD_LIMIT = 1024  # characters read for a head before the call is left to the parser alone


class StreamedArgumentsParser:
    """A family parser whose first call streams its arguments as the model writes them.

    Every character still goes through the family's parser, which stays the authority on what the
    message holds. Beside it, the text is searched for the family's ``ArgumentsHead``; once found
    (an offered tool), the call is announced at once (index 0, the id the parser would give it) and
    its arguments go through an ``ArgumentStream``. When the parser then emits that call, its start
    is swallowed, its finalised arguments settle the stream (the module docstring's rules) and its
    end goes out. Should the parser reject the span instead (raw text + ``CallRejected``, only when
    even json repair found no object), the call announced stays a call: its raw text is not sent,
    the sent arguments are closed, and the parser's later calls move up one index. Calls after the
    first are the parser's own events, whole.
    """

    def __init__(self, inner: Parser, head: ArgumentsHead, tools: Sequence[ToolSpec]) -> None:
        self._inner = inner
        self._head = head
        self._tools = {t.name: t for t in tools}
        self._seek: list[str] | None = []  # text read while looking for the head (None: stopped)
        self._seen = 0
        self._stream: ArgumentStream | None = None
        self._final: str | None = None
        self._shift = 0  # +1 once a rejected first call was kept as our call

    @property
    def calls_emitted(self) -> int:
        return self._inner.calls_emitted + self._shift

    def feed(self, delta: str) -> list[Event]:
        inner = self._inner.feed(delta)
        return self._tap(delta) + self._rewrite(inner)

    def finish(self) -> list[Event]:
        events = self._rewrite(self._inner.finish())
        if self._stream is not None:  # the parser never resolved the call: close it ourselves
            events += self._settle(None, Outcome.REPAIRED)
        return events

    def parse(self, text: str) -> ParsedMessage:
        events = self.feed(text)
        events += self.finish()
        return ParsedMessage.from_events(events)

    # ------------------------------------------------------------------ the first call

    def _tap(self, delta: str) -> list[Event]:
        if self._stream is not None:
            fragment = self._stream.feed(delta)
            return [ToolCallArgsDelta(0, fragment)] if fragment else []
        if self._seek is None:
            return []
        self._seek.append(delta)
        self._seen += len(delta)
        text = "".join(self._seek) if len(self._seek) > 1 else delta
        self._seek = [text]
        m = self._head.pattern.search(text)
        if m is None:
            if self._seen > HEAD_LIMIT:
                self._seek = None
            return []
        self._seek = None
        name = m.group("name") if m.group("name") is not None else m.groupdict().get("bare")
        if name is not None and self._head.json_name and name.startswith('"'):
            name = json.loads(name)
        tool = self._tools.get(name or "")
        if tool is None:
            return []
        self._stream = ArgumentStream(tool.parameters or None)
        events: list[Event] = [ToolCallStart(0, self._head.call_id(tool.name, m), tool.name)]
        fragment = self._stream.feed(text[m.end() - 1 :])
        return events + ([ToolCallArgsDelta(0, fragment)] if fragment else [])

    def _rewrite(self, events: list[Event]) -> list[Event]:
        if self._stream is None and not self._shift:
            if self._seek is not None and any(isinstance(e, ToolCallStart) for e in events):
                self._seek = None  # the parser found a call the head did not: it stays the parser's
            return events
        out: list[Event] = []
        for event in events:
            if self._stream is not None and isinstance(event, ToolCallStart | ToolCallArgsDelta) and event.index == 0:
                if isinstance(event, ToolCallArgsDelta):
                    self._final = (self._final or "") + event.fragment
                continue
            if self._stream is not None and isinstance(event, ToolCallEnd) and event.index == 0:
                out += self._settle(self._final, event.outcome)
            elif self._stream is not None and isinstance(event, CallRejected):
                while out and isinstance(out[-1], TextDelta):  # the rejected span's raw text
                    out.pop()
                self._shift = 1
                out += self._settle(None, Outcome.REPAIRED)
            else:
                out.append(_shifted(event, self._shift))
        return out

    def _settle(self, final: str | None, outcome: Outcome) -> list[Event]:
        assert self._stream is not None
        tail, kept = self._stream.settle(final)
        self._stream = None
        events: list[Event] = [ToolCallArgsDelta(0, tail)] if tail else []
        return [*events, ToolCallEnd(0, outcome if kept else Outcome.REPAIRED)]


def _shifted(event: Event, by: int) -> Event:
    if not by:
        return event
    if isinstance(event, ToolCallStart):
        return ToolCallStart(event.index + by, event.id, event.name)
    if isinstance(event, ToolCallArgsDelta):
        return ToolCallArgsDelta(event.index + by, event.fragment)
    if isinstance(event, ToolCallEnd):
        return ToolCallEnd(event.index + by, event.outcome)
    return event


def stream_first_call(parser: Parser, family: str, tools: Sequence[ToolSpec]) -> Parser:
    """``parser`` with its first call's arguments streamed, for a family whose forced calls carry
    JSON arguments (``ARGUMENT_HEADS``); any other family's parser unchanged."""
    head = ARGUMENT_HEADS.get(family)
    return parser if head is None else StreamedArgumentsParser(parser, head, tools)
