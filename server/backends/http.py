"""The HTTP side every backend shares: error translation, error bodies, and opening a timed stream.

Foreign exceptions are translated where they enter, in one place (``translated``, modelled on
httpx's own ``map_httpcore_exceptions``); an error answer is read into a ``ProxyError`` by one
reader whatever the server's dialect of error JSON; a stream is opened under the backend's
``first_byte`` limit and its body read under the ``idle`` and ``total`` limits.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from server.config import Timeouts
from server.errors import BadGateway, GatewayTimeout, ProxyError, UpstreamError
from server.resilience import REAL_TIMER, Timer, timed_chunks

MAX_ERROR_BODY = 64 * 1024


class Unreachable(BadGateway):
    """The backend (or this replica of it) could not be connected to: a replica pool marks it down."""


@contextlib.contextmanager
def translated(backend: str, phase: str) -> Iterator[None]:
    """httpx errors → ``ProxyError``; ``phase`` says what was under way (``send``, ``stream``, ``read``)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            raise Unreachable(f"cannot connect to backend {backend!r}: connect timed out") from None
        if phase == "stream":
            raise GatewayTimeout(f"backend {backend!r} stalled in the middle of the stream") from None
        raise GatewayTimeout(f"backend {backend!r} did not answer in time") from None
    except httpx.ConnectError as exc:
        raise Unreachable(f"cannot reach backend {backend!r}: {type(exc).__name__}") from None
    except httpx.HTTPError as exc:
        what = {"send": "cannot reach", "stream": "broke the stream of", "read": "broke the connection to"}[phase]
        raise BadGateway(f"{what} backend {backend!r}: {type(exc).__name__}") from None


async def read_error(response: httpx.Response, backend: str, redact: Callable[[str], str]) -> ProxyError:
    """An error answer (status ≥ 400) as a ``ProxyError`` with the backend's own status and message.

    Reads ``{"error": {...}}`` (OpenAI, recent vLLM), ``{"error": "text"}``, and the flat
    ``{"object": "error", "message": ...}`` of older vLLM; anything else is a 502 naming the status."""
    raw = b""
    with contextlib.suppress(httpx.HTTPError):
        async for chunk in response.aiter_bytes():
            raw += chunk
            if len(raw) > MAX_ERROR_BODY:
                break
    headers = {"retry-after": response.headers["retry-after"]} if "retry-after" in response.headers else {}
    status = response.status_code
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
    """One backend's connection settings: client, limits, headers and how to hide its secret."""

    backend: str
    client: httpx.AsyncClient
    timeouts: Timeouts
    headers: dict[str, str]
    secret: str | None = None
    timer: Timer = REAL_TIMER

    def __post_init__(self) -> None:
        t = self.timeouts
        timeout = httpx.Timeout(connect=t.connect, read=max(t.first_byte, t.idle), write=t.connect, pool=t.connect)
        self._extensions = {"timeout": timeout.as_dict()}

    def redact(self, text: str) -> str:
        return text.replace(self.secret, "***") if self.secret else text

    def request(self, url: httpx.URL, body: Any, request_id: str | None) -> httpx.Request:
        headers = self.headers if request_id is None else {**self.headers, "x-request-id": request_id}
        # Built directly rather than through client.build_request: the URL is parsed once, and the
        # client's merging of defaults (cookies, params, base URL) has nothing to add here.
        return httpx.Request("POST", url, content=orjson.dumps(body), headers=headers, extensions=self._extensions)

    async def send(self, request: httpx.Request) -> httpx.Response:
        """The response head within ``first_byte`` seconds (connecting included); an error answer raised."""
        try:
            with translated(self.backend, "send"):
                response = await self.timer.within(self.timeouts.first_byte, self.client.send(request, stream=True))
        except TimeoutError:
            raise GatewayTimeout(
                f"backend {self.backend!r} sent no response within {self.timeouts.first_byte:g}s"
            ) from None
        if response.status_code >= 400:
            try:
                raise await read_error(response, self.backend, self.redact)
            finally:
                await response.aclose()
        return response

    async def json(self, request: httpx.Request) -> Any:
        """A whole JSON answer, within the ``total`` limit."""
        deadline = self.timer.now() + self.timeouts.total
        response = await self.send(request)
        try:
            with translated(self.backend, "read"):
                raw = await self.timer.within(max(deadline - self.timer.now(), 0.0), response.aread())
        except TimeoutError:
            raise GatewayTimeout(f"backend {self.backend!r} ran past its total time limit") from None
        finally:
            await response.aclose()
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadGateway(f"backend {self.backend!r} answered with a body that is not JSON") from None

    @contextlib.asynccontextmanager
    async def stream(self, request: httpx.Request) -> AsyncIterator[AsyncIterator[bytes]]:
        """An event stream's body bytes under the first-byte, idle and total limits; the response is
        closed when the block ends (mid-stream, that drops the connection, which aborts the generation)."""
        t = self.timeouts
        sent = self.timer.now()
        response = await self.send(request)
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
                response.aiter_raw(), self.backend, first=first, idle=t.idle, deadline=sent + t.total, timer=self.timer
            )
            with translated(self.backend, "stream"):
                yield chunks
        finally:
            with contextlib.suppress(Exception):
                await response.aclose()


async def drain(chunks: AsyncIterator[bytes], limit: int = 64 * 1024) -> None:
    """Read what follows ``[DONE]`` (usually only the body's terminator) so the connection goes back
    to the pool instead of being closed: a new connection per stream costs a TLS handshake."""
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            return
