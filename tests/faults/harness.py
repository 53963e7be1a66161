"""toolrelay served in-process against the fault upstream, with probes for leaks.

The proxy runs under uvicorn in a thread (``tests.servers.serve_app``) so that a test can look
inside it: the asyncio tasks alive on its loop, and the connections in its shared httpx pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from server.app import create_app
from server.config import Settings, parse_settings
from server.state import AppState
from tests.servers import free_port, serve_app

FAST_RETRY = {"attempts": 2, "backoff_initial": 0.01, "backoff_max": 0.05, "retry_after_max": 2}
FAST_TIMEOUTS = {"connect": 1, "first_byte": 0.6, "idle": 0.4, "total": 8}


SECRET = "sk-upstream-FAULT-SECRET-42"


def backend(url: str, **over: Any) -> dict[str, Any]:
    """An upstream backend config with fast retries and short timeouts, ``over`` replacing keys."""
    return {
        "kind": "upstream",
        "base_url": url,
        "api_key": SECRET,
        "retry": FAST_RETRY,
        "timeouts": FAST_TIMEOUTS,
        **over,
    }


def settings_for(
    upstream: str,
    models: dict[str, tuple[str, str, list[str]]],
    *,
    backends: dict[str, dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> Settings:
    """``models``: client name → (backend, upstream model id, fallbacks). Backends ``fault`` (retries),
    ``once`` (no retries), ``spare`` (a second backend on the same upstream), ``dead`` (a port
    nobody listens on) and ``patient`` (first byte within 5 s) exist unless ``backends`` overrides them."""
    all_backends: dict[str, dict[str, Any]] = {
        "fault": backend(upstream),
        "once": backend(upstream, retry={**FAST_RETRY, "attempts": 0}),
        "spare": backend(upstream),
        "dead": backend(f"http://127.0.0.1:{free_port()}/v1"),
        # Waits long for a first byte: a client that leaves earlier must not leave the call running.
        "patient": backend(upstream, retry={**FAST_RETRY, "attempts": 0}, timeouts={**FAST_TIMEOUTS, "first_byte": 5}),
        **(backends or {}),
    }
    data = {
        "backends": all_backends,
        "models": {name: {"backend": b, "model": m, "fallbacks": fb} for name, (b, m, fb) in models.items()},
        **(extra or {}),
    }
    return parse_settings(data, env={})


@dataclass
class Relay:
    url: str  # the /v1 base
    app: Any
    loop: asyncio.AbstractEventLoop
    baseline: int = 0  # tasks on the proxy's loop when idle

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.toolrelay
        return state

    def on_loop(self, fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)

    def tasks(self) -> int:
        """Tasks alive on the proxy's loop, the server's own included."""
        return int(self.on_loop(lambda: len(asyncio.all_tasks())))

    def pool(self) -> tuple[int, int]:
        """(connections in the forwarding pool, of which busy with a request): ``server.http1.Pool``."""
        result: tuple[int, int] = self.on_loop(self.state.connections.pool.counts)
        return result

    def settle(self, check: Callable[[], bool], timeout: float = 3.0) -> bool:
        """Wait until ``check()`` holds (cleanup runs on other threads); its final verdict."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.02)
        return check()


@contextlib.contextmanager
def relay(settings: Settings) -> Iterator[Relay]:
    app = create_app(settings)
    box: list[asyncio.AbstractEventLoop] = []

    async def capture(scope: Any, receive: Any, send: Any) -> None:
        if not box and scope["type"] in ("http", "lifespan"):
            box.append(asyncio.get_running_loop())
        await app(scope, receive, send)

    with serve_app(capture) as base:
        with httpx.Client(timeout=5) as c:
            c.get(f"{base}/health")
        yield Relay(f"{base}/v1", app, box[0])
