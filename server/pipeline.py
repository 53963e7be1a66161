"""One request, whatever door it came through: read → decode → route → dispatch → encode.

``serve`` is the whole life of a request in one read. A JSON answer is collected and encoded by
the door; a stream is a composition of short generators, each testable alone:

    backend items → ``in_call_order`` → ``metered`` → the door's encoder → SSE bytes

and the ``RequestScope`` gives everything back once the response is over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from adapters.base import CallRejected, ToolCallArgsDelta, ToolCallEnd, ToolCallStart
from server.backends.base import Completion, Delta, Finish, StreamItem, Usage
from server.dialects.base import Answer, Dialect, StreamEncoder
from server.disconnect import ClientGone, ClientWatch
from server.errors import InternalError, InvalidRequest, PayloadTooLarge, ProxyError
from server.routing import Target
from server.scope import LastChunk, RequestScope
from server.state import AppState

log = logging.getLogger("toolrelay")

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.toolrelay
    return state


def error_response(dialect: Dialect, err: ProxyError) -> Response:
    return Response(
        orjson.dumps(dialect.error_body(err)),
        status_code=err.status,
        media_type="application/json",
        headers=err.headers,
    )


async def serve(request: Request, dialect: Dialect) -> Response:
    state = app_state(request)
    try:
        async with RequestScope(state, dialect.name) as scope:
            # the access log line names the door, the model and the backend (server.logs.RequestContext)
            request.state.log_fields = fields = {"dialect": dialect.name}
            body = await read_body(request, state.settings.limits.max_body_bytes)
            job, context = await dialect.decode(request, body, state.settings.limits)
            job.request_id = request.state.request_id
            scope.model = job.model
            targets = state.router.route(job.model)
            scope.model = targets[0].model  # an alias counts as the configured model it names
            fields["model"] = scope.model
            state.check_access(request, targets[0].model)
            # a door may hand a request on unchanged (the Responses door's ``responses: passthrough``)
            forwarded = await dialect.passthrough(request, scope, body, job, targets)
            if forwarded is not None:
                return forwarded
            answer = Answer(dialect.new_id(), int(time.time()), job.model)
            # until the response starts nothing else listens to the connection: a client that gives
            # up while the backend is slow must not leave it working, and a slot taken, until a timeout
            async with ClientWatch(request.receive, state.loop):
                if job.stream:
                    items, target = await state.dispatcher.stream(job, targets)
                else:
                    completion, target = await state.dispatcher.complete(job, targets)
            scope.backend = fields["backend"] = target.backend
            if not job.stream:
                _count(state, target, completion)
                payload = await dialect.respond(completion, answer, context)
                scope.outcome = "ok"
                return Response(orjson.dumps(payload), media_type="application/json")
            scope.on_close(items.aclose)
            encoder = dialect.encoder(job, answer, context)
            ordered = metered(state, scope, target, in_call_order(items))
            return scope.stream(sse(scope, target, encoder, ordered), SSE_HEADERS)
    except ProxyError as err:
        return error_response(dialect, err)
    except ClientGone:
        return Response(status_code=499)  # nobody reads it; the backend call is already closed


async def read_body(request: Request, limit: int) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
    # Straight from ``receive``: ``Request.stream`` is an async generator, with its own frame per chunk.
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await request.receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()  # the client left before its body was whole (as ``Request.stream``)
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        if chunk:
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
    raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if not raw:
        raise InvalidRequest("the request body is empty; send a JSON object", code="invalid_json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "We could not parse the JSON body of your request: it is not valid JSON", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object", code="invalid_json")
    return body


def _count(state: AppState, target: Target, completion: Completion) -> None:
    m = state.metrics
    for choice in completion.choices:
        m.finish_reason(target.model, choice.finish_reason)
        for call in choice.message.tool_calls:
            m.tool_call(target.family, call.outcome.value)
        for rejected in choice.message.rejected:
            m.tool_call(target.family, rejected.outcome.value)
    if completion.usage is not None:
        m.usage(target.model, completion.usage.prompt_tokens, completion.usage.completion_tokens)


async def in_call_order(items: AsyncIterator[StreamItem]) -> AsyncGenerator[StreamItem, None]:
    """Each tool call whole, in index order, before the next call's first byte (DESIGN §5): the
    SDK stream helpers treat a new index as the end of the previous call. Events of a call that
    starts while another is open wait until that one ends; everything else passes at once."""
    open_call: dict[int, int] = {}  # choice → index of the call on the wire
    held: dict[int, list[Delta]] = {}  # choice → events of later calls, in arrival order
    async for item in items:
        if not isinstance(item, Delta) or not isinstance(item.event, ToolCallStart | ToolCallArgsDelta | ToolCallEnd):
            if isinstance(item, Finish):
                for late in _release(held, open_call, item.choice, final=True):
                    yield late
            yield item
            continue
        current = open_call.get(item.choice)
        if current is None and isinstance(item.event, ToolCallStart):
            open_call[item.choice] = current = item.event.index
        if current != item.event.index:
            held.setdefault(item.choice, []).append(item)
            continue
        yield item
        if isinstance(item.event, ToolCallEnd):
            del open_call[item.choice]
            for late in _release(held, open_call, item.choice):
                yield late


def _release(
    held: dict[int, list[Delta]], open_call: dict[int, int], choice: int, *, final: bool = False
) -> list[Delta]:
    """Held events in call order: whole calls first, by index; an unfinished one stays open, and
    the calls after it stay held (at the choice's finish nothing waits any more)."""
    by_index: dict[int, list[Delta]] = {}
    for d in held.pop(choice, []):
        assert isinstance(d.event, ToolCallStart | ToolCallArgsDelta | ToolCallEnd)
        by_index.setdefault(d.event.index, []).append(d)
    out: list[Delta] = []
    for index in sorted(by_index):
        events = by_index[index]
        out.extend(events)
        if not final and not isinstance(events[-1].event, ToolCallEnd):
            open_call[choice] = index
            later = [d for i in sorted(by_index) if i > index for d in by_index[i]]
            if later:
                held[choice] = later
            break
    return out


async def metered(
    state: AppState, scope: RequestScope, target: Target, items: AsyncIterator[StreamItem]
) -> AsyncGenerator[StreamItem, None]:
    """Count what goes by: time to first token, tool-call outcomes, finish reasons, usage."""
    m = state.metrics
    first = True
    async for item in items:
        if isinstance(item, Delta):
            if first:
                first = False
                m.first_token(target.model, scope.elapsed())
            if isinstance(item.event, ToolCallEnd | CallRejected):
                m.tool_call(target.family, item.event.outcome.value)
        elif isinstance(item, Finish):
            m.finish_reason(target.model, item.reason)
        elif isinstance(item, Usage):
            m.usage(target.model, item.prompt_tokens, item.completion_tokens)
        yield item


async def sse(
    scope: RequestScope, target: Target, encoder: StreamEncoder, items: AsyncIterator[StreamItem]
) -> AsyncIterator[bytes]:
    """The door's frames; a failure after the stream started goes out as the door's error frame.

    A choice's finish frame waits for the next frame, or the end of the stream: nothing more is
    said about that choice, and the end goes out in one write with it (``LastChunk``)."""
    finished = b""
    try:
        head = encoder.open()
        if head:
            yield head
        async for item in items:
            frame = encoder.encode(item)
            if not frame:
                continue
            if isinstance(item, Finish):
                finished += frame
                continue
            if finished:
                frame, finished = finished + frame, b""
            yield frame
        yield LastChunk(finished + await encoder.close())
        scope.outcome = "ok"
    except ProxyError as err:
        scope.outcome = "error"
        scope.state.metrics.upstream_error(target.backend, type(err).__name__)
        yield LastChunk(finished + encoder.error(err))
    except Exception:
        # A bug must not cut the stream without a word: the client gets a typed error frame.
        scope.outcome = "error"
        log.exception("unexpected error in a stream")
        yield LastChunk(
            finished + encoder.error(InternalError("internal error in toolrelay; the stream was not completed"))
        )
