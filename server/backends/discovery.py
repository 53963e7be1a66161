"""vLLM replicas found by DNS: a backend's ``discover: {dns, port, interval}`` instead of ``urls``.

Every ``interval`` seconds the name is resolved (A and AAAA); each address is one replica at
``http://ADDRESS:port/v1``. The set is reconciled with the pool's:

- an address that is new joins only after its first healthy ``/health`` probe (one that fails is
  probed again at the next resolution), so a vLLM still loading its model gets no traffic;
- an address gone from DNS is drained: it leaves the pool at once, so no new request picks it,
  while requests already on it finish (they hold the replica; it is still counted in flight);
- a failed resolution (timeout, SERVFAIL, no server) changes nothing: a DNS hiccup must not empty
  the pool. An answer that the name does not exist (NXDOMAIN) or has no address does empty it:
  that is what DNS says of a Kubernetes headless Service scaled to zero.

Kubernetes: a headless Service (``clusterIP: None``) answers with the addresses of its ready pods,
so scaling vLLM needs no toolrelay config change. The resolver and the sleep between resolutions
are injected, so the reconciliation can be driven step by step (tests, or a config reload).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import dns.asyncresolver
import dns.exception
import dns.resolver
import httpx

from server.backends.replicas import Replica, ReplicaPool, health_url
from server.config import DnsDiscovery, VllmBackendConfig
from server.errors import ServiceUnavailable

log = logging.getLogger("toolrelay")

Sleep = Callable[[float], Awaitable[None]]


class ResolveError(Exception):
    """The name could not be resolved this time (as opposed to: it has no addresses)."""


class Resolver(Protocol):
    async def addresses(self, name: str) -> frozenset[str]:
        """Every address of ``name``; empty when it does not exist; ``ResolveError`` on failure."""
        ...


class DnsResolver:
    """A and AAAA queries with dnspython, to the system's DNS servers or to ``nameserver``."""

    def __init__(self, nameserver: str | None = None, *, timeout: float = 2.0) -> None:
        if nameserver is None:
            self._resolver = dns.asyncresolver.Resolver()  # /etc/resolv.conf: servers, search, ndots
        else:
            host, port = split_host_port(nameserver, default_port=53)
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [host]
            self._resolver.port = port
        self._resolver.lifetime = timeout  # per query, all retries included
        self._resolver.cache = None  # every resolution asks again: the answer is the point

    async def addresses(self, name: str) -> frozenset[str]:
        v4, v6 = await asyncio.gather(self._query(name, "A"), self._query(name, "AAAA"))
        return v4 | v6

    async def _query(self, name: str, rdtype: str) -> frozenset[str]:
        try:
            answer = await self._resolver.resolve(name, rdtype, search=True, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return frozenset()
        except dns.exception.DNSException as err:
            raise ResolveError(f"{rdtype} {name}: {type(err).__name__}") from None
        return frozenset(str(item.address) for item in answer.rrset or ())


def split_host_port(value: str, *, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` (the config validates the shape)."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, sep, port = value.partition(":")
    return host, int(port) if sep else default_port


def replica_url(address: str, port: int) -> str:
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    return f"http://{host}:{port}/v1"


class DnsReplicaPool(ReplicaPool):
    """A ``ReplicaPool`` whose replica set follows DNS (see the module doc)."""

    def __init__(
        self,
        backend: str,
        discover: DnsDiscovery,
        client: httpx.AsyncClient,
        *,
        interval: float,
        timeout: float,
        resolver: Resolver,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__([], client, interval=interval, timeout=timeout)
        self.backend = backend
        self.discover = discover
        self.draining: list[Replica] = []  # gone from DNS, requests still running on them
        self._resolver = resolver
        self._sleep = sleep
        self._resolved = False
        self._lock = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        # Requests on a drained replica still count against the backend's max_in_flight.
        return super().in_flight + sum(r.in_flight for r in self.draining)

    async def refresh(self) -> None:
        """Resolve now and reconcile the replica set (one reconciliation at a time)."""
        async with self._lock:
            try:
                addresses = await self._resolver.addresses(self.discover.dns)
            except ResolveError as err:
                extra = {"backend": self.backend, "error": str(err)}
                log.warning("DNS discovery failed; replicas unchanged", extra=extra)
                return
            self._resolved = True
            await self._reconcile(replica_url(a, self.discover.port) for a in addresses)

    async def _reconcile(self, urls: Iterable[str]) -> None:
        wanted = set(urls)
        kept = [r for r in self.replicas if r.base_url in wanted]
        for gone in (r for r in self.replicas if r.base_url not in wanted):
            log.info("replica left DNS: draining", extra={"backend": self.backend, "replica": gone.base_url})
            self.draining.append(gone)
        self.replicas = kept
        known = {r.base_url for r in kept}
        candidates = [Replica(u, health_url(u)) for u in sorted(wanted - known)]
        healthy = await asyncio.gather(*(self.probe(c) for c in candidates))
        joined = [c for c, ok in zip(candidates, healthy, strict=True) if ok]
        for replica in joined:
            log.info("replica joined", extra={"backend": self.backend, "replica": replica.base_url})
        # A new list object: a request iterating the order it got keeps its own list anyway.
        self.replicas = self.replicas + joined
        self.draining = [r for r in self.draining if r.in_flight > 0]

    def order(self, *args: Any, **kwargs: Any) -> list[Replica]:
        if not self.replicas:
            self.ensure_probing()
            raise ServiceUnavailable(
                f"backend {self.backend!r} has no healthy replica at {self.discover.dns!r} "
                f"(port {self.discover.port}) yet"
            )
        return super().order(*args, **kwargs)

    async def probe_all(self) -> bool:
        if not self._resolved:
            await self.refresh()
        return await super().probe_all()

    def ensure_probing(self) -> None:
        super().ensure_probing()
        if self._watch is None or self._watch.done():
            # A fresh context: started from inside a request, the task would log under its id forever.
            self._watch = asyncio.get_running_loop().create_task(self._watch_dns(), context=contextvars.Context())

    async def _watch_dns(self) -> None:
        while True:
            await self.refresh()
            await self._sleep(self.discover.interval)

    async def aclose(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        await super().aclose()


def replica_pool(name: str, config: VllmBackendConfig, client: httpx.AsyncClient) -> ReplicaPool:
    """The pool for a vllm backend: its fixed ``urls``, or the replicas DNS names (``discover``)."""
    timeout = config.timeouts.connect
    if config.discover is None:
        return ReplicaPool(config.urls, client, interval=config.health_interval, timeout=timeout)
    resolver = DnsResolver(config.discover.nameserver, timeout=timeout)
    return DnsReplicaPool(
        name, config.discover, client, interval=config.health_interval, timeout=timeout, resolver=resolver
    )
