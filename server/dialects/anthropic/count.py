"""``POST /v1/messages/count_tokens``: how many input tokens a messages request would take.

Exact where the backend can say: a vLLM backend tokenizes the very prompt toolrelay would send
(rendered by the model's family, constraint prefill included) with vLLM's ``/tokenize``, which is
the ``input_tokens`` the request itself would report. A hosted API has no such endpoint, so its
count is an estimate, the published rule of thumb for OpenAI-style tokenizers: one token per 4
characters of text (messages, tool calls and results, tool declarations as JSON), plus 4 per
turn and 3 for the reply's start. It is meant for budgeting a context window, not for billing.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.dialects.anthropic import AnthropicDialect
from server.dialects.anthropic.decode import prompt_job
from server.errors import ProxyError
from server.job import Job
from server.pipeline import app_state, error_response, read_body
from server.routing import Target

CHARS_PER_TOKEN = 4
TOKENS_PER_TURN = 4
REPLY_TOKENS = 3


@runtime_checkable
class TokenCounter(Protocol):
    """A backend that counts a job's prompt exactly (the vLLM backend)."""

    async def count_tokens(self, job: Job, target: Target) -> int: ...


def estimate(job: Job) -> int:
    chars = 0
    for turn in job.messages:
        content = turn.content
        if isinstance(content, str):
            chars += len(content)
        elif content is not None:
            chars += sum(len(str(part.get("text", ""))) for part in content)
        chars += sum(len(c.name) + len(c.arguments) for c in turn.tool_calls)
        chars += len(turn.reasoning or "")
    for tool in job.tools:
        chars += len(orjson.dumps({"name": tool.name, "description": tool.description, "parameters": tool.parameters}))
    return math.ceil(chars / CHARS_PER_TOKEN) + TOKENS_PER_TURN * len(job.messages) + REPLY_TOKENS


async def count_tokens(request: Request, dialect: AnthropicDialect) -> Response:
    state = app_state(request)
    try:
        body = await read_body(request, state.settings.limits.max_body_bytes)
        job, _ = prompt_job(body, state.settings.limits)
        job.request_id = request.state.request_id
        target = state.router.route(job.model)[0]
        state.check_access(request, target.model)
        backend = state.backends[target.backend]
        tokens = await backend.count_tokens(job, target) if isinstance(backend, TokenCounter) else estimate(job)
    except ProxyError as err:
        return error_response(dialect, err)
    return JSONResponse({"input_tokens": tokens})
