"""The HTTP side every backend shares: error translation, error bodies, and opening a timed stream.

Requests go straight to the shared aiohttp session (``server.transport``). Its exceptions are
translated where they enter, in one place (``translated``, modelled on httpx's own
``map_httpcore_exceptions``); an error answer is read into a ``ProxyError`` by one reader whatever
the server's dialect of error JSON; a stream is opened under the backend's ``first_byte`` limit and
its body read under the ``idle`` and ``total`` limits.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from yarl import URL

from server.config import Timeouts
from server.errors import BadGateway, GatewayTimeout, ProxyError, UpstreamError
from server.resilience import REAL_TIMER, Timer, timed_chunks
from server.transport import Connections

MAX_ERROR_BODY = 64 * 1024
_BROKE = {"send": "cannot reach", "stream": "broke the stream of", "read": "broke the connection to"}


class Unreachable(BadGateway):
    """The backend (or this replica of it) could not be connected to: a replica pool marks it down."""


@contextlib.contextmanager
def translated(backend: str, phase: str) -> Iterator[None]:
    """aiohttp errors → ``ProxyError``; ``phase`` says what was under way (``send``, ``stream``, ``read``).

    A bare ``TimeoutError`` passes: it is the caller's own deadline, which the caller words."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError:  # connecting, or waiting for a free pooled connection
        raise Unreachable(f"cannot connect to backend {backend!r}: connect timed out") from None
    except aiohttp.ServerTimeoutError:  # no byte for the read timeout
        if phase == "stream":
            raise GatewayTimeout(f"backend {backend!r} stalled in the middle of the stream") from None
        raise GatewayTimeout(f"backend {backend!r} did not answer in time") from None
    except aiohttp.ClientConnectorError as exc:  # refused, no route, DNS, TLS handshake
        raise Unreachable(f"cannot reach backend {backend!r}: {type(exc).__name__}") from None
    except aiohttp.ClientError as exc:  # a reset, a disconnect, a body cut short, an unreadable head
        raise BadGateway(f"{_BROKE[phase]} backend {backend!r}: {type(exc).__name__}") from None


async def read_error(response: aiohttp.ClientResponse, backend: str, redact: Callable[[str], str]) -> ProxyError:
    """An error answer (status ≥ 400) as a ``ProxyError`` with the backend's own status and message.

    Reads ``{"error": {...}}`` (OpenAI, recent vLLM), ``{"error": "text"}``, and the flat
    ``{"object": "error", "message": ...}`` of older vLLM; anything else is a 502 naming the status."""
    raw = b""
    with contextlib.suppress(aiohttp.ClientError):
        async for chunk in response.content.iter_any():
            raw += chunk
            if len(raw) > MAX_ERROR_BODY:
                break
    retry_after = response.headers.get("retry-after")
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

    ``json`` and ``stream`` each ``POST`` one JSON body; ``url`` may be a ``yarl.URL`` built once
    (a string is parsed on every call)."""

    backend: str
    connections: Connections
    timeouts: Timeouts
    headers: dict[str, str]
    secret: str | None = None
    timer: Timer = REAL_TIMER
    _timeout: aiohttp.ClientTimeout = field(init=False, repr=False)

    def __post_init__(self) -> None:
        t = self.timeouts
        # ``connect`` covers the wait for a pooled connection too; the socket read timeout is only a
        # backstop, the first-byte, idle and total limits are this class's own (``timer``).
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=t.connect, sock_connect=t.connect, sock_read=max(t.first_byte, t.idle)
        )

    def redact(self, text: str) -> str:
        return text.replace(self.secret, "***") if self.secret else text

    async def send(self, url: URL | str, body: Any, request_id: str | None) -> aiohttp.ClientResponse:
        """The response head within ``first_byte`` seconds (connecting included); an error answer raised."""
        headers = self.headers if request_id is None else {**self.headers, "x-request-id": request_id}
        opening = self.connections.session.request(
            "POST", url, data=orjson.dumps(body), headers=headers, timeout=self._timeout, allow_redirects=False
        )
        try:
            with translated(self.backend, "send"):
                response = await self.timer.within(self.timeouts.first_byte, opening)
        except TimeoutError:
            raise GatewayTimeout(
                f"backend {self.backend!r} sent no response within {self.timeouts.first_byte:g}s"
            ) from None
        if response.status >= 400:
            try:
                raise await read_error(response, self.backend, self.redact)
            finally:
                response.release()
        return response

    async def json(self, url: URL | str, body: Any, request_id: str | None) -> Any:
        """A whole JSON answer, within the ``total`` limit."""
        deadline = self.timer.now() + self.timeouts.total
        response = await self.send(url, body, request_id)
        try:
            with translated(self.backend, "read"):
                raw = await self.timer.within(max(deadline - self.timer.now(), 0.0), response.read())
        except TimeoutError:
            raise GatewayTimeout(f"backend {self.backend!r} ran past its total time limit") from None
        finally:
            response.release()
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadGateway(f"backend {self.backend!r} answered with a body that is not JSON") from None

    @contextlib.asynccontextmanager
    async def stream(self, url: URL | str, body: Any, request_id: str | None) -> AsyncIterator[AsyncIterator[bytes]]:
        """An event stream's body bytes under the first-byte, idle and total limits. When the block
        ends the connection goes back to the pool if the body was read to its end, and is closed
        otherwise (mid-stream, dropping the connection is what aborts the generation)."""
        t = self.timeouts
        sent = self.timer.now()
        response = await self.send(url, body, request_id)
        try:
            kind = response.headers.get("content-type", "")
            if "text/event-stream" not in kind:
                # An HTML page or a JSON body with status 200 where a stream was asked for: not the protocol.
                shown = self.redact(kind.split(";")[0].strip()[:60]) or "no content type"
                raise BadGateway(
                    f"backend {self.backend!r} answered a stream request with {shown}, not an event stream"
                )
            first = max(t.first_byte - (self.timer.now() - sent), 0.0)
            chunks = timed_chunks(
                response.content.iter_any(),
                self.backend,
                first=first,
                idle=t.idle,
                deadline=sent + t.total,
                timer=self.timer,
            )
            with translated(self.backend, "stream"):
                yield chunks
        finally:
            response.release()


async def drain(chunks: AsyncIterator[bytes], limit: int = 64 * 1024) -> None:
    """Read what follows ``[DONE]`` (usually only the body's terminator) so the connection goes back
    to the pool instead of being closed: a new connection per stream costs a TLS handshake."""
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            return
