"""The adapter contract: what every model family module provides, and the events its parser emits.

Adapters are pure: text in, events out. They never import from ``server`` and never do I/O.
The server hands them messages already normalised to the shapes below (legacy ``functions``
and ``role: function`` are translated before they get here; content parts are joined to text).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from adapters.auto_gate import GateWeights

# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One function tool offered to the model (OpenAI ``tools[].function``)."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    strict: bool = False


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A tool call the assistant made earlier in the conversation; ``arguments`` is a JSON string."""

    id: str
    name: str
    arguments: str


Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class Message:
    """One conversation turn. ``developer`` arrives here as ``system``; tool results carry the
    ``tool_call_id`` and, where known, the ``name`` of the function that produced them."""

    role: Role
    content: str | None = None
    tool_calls: tuple[CallRecord, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    # an assistant turn's earlier reasoning, for templates that keep it in history (interleaved thinking)
    reasoning: str | None = None


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """``none`` | ``auto`` | ``required``, or a forced function when ``name`` is set (mode ``required``)."""

    mode: Literal["none", "auto", "required"] = "auto"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Constraint:
    """A vLLM structured-outputs constraint in the family's own format.

    ``prefill`` is appended to the prompt *and* fed to the parser before the generated text, so
    the parser reads the forced output exactly as if the model had written the whole call.
    ``structured_outputs`` is sent verbatim as vLLM's ``structured_outputs`` request field.
    """

    prefill: str
    structured_outputs: Mapping[str, Any]


# --------------------------------------------------------------------------- events


class Outcome(enum.StrEnum):
    """How a tool call came out of the parser; these are metric label values."""

    PARSED = "parsed"  # well-formed and valid as written (or after safe, unambiguous coercion)
    REPAIRED = "repaired"  # broken JSON mended by json-repair into a valid object
    INVALID = "invalid"  # could not be turned into a valid object: left as text
    DROPPED = "dropped"  # names a function that is not among the request's tools: left as text


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    index: int
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallArgsDelta:
    index: int
    fragment: str


@dataclass(frozen=True, slots=True)
class ToolCallEnd:
    index: int
    outcome: Outcome = Outcome.PARSED


@dataclass(frozen=True, slots=True)
class CallRejected:
    """A call-shaped span that is not returned as a tool call; its raw text went out as TextDelta."""

    name: str | None
    outcome: Outcome


Event = TextDelta | ReasoningDelta | ToolCallStart | ToolCallArgsDelta | ToolCallEnd | CallRejected


@dataclass(frozen=True, slots=True)
class ParsedCall:
    id: str
    name: str
    arguments: str  # JSON object text
    outcome: Outcome


@dataclass(slots=True)
class ParsedMessage:
    """The non-streaming view of a parse: what ``parse(text)`` returns."""

    content: str = ""
    reasoning: str = ""
    tool_calls: list[ParsedCall] = field(default_factory=list)
    rejected: list[CallRejected] = field(default_factory=list)

    @classmethod
    def from_events(cls, events: Sequence[Event]) -> ParsedMessage:
        msg = cls()
        text: list[str] = []
        reasoning: list[str] = []
        starts: dict[int, ToolCallStart] = {}
        args: dict[int, list[str]] = {}
        for ev in events:
            if isinstance(ev, TextDelta):
                text.append(ev.text)
            elif isinstance(ev, ReasoningDelta):
                reasoning.append(ev.text)
            elif isinstance(ev, ToolCallStart):
                starts[ev.index] = ev
                args[ev.index] = []
            elif isinstance(ev, ToolCallArgsDelta):
                args[ev.index].append(ev.fragment)
            elif isinstance(ev, ToolCallEnd):
                st = starts[ev.index]
                msg.tool_calls.append(ParsedCall(st.id, st.name, "".join(args[ev.index]), ev.outcome))
            else:
                msg.rejected.append(ev)
        msg.content = "".join(text)
        msg.reasoning = "".join(reasoning)
        return msg


# --------------------------------------------------------------------------- protocols


class Parser(Protocol):
    """Incremental parser of one generated message. Owns its buffer; O(1) amortised per char."""

    def feed(self, delta: str) -> list[Event]: ...

    def finish(self) -> list[Event]: ...

    @property
    def calls_emitted(self) -> int:
        """Tool calls emitted so far (the server tells a call-ending turn from a text one by it)."""
        ...

    def parse(self, text: str) -> ParsedMessage:
        """Feed everything, then finish: streaming and non-streaming cannot disagree."""
        ...


class Adapter(Protocol):
    """One model family: its prompt layout, stop strings, constraint and parser."""

    name: str
    stop: tuple[str, ...]
    call_marker: str | None  # what an ``auto`` gate scores at the start of the assistant turn
    auto_gate: GateWeights | None  # the gate's calibrated weights; None: no gate

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
        """``reasoning_effort`` (the request's none…xhigh), for families whose prompt states it
        (gpt-oss); the others' templates receive it as the variable of that name."""
        ...

    def constraint(
        self, tools: Sequence[ToolSpec], tool_choice: ToolChoice, *, parallel_tool_calls: bool = True
    ) -> Constraint | None: ...

    def parser(self, tools: Sequence[ToolSpec]) -> Parser: ...
