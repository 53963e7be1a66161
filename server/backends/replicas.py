"""The replicas behind one vLLM backend: which one takes the next request, and which are up.

A request goes to the healthy replica with the fewest requests in flight (ties rotate, so idle
replicas share the load). A replica that refuses a connection is marked down at once; a
background probe of each replica's ``/health`` marks it up again when it recovers (and down when
its engine dies). When every replica is marked down they are all tried anyway: the marks may be
stale, and trying costs one refused connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx


@dataclass(eq=False, slots=True)
class Replica:
    base_url: str  # the /v1 base
    health_url: str
    in_flight: int = 0
    healthy: bool = True
    context: dict[str, int] = field(default_factory=dict)  # served model id → its max_model_len


def health_url(base_url: str) -> str:
    # vLLM serves /health beside /v1, at the server root.
    root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
    return f"{root}/health"


class ReplicaPool:
    def __init__(self, urls: Sequence[str], client: httpx.AsyncClient, *, interval: float, timeout: float) -> None:
        self.replicas = [Replica(u, health_url(u)) for u in urls]
        self._client = client
        self._interval = interval
        self._timeout = httpx.Timeout(timeout)
        self._turn = itertools.count()
        self._task: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        return sum(r.in_flight for r in self.replicas)

    def order(self) -> list[Replica]:
        """Replicas best first: healthy ones by load, then the ones marked down."""
        self.ensure_probing()
        n = len(self.replicas)
        start = next(self._turn) % n
        rotated = self.replicas[start:] + self.replicas[:start]
        healthy = sorted((r for r in rotated if r.healthy), key=lambda r: r.in_flight)  # stable: keeps rotation
        return healthy + [r for r in rotated if not r.healthy]

    def pick(self) -> Replica:
        """The replica for the next request (a retry calls again and, once the failed replica is
        marked down, gets another)."""
        return self.order()[0]

    def mark_down(self, replica: Replica) -> None:
        replica.healthy = False

    async def probe(self, replica: Replica) -> bool:
        try:
            response = await self._client.get(replica.health_url, timeout=self._timeout)
            replica.healthy = response.status_code == 200
        except httpx.HTTPError:
            replica.healthy = False
        return replica.healthy

    async def context_length(self, replica: Replica, model: str) -> int | None:
        """The model's context length on this replica, from vLLM's ``/v1/models`` (asked once)."""
        if model not in replica.context:
            try:
                response = await self._client.get(f"{replica.base_url}/models", timeout=self._timeout)
                cards = response.json().get("data") if response.status_code == 200 else None
            except (httpx.HTTPError, ValueError):
                return None
            for card in cards if isinstance(cards, list) else ():
                if isinstance(card, dict) and isinstance(card.get("max_model_len"), int):
                    replica.context[str(card.get("id"))] = card["max_model_len"]
        return replica.context.get(model)

    async def probe_all(self) -> bool:
        """Probe every replica now; True when at least one is up."""
        results = await asyncio.gather(*(self.probe(r) for r in self.replicas))
        return any(results)

    def ensure_probing(self) -> None:
        """Start the background probe on first use (the event loop exists only then)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._probe_forever())

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.probe_all()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
