"""Run a job on its targets: the model first, then its fallbacks, in order, with retries.

This is the only place that retries. Per target: skip it while its circuit (per backend and
upstream model) is open or its backend's in-flight limit is reached; otherwise call it, and on a
retryable failure (429, 5xx, cannot connect, no first byte) retry with backoff and jitter,
honouring ``Retry-After``, until the backend's ``retry.attempts`` are spent (a vLLM backend
picks another replica for the retry when the failed one is marked down); then move on to the
next target. A target is abandoned only while nothing has reached the client: for streams,
until the backend produced its first item.

The last error is raised when every target failed; once the proxy retried or fell back, it
carries ``x-should-retry: false`` so that SDKs do not multiply the attempts again.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import TypeVar

from server.backends.base import Backend, Completion, StreamItem
from server.config import BackendConfig, RetryPolicy
from server.errors import (
    BadGateway,
    GatewayTimeout,
    ProxyError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
)
from server.job import Job
from server.metrics import Metrics
from server.resilience import Circuit, Gate, Lease, retry_delay
from server.routing import Target

T = TypeVar("T")


def retryable(err: ProxyError) -> bool:
    if isinstance(err, BadGateway | GatewayTimeout | ServiceUnavailable | RateLimited):
        return True
    return isinstance(err, UpstreamError) and (err.status == 429 or err.status >= 500)


class _Tried:
    """What happened to one job so far: the last error, and whether anything was repeated."""

    def __init__(self) -> None:
        self.last: ProxyError | None = None
        self.repeated = False

    def final(self, err: ProxyError) -> ProxyError:
        if self.repeated:
            err.headers["x-should-retry"] = "false"
        return err


class Dispatcher:
    def __init__(
        self,
        backends: Mapping[str, Backend],
        metrics: Metrics,
        configs: Mapping[str, BackendConfig] | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        self._backends = backends
        self._metrics = metrics
        configs = configs or {}
        self._policies = {name: (configs[name].retry if name in configs else RetryPolicy()) for name in backends}
        self.circuits: dict[tuple[str, str], Circuit] = {}
        self.gates = {name: Gate(configs[name].max_in_flight if name in configs else None) for name in backends}
        self.gate = Gate(max_in_flight)
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def admit(self) -> Lease:
        """A slot in the proxy-wide in-flight limit, or an immediate 429."""
        if not self.gate.try_enter():
            raise RateLimited(
                f"toolrelay has {self.gate.limit} requests in flight, its limit; retry shortly",
                headers={"retry-after": "1"},
            )
        return Lease(self.gate)

    def circuit(self, target: Target) -> Circuit:
        key = (target.backend, target.upstream_model)
        found = self.circuits.get(key)
        if found is None:
            policy = self._policies[target.backend]
            found = self.circuits[key] = Circuit(failures=policy.circuit_failures, cooldown=policy.circuit_cooldown)
        return found

    async def complete(self, job: Job, targets: tuple[Target, ...]) -> tuple[Completion, Target]:
        async def call(backend: Backend, target: Target, lease: Lease) -> Completion:
            try:
                return await backend.complete(job, target)
            finally:
                lease.release()

        return await self._run(job, targets, call)

    async def stream(self, job: Job, targets: tuple[Target, ...]) -> tuple[AsyncGenerator[StreamItem, None], Target]:
        """Open the stream on the first target that yields an item. The returned generator starts
        with that item, and holds the backend's in-flight slot until it ends or is closed."""

        async def call(backend: Backend, target: Target, lease: Lease) -> AsyncGenerator[StreamItem, None]:
            items = _held(backend.stream(job, target), lease)
            try:
                first = await anext(items)
            except StopAsyncIteration:
                return _empty()
            return _prepend(first, items)

        return await self._run(job, targets, call)

    async def _run(
        self, job: Job, targets: tuple[Target, ...], call: Callable[[Backend, Target, Lease], Awaitable[T]]
    ) -> tuple[T, Target]:
        tried = _Tried()
        for n, target in enumerate(targets):
            if n and tried.last is not None:
                self._metrics.fallback(job.model)
                tried.repeated = True
            name = target.backend
            policy, circuit, gate = self._policies[name], self.circuit(target), self.gates[name]
            for attempt in range(policy.attempts + 1):
                if not circuit.allow():
                    tried.last = ServiceUnavailable(
                        f"model {target.upstream_model!r} on backend {name!r} is cooling down after repeated failures",
                        headers={"retry-after": str(max(1, math.ceil(circuit.retry_in())))},
                    )
                    break
                if not gate.try_enter():
                    circuit.release_probe()
                    tried.last = RateLimited(
                        f"backend {name!r} has {gate.limit} requests in flight, its limit; retry shortly",
                        headers={"retry-after": "1"},
                    )
                    break
                began = time.perf_counter()
                try:
                    result = await call(self._backends[name], target, Lease(gate))
                except ProxyError as err:
                    self._metrics.upstream_call(name, "error", time.perf_counter() - began)
                    self._metrics.upstream_error(name, type(err).__name__)
                    if not retryable(err):
                        circuit.success()  # the backend answered: it is up, the request was at fault
                        raise tried.final(err) from None
                    circuit.failure()
                    tried.last = err
                    delay = retry_delay(policy, attempt, err.headers.get("retry-after"))
                    if attempt == policy.attempts or delay is None:
                        break
                    self._metrics.retry(name)
                    tried.repeated = True
                    await self.sleep(delay)
                    continue
                except BaseException:
                    circuit.release_probe()  # cancelled (client gone): no verdict on the backend
                    raise
                circuit.success()
                self._metrics.upstream_call(name, "ok", time.perf_counter() - began)
                return result, target
        assert tried.last is not None
        raise tried.final(tried.last)


async def _held(items: AsyncGenerator[StreamItem, None], lease: Lease) -> AsyncGenerator[StreamItem, None]:
    """The backend's items; its in-flight slot is given back when they end or are closed. The
    dispatcher takes the first item itself, so the generator has started and its ``finally`` runs."""
    try:
        async for item in items:
            yield item
    finally:
        lease.release()
        await items.aclose()


async def _prepend(first: StreamItem, rest: AsyncGenerator[StreamItem, None]) -> AsyncGenerator[StreamItem, None]:
    try:
        yield first
        async for item in rest:
            yield item
    finally:
        await rest.aclose()


async def _empty() -> AsyncGenerator[StreamItem, None]:
    return
    yield  # an async generator with nothing in it
