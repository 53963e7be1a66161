"""Raw HTTP/1.1 servers on loopback for client tests: one handler per connection, answering byte by
byte, so a test can frame, split, stall, cut or reset an answer exactly where it wants."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serving(
    handler: Handler, *, tls: ssl.SSLContext | None = None, path: str = "/v1/chat/completions"
) -> AsyncIterator[tuple[str, list[int]]]:
    """A server running ``handler`` per connection; yields its URL (``https://localhost`` with
    ``tls``) and a list with one entry per accepted connection. On exit every handler still running
    is cancelled and its connection closed."""
    accepted: list[int] = []
    running: list[asyncio.Task[None]] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        task = asyncio.current_task()
        assert task is not None
        running.append(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, asyncio.CancelledError):
            pass  # the client left, or refused the handshake: what these tests provoke
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    origin = f"https://localhost:{port}" if tls is not None else f"http://127.0.0.1:{port}"
    try:
        yield origin + path, accepted
    finally:
        server.close()
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head and body (the body by its ``content-length``)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    return head, await reader.readexactly(length)


def replying(raw: bytes) -> Handler:
    """A handler that reads one request, writes ``raw`` and waits for the client to close."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(raw)
        await writer.drain()
        await reader.read()

    return handler
