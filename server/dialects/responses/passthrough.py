"""``responses: passthrough``: a Responses request forwarded unchanged to a hosted API's own
``/responses`` (built-in tools, encrypted reasoning, OpenAI-side storage keep working there).

Only the model name is rewritten to the id at the backend; the answer, JSON or SSE, comes back as
the API sent it. The backend's connection settings apply (key, headers, timeouts, error
translation); the dispatcher's retries, circuits and fallbacks do not: a forwarded request is
one attempt at the model's own backend.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from server.errors import ProxyError
from server.job import Job
from server.routing import Target

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def forward(
    request: Request, scope: Any, body: dict[str, Any], job: Job, targets: tuple[Target, ...]
) -> Response | None:
    from server.dialects.responses.decode import passthrough_backend

    target = targets[0]
    backend = passthrough_backend(request.app.state.toolrelay, target)
    if backend is None:
        return None
    scope.backend = target.backend
    url = f"{backend.config.base_url}/responses"
    outgoing = {**body, "model": target.upstream_model}
    if not job.stream:
        data = await backend.endpoint.json(url, outgoing, job.request_id)
        scope.outcome = "ok"
        return Response(orjson.dumps(data), media_type="application/json")
    opened = backend.endpoint.stream(url, outgoing, job.request_id)
    chunks = await opened.__aenter__()

    exited = False

    async def close() -> None:
        nonlocal exited
        if not exited:
            exited = True
            await opened.__aexit__(None, None, None)

    scope.on_close(close)

    async def relay() -> Any:
        nonlocal exited
        try:
            async for chunk in chunks:
                yield chunk
        except Exception as exc:
            # the stream's own context translates a transport failure into a ProxyError
            exited = True
            try:
                await opened.__aexit__(type(exc), exc, exc.__traceback__)
            except ProxyError as err:
                # the upstream stalled or broke off: the client gets an error event, not a cut stream
                scope.outcome = "error"
                body = err.body()["error"]
                event = {"type": "error", "code": body["code"], "message": body["message"], "error": body}
                yield b"\n\nevent: error\ndata: " + orjson.dumps(event) + b"\n\n"
                return
            raise
        scope.outcome = "ok"

    return scope.stream(relay(), SSE_HEADERS)  # type: ignore[no-any-return]
