"""A real toolrelay (``python -m server``) whose model ``hosted`` goes to the hosted-style fake
upstream, once per session; ``http`` talks to it with raw JSON so any body can be sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.fakes.fake_upstream import FakeUpstream
from tests.servers import serve_app, spawn_toolrelay

MODEL = "hosted"


def write_config(path: Path, backends: dict[str, str]) -> Path:
    """One upstream backend (provider openai) per name → base URL, and a model of the same name."""
    config = {
        "backends": {
            name: {"kind": "upstream", "provider": "openai", "base_url": url, "api_key": "sk-x"}
            for name, url in backends.items()
        },
        "models": {name: {"backend": name, "model": "fake"} for name in backends},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream()
    with serve_app(fake.app) as url:
        yield fake, url


@pytest.fixture(scope="session")
def relay_url(upstream: tuple[FakeUpstream, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = write_config(tmp_path_factory.mktemp("spec") / "models.yaml", {MODEL: f"{upstream[1]}/v1"})
    with spawn_toolrelay(config) as url:
        yield url.removesuffix("/v1")


@pytest.fixture(scope="session")
def http(relay_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=relay_url, timeout=30) as client:
        yield client
