"""The backend protocol and the neutral items every backend produces.

Both backends speak in the same items: ``Delta`` wraps an adapter event (text, reasoning, a
complete tool call) for one choice, ``Finish`` closes a choice, ``Usage`` carries token counts.
The streaming encoder and the non-streaming collector read only these, so the OpenAI contract
is produced in one place whatever the backend.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from adapters.base import (
    Event,
    ParsedMessage,
    ReasoningDelta,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallEnd,
    ToolCallStart,
)
from server.job import Job
from server.routing import Target


@dataclass(frozen=True, slots=True)
class Delta:
    choice: int
    event: Event


@dataclass(frozen=True, slots=True)
class Finish:
    choice: int
    reason: str  # already mapped to the OpenAI set: stop | length | tool_calls | content_filter
    # the client's stop sequence that ended the choice, where the backend says which (reason "stop")
    stop_sequence: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


StreamItem = Delta | Finish | Usage


def usage_from(raw: object) -> Usage | None:
    """An OpenAI ``usage`` object → Usage; None when absent or not numbers."""
    if not isinstance(raw, dict):
        return None
    try:
        return Usage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0))
    except (TypeError, ValueError):
        return None


@dataclass(slots=True)
class Choice:
    message: ParsedMessage
    finish_reason: str
    stop_sequence: str | None = None  # as on ``Finish``


@dataclass(slots=True)
class Completion:
    choices: list[Choice] = field(default_factory=list)
    usage: Usage | None = None


class Backend(Protocol):
    """A place that answers jobs. Connection and auth live here, format translation in the
    provider profile (upstream) or the family adapter (vLLM). A backend makes one attempt per
    call: retries and fallbacks are the dispatcher's."""

    name: str

    async def complete(self, job: Job, target: Target) -> Completion: ...

    def stream(self, job: Job, target: Target) -> AsyncGenerator[StreamItem, None]: ...

    async def ready(self) -> bool: ...

    async def aclose(self) -> None: ...


def replay(completion: Completion) -> Iterator[StreamItem]:
    """A finished completion as stream items: serves a streamed request from a non-streamed call."""
    for index, choice in enumerate(completion.choices):
        msg = choice.message
        if msg.reasoning:
            yield Delta(index, ReasoningDelta(msg.reasoning))
        if msg.content:
            yield Delta(index, TextDelta(msg.content))
        for n, call in enumerate(msg.tool_calls):
            yield Delta(index, ToolCallStart(n, call.id, call.name))
            yield Delta(index, ToolCallArgsDelta(n, call.arguments))
            yield Delta(index, ToolCallEnd(n, call.outcome))
        yield Finish(index, choice.finish_reason, choice.stop_sequence)
    if completion.usage is not None:
        yield completion.usage


async def collect(items: AsyncGenerator[StreamItem, None]) -> Completion:
    """Stream items gathered into a completion: the non-streaming view of a streaming backend."""
    events: dict[int, list[Event]] = {}
    reasons: dict[int, Finish] = {}
    usage: Usage | None = None
    async for item in items:
        if isinstance(item, Delta):
            events.setdefault(item.choice, []).append(item.event)
        elif isinstance(item, Finish):
            reasons[item.choice] = item
            events.setdefault(item.choice, [])
        else:
            usage = item
    choices = []
    for i in sorted(events):
        finish = reasons.get(i, Finish(i, "stop"))
        choices.append(Choice(ParsedMessage.from_events(events[i]), finish.reason, finish.stop_sequence))
    return Completion(choices=choices, usage=usage)
