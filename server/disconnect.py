"""Stopping a request's work the moment its client leaves.

``ClientWatch(receive)`` guards a block of the request's own task: if the client disconnects while
the block runs, the task is cancelled and the block ends with ``ClientGone`` instead. The pipeline
guards the backend call with it (until the response starts nothing else listens to the
connection), and ``ScopedStream`` guards the streaming of the body.

Cheap by design, because every request pays for it: the watcher is a plain asyncio task
(Starlette's ``StreamingResponse`` builds an anyio task group with a listener task for every
stream, and delivering its cancellation costs several times more), and it only starts once the
block has run for ``WATCH_AFTER`` seconds: most blocks are over sooner (a small answer, a stream
from a fast backend), and for them a timer costs less than a task. A client that left earlier is
seen as soon as the watcher starts (the server keeps the disconnect for ``receive``).

The body must have been read before a watch begins: the watcher consumes the ASGI ``receive``
messages, and from then on only a disconnect matters.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from starlette.types import Receive

WATCH_AFTER = 0.05  # seconds a block runs before a watcher task is started for it


class ClientGone(Exception):
    """The client closed its connection while the request was still being worked on."""


class ClientWatch:
    """``async with ClientWatch(receive):`` — the block is cancelled when the client disconnects,
    and ``ClientGone`` is raised in place of that cancellation. Any other cancellation (server
    shutdown, a timeout around the block) passes through unchanged."""

    __slots__ = ("_receive", "_loop", "_task", "_timer", "_watcher", "_inside", "_gone")

    def __init__(self, receive: Receive, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """``loop``: the running loop, where the caller has it at hand (on Python 3.11 each lookup
        of the running loop is a ``getpid`` system call)."""
        self._receive = receive
        self._loop = loop
        self._watcher: asyncio.Task[None] | None = None
        self._inside = False
        self._gone = False

    async def __aenter__(self) -> None:
        loop = self._loop or asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None
        self._loop = loop
        self._task = task
        self._inside = True
        self._timer = loop.call_later(WATCH_AFTER, self._start)

    def _start(self) -> None:
        if self._inside:
            assert self._loop is not None
            self._watcher = self._loop.create_task(self._watch())

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        if self._inside:  # never cancel the task once it has left the block
            self._gone = True
            self._task.cancel()

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._inside = False
        self._timer.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
        # Taken back however the block ended (even if something inside swallowed the cancellation):
        # the client is gone either way, and the cancellation must not count against the task.
        if self._gone and self._task.uncancel() == 0 and (kind is None or kind is asyncio.CancelledError):
            raise ClientGone() from None
