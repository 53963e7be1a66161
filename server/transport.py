"""The connections toolrelay opens to its backends: ``pool`` for the requests it forwards, ``client``
(httpx's API) for probes, readiness checks and the vLLM auto gate.

Forwarded requests (``server.backends.http.Endpoint``) go through the lean client of
``server.http1``: a general client's per-call machinery was the largest part of toolrelay's CPU per
request beside the proxy's own work (httpx's, then aiohttp's; docs/benchmarks.md). The rarer calls
keep httpx's API, carried by httpx-aiohttp over one aiohttp session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from server.http1 import Pool

MAX_CONNECTIONS = 2048
KEEPALIVE_S = 30.0


class Connections:
    """``pool`` for forwarded requests, ``client`` (httpx) for probes."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        # httpx's CA bundle (certifi), read once: building a context reads the whole bundle
        self._ssl = httpx.create_ssl_context(trust_env=False)
        self.pool = Pool(limit=MAX_CONNECTIONS, keepalive=KEEPALIVE_S, ssl_context=self._ssl)
        limits = httpx.Limits(max_connections=MAX_CONNECTIONS, keepalive_expiry=KEEPALIVE_S)
        probes = AiohttpTransport(client=lambda: self.session, verify=self._ssl, limits=limits, trust_env=False)
        self.client = httpx.AsyncClient(
            transport=_Probes(probes),
            timeout=httpx.Timeout(60.0),
            follow_redirects=False,
            trust_env=False,
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        """Created on first use, because aiohttp binds a session to the event loop it starts on
        (a backend may be built outside any loop, to render request bodies)."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S, ssl=self._ssl)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def aclose(self) -> None:
        await self.pool.aclose()
        await self.client.aclose()
        if self._session is not None:
            await self._session.close()


# httpx-aiohttp maps aiohttp's errors onto httpx's, but maps every connection error, a refused
# connect or a reset alike, to ``ConnectTimeout``; ``_Probes`` puts them back where they belong so
# that a probe of a refused port is not reported as a timeout.


def _remap(exc: httpx.TransportError) -> httpx.TransportError:
    cause = exc.__cause__
    if not isinstance(exc, httpx.TimeoutException) or cause is None or isinstance(cause, TimeoutError):
        return exc
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(cause))
    return httpx.RemoteProtocolError(str(cause) or type(cause).__name__)


class _Body(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except httpx.TransportError as exc:
            raise _remap(exc) from exc.__cause__

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Probes(httpx.AsyncBaseTransport):
    def __init__(self, inner: AiohttpTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError as exc:
            raise _remap(exc) from exc.__cause__
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Body(response.stream)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
