"""The Responses door: ``POST /v1/responses`` (OpenAI Responses API), and the stored responses."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from server.backends.base import Completion, replay
from server.config import Limits
from server.dialects.base import Answer
from server.dialects.responses.decode import Context, decode
from server.dialects.responses.output import OutputBuilder
from server.dialects.responses.passthrough import forward
from server.dialects.responses.stream import ResponseEncoder, keep
from server.errors import ProxyError
from server.job import Job
from server.routing import Target


class ResponsesDialect:
    name = "responses"

    async def decode(self, request: Request, body: dict[str, Any], limits: Limits) -> tuple[Job, Any]:
        return await decode(request, body, limits)

    def new_id(self) -> str:
        return "resp_" + secrets.token_hex(24)

    async def respond(self, completion: Completion, answer: Answer, context: Any) -> dict[str, Any]:
        assert isinstance(context, Context)
        builder = OutputBuilder(context, answer, events=False)
        for item in replay(completion):
            builder.feed(item)
        response, _ = builder.finish()
        await keep(context, response)
        return response

    def encoder(self, job: Job, answer: Answer, context: Any) -> ResponseEncoder:
        assert isinstance(context, Context)
        return ResponseEncoder(context, answer)

    def error_body(self, err: ProxyError) -> dict[str, Any]:
        return err.body()

    async def passthrough(
        self, request: Request, scope: Any, body: dict[str, Any], job: Job, targets: tuple[Target, ...]
    ) -> Response | None:
        """A model on a ``responses: passthrough`` backend: the request goes to its /responses as it is."""
        return await forward(request, scope, body, job, targets)
