"""The Responses door's stream: items → Responses SSE events (``event: TYPE`` + ``data: {…}``).

``response.created`` and ``response.in_progress`` open it; the ``OutputBuilder`` turns items into
item events; ``close`` ends the open item, keeps the response in the store (before the client can
see ``response.completed``, so a continuation sent right after it finds it) and sends
``response.completed`` or ``response.incomplete``. A failure after the start is an ``error``
event, then ``response.failed``. The Responses API has no ``[DONE]`` line.
"""

from __future__ import annotations

from typing import Any

from server.backends.base import StreamItem
from server.dialects.base import Answer
from server.dialects.responses.decode import Context
from server.dialects.responses.output import OutputBuilder, lifecycle
from server.dialects.responses.store import Record
from server.errors import ProxyError


class ResponseEncoder:
    """Implements ``server.dialects.base.StreamEncoder`` for ``POST /v1/responses``."""

    def __init__(self, context: Context, answer: Answer) -> None:
        self.context = context
        self.builder = OutputBuilder(context, answer, events=True)

    def open(self) -> bytes:
        return self.builder.start()

    def encode(self, item: StreamItem) -> bytes:
        return self.builder.feed(item)

    async def close(self) -> bytes:
        response, out = self.builder.finish()
        await keep(self.context, response)
        return out + lifecycle(self.builder, response)

    def error(self, err: ProxyError) -> bytes:
        return self.builder.fail(err)


async def keep(context: Context, response: dict[str, Any]) -> None:
    """Store the finished response when asked to; a store that fails costs the continuation, not
    the answer (the store logs why)."""
    if context.store is None:
        return
    record = Record(
        str(response["id"]),
        float(response["created_at"]),
        context.owner,
        response,
        context.input_items,
    )
    try:
        await context.store.put(record)
    except ProxyError:
        pass
