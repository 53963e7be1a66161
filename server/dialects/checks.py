"""Checks every door applies the same way: size limits, tool-call history, validation errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import ValidationError

from server.config import Limits
from server.errors import InvalidRequest, PayloadTooLarge
from server.job import Turn


def check_limits(messages: int, raw_tools: Sequence[Any], limits: Limits, param: str) -> None:
    if messages > limits.max_messages:
        raise PayloadTooLarge(f"too many messages: {messages} > {limits.max_messages}", param="messages")
    if len(raw_tools) > limits.max_tools:
        raise InvalidRequest(f"too many tools: {len(raw_tools)} > {limits.max_tools}", param=param)
    for i, tool in enumerate(raw_tools):
        size = len(orjson.dumps(tool))
        if size > limits.max_tool_bytes:
            raise InvalidRequest(
                f"tool declaration is {size} bytes, more than the limit of {limits.max_tool_bytes}",
                param=f"{param}.{i}",
            )


def check_history(turns: Sequence[Turn]) -> None:
    """An assistant turn with n tool calls must be followed by exactly its n tool results."""
    pending: dict[str, int] = {}
    opened_at = -1
    for i, turn in enumerate(turns):
        if turn.role == "tool":
            if turn.tool_call_id not in pending:
                raise InvalidRequest(
                    f"messages[{i}].tool_call_id {turn.tool_call_id!r} does not answer a tool call of the "
                    "preceding assistant message",
                    param=f"messages.{i}.tool_call_id",
                )
            del pending[turn.tool_call_id]
            continue
        if pending:
            raise InvalidRequest(
                f"the assistant message at messages[{opened_at}] made tool calls "
                f"{sorted(pending)} that have no tool result before messages[{i}]",
                param=f"messages.{opened_at}.tool_calls",
            )
        if turn.role == "assistant" and turn.tool_calls:
            opened_at = i
            for call in turn.tool_calls:
                if call.id in pending:
                    raise InvalidRequest(f"duplicate tool call id {call.id!r}", param=f"messages.{i}.tool_calls")
                pending[call.id] = i
    if pending:
        raise InvalidRequest(
            f"the assistant message at messages[{opened_at}] made tool calls {sorted(pending)} "
            "that have no tool result",
            param=f"messages.{opened_at}.tool_calls",
        )


def param_of(loc: Sequence[int | str], body: Any, *, missing: bool = False) -> str:
    """A pydantic error location as the client's own path into its body.

    Union branches add labels to the location (a role tag, ``function-after[…]``, a class name):
    walking the body itself keeps only the keys and indices the client wrote, plus a missing key
    at the end."""
    parts: list[str] = []
    node = body
    last = len(loc) - 1
    for i, p in enumerate(loc):
        if isinstance(node, list) and isinstance(p, int) and 0 <= p < len(node):
            parts.append(str(p))
            node = node[p]
        elif isinstance(node, dict) and isinstance(p, str) and p in node:
            parts.append(p)
            node = node[p]
        elif missing and i == last and isinstance(p, str):
            parts.append(p)  # the required key the client left out
    return ".".join(parts)


def invalid_from(err: ValidationError, body: Any) -> InvalidRequest:
    """The first validation error as a 400 naming its param."""
    first = err.errors()[0]
    param = param_of(first["loc"], body, missing=first["type"] == "missing")
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        # the error sits on the object; the client got its tag field wrong
        tag = str((first.get("ctx") or {}).get("discriminator", "")).strip("'")
        param = f"{param}.{tag}" if param and tag.isidentifier() else param
    msg = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "missing":
        msg = f"missing required parameter: '{param}'"
    elif param:
        msg = f"invalid value for '{param}': {msg}"
    return InvalidRequest(msg, param=param or None, code="invalid_value")
