"""The rest of the HTTP surface a client meets first: an unknown path is a plain 404 that names the
path and the endpoints that exist (not a "model not found"), and ``/ready`` looks at each hosted
backend instead of assuming it is up, reporting readiness per backend."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.fake_upstream import FakeUpstream
from tests.servers import spawn_toolrelay
from tests.spec.conftest import write_config

ENDPOINTS = ["/v1/chat/completions", "/v1/models"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/nope"), ("POST", "/v1/chat/completion"), ("POST", "/v1/completions/chat"), ("GET", "/api/v2/x")],
)
def test_unknown_path_is_404_naming_path_and_endpoints(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path, json={"model": "hosted", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] != "model_not_found" and error.get("param") != "model", error
    assert "model" not in error["message"].replace("/v1/models", ""), f"reads like a missing model: {error}"
    assert _names(error["message"], path), f"the message does not name the path {path}: {error['message']!r}"
    for endpoint in ENDPOINTS:
        assert _names(error["message"], endpoint), f"the message does not name {endpoint}: {error['message']!r}"


def _names(message: str, path: str) -> bool:
    """``path`` appears whole (``/v1/chat/completion`` is not named by ``/v1/chat/completions``)."""
    return re.search(re.escape(path) + r"(?![\w/.-])", message) is not None


def _ready(entry: Any) -> bool:
    """A backend's entry in /ready: ``true``/``false``, or an object with ``ready``/``status``."""
    if isinstance(entry, bool):
        return entry
    assert isinstance(entry, dict), f"unexpected backend entry {entry!r}"
    if "ready" in entry:
        return bool(entry["ready"])
    return entry.get("status") in ("ready", "ok", "up")


@pytest.fixture(scope="module")
def dead_url() -> Iterator[str]:
    """A loopback URL with nothing listening: the port stays bound (never listening) while the
    tests run, so connections are refused and no server started meanwhile can take it."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}/v1"


@pytest.fixture(scope="module")
def mixed_relay(
    upstream: tuple[FakeUpstream, str], dead_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    config = write_config(
        tmp_path_factory.mktemp("ready") / "models.yaml", {"live": f"{upstream[1]}/v1", "gone": dead_url}
    )
    with spawn_toolrelay(config) as url:
        yield url.removesuffix("/v1")


@pytest.fixture(scope="module")
def dead_relay(dead_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = write_config(tmp_path_factory.mktemp("ready") / "models.yaml", {"gone": dead_url})
    with spawn_toolrelay(config) as url:
        yield url.removesuffix("/v1")


def test_ready_reports_each_hosted_backend(mixed_relay: str) -> None:
    body = httpx.get(f"{mixed_relay}/ready", timeout=30).json()
    backends = body["backends"]
    assert set(backends) == {"live", "gone"}
    assert _ready(backends["live"]), f"the reachable backend is reported not ready: {body}"
    assert not _ready(backends["gone"]), f"a backend with nothing listening is reported ready: {body}"


def test_ready_is_not_ready_when_the_only_backend_is_unreachable(dead_relay: str) -> None:
    response = httpx.get(f"{dead_relay}/ready", timeout=30)
    assert response.status_code == 503, f"{response.status_code}: {response.text}"
    assert not _ready(response.json()["backends"]["gone"])


def test_ready_is_ready_when_every_backend_answers(http: httpx.Client) -> None:
    response = http.get("/ready")
    assert response.status_code == 200, response.text
    assert all(_ready(v) for v in response.json()["backends"].values())
