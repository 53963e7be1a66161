"""A finished ``Completion`` → the ``chat.completion`` JSON body (legacy ``function_call`` too)."""

from __future__ import annotations

from typing import Any

from server.backends.base import Completion
from server.dialects.chat.stream import usage_json


def completion_body(
    completion: Completion, completion_id: str, created: int, model: str, *, legacy: bool
) -> dict[str, Any]:
    choices = []
    for index, choice in enumerate(completion.choices):
        msg = choice.message
        message: dict[str, Any] = {"role": "assistant", "content": msg.content or None}
        reason = choice.finish_reason
        if msg.tool_calls:
            if legacy:
                first = msg.tool_calls[0]
                message["function_call"] = {"name": first.name, "arguments": first.arguments}
                reason = "function_call" if reason == "tool_calls" else reason
            else:
                message["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in msg.tool_calls
                ]
        elif msg.content == "":
            message["content"] = ""
        if msg.reasoning:
            message["reasoning_content"] = msg.reasoning
        choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": reason})
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if completion.usage is not None:
        body["usage"] = usage_json(completion.usage)
    return body
