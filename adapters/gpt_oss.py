"""gpt_oss family: OpenAI gpt-oss-20b / gpt-oss-120b in the harmony format.

The prompt (``harmony_render``) ends with ``<|start|>assistant``; the model then writes one or more
messages, each opened by a header and closed by ``<|end|>``, the last by ``<|call|>`` (a tool call)
or ``<|return|>`` (the answer). Raw output, reasoning then a call::

    <|channel|>analysis<|message|>The user wants the weather in Oslo. Call get_weather.<|end|>
    <|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Oslo"}<|call|>

reasoning then an answer::

    <|channel|>analysis<|message|>Simple greeting.<|end|><|start|>assistant<|channel|>final<|message|>Hello!<|return|>

Results go back as ``<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>…<|end|>``.

A header names a ``<|channel|>`` and, for a call, a recipient ``to=functions.NAME`` before or after
the channel, optionally a content type (``<|constrain|>json``, ``json``, ``code``). The parser routes
each message by its header:

- a recipient: a tool call; ``functions.NAME`` (or a bare ``NAME``) must be an offered tool, the
  body is its JSON arguments (repaired and coerced like every family; a recipient that is no
  offered tool — the built-in ``browser.*``/``python`` — or a body that is no object stays content);
- channel ``analysis``: reasoning (``reasoning_content``);
- anything else (``final``, a ``commentary`` preamble, no channel): content.

Texts of several messages of one kind are joined with ``\\n`` (as vLLM joins them); message text is
kept verbatim. ``<|call|>`` and ``<|return|>`` are stop strings, so vLLM usually cuts the last
message's end marker: the message open at the end of the text is complete. ``<|end|>``-style markers
written inside a JSON string argument do not end a call. A header without ``<|message|>`` (seen in
harmony's own non-strict tests) has its text salvaged as the message's content; text that runs
``HEADER_LIMIT`` characters without a header marker is content (bounds the hold-back).

``tool_choice`` required/named skips reasoning: the prefill opens the call message
(``<|channel|>commentary to=functions.``), see ``gpt_oss_constraint``. One call per turn: the model
stops at ``<|call|>`` and continues after the result, so ``parallel_tool_calls`` changes nothing.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from adapters.base import (
    CallRejected,
    Constraint,
    Message,
    Outcome,
    Parser,
    ReasoningDelta,
    TextDelta,
    ToolChoice,
    ToolSpec,
)
from adapters.family import TemplateAdapter, forced_tools, named_call_constraint
from adapters.harmony_render import (
    JSON_TYPE,
    KNOWLEDGE_CUTOFF,
    MODEL_IDENTITY,
    SystemInfo,
    effort_level,
    render_prompt,
)
from adapters.parsing import Decoded, StreamParser
from adapters.render import offered_tools
from adapters.scan import MarkerSet, QuoteTracker, UntilMarker

ENDS = ("<|end|>", "<|call|>", "<|return|>")
START = "<|start|>"
CHANNEL = "<|channel|>"
MESSAGE = "<|message|>"
HEADER_ENDS = (MESSAGE, *ENDS, START)
# a body also ends where the next message begins; a bare <|channel|> is a header whose
# <|end|><|start|>assistant the model left out
BODY_ENDS = (*ENDS, START, CHANNEL)
HEADER_LIMIT = 256  # the longest real header (a 64-character tool name) is about 130

_CHANNEL = re.compile(r"<\|channel\|>([^\s<]+)")
_RECIPIENT = re.compile(r"(?<![^\s>])to=([^\s<]+)")

Kind = Literal["reasoning", "content"]
_EVENT: Mapping[Kind, Callable[[str], TextDelta | ReasoningDelta]] = {"reasoning": ReasoningDelta, "content": TextDelta}


class GptOssParser(StreamParser):
    """Harmony messages (see the module docstring); states ``header``, ``stream`` and ``call``."""

    def __init__(self, tools: Sequence[ToolSpec], **kwargs: Any) -> None:
        super().__init__(tools, **kwargs)
        self._body_ends = MarkerSet(BODY_ENDS, self.meter)
        self._state = "header"
        self._prefix = ""  # "<|start|>" when the current message opened with it (raw text of a call)
        self._header = UntilMarker(HEADER_ENDS, self.meter)
        self._header_fed = 0
        self._kind: Kind = "content"
        self._pending = ""  # streamed body suffix that may begin a marker
        self._call_name = ""
        self._call_head = ""
        self._call_body = UntilMarker(BODY_ENDS, self.meter)
        self._seen: dict[Kind, bool] = {"reasoning": False, "content": False}
        self._separate: dict[Kind, bool] = {"reasoning": False, "content": False}
        self._steps: Mapping[str, Callable[[str], str]] = {
            "header": self._feed_header,
            "stream": self._feed_stream,
            "call": self._feed_call,
        }

    # ------------------------------------------------------------------ output

    def _open(self, kind: Kind) -> None:
        # a message of a kind that already has text is joined to it with "\n" (if it has text)
        self._separate[kind] = self._seen[kind]

    def _emit(self, kind: Kind, text: str) -> None:
        if not text:
            return
        if self._separate[kind]:
            text, self._separate[kind] = "\n" + text, False
        self._events.append(_EVENT[kind](text))
        self._seen[kind] = True

    def _reject(self, name: str | None, outcome: Outcome, raw: str) -> None:
        # verbatim, as one more content message (the base class would trim its whitespace)
        self._open("content")
        self._emit("content", raw)
        self._events.append(CallRejected(name, outcome))

    # ------------------------------------------------------------------ states

    def _consume(self, delta: str) -> None:
        while delta:
            delta = self._steps[self._state](delta)

    def _feed_header(self, delta: str) -> str:
        # feed at most up to the limit, so that where a header gives up does not depend on the split
        room = HEADER_LIMIT - self._header_fed
        piece, rest = delta[:room], delta[room:]
        found = self._header.add(piece)
        if found is None:
            self._header_fed += len(piece)
            if self._header_fed >= HEADER_LIMIT:  # no header after all: the text is content
                text = self._header.text()
                self._open("content")
                self._enter("stream")
                self._emit("content", text)
            return rest
        header, marker, after = found
        if marker == MESSAGE:
            self._open_body(header)
            return after + rest
        self._salvage(header)
        return self._next_message(marker) + after + rest

    def _feed_stream(self, delta: str) -> str:
        before, marker, after = self._body_ends.cut(self._pending + delta)
        self._emit(self._kind, before)
        if marker is None:
            self._pending = after
            return ""
        self._pending = ""
        return self._next_message(marker) + after

    def _feed_call(self, delta: str) -> str:
        found = self._call_body.add(delta)
        if found is None:
            return ""
        body, marker, after = found
        self._finish_call(body, marker if marker in ENDS else "")
        return self._next_message(marker) + after

    def _end(self) -> None:
        if self._state == "header":
            self._salvage(self._header.text())
        elif self._state == "stream":
            self._emit(self._kind, self._pending)
        else:  # the usual end of a call: vLLM cut the <|call|> stop string
            self._finish_call(self._call_body.text(), "")
        self._enter("header")

    # ------------------------------------------------------------------ transitions

    def _enter(self, state: str) -> None:
        self._state = state
        if state == "header":
            self._header = UntilMarker(HEADER_ENDS, self.meter)
            self._header_fed = 0
        self._pending = ""

    def _next_message(self, marker: str) -> str:
        """Start reading the next header after ``marker``; return text to feed back (a bare channel)."""
        self._enter("header")
        self._prefix = START if marker == START else ""
        return CHANNEL if marker == CHANNEL else ""

    def _open_body(self, header: str) -> None:
        self.meter.chars += len(header)
        channel = _CHANNEL.search(header)
        recipient = _RECIPIENT.search(header)
        if recipient is not None and recipient.group(1) != "all":
            self._call_name = recipient.group(1).removeprefix("functions.")
            self._call_head = self._prefix + header + MESSAGE
            self._call_body = UntilMarker(BODY_ENDS, self.meter, QuoteTracker(self.meter))
            self._enter("call")
            return
        self._kind = "reasoning" if channel is not None and channel.group(1) == "analysis" else "content"
        self._open(self._kind)
        self._enter("stream")

    def _finish_call(self, body: str, end: str) -> None:
        self._call(Decoded(self._call_name, body), self._call_head + body + end)

    def _salvage(self, header: str) -> None:
        """A header that ended without ``<|message|>``: its words, minus channel and role, are text."""
        self.meter.chars += len(header)
        channel = _CHANNEL.search(header)
        text = header if channel is None else header[: channel.start()] + header[channel.end() :]
        text = text.strip()
        if text == "assistant" or text.startswith(("assistant ", "assistant\n")):
            text = text[len("assistant") :].lstrip()
        kind: Kind = "reasoning" if channel is not None and channel.group(1) == "analysis" else "content"
        self._open(kind)
        self._emit(kind, text)


# --------------------------------------------------------------------------- constraint

CALL_OPENER = "<|channel|>commentary to=functions."


def _call_head(name: str) -> str:
    return f"{name} {JSON_TYPE}{MESSAGE}"


def gpt_oss_constraint(tools: Sequence[ToolSpec], tool_choice: ToolChoice) -> Constraint | None:
    """``required``/named: the prefill opens a call message on ``commentary``; with one allowed tool
    its whole header is prefilled and ``{"json": its schema}`` types the arguments, with several a
    regex makes the model write one tool's name, ``<|constrain|>json<|message|>`` and that tool's
    arguments. The model ends the call with ``<|call|>`` (a stop token). No reasoning comes first.

    The marker text inside the regex is plain text to the grammar: where the structured-output
    backend will not emit special tokens, the model spells them with ordinary ones, which read the
    same after detokenisation, and the parser only sees text.
    """
    allowed = forced_tools(tools, tool_choice)
    if not allowed:
        return None
    return named_call_constraint(allowed, CALL_OPENER, _call_head)


# --------------------------------------------------------------------------- adapter


def _choice_sentence(tool_choice: ToolChoice) -> str | None:
    # harmony puts the instructions before the tools, hence "below" (choice_instruction says "above")
    if tool_choice.mode != "required":
        return None
    if tool_choice.name is not None:
        return f"You must call the function {tool_choice.name} now, with arguments that follow its schema."
    return "You must call one of the functions in the Tools section below now; do not answer in prose."


class GptOssAdapter(TemplateAdapter):
    """The gpt_oss family. Options: ``reasoning_effort`` (low | medium | high; OpenAI's none/minimal
    read as low, xhigh as high; None leaves the line out), ``current_date`` (``YYYY-MM-DD``; None leaves it out, as
    harmony's default system message does), ``model_identity``, ``knowledge_cutoff``.
    ``render(..., reasoning_effort=...)`` overrides the configured effort for one request. With
    ``chat_template`` (gpt-oss's own Jinja template) the template renders, and receives
    ``reasoning_effort`` and ``model_identity`` as the variables that template reads."""

    name = "gpt_oss"
    stop: tuple[str, ...] = ("<|call|>", "<|return|>")

    def __init__(
        self,
        *,
        chat_template: str | None = None,
        reasoning_effort: str | None = "medium",
        current_date: str | None = None,
        model_identity: str = MODEL_IDENTITY,
        knowledge_cutoff: str = KNOWLEDGE_CUTOFF,
    ) -> None:
        effort = effort_level(reasoning_effort) if reasoning_effort is not None else None
        own_vars: dict[str, Any] = {"model_identity": model_identity}
        if effort is not None:
            own_vars["reasoning_effort"] = effort
        super().__init__(chat_template=chat_template, **own_vars)
        self.system = SystemInfo(model_identity, knowledge_cutoff, current_date, effort)

    def render(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        tool_choice: ToolChoice,
        *,
        parallel_tool_calls: bool = True,
        add_generation_prompt: bool = True,
        reasoning_effort: str | None = None,
    ) -> str:
        effort = self.system.reasoning_effort if reasoning_effort is None else effort_level(reasoning_effort)
        if self.chat_template is not None:
            own = self
            if effort is not None and effort != self.system.reasoning_effort:
                own = copy.copy(self)
                own.template_vars = {**self.template_vars, "reasoning_effort": effort}
            # one call per turn: the forced-choice sentence asks for exactly one
            return TemplateAdapter.render(
                own,
                messages,
                tools,
                tool_choice,
                parallel_tool_calls=False,
                add_generation_prompt=add_generation_prompt,
            )
        declared = offered_tools(tools, tool_choice)
        return render_prompt(
            messages,
            declared,
            SystemInfo(self.system.model_identity, self.system.knowledge_cutoff, self.system.current_date, effort),
            instruction=_choice_sentence(tool_choice) if declared else None,
            add_generation_prompt=add_generation_prompt,
        )

    def constraint(
        self, tools: Sequence[ToolSpec], tool_choice: ToolChoice, *, parallel_tool_calls: bool = True
    ) -> Constraint | None:
        return gpt_oss_constraint(tools, tool_choice)

    def parser(self, tools: Sequence[ToolSpec]) -> Parser:
        return GptOssParser(tools)
