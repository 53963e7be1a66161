"""The one internal request: what every door decodes into and every backend reads.

A ``Job`` knows nothing of the door it came through (chat completions, responses, messages):
the dialect codec fills it, the pipeline routes and dispatches it, a backend turns it into its
own wire format. Fields the door does not model travel in ``extra`` and are passed through to
hosted APIs only (a local family has no use for them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from adapters.base import CallRecord, Message, ToolChoice, ToolSpec
from server.errors import InvalidRequest

TurnRole = Literal["system", "developer", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class Call:
    """A tool call the assistant made earlier; ``arguments`` is a JSON string (a custom tool's
    free-form ``input`` when ``custom``)."""

    id: str
    name: str
    arguments: str
    custom: bool = False


@dataclass(frozen=True, slots=True)
class Turn:
    """One conversation turn. ``content`` is text, or OpenAI chat content parts when the turn
    carries more than text (images, files): hosted APIs take them, local families cannot."""

    role: TurnRole
    content: str | tuple[Mapping[str, Any], ...] | None = None
    tool_calls: tuple[Call, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: str | None = None
    # the client's path to the message or item this turn came from (``input.3``, ``messages.1.content.0``
    # for an Anthropic tool_result block), so an error names what the client wrote in any door;
    # "" means ``messages.<turn index>`` (the chat door, one turn per message)
    at: str = ""


@dataclass
class Job:
    """One request, ready for any backend. ``tools`` are what the model may call (an
    ``allowed_tools`` choice is already applied); ``custom_tools`` are free-form tools that only
    a hosted API can serve, kept as the OpenAI chat declarations."""

    model: str
    messages: tuple[Turn, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = ToolChoice("none")
    parallel_tool_calls: bool = True
    custom_tools: tuple[Mapping[str, Any], ...] = ()
    custom_choice: str | None = None  # tool_choice {"type": "custom", "custom": {"name": …}}
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    max_tokens_key: str = "max_tokens"  # the spelling a hosted API is sent (max_completion_tokens)
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None  # sent to vLLM and, when the client set it, to hosted APIs
    n: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: Mapping[str, Any] | None = None
    user: str | None = None
    response_format: Mapping[str, Any] | None = None
    reasoning_effort: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    legacy: bool = False  # one call at most (legacy ``functions``): the encoder answers function_call
    request_id: str | None = None

    @cached_property
    def tool_by_name(self) -> dict[str, ToolSpec]:
        return {t.name: t for t in self.tools}

    def sampling(self) -> dict[str, Any]:
        """The sampling fields the client set, in OpenAI chat spelling (None and empty left out)."""
        out = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "n": self.n,
            "seed": self.seed,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
            "logit_bias": self.logit_bias,
            "user": self.user,
        }
        return {k: v for k, v in out.items() if v is not None}


# a content part a text-only family cannot show, as the client would call it in any door
_PART_KINDS = {"image_url": "an image", "input_audio": "audio", "file": "a file"}


def _text(content: str | tuple[Mapping[str, Any], ...] | None, where: str) -> str | None:
    if content is None or isinstance(content, str):
        return content
    out: list[str] = []
    for part in content:
        kind = str(part.get("type"))
        if kind != "text":
            raise InvalidRequest(
                f"{where} holds {_PART_KINDS.get(kind, repr(kind))}: this model takes text only", param=where
            )
        out.append(str(part.get("text", "")))
    return "".join(out)


def family_messages(job: Job) -> list[Message]:
    """The conversation as a family adapter reads it: text only, tool results named after their call."""
    names = {c.id: c.name for t in job.messages for c in t.tool_calls}
    out: list[Message] = []
    for i, turn in enumerate(job.messages):
        where = turn.at or f"messages.{i}"
        for c in turn.tool_calls:
            if c.custom:
                raise InvalidRequest(
                    f"{where}: custom tool call {c.name!r} in the history cannot be shown to a local model "
                    "family (function tools only)",
                    param=where,
                )
        out.append(
            Message(
                "system" if turn.role == "developer" else turn.role,
                _text(turn.content, where),
                tuple(CallRecord(c.id, c.name, c.arguments) for c in turn.tool_calls),
                turn.tool_call_id,
                turn.name or (names.get(turn.tool_call_id) if turn.tool_call_id else None),
                turn.reasoning,
            )
        )
    return out
