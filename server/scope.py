"""``RequestScope``: one request's life, begun once and ended once.

It owns what every request holds and must give back however it ends: the proxy-wide in-flight
slot, the in-flight gauge, the clock, the outcome and its metrics, and what the request opened
on the way (a backend stream to close). A JSON answer ends the scope when the handler leaves its
``async with``; a streamed one hands the scope to ``ScopedStream``, which ends it after the last
byte, or when the client leaves (even before the body was ever iterated).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from server.disconnect import ClientGone, ClientWatch
from server.resilience import Lease
from server.state import AppState


class RequestScope:
    def __init__(self, state: AppState, dialect: str) -> None:
        self.state = state
        self.dialect = dialect
        self.model = ""
        self.backend = ""
        self.outcome = "cancelled"  # until something better is known
        self.started = time.perf_counter()
        self._lease: Lease | None = None
        self._cleanups: list[Callable[[], Awaitable[Any]]] = []
        self._handed_off = False
        self._closed = False

    async def __aenter__(self) -> RequestScope:
        # Admission first: beyond the in-flight limit the answer is an immediate 429, before the body is read.
        self._lease = self.state.dispatcher.admit()
        self.state.metrics.in_flight.inc()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._handed_off and err is None:
            return
        if err is not None:
            self.outcome = "error" if isinstance(err, Exception) and not isinstance(err, ClientGone) else "cancelled"
        await self.close()

    def on_close(self, cleanup: Callable[[], Awaitable[Any]]) -> None:
        self._cleanups.append(cleanup)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    async def close(self) -> None:
        """Give everything back, once: shielded, since a client disconnect arrives as a cancellation."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._cleanups:  # a JSON answer has none: no shield to build
                with anyio.CancelScope(shield=True):
                    for cleanup in reversed(self._cleanups):
                        await cleanup()
        finally:
            if self._lease is not None:
                self._lease.release()
            self.state.metrics.in_flight.dec()
            self.state.metrics.request(self.model, self.backend, self.outcome, self.elapsed(), self.dialect)

    def stream(self, body: AsyncIterator[bytes], headers: dict[str, str]) -> StreamingResponse:
        """The streamed answer; from here on the response ends the scope."""
        self._handed_off = True
        return ScopedStream(self, body, media_type="text/event-stream", headers=headers)


class LastChunk(bytes):
    """A stream body's last chunk: ``ScopedStream`` sends it as the end of the body, in the same
    socket write as the chunked encoding's terminator instead of one write more."""


class ScopedStream(StreamingResponse):
    """A streaming response that ends its request scope when it is done, even when its body was
    never iterated (the client left before the first byte, so no generator ``finally`` ran).

    A client that leaves stops the stream at once (``ClientWatch``), as Starlette's own response
    does with a listener in an anyio task group, at a fraction of the cost."""

    def __init__(self, request_scope: RequestScope, content: AsyncIterator[bytes], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._request_scope = request_scope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with ClientWatch(receive, self._request_scope.state.loop):
                await self.stream_response(send)
        except ClientGone:
            pass  # the body's generators were closed by the cancellation; nobody reads an answer
        finally:
            await self._request_scope.close()

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        more = True
        async for chunk in self.body_iterator:
            more = not isinstance(chunk, LastChunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
        if more:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
