"""The doors' routes: each is one line into the pipeline with its dialect."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from server.dialects.anthropic import AnthropicDialect
from server.dialects.anthropic.count import count_tokens
from server.dialects.chat import ChatDialect
from server.dialects.responses import ResponsesDialect, stored
from server.pipeline import serve

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


@router.post("/v1/messages", response_model=None)
async def messages(request: Request) -> Response:
    return await serve(request, ANTHROPIC)


@router.post("/v1/messages/count_tokens", response_model=None)
async def messages_count_tokens(request: Request) -> Response:
    return await count_tokens(request, ANTHROPIC)


@router.post("/v1/responses", response_model=None)
async def responses(request: Request) -> Response:
    return await serve(request, RESPONSES)


router.include_router(stored.router)  # GET/DELETE /v1/responses/{id}, …/input_items
