"""The lean backend client (server.http1) against raw HTTP/1.1 servers on loopback: framing,
keep-alive, the pool's limit, deadlines and failures, byte by byte."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable

import pytest
import trustme

from server.http1 import HIGH_WATER, AddrInfo, Broken, ConnectFailed, Pool, Target, header_block, request_head
from tests.loopback import read_request, replying, serving

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def answer(body: bytes, *extra: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%b\r\n%b" % (
        len(body),
        b"".join(e + b"\r\n" for e in extra),
        body,
    )


async def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Yield to the loop until ``check()`` holds (what the other side does takes its own time)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def pool(limit: int = 8) -> Pool:
    return Pool(limit=limit, keepalive=30.0, ssl_context=ssl.create_default_context())


async def post(
    p: Pool, url: str, body: bytes = b"{}", *, head_by: float | None = None, rid: str | None = None
) -> bytes:
    target = Target(url)
    head = request_head(target, {"content-type": "application/json"})
    if rid is not None:
        head += header_block({"x-request-id": rid})
    response = await p.post(target, head, body, connect=2.0, head_by=head_by)
    try:
        return await response.read(None)
    finally:
        response.release()


async def test_request_bytes_and_keep_alive_reuse() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await read_request(reader)
            seen.append((head, body))
            writer.write(answer(b'{"n": %d}' % len(seen)))
            await writer.drain()

    async with serving(handler) as (url, accepted):
        p = pool()
        assert await post(p, url, b'{"a": 1}', rid="req_1") == b'{"n": 1}'
        assert await post(p, url, b'{"b": 2}') == b'{"n": 2}'
        assert len(accepted) == 1  # the second request reused the connection
        assert p.counts() == (1, 0)
        head, body = seen[0]
        assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:")
        assert b"\r\nx-request-id: req_1\r\ncontent-length: 8\r\n\r\n" in head
        assert body == b'{"a": 1}'
        await p.aclose()


async def test_chunked_body_split_anywhere() -> None:
    wire = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for i in range(len(wire)):  # one byte per write: the parser must not care where reads split
            writer.write(wire[i : i + 1])
            await writer.drain()
        await reader.read()

    async with serving(handler) as (url, _):
        p = pool()
        assert await post(p, url) == b"hello world"
        assert p.counts() == (1, 0)
        await p.aclose()


async def test_body_until_close_and_connection_close_are_not_pooled() -> None:
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"whole": true}')
        await writer.drain()

    async with serving(until_close) as (url, accepted):
        p = pool()
        assert await post(p, url) == b'{"whole": true}'
        assert await post(p, url) == b'{"whole": true}'
        assert len(accepted) == 2
        assert p.counts() == (0, 0)
        await p.aclose()

    async with serving(replying(answer(b"{}", b"connection: close"))) as (url, accepted):
        p = pool()
        await post(p, url)
        await post(p, url)
        assert len(accepted) == 2
        await p.aclose()


async def test_interim_100_continue_is_skipped() -> None:
    async with serving(replying(b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b'{"ok": 1}'))) as (url, _):
        p = pool()
        assert await post(p, url) == b'{"ok": 1}'
        await p.aclose()


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"{}"))
        await writer.drain()

    async with serving(one_then_close) as (url, accepted):
        p = pool()
        await post(p, url)
        await until(lambda: p.counts() == (0, 0))  # the server's FIN reaches the idle connection
        await post(p, url)
        assert len(accepted) == 2
        await p.aclose()


async def test_failures_are_typed() -> None:
    p = pool()
    with pytest.raises(ConnectFailed) as refused:
        await post(p, "http://127.0.0.1:9/x")  # discard port: nothing listens
    assert not refused.value.timed_out

    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.transport.abort()

    async with serving(reset) as (url, _):
        with pytest.raises(Broken):
            await post(p, url)

    async with serving(replying(b"SSH-2.0-OpenSSH\r\n\r\n")) as (url, _):
        with pytest.raises(Broken, match="malformed"):
            await post(p, url)

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"partial')
        await writer.drain()

    async with serving(cut) as (url, _):
        with pytest.raises(Broken):
            await post(p, url)
    assert p.counts() == (0, 0)
    await p.aclose()


async def test_deadlines() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()

    loop = asyncio.get_running_loop()
    p = pool()
    async with serving(silent) as (url, _):
        with pytest.raises(TimeoutError):
            await post(p, url, head_by=loop.time() + 0.05)
        assert p.counts() == (0, 0)  # a connection given up on is closed, not pooled

    async with serving(replying(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{")) as (url, _):
        target = Target(url)
        response = await p.post(target, request_head(target, {}), b"{}", connect=1.0, head_by=None)
        with pytest.raises(TimeoutError):
            await response.read(None, gap=0.05)
        response.release()
        assert p.counts() == (0, 0)
    await p.aclose()


async def test_pool_limit_makes_a_request_wait_for_a_free_connection() -> None:
    gate = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            await gate.wait()
            writer.write(answer(b"{}"))
            await writer.drain()

    async with serving(handler) as (url, accepted):
        p = pool(limit=1)
        first = asyncio.create_task(post(p, url))
        second = asyncio.create_task(post(p, url))
        await until(lambda: len(p._slots) == 1 and len(accepted) == 1)  # the second waits for the one slot
        assert p.counts() == (1, 1)
        gate.set()
        assert await first == b"{}" and await second == b"{}"
        assert len(accepted) == 1  # it got the same connection back
        await p.aclose()


def test_target_and_head_building() -> None:
    t = Target("https://api.example.com/v1/chat/completions?x=1")
    assert (t.tls, t.host, t.port, t.path, t.host_header) == (
        True,
        "api.example.com",
        443,
        "/v1/chat/completions?x=1",
        "api.example.com",
    )
    assert Target("http://[::1]:8000/v1").host_header == "[::1]:8000"
    with pytest.raises(ValueError):
        Target("ftp://example.com/")
    with pytest.raises(ValueError, match="line break"):
        request_head(t, {"x-evil": "a\r\nhost: b"})
    with pytest.raises(ValueError, match="line break"):
        header_block({"x-request-id": "a\nb"})


async def test_tls_with_the_pools_trust_and_hostname_check() -> None:
    ca = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(served)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(answer(b'{"tls": true}'))
            await writer.drain()

    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with serving(handler, tls=served) as (url, accepted):
        p = Pool(limit=4, keepalive=30.0, ssl_context=trusting)
        assert await post(p, url) == b'{"tls": true}'
        assert await post(p, url) == b'{"tls": true}'
        assert len(accepted) == 1 and p.counts() == (1, 0)  # TLS connections are kept alive too
        await p.aclose()
        with pytest.raises(ConnectFailed):  # a CA the pool does not trust
            await post(pool(), url)

    elsewhere = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("elsewhere.example").configure_cert(elsewhere)
    async with serving(handler, tls=elsewhere) as (url, _):
        with pytest.raises(ConnectFailed):  # trusted, but for another name
            await post(Pool(limit=4, keepalive=30.0, ssl_context=trusting), url)


async def test_a_stream_nobody_reads_stops_the_socket_being_read() -> None:
    sent = asyncio.Event()
    piece = b"x" * 65536

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(64):  # 4 MiB: far more than the client buffers
            writer.write(b"%x\r\n%b\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        sent.set()
        await reader.read()

    async with serving(handler) as (url, _):
        p = pool()
        target = Target(url)
        response = await p.post(target, request_head(target, {}), b"{}", connect=1.0, head_by=None)
        conn = response._conn
        await until(lambda: conn.paused)
        await asyncio.sleep(0.1)  # time to keep filling memory, were the socket still read
        assert conn.paused and HIGH_WATER < conn.buffered <= 2 * HIGH_WATER + len(piece)  # one read past the mark
        total = 0
        while (chunk := await response.chunk(1.0, None)) is not None:
            total += len(chunk)
        assert total == 64 * len(piece)
        await until(sent.is_set)
        response.release()
        assert p.counts() == (1, 0)
        await p.aclose()


async def test_identity_is_asked_for_and_another_coding_refused() -> None:
    heads: list[bytes] = []

    async def gzipped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await read_request(reader)
        heads.append(head)
        writer.write(answer(b"\x1f\x8b\x08\x00", b"content-encoding: gzip"))
        await writer.drain()
        await reader.read()

    async with serving(gzipped) as (url, _):
        p = pool()
        target = Target(url)
        head = request_head(target, {"Accept-Encoding": "gzip", "Host": "evil", "x-kept": "1"})
        with pytest.raises(Broken, match="content-encoding 'gzip'"):
            await p.post(target, head, b"{}", connect=1.0, head_by=None)
        assert p.counts() == (0, 0)
        await p.aclose()
    lines = heads[0].lower().split(b"\r\n")
    assert b"accept-encoding: identity" in lines and b"accept-encoding: gzip" not in lines
    assert b"host: evil" not in lines and b"x-kept: 1" in lines


async def test_every_address_of_a_name_is_tried() -> None:
    """A name whose first address refuses (nothing listens there) is reached at the next one."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refusing = closed.getsockname()[1]
    closed.close()  # bound once, nobody listens: connecting is refused
    async with serving(replying(answer(b'{"second": true}'))) as (url, _):
        listening = int(url.split(":")[2].split("/")[0])

        async def resolve(host: str, port: int) -> list[AddrInfo]:
            assert (host, port) == ("backend.test", 8000)
            stream = socket.SOCK_STREAM
            return [
                (socket.AF_INET, stream, 6, "", ("127.0.0.1", refusing)),
                (socket.AF_INET, stream, 6, "", ("127.0.0.1", listening)),
            ]

        p = Pool(limit=4, keepalive=30.0, ssl_context=ssl.create_default_context(), resolve=resolve)
        assert await post(p, "http://backend.test:8000/v1/chat/completions") == b'{"second": true}'
        await p.aclose()


async def test_a_waiter_cancelled_as_it_is_woken_hands_the_slot_on() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(answer(b"{}"))
            await writer.drain()

    async with serving(handler) as (url, _):
        p = pool(limit=1)
        target = Target(url)
        held = await p.post(target, request_head(target, {}), b"{}", connect=1.0, head_by=None)
        assert await held.read(None) == b"{}"  # read, not yet released: the one slot stays taken
        doomed = asyncio.create_task(post(p, url))
        patient = asyncio.create_task(post(p, url))
        await until(lambda: len(p._slots) == 2)  # both wait for the slot, ``doomed`` first
        held.release()  # wakes ``doomed`` …
        doomed.cancel()  # … which is cancelled before it runs
        assert await asyncio.wait_for(patient, 1.0) == b"{}"
        assert doomed.cancelled()
        await p.aclose()


async def test_a_kept_alive_connection_closed_as_the_request_went_out_is_retried_fresh_once() -> None:
    """The server's idle timeout and the next request cross: it closes without reading it, and
    no byte of answer comes. The request goes again on a new connection; nothing else does."""
    served: list[int] = []

    async def one_then_drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        served.append(1)
        writer.write(answer(b'{"n": %d}' % len(served)))
        await writer.drain()
        await read_request(reader)  # the next request on this connection: dropped unanswered
        writer.transport.abort()

    async with serving(one_then_drop) as (url, accepted):
        p = pool()
        assert await post(p, url) == b'{"n": 1}'
        assert await post(p, url) == b'{"n": 2}'  # sent on the kept connection, dropped, sent again
        assert len(accepted) == 2
        await p.aclose()

    async def one_then_half_an_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"{}"))
        await writer.drain()
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-le")  # the server had read it: no second try
        await writer.drain()
        writer.transport.abort()

    async with serving(one_then_half_an_answer) as (url, accepted):
        p = pool()
        await post(p, url)
        with pytest.raises(Broken):
            await post(p, url)
        assert len(accepted) == 1
        await p.aclose()
