"""The chat door: ``POST /v1/chat/completions`` (OpenAI Chat Completions)."""

from __future__ import annotations

import random
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from server.backends.base import Completion
from server.config import Limits
from server.dialects.base import Answer
from server.dialects.chat.body import completion_body
from server.dialects.chat.decode import decode
from server.dialects.chat.stream import ChunkEncoder
from server.errors import ProxyError
from server.job import Job
from server.routing import Target


class ChatDialect:
    name = "chat"

    async def decode(self, request: Request, body: dict[str, Any], limits: Limits) -> tuple[Job, Any]:
        job = decode(body, limits)
        return job, job.legacy

    def new_id(self) -> str:
        # random, not secret: a chat completion id fetches nothing (``secrets`` costs a system call)
        return f"chatcmpl-{random.getrandbits(96):024x}"

    async def respond(self, completion: Completion, answer: Answer, context: Any) -> dict[str, Any]:
        return completion_body(completion, answer.id, answer.created, answer.model, legacy=context)

    def encoder(self, job: Job, answer: Answer, context: Any) -> ChunkEncoder:
        return ChunkEncoder(answer.id, answer.created, answer.model, legacy=job.legacy, include_usage=job.include_usage)

    def error_body(self, err: ProxyError) -> dict[str, Any]:
        return err.body()

    async def passthrough(
        self, request: Request, scope: Any, body: dict[str, Any], job: Job, targets: tuple[Target, ...]
    ) -> Response | None:
        return None  # this door always runs the pipeline
