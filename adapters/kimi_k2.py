"""kimi_k2 family: Kimi K2 Instruct (0905) and, with ``thinking=True``, Kimi K2-Thinking.

The prompt (``templates/kimi_k2.jinja``) follows Moonshot's templates: the tools as one JSON array
in a ``tool_declare`` turn, a default system prompt when the conversation has none, then one turn
per message named by its role (or its ``name``)::

    <|im_system|>tool_declare<|im_middle|>[{"type": "function", "function": {...}}]<|im_end|>
    <|im_system|>system<|im_middle|>You are Kimi, an AI assistant created by Moonshot AI.<|im_end|>
    <|im_user|>user<|im_middle|>Weather in Paris?<|im_end|><|im_assistant|>assistant<|im_middle|>

(Instruct writes ``\\n  # Tools\\n  `` before the array.) The assistant's calls, one section per turn
(one line, shown wrapped)::

    <|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>
    {"city": "Paris"}<|tool_call_end|><|tool_call_begin|>functions.now:1<|tool_call_argument_begin|>{}
    <|tool_call_end|><|tool_calls_section_end|>

The call id is ``functions.NAME:IDX``, IDX counting the calls of the whole conversation; results
come back in ``tool`` turns that name it::

    <|im_system|>get_weather<|im_middle|>## Return of functions.get_weather:0
    {"temp": 21}<|im_end|>

Ids: the templates print a call's ``id`` verbatim and the model continues the count it sees, so
``render`` renumbers every earlier call ``functions.NAME:IDX`` in conversation order (a client's
``call_…`` ids, or a miscount, become the canonical ones) and points each tool result at the id of
the call it answers. The parser returns the id the model wrote (normalised to
``functions.NAME:IDX``; one repeated within a message gets the next free index), so a client that
sends the ids back sees them unchanged.

K2-Thinking opens every assistant turn with ``<think>…</think>``; turns up to the last plain-text
assistant reply keep an empty block, later ones (the current tool loop) their reasoning
(``Message.reasoning``: interleaved thinking). The parser reads an opening think block as
reasoning for either model. The turn ends with ``<|im_end|>`` (the stop string).

A call head without ``functions.`` is accepted (``get_weather:0``); a bare counter (``0``) names the
only tool offered, or the one tool whose schema the arguments fit with keys it declares. A head
that names no offered tool leaves the call's raw text as content (``dropped``). The section markers
are layout; text between calls stays content.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from adapters.base import CallRecord, Constraint, Message, Parser, ToolChoice, ToolSpec
from adapters.calls import load_object, schema_errors
from adapters.family import TemplateAdapter, arguments_schema, forced_tools
from adapters.parsing import BlockParser, Decoded
from adapters.schema_regex import alternation, escape, json_regex

SECTION_BEGIN = "<|tool_calls_section_begin|>"
SECTION_END = "<|tool_calls_section_end|>"
CALL_BEGIN = "<|tool_call_begin|>"
ARG_BEGIN = "<|tool_call_argument_begin|>"
CALL_END = "<|tool_call_end|>"
EOT = "<|im_end|>"
KIMI_DEFAULT_SYSTEM = "You are Kimi, an AI assistant created by Moonshot AI."

_HEAD = re.compile(r"(?P<base>.*?)(?::(?P<index>[0-9]+))?")
_INDEX = "[0-9]{1,5}"  # the call counter a constrained model writes itself


def call_id(name: str, index: int) -> str:
    return f"functions.{name}:{index}"


def renumber_calls(messages: Sequence[Message]) -> list[Message]:
    """Every earlier call's id as ``functions.NAME:IDX`` (IDX counting calls across the
    conversation, as Kimi's templates and training do) and each tool result pointed at the new id
    of the call it answers (the latest call with that id)."""
    out: list[Message] = []
    renamed: dict[str, str] = {}
    count = 0
    for m in messages:
        if m.role == "assistant" and m.tool_calls:
            calls = []
            for c in m.tool_calls:
                new = call_id(c.name, count)
                count += 1
                renamed[c.id] = new
                calls.append(CallRecord(new, c.name, c.arguments))
            m = replace(m, tool_calls=tuple(calls))
        elif m.role == "tool" and m.tool_call_id in renamed:
            m = replace(m, tool_call_id=renamed[m.tool_call_id])
        out.append(m)
    return out


def _infer_tool(tools: Mapping[str, ToolSpec], arguments: str) -> str | None:
    """The tool a bare counter head means: the only one offered, or the only one whose schema the
    arguments satisfy using keys it declares (vLLM's rule); None when that is not one tool."""
    if len(tools) == 1:
        return next(iter(tools))
    args, _ = load_object(arguments)
    if args is None:
        return None
    fits = []
    for tool in tools.values():
        props = tool.parameters.get("properties")
        declared = set(props) if isinstance(props, Mapping) else set()
        if set(args) <= declared and not schema_errors(args, tool):
            fits.append(tool.name)
    return fits[0] if len(fits) == 1 else None


class KimiK2Parser(BlockParser):
    """Calls between ``<|tool_call_begin|>`` and ``<|tool_call_end|>``; the ids the model wrote."""

    start = CALL_BEGIN
    ends = (CALL_END, CALL_BEGIN, SECTION_END)
    drop = (SECTION_BEGIN, SECTION_END)
    reasoning_markers = ("<think>", "</think>")

    def __init__(self, tools: Sequence[ToolSpec], **kwargs: Any) -> None:
        kwargs.setdefault("id_factory", self._issue_id)
        super().__init__(tools, **kwargs)
        self._head: tuple[str, int | None] = ("", None)  # the last decoded call's name and index
        self._issued: set[str] = set()
        self._next_index = 0

    def decode(self, body: str, complete: bool) -> Decoded | None:
        head, sep, arguments = body.partition(ARG_BEGIN)
        if not sep:
            return None
        m = _HEAD.fullmatch(head.strip())
        if m is None:  # a head across lines is not an id
            return None
        base, index = m.group("base"), m.group("index")
        if base.isdigit() and index is None:  # a bare counter: no name written
            name = _infer_tool(self.tools, arguments) or ""
            index = base
        else:
            name = base.removeprefix("functions.")
        if not name or any(c.isspace() for c in name):
            return None
        self._head = (name, int(index) if index is not None else None)
        return Decoded(name, arguments.strip())

    def _issue_id(self) -> str:
        # called by ``_call`` right after ``decode`` accepted a call: the id it wrote, unless this
        # message already used it (then the next index after the highest one seen)
        name, index = self._head
        if index is None or call_id(name, index) in self._issued:
            index = self._next_index
        ident = call_id(name, index)
        self._issued.add(ident)
        self._next_index = max(self._next_index, index + 1)
        return ident


def kimi_constraint(tools: Sequence[ToolSpec], tool_choice: ToolChoice, thinking: bool) -> Constraint | None:
    """Force exactly one call (see hermes_constraint for why one even when parallel is allowed).

    The prefill opens the section and the call up to ``functions.`` (a forced call does not think:
    K2-Thinking gets an empty think block first); the regex lets the model write the call counter
    it continues from the conversation, then the arguments typed by the tool's schema. A single
    allowed tool has its name prefilled too.
    """
    allowed = forced_tools(tools, tool_choice)
    if not allowed:
        return None
    prefill = ("<think></think>" if thinking else "") + SECTION_BEGIN + CALL_BEGIN + "functions."
    tail = escape(CALL_END + SECTION_END)

    def call(tool: ToolSpec) -> str:
        return _INDEX + escape(ARG_BEGIN) + json_regex(arguments_schema(tool))

    if len(allowed) == 1:
        return Constraint(prefill + allowed[0].name + ":", {"regex": call(allowed[0]) + tail})
    calls = [escape(t.name + ":") + call(t) for t in allowed]
    return Constraint(prefill, {"regex": alternation(calls) + tail})


class KimiK2Adapter(TemplateAdapter):
    """The kimi_k2 family; ``thinking=True`` renders K2-Thinking's layout (think blocks, reasoning
    kept for the current tool loop)."""

    name = "kimi_k2"
    stop: tuple[str, ...] = (EOT,)
    template = "kimi_k2"

    def __init__(
        self, *, chat_template: str | None = None, thinking: bool = False, default_system: str = KIMI_DEFAULT_SYSTEM
    ) -> None:
        super().__init__(chat_template=chat_template, thinking=thinking, default_system=default_system)
        self.thinking = thinking

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
        return super().render(
            renumber_calls(messages),
            tools,
            tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            add_generation_prompt=add_generation_prompt,
            reasoning_effort=reasoning_effort,
        )

    def constraint(
        self, tools: Sequence[ToolSpec], tool_choice: ToolChoice, *, parallel_tool_calls: bool = True
    ) -> Constraint | None:
        return kimi_constraint(tools, tool_choice, self.thinking)

    def parser(self, tools: Sequence[ToolSpec]) -> Parser:
        return KimiK2Parser(tools)
