"""The doors' routes: each is one line into the pipeline with its dialect.

``DoorRoutes`` serves the doors' ``POST`` paths ahead of FastAPI (``server.app.App``): FastAPI's
middleware, router and per-request machinery cost more CPU than the whole pipeline on a small
answer, and these routes need none of it (they read their own body and render their own errors).
The ``APIRouter`` routes below stay for the OpenAPI document.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from server.dialects.anthropic import AnthropicDialect
from server.dialects.anthropic.count import count_tokens
from server.dialects.base import Dialect
from server.dialects.chat import ChatDialect
from server.dialects.responses import ResponsesDialect, stored
from server.errors import InternalError
from server.pipeline import error_response, serve

log = logging.getLogger("toolrelay")

router = APIRouter()
CHAT = ChatDialect()
ANTHROPIC = AnthropicDialect()
RESPONSES = ResponsesDialect()


@router.post(
    "/v1/chat/completions",
    response_model=None,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatRequest"}}},
        },
    },
)
async def chat_completions(request: Request) -> Response:
    return await serve(request, CHAT)


def _body(schema: str) -> dict[str, object]:
    """The OpenAPI request body of a route that reads its raw body itself (``server.app`` publishes it)."""
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


@router.post("/v1/messages", response_model=None, openapi_extra=_body("MessagesRequest"))
async def messages(request: Request) -> Response:
    return await serve(request, ANTHROPIC)


@router.post("/v1/messages/count_tokens", response_model=None, openapi_extra=_body("CountTokensRequest"))
async def messages_count_tokens(request: Request) -> Response:
    return await count_tokens(request, ANTHROPIC)


@router.post("/v1/responses", response_model=None, openapi_extra=_body("ResponsesRequest"))
async def responses(request: Request) -> Response:
    return await serve(request, RESPONSES)


router.include_router(stored.router)  # GET/DELETE /v1/responses/{id}, …/input_items


class DoorRoutes:
    """ASGI endpoint for ``POST`` on a door's exact path (the caller checked the path and method)."""

    def __init__(self, doors: Mapping[str, Dialect]) -> None:
        self.doors = dict(doors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        dialect = self.doors[scope["path"]]
        request = Request(scope, receive, send)
        try:
            response = await serve(request, dialect)
        except Exception:
            log.exception("unexpected error")
            response = error_response(
                dialect, InternalError("internal error in toolrelay; the request was not completed")
            )
        await response(scope, receive, send)
