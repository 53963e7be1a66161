"""``DrainGate`` alone, on the event loop with an injected sleep (no wall-clock wait): what the
drain changes for ``/ready`` and other paths, and when the stop comes."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from server.shutdown import DrainGate


async def _ready(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ready"})


async def _work(_: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


APP = Starlette(routes=[Route("/ready", _ready), Route("/v1/models", _work)])


class ManualSleep:
    """A sleep that ends when the test says so; records the durations asked for."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.wake = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self.wake.wait()


async def _scenario() -> None:
    sleep = ManualSleep()
    gate = DrainGate(APP, delay=5.0, sleep=sleep)
    stops: list[int] = []
    transport = httpx.ASGITransport(app=gate)
    async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
        before = await client.get("/ready")
        assert (before.status_code, before.json()) == (200, {"status": "ready"})
        assert "connection" not in (await client.get("/v1/models")).headers

        gate.begin(lambda: stops.append(1))
        gate.begin(lambda: stops.append(2))  # a repeated signal starts no second countdown
        await asyncio.sleep(0)  # let the countdown task reach its sleep
        assert sleep.asked == [5.0]

        draining = await client.get("/ready")
        assert (draining.status_code, draining.json()) == (503, {"status": "draining"})
        served = await client.get("/v1/models")  # still served during the delay, but not kept alive
        assert (served.status_code, served.json()) == (200, {"ok": True})
        assert served.headers["connection"] == "close"
        assert stops == []

        sleep.wake.set()
        for _ in range(10):  # bounded: the countdown needs a couple of loop turns
            if stops:
                break
            await asyncio.sleep(0)
        assert stops == [1]


def test_drain_answers_ready_503_serves_on_and_stops_after_the_delay() -> None:
    asyncio.run(_scenario())
