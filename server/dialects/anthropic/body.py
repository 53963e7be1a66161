"""A finished ``Completion`` → the Anthropic ``message`` JSON body, and the rules both the body and
the stream follow: stop reasons, ``toolu_`` ids, ``input`` objects, usage.

- ``stop_reason``: stop → ``end_turn`` (``stop_sequence`` when the backend said which of the
  client's sequences matched, named in ``stop_sequence``), tool_calls → ``tool_use``, length →
  ``max_tokens``, content_filter → ``refusal``.
- A call's id becomes ``toolu_`` + the backend's id (characters outside ``[A-Za-z0-9_-]`` as
  ``_``), so a log line of either side finds the other; an id that already is ``toolu_…`` stays.
- ``input`` must be an object: arguments that are no JSON object even after the backends' repair
  (a hosted API's broken call, kept by the chat door as text) go out as ``{}``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from server.backends.base import Completion, Usage

_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")
STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens", "content_filter": "refusal"}


def stop_reason(reason: str, stop_sequence: str | None) -> str:
    if reason == "stop" and stop_sequence is not None:
        return "stop_sequence"
    return STOP_REASONS.get(reason, "end_turn")


def tool_use_id(call_id: str) -> str:
    return call_id if call_id.startswith("toolu_") else "toolu_" + _NOT_ID.sub("_", call_id)


def input_json(arguments: str) -> str:
    """The call's arguments as the JSON text of an object (``{}`` when they are none)."""
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return "{}"
    return arguments if isinstance(value, dict) else "{}"


def usage_json(usage: Usage | None) -> dict[str, int]:
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    return {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}


def message_body(completion: Completion, message_id: str, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    reason, sequence = "stop", None
    if completion.choices:
        choice = completion.choices[0]  # the door never asks for more than one
        msg = choice.message
        reason, sequence = choice.finish_reason, choice.stop_sequence
        if msg.reasoning:
            content.append({"type": "thinking", "thinking": msg.reasoning, "signature": ""})
        if msg.content:
            content.append({"type": "text", "text": msg.content})
        for call in msg.tool_calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": tool_use_id(call.id),
                    "name": call.name,
                    "input": orjson.loads(input_json(call.arguments)),
                }
            )
    kind = stop_reason(reason, sequence)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": kind,
        "stop_sequence": sequence if kind == "stop_sequence" else None,
        "usage": usage_json(completion.usage),
    }
