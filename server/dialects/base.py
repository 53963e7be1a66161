"""What a door provides: decode its request into a ``Job``, encode answers and errors in its shape.

The pipeline (``server.pipeline``) drives every door the same way; a door never sees a backend,
and nothing past ``decode`` knows which door a request came through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from server.backends.base import Completion, StreamItem
from server.config import Limits
from server.errors import ProxyError
from server.job import Job
from server.routing import Target


@dataclass(frozen=True, slots=True)
class Answer:
    """The envelope of one answer: its id, creation time and the model name the client sent."""

    id: str
    created: int
    model: str


class StreamEncoder(Protocol):
    """Stream items → the door's SSE bytes. ``encode`` returns ``b""`` when an item has nothing
    for the wire; ``close`` ends a stream that completed, ``error`` one that failed."""

    def open(self) -> bytes: ...

    def encode(self, item: StreamItem) -> bytes: ...

    async def close(self) -> bytes: ...

    def error(self, err: ProxyError) -> bytes: ...


class Dialect(Protocol):
    name: str  # a metric label value: chat | responses | anthropic

    async def decode(self, request: Request, body: dict[str, Any], limits: Limits) -> tuple[Job, Any]:
        """The job, and whatever the door needs back when it encodes the answer (its context)."""
        ...

    def new_id(self) -> str: ...

    async def respond(self, completion: Completion, answer: Answer, context: Any) -> dict[str, Any]: ...

    def encoder(self, job: Job, answer: Answer, context: Any) -> StreamEncoder: ...

    def error_body(self, err: ProxyError) -> dict[str, Any]: ...

    async def passthrough(
        self, request: Request, scope: Any, body: dict[str, Any], job: Job, targets: tuple[Target, ...]
    ) -> Response | None:
        """A response when the door hands the request on unchanged (the Responses door's
        ``responses: passthrough``); ``None`` to run it through the pipeline."""
        ...
