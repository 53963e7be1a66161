"""The messages door: ``POST /v1/messages`` (Anthropic Messages API) and ``/v1/messages/count_tokens``.

Clients: the Anthropic SDKs and Claude Code (``ANTHROPIC_BASE_URL``). The key may come as
``x-api-key`` or ``Authorization: Bearer`` (``server.auth``); ``anthropic-version`` and
``anthropic-beta`` are accepted and change nothing. Errors, before and after a stream started,
come in Anthropic's shape: ``{"type": "error", "error": {"type", "message"}}``.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from server.backends.base import Completion
from server.config import Limits
from server.dialects.anthropic.body import message_body
from server.dialects.anthropic.decode import decode
from server.dialects.anthropic.stream import EventEncoder
from server.dialects.base import Answer
from server.errors import ProxyError
from server.job import Job
from server.routing import Target

# The HTTP status of every error toolrelay answers → Anthropic's error type. The status stays
# the proxy's own (its retry semantics, ``retry-after`` and ``x-should-retry``, go with it).
_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
    504: "timeout_error",
}


def error_type(status: int) -> str:
    return _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(err: ProxyError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type(err.status), "message": err.message}}


class AnthropicDialect:
    name = "anthropic"

    async def decode(self, request: Request, body: dict[str, Any], limits: Limits) -> tuple[Job, Any]:
        return decode(body, limits), None

    def new_id(self) -> str:
        return "msg_" + secrets.token_hex(12)

    async def respond(self, completion: Completion, answer: Answer, context: Any) -> dict[str, Any]:
        return message_body(completion, answer.id, answer.model)

    def encoder(self, job: Job, answer: Answer, context: Any) -> EventEncoder:
        return EventEncoder(answer.id, answer.model, error_body)

    def error_body(self, err: ProxyError) -> dict[str, Any]:
        return error_body(err)

    async def passthrough(
        self, request: Request, scope: Any, body: dict[str, Any], job: Job, targets: tuple[Target, ...]
    ) -> Response | None:
        return None  # this door always runs the pipeline
