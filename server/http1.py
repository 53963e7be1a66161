"""A lean HTTP/1.1 client for backend calls: pooled keep-alive connections on asyncio protocols,
responses parsed by httptools (the parser uvicorn serves with).

Every request toolrelay forwards is one ``POST`` of a JSON body to a backend it was configured
with, answered with a JSON body or an event stream. aiohttp's general client spent about 370k
instructions on each such call (request and response objects, header multidicts, cookie jar,
tracing hooks, its own timers) — more than the whole of a minimal relay's request, measured under
callgrind (docs/benchmarks.md). This client does that one job: it writes the request in one
``write``, reads the head and the body straight from the protocol callbacks, and waits with one
timer handle per wait, only when nothing is buffered yet.

What it does not do, by design: redirects, cookies, proxies, content decoding (it asks for none),
``Expect: 100-continue``, HTTP/2. Probes and other rare calls keep the general client
(``server.transport``).

Errors: ``ConnectFailed`` (nothing sent: refused, DNS, TLS, connect timeout), ``Broken`` (the
connection failed or the answer was malformed after the request went out), ``Late`` (a deadline
or a gap between bytes ran out; a ``TimeoutError``). ``server.backends.http`` words them for its
backend.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

import aiohappyeyeballs
import httptools

DEFAULT_PORTS = {"http": 80, "https": 443}
# A stream's unread bytes past which the socket stops being read (a slow client slows the
# backend down instead of filling memory); reading resumes below a quarter of it.
HIGH_WATER = 256 * 1024
HAPPY_EYEBALLS_DELAY = 0.25  # seconds before the next address is tried alongside (RFC 8305)


class ConnectFailed(Exception):
    """No connection could be had; the request was not sent. ``timed_out``: the connect timeout."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


class Broken(Exception):
    """The connection failed, or the answer was not HTTP, after the request was sent."""


class Late(TimeoutError):
    """A wait ran out: ``overall`` when it was the caller's deadline, not a gap between bytes."""

    def __init__(self, overall: bool) -> None:
        super().__init__("deadline" if overall else "gap")
        self.overall = overall


class Target:
    """Where requests go, parsed once: a backend's URL becomes the request line and Host header."""

    __slots__ = ("key", "host", "port", "tls", "path", "host_header")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or DEFAULT_PORTS[parts.scheme]
        self.key = (parts.scheme, self.host, self.port)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if parts.port is None else f"{host}:{self.port}"


# Headers the client writes itself: framing, the connection, and the one coding it reads.
OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "accept-encoding"})


def request_head(target: Target, headers: dict[str, str]) -> bytes:
    """The request line and headers up to the body's ``content-length`` value (the caller ends it).
    Built once per backend and URL: only the length and the request id change per request.
    ``accept-encoding: identity``: without the header a server may pick any coding (RFC 9110
    §12.5.3), and this client decodes none."""
    lines = [f"POST {target.path} HTTP/1.1\r\n", f"host: {target.host_header}\r\n", "accept-encoding: identity\r\n"]
    lines += [_line(name, value) for name, value in headers.items() if name.lower() not in OWN_HEADERS]
    return "".join(lines).encode("latin-1")


_UNSAFE = re.compile(r"[\r\n\0]")


def _line(name: str, value: Any) -> str:
    """One header line; a line break or NUL would let a value smuggle in headers of its own."""
    text = str(value)
    if _UNSAFE.search(name) or _UNSAFE.search(text):
        raise ValueError(f"header {name!r} holds a line break or NUL")
    return f"{name}: {text}\r\n"


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Connection(asyncio.Protocol):
    """One keep-alive connection and the response being read on it (one at a time)."""

    def __init__(self, pool: Pool, key: tuple[str, str, int]) -> None:
        self.pool = pool
        self.key = key
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.reused = False  # taken from the idle pool for the request under way
        self._reset()

    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.framed = False  # content-length or chunked: the end is in the stream, not at close
        self.complete = False
        self.keep_alive = False  # read at the message's end: the parser forgets it once the message is done
        self.received = False  # any byte of this answer arrived
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.paused = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(Broken(f"malformed HTTP response: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.head_done and not self.complete and not self.framed and exc is None:
            self.complete = True  # a body that ends where the connection ends
            self._wake()
        elif not self.complete:
            self._fail(Broken(type(exc).__name__ if exc is not None else "connection closed by the backend"))
        self.pool.forget(self)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the real head follows
            self.headers = []
            return
        self.status = status
        self.head_done = True
        self.framed = any(n in (b"content-length", b"transfer-encoding") for n, _ in self.headers) or status in (
            204,
            304,
        )
        coding = next((v for n, v in self.headers if n == b"content-encoding"), b"identity").strip().lower()
        if coding != b"identity":
            self._fail(
                Broken(f"the answer is in content-encoding {coding.decode('latin-1')!r}, which was not asked for")
            )
            self.close()
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def taken(self, size: int) -> None:
        """``size`` buffered bytes were handed on: read the socket again once most are gone."""
        self.buffered -= size
        if self.buffered < HIGH_WATER // 4:
            self.resume()

    def resume(self) -> None:
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def on_message_complete(self) -> None:
        if self.head_done:
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive()
            self._wake()

    # ------------------------------------------------------------------ waiting

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, err: BaseException) -> None:
        if self.error is None:
            self.error = err
        self._wake()

    async def wait(self, deadline: float | None) -> None:
        """Until the protocol has news (head, body, end, failure), or ``TimeoutError`` at ``deadline``
        (loop time). Raises what broke the connection."""
        if self.error is not None:
            raise self.error
        waiter = self.waiter = self.loop.create_future()
        timer = self.loop.call_at(deadline, _expire, waiter) if deadline is not None else None
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Response:
    """A response whose head has arrived. ``release()`` must follow: the connection goes back to the
    pool when the body was read to its end, and is closed otherwise."""

    __slots__ = ("status", "headers", "_conn", "_released")

    def __init__(self, conn: Connection) -> None:
        self.status = conn.status
        self.headers = conn.headers
        self._conn = conn
        self._released = False

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode("latin-1")
        for key, value in self.headers:
            if key == wanted:
                return value.decode("latin-1")
        return None

    async def read(self, deadline: float | None, gap: float | None = None, limit: int | None = None) -> bytes:
        """The whole body, or its first ``limit`` bytes and a little more. ``Late`` at ``deadline``
        (loop time), or after ``gap`` seconds without a byte."""
        conn = self._conn
        while not conn.complete and (limit is None or conn.buffered <= limit):
            conn.resume()  # a whole body is wanted: nothing downstream drains it piece by piece
            await self._wait(gap, deadline)
        chunks = conn.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        conn.taken(len(body))
        return body

    async def chunk(self, gap: float | None, deadline: float | None) -> bytes | None:
        """The next piece of the body as it arrived, ``None`` at its end. ``Late`` after ``gap``
        seconds without one, or at ``deadline``; no timer at all when a piece is already here."""
        conn = self._conn
        while not conn.chunks:
            if conn.complete:
                return None
            await self._wait(gap, deadline)
        piece = conn.chunks.popleft()
        conn.taken(len(piece))
        return piece

    async def _wait(self, gap: float | None, deadline: float | None) -> None:
        conn = self._conn
        until, overall = deadline, True
        if gap is not None:
            by_gap = conn.loop.time() + gap
            if deadline is None or by_gap < deadline:
                until, overall = by_gap, False
        try:
            await conn.wait(until)
        except TimeoutError:
            raise Late(overall) from None

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        conn = self._conn
        if conn.complete and conn.keep_alive and not conn.chunks and not conn.closed:
            conn.pool.put_back(conn)
        else:
            conn.close()
            conn.pool.forget(conn)


AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]
Resolver = Callable[[str, int], Awaitable[Sequence[AddrInfo]]]


class Pool:
    """Keep-alive connections per origin, most recently used first; at most ``limit`` open in all
    (a request beyond waits for one to close or come back, within its connect timeout)."""

    def __init__(
        self, *, limit: int, keepalive: float, ssl_context: ssl.SSLContext, resolve: Resolver | None = None
    ) -> None:
        """``resolve``: host and port → addresses (``getaddrinfo``'s tuples); the loop's by default."""
        self.limit = limit
        self._resolve = resolve
        self.keepalive = keepalive
        self.ssl = ssl_context
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._open: set[Connection] = set()
        self._slots: deque[asyncio.Future[None]] = deque()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def counts(self) -> tuple[int, int]:
        """(open connections, of which busy with a request)."""
        idle = sum(len(conns) for conns in self._idle.values())
        return len(self._open), len(self._open) - idle

    async def post(
        self, target: Target, head: bytes, body: bytes, *, connect: float, head_by: float | None
    ) -> Response:
        """Send ``head`` (from ``request_head``, extra header lines allowed) and ``body``; the
        response once its head arrived, before ``head_by`` (loop time)."""
        request = b"%bcontent-length: %d\r\n\r\n%b" % (head, len(body), body)
        conn = await self._checkout(target, connect)
        try:
            return await self._exchange(conn, request, head_by)
        except Broken:
            if not conn.reused or conn.received:
                raise
        # A kept-alive connection the server closed as the request went out (its idle timeout ran
        # out at that moment) failed without a byte of answer: the server read none of the request,
        # which goes again on a fresh connection, once.
        conn = await self._checkout(target, connect, fresh=True)
        return await self._exchange(conn, request, head_by)

    async def _exchange(self, conn: Connection, request: bytes, head_by: float | None) -> Response:
        assert conn.transport is not None
        conn.transport.write(request)
        try:
            while not conn.head_done:
                await conn.wait(head_by)
            if conn.error is not None:  # a head this client cannot read on
                raise conn.error
        except BaseException as exc:
            conn.close()
            self.forget(conn)
            if isinstance(exc, TimeoutError):
                raise Late(True) from None
            raise
        return Response(conn)

    async def _checkout(self, target: Target, connect: float, *, fresh: bool = False) -> Connection:
        """An idle connection to the target's origin (unless ``fresh``), else a new one; at the
        limit, a request waits for a connection to come back or close (within ``connect`` seconds)."""
        loop = self.loop
        deadline = loop.time() + connect
        while True:
            idle = None if fresh else self._idle.get(target.key)
            while idle:
                conn = idle.pop()
                if not conn.closed and loop.time() - conn.idle_since < self.keepalive:
                    conn._reset()
                    conn.reused = True
                    return conn
                conn.close()
                self._open.discard(conn)
            if len(self._open) < self.limit or self._close_one_idle():
                return await self._connect(target, deadline)
            await self._wait_for_slot(deadline)

    async def _connect(self, target: Target, deadline: float) -> Connection:
        conn = Connection(self, target.key)
        self._open.add(conn)
        try:
            async with asyncio.timeout_at(deadline):
                infos: Sequence[AddrInfo]
                if self._resolve is not None:
                    infos = await self._resolve(target.host, target.port)
                else:
                    infos = await self.loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
                # Happy Eyeballs (RFC 8305): an address family that black-holes (IPv6 on a host
                # without a route) costs 250 ms, not the whole connect timeout
                sock = await aiohappyeyeballs.start_connection(
                    infos, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY, interleave=1, loop=self.loop
                )
                try:
                    await self.loop.create_connection(
                        lambda: conn,
                        sock=sock,
                        ssl=self.ssl if target.tls else None,
                        server_hostname=target.host if target.tls else None,
                    )
                except BaseException:
                    if sock.fileno() != -1:  # not handed over to a transport
                        sock.close()
                    raise
        except TimeoutError:
            self.forget(conn)
            raise ConnectFailed("connect timed out", timed_out=True) from None
        except (OSError, ssl.SSLError) as exc:
            self.forget(conn)
            raise ConnectFailed(type(exc).__name__) from None
        except BaseException:
            self.forget(conn)
            raise
        return conn

    def _close_one_idle(self) -> bool:
        for conns in self._idle.values():
            if conns:
                conn = conns.pop(0)  # the least recently used
                conn.close()
                self._open.discard(conn)
                return True
        return False

    async def _wait_for_slot(self, deadline: float) -> None:
        slot: asyncio.Future[None] = self.loop.create_future()
        self._slots.append(slot)
        timer = self.loop.call_at(deadline, _expire, slot)
        try:
            await slot
        except TimeoutError:
            raise ConnectFailed("connect timed out: every pooled connection is busy", timed_out=True) from None
        except asyncio.CancelledError:
            if slot.done() and not slot.cancelled() and slot.exception() is None:
                self._free_slot()  # woken just before the cancellation: the next waiter gets the slot
            raise
        finally:
            timer.cancel()
            if slot in self._slots:
                self._slots.remove(slot)

    def put_back(self, conn: Connection) -> None:
        conn.idle_since = self.loop.time()
        self._idle.setdefault(conn.key, []).append(conn)
        self._free_slot()

    def forget(self, conn: Connection) -> None:
        """A connection that closed or will: out of the pool, its slot free for a waiting request."""
        if conn in self._open:
            self._open.discard(conn)
            idle = self._idle.get(conn.key)
            if idle and conn in idle:
                idle.remove(conn)
            self._free_slot()

    def _free_slot(self) -> None:
        while self._slots:
            slot = self._slots.popleft()
            if not slot.done():
                slot.set_result(None)
                return

    async def aclose(self) -> None:
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()


def header_block(pairs: dict[str, Any]) -> bytes:
    """Extra header lines for one request (checked as ``request_head`` checks them)."""
    return "".join([_line(name, value) for name, value in pairs.items()]).encode("latin-1")
