"""Graceful shutdown for rolling updates: what toolrelay does between SIGTERM and its exit.

1. At once: ``GET /ready`` answers 503 (``{"status": "draining"}``), so a load balancer or the
   Kubernetes endpoint controller stops sending new work here; every other response carries
   ``connection: close``, so keep-alive clients move to another replica.
2. For ``delay`` seconds (default 5) the process keeps accepting and serving as before: requests
   routed here before the endpoint change has spread are still served, not refused.
3. Then uvicorn stops accepting connections and waits up to ``grace`` seconds for in-flight
   requests and streams to finish (uvicorn's ``timeout_graceful_shutdown``), runs the app's
   shutdown, and the process exits 0.

``DrainGate`` wraps the ASGI app. uvicorn owns the signal handlers (``Server.capture_signals``
installs ``Server.handle_exit`` with ``signal.signal``) and would start its shutdown at once; when
the app has started, the gate replaces the SIGTERM handler with one that only begins the drain,
and after the delay sets the ``should_exit`` flag uvicorn's main loop polls. Because it never
records the signal, uvicorn does not re-raise SIGTERM at the end and the exit status is 0. This
runs in every worker process (``--workers N``): the supervisor forwards SIGTERM to each worker.
SIGINT (Ctrl-C) keeps uvicorn's own behaviour: stop now, a second Ctrl-C forces.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType

import uvicorn
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("toolrelay")

DEFAULT_DELAY = 5.0  # seconds of serving on after SIGTERM (endpoint removal spreads meanwhile)
DEFAULT_GRACE = 60  # seconds for in-flight requests and streams once the listener is closed
DELAY_ENV = "TOOLRELAY_SHUTDOWN_DELAY"
GRACE_ENV = "TOOLRELAY_SHUTDOWN_GRACE"

_DRAINING_BODY = b'{"status":"draining"}'

Sleep = Callable[[float], Awaitable[None]]


class DrainGate:
    """ASGI middleware: ``/ready`` says 503 once draining began; the SIGTERM hook (see module doc)."""

    def __init__(self, app: ASGIApp, *, delay: float, ready_path: str = "/ready", sleep: Sleep = asyncio.sleep):
        self.app = app
        self.delay = delay
        self.ready_path = ready_path
        self.draining = False
        self._sleep = sleep
        self._countdown: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._watch_lifespan(send))
            return
        if scope["type"] == "http" and self.draining:
            if scope["path"] == self.ready_path:
                await _not_ready(send)
                return
            send = _closing(send)
        await self.app(scope, receive, send)

    def begin(self, stop: Callable[[], None]) -> None:
        """Start draining (once; a repeated SIGTERM changes nothing): ``stop`` runs after the delay.
        Called in the event loop's thread."""
        if self.draining:
            return
        self.draining = True
        log.info("SIGTERM: draining", extra={"delay_s": self.delay})
        self._countdown = asyncio.get_running_loop().create_task(self._stop_after_delay(stop))

    async def _stop_after_delay(self, stop: Callable[[], None]) -> None:
        await self._sleep(self.delay)
        log.info("drain delay over: no new connections, waiting for in-flight requests")
        stop()

    def _watch_lifespan(self, send: Send) -> Send:
        async def watched(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self._hook_sigterm()
            await send(message)

        return watched

    def _hook_sigterm(self) -> None:
        # Signal handlers belong to the main thread; a server run in another thread (tests) keeps
        # uvicorn's, and so does any server whose SIGTERM handler is not a uvicorn Server's.
        if threading.current_thread() is not threading.main_thread():
            return
        server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
        if not isinstance(server, uvicorn.Server):
            log.warning("SIGTERM is not handled by a uvicorn server here: no drain delay on shutdown")
            return
        loop = asyncio.get_running_loop()

        def stop() -> None:
            server.should_exit = True

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            # A Python signal handler runs between two bytecodes of the main thread, possibly inside
            # the loop's own code: hand the work to the loop instead of touching it from here. A fresh
            # context, or the drain's log lines would carry the id of whichever request was running.
            loop.call_soon_threadsafe(self.begin, stop, context=contextvars.Context())

        signal.signal(signal.SIGTERM, on_sigterm)


async def _not_ready(send: Send) -> None:
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": _DRAINING_BODY})


def _closing(send: Send) -> Send:
    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message)["connection"] = "close"
        await send(message)

    return closing


def delay_from_env() -> float:
    return float(os.environ.get(DELAY_ENV, DEFAULT_DELAY))


def create_app_from_env() -> DrainGate:
    """Factory for uvicorn (``server.cli``): the app from ``TOOLRELAY_CONFIG``, behind the gate, with
    the delay from ``TOOLRELAY_SHUTDOWN_DELAY`` (the CLI sets both for every worker)."""
    from server.app import create_app_from_env as create_app

    return DrainGate(create_app(), delay=delay_from_env())
