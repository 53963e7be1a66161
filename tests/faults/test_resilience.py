"""The resilience primitives alone: retry delays, Retry-After, the circuit's states, gates, chunk timers."""

from __future__ import annotations

import asyncio
import email.utils
import ssl
import time

import pytest

from server.backends.http import timed_body
from server.config import RetryPolicy, Timeouts
from server.errors import GatewayTimeout
from server.http1 import Pool, Target, request_head
from server.resilience import Circuit, Gate, Lease, parse_retry_after, retry_delay
from tests.loopback import read_request, serving

POLICY = RetryPolicy(attempts=3, backoff_initial=0.5, backoff_max=3.0, retry_after_max=10.0)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), ("2", 2.0), (" 1.5 ", 1.5), ("-3", 0.0), ("soon", None), ("nan", 0.0), ("0", 0.0)],
)
def test_parse_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_http_date() -> None:
    now = time.time()
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


def test_backoff_is_exponential_capped_and_jittered() -> None:
    top = [retry_delay(POLICY, n, None, rand=lambda: 1.0) for n in range(5)]
    assert top == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert retry_delay(POLICY, 2, None, rand=lambda: 0.25) == 0.5  # full jitter: uniform in [0, backoff]


def test_retry_after_is_a_floor_and_bounded() -> None:
    assert retry_delay(POLICY, 0, "4", rand=lambda: 1.0) == 4.0  # longer than the backoff: wait what was asked
    assert retry_delay(POLICY, 3, "0", rand=lambda: 1.0) == 3.0  # shorter: the backoff still applies
    assert retry_delay(POLICY, 0, "11") is None  # longer than retry_after_max: do not retry this backend


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_circuit_opens_after_consecutive_failures_and_probes_later() -> None:
    clock = Clock()
    c = Circuit(failures=3, cooldown=10.0, clock=clock)
    for _ in range(2):
        c.failure()
    c.success()  # a success resets the streak
    for _ in range(2):
        assert c.allow()
        c.failure()
    assert c.state == "closed"
    c.failure()
    assert (c.state, c.allow(), c.opened) == ("open", False, 1)
    assert c.retry_in() == 10.0
    clock.now += 10.0
    assert c.state == "half_open"
    assert c.allow()  # one probe
    assert not c.allow()  # …and only one at a time
    c.failure()  # the probe failed: open for another cooldown
    assert (c.state, c.opened) == ("open", 2)
    clock.now += 10.0
    assert c.allow()
    c.success()  # the probe succeeded: closed
    assert c.state == "closed" and c.allow() and c.allow()


def test_circuit_probe_without_verdict_lets_another_probe_through() -> None:
    clock = Clock()
    c = Circuit(failures=1, cooldown=1.0, clock=clock)
    c.failure()
    clock.now += 1.0
    assert c.allow() and not c.allow()
    c.release_probe()
    assert c.allow()


def test_gate_refuses_beyond_limit_and_lease_releases_once() -> None:
    overall, backend = Gate(2), Gate(1)
    assert overall.try_enter() and backend.try_enter()
    lease = Lease(overall, backend)
    assert not backend.try_enter()
    lease.release()
    lease.release()  # idempotent: the second release gives nothing back twice
    assert (overall.inside, backend.inside) == (0, 0)
    assert all(Gate(None).try_enter() for _ in range(1000))


async def _drain(gaps: list[float], first: float, idle: float, total: float) -> int:
    """Read a chunked stream whose server waits ``gaps[i]`` before its i-th chunk, through the
    client's timed body (``timed_body`` over ``server.http1``), on a real loopback connection."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        for gap in gaps:
            await asyncio.sleep(gap)
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with serving(answer) as (url, _):
        target = Target(url)
        pool = Pool(limit=4, keepalive=30, ssl_context=ssl.create_default_context())
        sent = asyncio.get_running_loop().time()
        response = await pool.post(target, request_head(target, {}), b"{}", connect=1.0, head_by=None)
        n = 0
        try:
            async for _ in timed_body(response, "b", Timeouts(first_byte=first, idle=idle, total=total), sent):
                n += 1
        finally:
            response.release()
            await pool.aclose()
    return n


def test_timed_body_passes_when_in_time() -> None:
    assert asyncio.run(_drain([0.05, 0.01, 0.01], first=0.2, idle=0.1, total=1)) == 3


@pytest.mark.parametrize(
    ("gaps", "says"),
    [
        ([0.3], "sent no data within 0.1s"),  # idle is 0.15: the first chunk has its own limit
        ([0.0, 0.3], "stalled"),
        ([0.0, 0.08, 0.08, 0.08], "total time limit"),
    ],
)
def test_timed_body_fails_typed(gaps: list[float], says: str) -> None:
    with pytest.raises(GatewayTimeout, match=says):
        asyncio.run(_drain(gaps, first=0.1, idle=0.15, total=0.2))
