"""Anthropic Messages request → ``Job``.

Decided here once:

- ``system`` (a string or text blocks, joined by blank lines) becomes the first turn.
- A message's blocks become turns in the order the pipeline knows: a user message's
  ``tool_result`` blocks become ``tool`` turns (first, as Anthropic requires them first), its other
  blocks one ``user`` turn; an assistant message's text, ``thinking`` (its earlier reasoning) and
  ``tool_use`` blocks (calls, ``input`` as a JSON string) one ``assistant`` turn.
  ``redacted_thinking`` is accepted and dropped: it is Anthropic's encrypted reasoning, which no
  other model can read. Images go on as OpenAI ``image_url`` parts (hosted APIs take them; a local
  family answers 400). A ``tool_result`` with ``is_error`` reaches the model as ``Error: …``.
- ``tool_choice``: ``auto`` → auto, ``any`` → required, ``tool`` → that function, ``none`` → none;
  ``disable_parallel_tool_use`` → one call at most.
- ``thinking`` ``enabled`` → ``reasoning_effort`` by budget (< 4096 tokens low, < 16384 medium,
  else high), ``output_config.effort`` likewise (``max`` → ``xhigh``): the backend's reasoning
  switch where it has one. ``metadata`` is accepted and not sent on (its ``user_id`` is
  Anthropic's opaque id).

Every tool use must be answered by a ``tool_result`` in the next message, and every result must
answer a tool use of the message before it: otherwise a 400 naming the message, in the client's
own indices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import ValidationError

from adapters.base import ToolChoice, ToolSpec
from server.config import Limits
from server.dialects.anthropic import wire
from server.dialects.checks import check_history, check_limits, invalid_from
from server.errors import InvalidRequest
from server.job import Call, Job, Turn

Content = str | tuple[Mapping[str, Any], ...]
_EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "xhigh"}


def validate(body: dict[str, Any], model: type[wire.Prompt]) -> wire.Prompt:
    try:
        return model.model_validate(body)
    except ValidationError as err:
        raise invalid_from(err, body) from None


def _tools(req: wire.Prompt) -> tuple[ToolSpec, ...]:
    out: list[ToolSpec] = []
    seen: set[str] = set()
    for i, tool in enumerate(req.tools or ()):
        assert isinstance(tool, wire.Tool)  # server tools were rejected by validation
        if tool.name in seen:
            raise InvalidRequest(f"duplicate tool name {tool.name!r}", param=f"tools.{i}.name")
        seen.add(tool.name)
        out.append(ToolSpec(tool.name, tool.description or "", tool.input_schema))
    return tuple(out)


def _choice(req: wire.Prompt, tools: tuple[ToolSpec, ...]) -> tuple[ToolChoice, bool]:
    """The tool choice, and whether parallel calls are allowed."""
    choice = req.tool_choice
    parallel = not (choice is not None and choice.disable_parallel_tool_use)
    if choice is None or choice.type == "auto":
        return ToolChoice("auto" if tools else "none"), parallel
    if choice.type == "none":
        return ToolChoice("none"), parallel
    if not tools:
        raise InvalidRequest(
            f"tool_choice of type {choice.type!r} needs at least one tool in 'tools'", param="tool_choice"
        )
    if choice.type == "any":
        return ToolChoice("required"), parallel
    if choice.name not in {t.name for t in tools}:
        raise InvalidRequest(
            f"tool_choice names tool {choice.name!r}, which is not among the request's tools", param="tool_choice.name"
        )
    return ToolChoice("required", choice.name), parallel


def _effort(req: wire.Prompt) -> str | None:
    if req.output_config is not None and req.output_config.effort is not None:
        return _EFFORT[req.output_config.effort]
    thinking = req.thinking
    if thinking is None or thinking.type != "enabled" or thinking.budget_tokens is None:
        return None
    budget = thinking.budget_tokens
    return "low" if budget < 4096 else "medium" if budget < 16384 else "high"


def _text(blocks: Sequence[wire.TextBlock]) -> str:
    return "\n\n".join(b.text for b in blocks)


def _parts(blocks: Sequence[wire.TextBlock | wire.ImageBlock], prefix: str = "") -> Content:
    """Text blocks as one string; with an image among them, OpenAI content parts."""
    if all(isinstance(b, wire.TextBlock) for b in blocks):
        return prefix + "".join(b.text for b in blocks if isinstance(b, wire.TextBlock))
    parts: list[Mapping[str, Any]] = [{"type": "text", "text": prefix}] if prefix else []
    for b in blocks:
        if isinstance(b, wire.TextBlock):
            parts.append({"type": "text", "text": b.text})
        else:
            parts.append({"type": "image_url", "image_url": {"url": b.source.as_url()}})
    return tuple(parts)


def _result(block: wire.ToolResultBlock, at: str) -> Turn:
    prefix = "Error: " if block.is_error else ""
    content = block.content
    if content is None or isinstance(content, str):
        text: Content = prefix + (content or "")
    else:
        text = _parts([b for b in content if isinstance(b, wire.TextBlock | wire.ImageBlock)], prefix)
    return Turn("tool", text, tool_call_id=block.tool_use_id, at=at)


def _user_turns(content: str | list[Any], at: str) -> list[Turn]:
    if isinstance(content, str):
        return [Turn("user", content, at=at)]
    out = [_result(b, f"{at}.content.{j}") for j, b in enumerate(content) if isinstance(b, wire.ToolResultBlock)]
    rest = [b for b in content if isinstance(b, wire.TextBlock | wire.ImageBlock)]
    if rest:
        out.append(Turn("user", _parts(rest), at=at))
    return out


def _assistant_turn(content: str | list[Any], at: str) -> Turn:
    if isinstance(content, str):
        return Turn("assistant", content, at=at)
    text = "".join(b.text for b in content if isinstance(b, wire.TextBlock))
    thinking = "\n\n".join(b.thinking for b in content if isinstance(b, wire.ThinkingBlock) and b.thinking)
    calls = tuple(
        Call(b.id, b.name, orjson.dumps(b.input).decode()) for b in content if isinstance(b, wire.ToolUseBlock)
    )
    # a turn of calls only has no content, as on the chat door
    return Turn("assistant", (text or None) if calls else text, calls, reasoning=thinking or None, at=at)


def _check_results(messages: Sequence[wire.MessageParam]) -> None:
    """Anthropic's rule, in the client's indices: the message after a tool use answers every one
    of its ids with a ``tool_result``, and a result answers a tool use of the message before it."""
    asked: dict[str, int] = {}
    for i, m in enumerate(messages):
        blocks = m.content if isinstance(m.content, list) else []
        answered = [b for b in blocks if isinstance(b, wire.ToolResultBlock)]
        if m.role == "assistant" and answered:
            raise InvalidRequest(f"messages.{i}: tool_result blocks belong in a user message", param=f"messages.{i}")
        for j, b in enumerate(blocks):
            if isinstance(b, wire.ToolResultBlock) and asked.pop(b.tool_use_id, None) is None:
                raise InvalidRequest(
                    f"messages.{i}.content.{j}: unexpected tool_use_id {b.tool_use_id!r} in a tool_result block: "
                    "each tool_result must answer a tool_use block of the previous message",
                    param=f"messages.{i}.content.{j}.tool_use_id",
                )
        if asked:
            raise InvalidRequest(
                f"messages.{i - 1}: tool_use ids were found without tool_result blocks immediately after: "
                f"{', '.join(sorted(asked))}. Each tool_use block must have a corresponding tool_result block "
                "in the next message.",
                param=f"messages.{i - 1}",
            )
        for j, b in enumerate(blocks):
            if isinstance(b, wire.ToolUseBlock):
                if b.id in asked:
                    raise InvalidRequest(f"duplicate tool_use id {b.id!r}", param=f"messages.{i}.content.{j}.id")
                asked[b.id] = i
    if asked:
        last = len(messages) - 1
        raise InvalidRequest(
            f"messages.{last}: tool_use ids {', '.join(sorted(asked))} have no tool_result: the conversation "
            "cannot end with unanswered tool uses",
            param=f"messages.{last}",
        )


def turns_of(req: wire.Prompt) -> tuple[Turn, ...]:
    _check_results(req.messages)
    out: list[Turn] = []
    if req.system:
        out.append(Turn("system", req.system if isinstance(req.system, str) else _text(req.system), at="system"))
    for i, m in enumerate(req.messages):
        if m.role == "user":
            out.extend(_user_turns(m.content, f"messages.{i}"))
        else:
            out.append(_assistant_turn(m.content, f"messages.{i}"))
    turns = tuple(out)
    check_history(turns)  # holds by construction once _check_results passed; kept as the shared rule
    return turns


def prompt_job(body: dict[str, Any], limits: Limits, model: type[wire.Prompt] = wire.Prompt) -> tuple[Job, wire.Prompt]:
    """The job of what ``count_tokens`` counts (and ``decode`` builds on)."""
    req = validate(body, model)
    raw_tools = body.get("tools")
    check_limits(len(req.messages), raw_tools if isinstance(raw_tools, list) else [], limits, "tools")
    tools = _tools(req)
    choice, parallel = _choice(req, tools)
    job = Job(
        model=req.model,
        messages=turns_of(req),
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        reasoning_effort=_effort(req),
    )
    return job, req


def decode(body: dict[str, Any], limits: Limits) -> Job:
    job, req = prompt_job(body, limits, wire.MessagesRequest)
    assert isinstance(req, wire.MessagesRequest)
    job.stream = bool(req.stream)
    job.include_usage = job.stream  # message_delta always carries the usage
    job.max_tokens = req.max_tokens
    job.temperature = req.temperature
    job.top_p = req.top_p
    job.top_k = req.top_k
    job.stop = tuple(req.stop_sequences or ())
    return job
