"""Graceful shutdown (server/shutdown.py) on real processes: SIGTERM while streams are in flight.

toolrelay runs as users start it (``python -m server``, real uvicorn) in front of a fake vLLM that
streams each answer token by token over real HTTP, slowly enough that every stream is still running
when the signal comes and when the listener closes. The shutdown delay is set short (``--shutdown-delay``)
so the test does not wait the default 5 s.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.deploy.harness import (
    StreamResult,
    Toolrelay,
    chat_body,
    free_port,
    serve,
    stream_chat,
    toolrelay,
    vllm_config,
    wait_ok,
)
from tests.fakes.fake_vllm import FakeVllm
from tests.servers import ROOT

WORDS = 100
TEXT = " ".join(f"w{i}" for i in range(WORDS))  # what every request must receive, whole
TOKEN_DELAY = 0.04  # 100 tokens: a stream lasts 4 s, well past the shutdown delay below
DELAY = 2.0
GRACE = 20


@pytest.fixture
def slow_vllm() -> Iterator[tuple[FakeVllm, str]]:
    fake = FakeVllm(default=TEXT + "<|im_end|>")
    fake.delay = TOKEN_DELAY
    with serve(fake.app) as url:
        yield fake, url


@dataclass
class Drain:
    """What a client saw from the SIGTERM on (times in seconds after the signal)."""

    streams: list[StreamResult]
    ready_probes: list[tuple[float, int]] = field(default_factory=list)
    served_in_delay: StreamResult | None = None
    refused_at: float | None = None
    streams_running_when_refused: int = 0


# One process: its closed listener refuses new connections. (A connection accepted at the very
# moment the listener closes is closed unanswered, its request never read: a client may retry it.
# The poll below then simply tries again.)
REFUSED: tuple[type[Exception], ...] = (httpx.ConnectError,)
# Several workers: the supervisor keeps the shared listening socket open until it exits, so once
# every worker has stopped accepting, a new connection waits in the kernel's queue unanswered (and
# is reset or closed unanswered when the supervisor exits). Closing the shared socket from a worker
# is no fix: a worker replaced alone (SIGHUP) would take the listener away from its successor. One
# of these before the delay is over still fails the test (refused_at >= DELAY).
UNANSWERED: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ReadTimeout,
    httpx.ReadError,
    httpx.RemoteProtocolError,
)


async def _not_accepted(url: str, errors: tuple[type[Exception], ...]) -> bool:
    # 5 s: on a loaded machine a served /health can take over a second.
    async with httpx.AsyncClient(timeout=5) as fresh:
        try:
            await fresh.get(f"{url}/health")
        except errors:
            return True
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout):
            return False  # accepted as the listener closed, or just slow: neither served nor refused
    return False


async def _drain(relay: Toolrelay, streams: int, *, probe_from: float, errors: tuple[type[Exception], ...]) -> Drain:
    """Start ``streams`` streams, SIGTERM once each has its first token, probe ``/ready`` with new
    connections during the delay, send one more request in the delay, then wait for the listener to
    close while the streams go on."""
    limits = httpx.Limits(max_connections=streams + 4)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        firsts = [asyncio.Event() for _ in range(streams)]
        tasks = [asyncio.create_task(stream_chat(client, relay.url, first)) for first in firsts]
        await asyncio.wait_for(asyncio.gather(*(f.wait() for f in firsts)), 30)
        t0 = time.monotonic()
        relay.proc.send_signal(signal.SIGTERM)
        seen = Drain(streams=[])
        late = None
        # New connections each time (no keep-alive): what a load balancer's probe does.
        async with httpx.AsyncClient(timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as probe:
            # Probes end well inside the delay: one sent near its end could reach a closed listener.
            while (now := time.monotonic() - t0) < DELAY * 0.5:
                if now >= probe_from:
                    seen.ready_probes.append((now, (await probe.get(f"{relay.url}/ready")).status_code))
                    if late is None:
                        late = asyncio.create_task(stream_chat(probe, relay.url))
                await asyncio.sleep(0.05)
            deadline = t0 + DELAY + 10
            while time.monotonic() < deadline:
                # Counted as the attempt starts (it may wait 5 s); the time is taken when it failed.
                running = sum(not t.done() for t in tasks)
                if await _not_accepted(relay.url, errors):
                    seen.refused_at = time.monotonic() - t0
                    seen.streams_running_when_refused = running
                    break
                await asyncio.sleep(0.05)
            seen.served_in_delay = await late if late is not None else None
        seen.streams = list(await asyncio.gather(*tasks))
    return seen


def _check(seen: Drain, streams: int, code: int, exited_after: float) -> None:
    assert seen.ready_probes, "no /ready probe was made during the delay"
    assert all(status == 503 for _, status in seen.ready_probes), seen.ready_probes
    assert seen.served_in_delay is not None and seen.served_in_delay.done, "a request in the delay was not served"
    assert seen.served_in_delay.text == TEXT
    assert seen.refused_at is not None, "the listener never closed"
    assert seen.refused_at >= DELAY, f"new connections refused {seen.refused_at:.2f} s after SIGTERM, before the delay"
    # The listener closed while streams were still running: the drain below is what kept them.
    assert seen.streams_running_when_refused > 0
    assert len(seen.streams) == streams
    for result in seen.streams:
        assert (result.status, result.done, result.errors) == (200, True, [])
        assert result.text == TEXT
    assert code == 0
    assert exited_after < DELAY + GRACE


def _sigterm_run(
    relay: Toolrelay, streams: int, probe_from: float = 0.0, errors: tuple[type[Exception], ...] = REFUSED
) -> tuple[Drain, int, float]:
    seen = asyncio.run(_drain(relay, streams, probe_from=probe_from, errors=errors))
    t_wait = time.monotonic()
    code = relay.proc.wait(GRACE)
    # From the signal: the time until the listener closed plus the rest of the wait.
    assert seen.refused_at is not None
    return seen, code, seen.refused_at + (time.monotonic() - t_wait)


def test_sigterm_during_20_streams_drains_and_exits_0(tmp_path: Path, slow_vllm: tuple[FakeVllm, str]) -> None:
    fake, url = slow_vllm
    config = vllm_config(tmp_path / "relay.yaml", {"urls": [f"{url}/v1"]})
    args = ("--shutdown-delay", str(DELAY), "--shutdown-grace", str(GRACE))
    with toolrelay(config, tmp_path / "relay.log", args=args) as relay:
        wait_ok(f"{relay.url}/ready", relay.proc)
        seen, code, exited_after = _sigterm_run(relay, 20)
    _check(seen, 20, code, exited_after)
    assert len(fake.requests) == 21  # the 20 streams and the request sent during the delay
    log = relay.log_text()
    assert "draining" in log and "Traceback" not in log


def _wait_log(relay: Toolrelay, line: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while relay.log_text().count(line) < count:
        assert time.monotonic() < deadline, f"{count} x {line!r} not in the log within {timeout} s"
        assert relay.proc.poll() is None, relay.log_text()[-2000:]
        time.sleep(0.1)


def test_sigterm_with_two_workers(tmp_path: Path, slow_vllm: tuple[FakeVllm, str]) -> None:
    """``--workers 2``: uvicorn's supervisor gets the signal and forwards it to each worker (it polls
    for signals every 0.5 s, so /ready is probed from 0.6 s on); each worker drains the same way."""
    _, url = slow_vllm
    config = vllm_config(tmp_path / "relay.yaml", {"urls": [f"{url}/v1"]})
    args = ("--workers", "2", "--shutdown-delay", str(DELAY), "--shutdown-grace", str(GRACE))
    with toolrelay(config, tmp_path / "relay.log", args=args) as relay:
        wait_ok(f"{relay.url}/ready", relay.proc)
        # /ready answers once one worker is up. A worker still starting when SIGTERM comes has no
        # drain hook yet (it is installed when the app has started) and stops at once, as uvicorn
        # does: wait for both, so that the test is about the drain.
        _wait_log(relay, "Application startup complete.", count=2)
        seen, code, exited_after = _sigterm_run(relay, 8, probe_from=0.6, errors=UNANSWERED)
    _check(seen, 8, code, exited_after)


def test_make_run_launcher_drains_toolrelay_on_sigterm(tmp_path: Path, slow_vllm: tuple[FakeVllm, str]) -> None:
    """``make run`` (scripts/run_local.py) in front of an existing vLLM: SIGTERM to the launcher lets
    the streams in flight finish before it stops toolrelay, and it exits 0."""
    _, url = slow_vllm
    port = free_port()
    log = (tmp_path / "run_local.log").open("wb")
    argv = [sys.executable, "-m", "scripts.run_local", "--vllm-url", f"{url}/v1", "--port", str(port)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ok(f"{base}/ready", proc, timeout=60)

        async def scenario() -> list[StreamResult]:
            async with httpx.AsyncClient(timeout=60) as client:
                firsts = [asyncio.Event() for _ in range(5)]
                tasks = [asyncio.create_task(stream_chat(client, base, f)) for f in firsts]
                await asyncio.wait_for(asyncio.gather(*(f.wait() for f in firsts)), 30)
                proc.send_signal(signal.SIGTERM)
                return list(await asyncio.gather(*tasks))

        results = asyncio.run(scenario())
        code = proc.wait(GRACE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert [(r.status, r.done, r.text) for r in results] == [(200, True, TEXT)] * 5
    assert code == 0
    with pytest.raises(httpx.ConnectError):  # toolrelay went down with its launcher
        httpx.post(f"{base}/v1/chat/completions", json=chat_body(False), timeout=5)
