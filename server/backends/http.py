"""The HTTP side every backend shares: error translation, error bodies, and opening a timed stream.

Requests go out on the lean client's shared pool (``server.http1``, in ``server.transport``). Its
failures are worded where they surface, by phase (``send``, ``read``, ``stream``), in one place
(``translated``, modelled on httpx's own ``map_httpcore_exceptions``); an error answer is read into
a ``ProxyError`` by one reader whatever the server's dialect of error JSON; a JSON answer is read
under the ``first_byte`` and ``total`` limits, a stream's body under ``idle`` and ``total`` too.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson

from server.config import Timeouts
from server.errors import BadGateway, GatewayTimeout, ProxyError, UpstreamError
from server.http1 import Broken, ConnectFailed, Late, Response, Target, header_block, request_head
from server.transport import Connections

MAX_ERROR_BODY = 64 * 1024
_BROKE = {"send": "cannot reach", "stream": "broke the stream of", "read": "broke the connection to"}


class Unreachable(BadGateway):
    """The backend (or this replica of it) could not be connected to: a replica pool marks it down."""


class translated:  # noqa: N801 - used as a context manager, named for what it does
    """Client failures → ``ProxyError``; ``phase`` says what was under way (``send``, ``stream``, ``read``).

    A bare ``TimeoutError`` passes: it is the caller's own deadline, which the caller words."""

    __slots__ = ("backend", "phase")

    def __init__(self, backend: str, phase: str) -> None:
        self.backend = backend
        self.phase = phase

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if isinstance(exc, ConnectFailed):
            if exc.timed_out:
                raise Unreachable(f"cannot connect to backend {self.backend!r}: {exc.reason}") from None
            raise Unreachable(f"cannot reach backend {self.backend!r}: {exc.reason}") from None
        if isinstance(exc, Broken):
            raise BadGateway(f"{_BROKE[self.phase]} backend {self.backend!r}: {exc}") from None


async def read_error(
    response: Response, backend: str, redact: Callable[[str], str], deadline: float | None
) -> ProxyError:
    """An error answer (status ≥ 400) as a ``ProxyError`` with the backend's own status and message.

    Reads ``{"error": {...}}`` (OpenAI, recent vLLM), ``{"error": "text"}``, and the flat
    ``{"object": "error", "message": ...}`` of older vLLM; anything else is a 502 naming the status."""
    raw = b""
    with contextlib.suppress(Broken, Late):
        raw = await response.read(deadline, limit=MAX_ERROR_BODY)
    retry_after = response.header("retry-after")
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    status = response.status
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    err: Any = data.get("error", data if data.get("object") == "error" else None) if isinstance(data, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return UpstreamError(
            status,
            redact(str(err["message"])),
            type=redact(str(err["type"])) if err.get("type") else None,
            param=redact(str(err["param"])) if err.get("param") else None,
            code=redact(str(err["code"])) if err.get("code") is not None else None,
            headers=headers,
        )
    if isinstance(err, str) and err:
        return UpstreamError(status, redact(err), headers=headers)
    return UpstreamError(
        status if status < 500 else 502,
        f"backend {backend!r} answered HTTP {status} with a body that is not an OpenAI error",
        type="upstream_error",
        headers=headers,
    )


@dataclass
class Endpoint:
    """One backend's connection settings: the shared pool, limits, headers and how to hide its secret.

    ``json`` and ``stream`` each ``POST`` one JSON body to a URL of the backend; each URL's request
    head is built once."""

    backend: str
    connections: Connections
    timeouts: Timeouts
    headers: dict[str, str]
    secret: str | None = None
    _targets: dict[str, tuple[Target, bytes]] = field(default_factory=dict, init=False, repr=False)

    def redact(self, text: str) -> str:
        return text.replace(self.secret, "***") if self.secret else text

    def _target(self, url: str) -> tuple[Target, bytes]:
        found = self._targets.get(url)
        if found is None:
            if len(self._targets) >= 64:  # replicas come and go (discovery): keep the cache small
                self._targets.clear()
            target = Target(url)
            found = self._targets[url] = (target, request_head(target, self.headers))
        return found

    async def send(self, url: str, body: Any, request_id: str | None, head_by: float) -> Response:
        """The response head by ``head_by`` (loop time; connecting included); an error answer raised."""
        target, head = self._target(url)
        if request_id is not None:
            head += header_block({"x-request-id": request_id})
        try:
            with translated(self.backend, "send"):
                response = await self.connections.pool.post(
                    target, head, orjson.dumps(body), connect=self.timeouts.connect, head_by=head_by
                )
        except Late:
            raise GatewayTimeout(
                f"backend {self.backend!r} sent no response within {self.timeouts.first_byte:g}s"
            ) from None
        if response.status >= 400:
            try:
                raise await read_error(response, self.backend, self.redact, head_by)
            finally:
                response.release()
        return response

    async def json(self, url: str, body: Any, request_id: str | None) -> Any:
        """A whole JSON answer: its head within ``first_byte``, the whole within ``total``, and no
        gap in the body longer than ``first_byte`` or ``idle``."""
        t = self.timeouts
        now = self.connections.pool.loop.time()
        deadline = now + t.total
        response = await self.send(url, body, request_id, min(now + t.first_byte, deadline))
        try:
            with translated(self.backend, "read"):
                raw = await response.read(deadline, gap=max(t.first_byte, t.idle))
        except Late as late:
            if late.overall:
                raise GatewayTimeout(f"backend {self.backend!r} ran past its total time limit") from None
            raise GatewayTimeout(f"backend {self.backend!r} did not answer in time") from None
        finally:
            response.release()
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadGateway(f"backend {self.backend!r} answered with a body that is not JSON") from None

    @contextlib.asynccontextmanager
    async def stream(self, url: str, body: Any, request_id: str | None) -> AsyncIterator[AsyncIterator[bytes]]:
        """An event stream's body bytes under the first-byte, idle and total limits. When the block
        ends the connection goes back to the pool if the body was read to its end, and is closed
        otherwise (mid-stream, dropping the connection is what aborts the generation)."""
        t = self.timeouts
        sent = self.connections.pool.loop.time()
        response = await self.send(url, body, request_id, sent + min(t.first_byte, t.total))
        try:
            kind = response.header("content-type") or ""
            if "text/event-stream" not in kind:
                # An HTML page or a JSON body with status 200 where a stream was asked for: not the protocol.
                shown = self.redact(kind.split(";")[0].strip()[:60]) or "no content type"
                raise BadGateway(
                    f"backend {self.backend!r} answered a stream request with {shown}, not an event stream"
                )
            with translated(self.backend, "stream"):
                yield timed_body(response, self.backend, t, sent)
        finally:
            response.release()


async def timed_body(response: Response, backend: str, limits: Timeouts, sent: float) -> AsyncIterator[bytes]:
    """A stream's body, failing with ``GatewayTimeout`` when its first piece has not come
    ``first_byte`` seconds after ``sent`` (the request's instant on the event loop's clock), a later
    one takes longer than ``idle``, or the body runs past ``total``."""
    deadline = sent + limits.total
    try:
        chunk = await response.chunk(None, min(sent + limits.first_byte, deadline))
    except Late:
        if limits.first_byte < limits.total:
            raise GatewayTimeout(f"backend {backend!r} sent no data within {limits.first_byte:g}s") from None
        raise GatewayTimeout(f"backend {backend!r} ran past its total time limit") from None
    while chunk is not None:
        yield chunk
        try:
            chunk = await response.chunk(limits.idle, deadline)
        except Late as late:
            if late.overall:
                raise GatewayTimeout(f"backend {backend!r} ran past its total time limit") from None
            raise GatewayTimeout(
                f"backend {backend!r} stalled: no data in the middle of the stream for {limits.idle:g}s"
            ) from None


async def drain(chunks: AsyncIterator[bytes], limit: int = 64 * 1024) -> None:
    """Read what follows ``[DONE]`` (usually only the body's terminator) so the connection goes back
    to the pool instead of being closed: a new connection per stream costs a TLS handshake."""
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            return
