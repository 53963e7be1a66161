"""``Metrics`` keeps its values itself and hands them to prometheus-client only when the registry
is collected (in multiprocess mode, straight to the files). Whatever it keeps, a scrape must read
exactly what it read when every event went straight to prometheus-client: the same lines, in the
same order, with the same values (float sums added in the same order), for a long random run with
scrapes in between, in one process and across the files of multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from tests.ops.metrics_replay import SEPARATOR, Direct, metrics, play
from tests.ops.tools import REPO


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # ``_created`` samples hold the time a series was made; both sides make theirs at other moments.
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)


@pytest.mark.usefixtures("frozen_clock")
def test_single_process_exposition_is_byte_identical() -> None:
    fast, reference = metrics(), Direct(metrics())
    got = play(fast, lambda: fast.render()[0])
    want = play(reference, reference.render)
    assert len(got) > 10
    for n, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a == b, f"scrape {n} differs"


@pytest.mark.usefixtures("frozen_clock")
def test_the_registry_itself_shows_current_values() -> None:
    """Scrapers that collect ``Metrics.registry`` directly (``generate_latest``, a name filter,
    ``get_sample_value``) see the values too, not only ``render``."""
    fast, reference = metrics(), Direct(metrics())
    play(fast, lambda: b"", steps=500)
    play(reference, lambda: b"", steps=500)
    assert generate_latest(fast.registry) == reference.render()
    names = ["toolrelay_requests_total", "toolrelay_request_duration_seconds"]
    assert generate_latest(fast.registry.restricted_registry(names)) == generate_latest(
        reference.registry.restricted_registry(names)
    )
    labels = {"model": "plain", "backend": "fake", "outcome": "ok", "dialect": "chat"}
    value = fast.registry.get_sample_value("toolrelay_requests_total", labels)
    assert value is not None and value > 0
    assert value == reference.registry.get_sample_value("toolrelay_requests_total", labels)


def test_in_flight_is_a_gauge() -> None:
    m = metrics()
    for _ in range(3):
        m.in_flight.inc()
    m.in_flight.dec()
    m.in_flight.inc(2.5)
    m.in_flight.dec(0.5)
    assert m.registry.get_sample_value("toolrelay_requests_in_flight") == 4.0


def _replay(side: str, directory: Path) -> list[bytes]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    run = subprocess.run(
        [sys.executable, "-m", "tests.ops.metrics_replay", side],
        cwd=REPO,
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
    )
    return run.stdout.split(SEPARATOR)


def test_multiprocess_files_hold_the_same_values(tmp_path: Path) -> None:
    """Each side in its own process and directory. prometheus-client lists the merged families in
    the order the directory lists its files, which differs between directories, so each scrape is
    compared as its set of lines (no ``_created`` lines in this mode)."""
    (tmp_path / "fast").mkdir()
    (tmp_path / "direct").mkdir()
    got = _replay("fast", tmp_path / "fast")
    want = _replay("direct", tmp_path / "direct")
    assert len(got) > 10
    for n, (a, b) in enumerate(zip(got, want, strict=True)):
        assert sorted(a.splitlines()) == sorted(b.splitlines()), f"scrape {n} differs"
    assert b"toolrelay_requests_in_flight" in got[-1]
