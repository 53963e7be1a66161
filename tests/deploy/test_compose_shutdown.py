"""compose gives toolrelay the time its drain needs (server/shutdown.py): the signal reaches the
server process itself, and Docker's SIGKILL comes only after the drain delay and grace."""

from __future__ import annotations

import json
import re

import pytest

from server.shutdown import DEFAULT_DELAY, DEFAULT_GRACE, DELAY_ENV, GRACE_ENV
from tests.ops.test_compose import resolved
from tests.ops.tools import REPO


def _seconds(duration: str) -> float:
    """A Go duration as compose prints it (``1m15s``)."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_stop_grace_period_covers_the_drain(profile: str) -> None:
    service = resolved(profile)["services"][f"toolrelay-{profile}"]
    env = service.get("environment") or {}
    delay = float(env.get(DELAY_ENV) or DEFAULT_DELAY)
    grace = float(env.get(GRACE_ENV) or DEFAULT_GRACE)
    assert service.get("stop_signal", "SIGTERM") == "SIGTERM"
    assert _seconds(service["stop_grace_period"]) >= delay + grace + 5


def test_the_image_runs_the_server_as_pid_1() -> None:
    """Exec form: `docker stop` signals python itself, not a shell that would not pass it on."""
    (entrypoint,) = re.findall(r"^ENTRYPOINT (.*)$", (REPO / "Dockerfile").read_text(), flags=re.M)
    assert json.loads(entrypoint)[:3] == ["python", "-m", "server"]
