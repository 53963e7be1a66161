"""The config file: ${ENV} expansion, and a bad config stops start-up naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from server.config import ConfigError, load_settings, parse_settings
from tests.servers import ROOT

GOOD = {
    "backends": {
        "up": {"kind": "upstream", "provider": "openai", "base_url": "${BASE:-https://x.test/v1}", "api_key": "${KEY}"}
    },
    "models": {"m": {"backend": "up", "model": "gpt-x"}},
}


def test_env_expansion_with_default_and_value() -> None:
    s = parse_settings(GOOD, env={"KEY": "sk-1"})
    backend = s.backends["up"]
    assert backend.base_url == "https://x.test/v1" and backend.api_key == "sk-1"
    s = parse_settings(GOOD, env={"KEY": "sk-1", "BASE": "http://127.0.0.1:9/v1/"})
    assert s.backends["up"].base_url == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (lambda c: c["backends"]["up"].pop("base_url"), "backends.up.base_url"),
        (lambda c: c["backends"]["up"].update(provider="acme"), "backends.up.provider"),
        (lambda c: c["backends"]["up"].update(kind="ftp"), "backends.up"),
        (lambda c: c["backends"]["up"].update(base_url="not a url"), "backends.up.base_url"),
        (lambda c: c["backends"]["up"].update(colour="red"), "backends.up.colour"),
        (lambda c: c["models"]["m"].update(backend="nope"), "models.m.backend"),
        (lambda c: c["models"]["m"].update(family="nonesuch"), "models.m.family"),
        (lambda c: c["models"]["m"].update(stream_arguments="partial"), "models.m.stream_arguments"),
        (lambda c: c["models"]["m"].update(fallbacks=["ghost"]), "models.m.fallbacks"),
        (lambda c: c.update(limits={"max_body_bytes": -1}), "limits.max_body_bytes"),
        (lambda c: c.pop("models"), "models"),
    ],
)
def test_bad_config_names_the_key(mutate: object, needle: str) -> None:
    cfg = yaml.safe_load(yaml.safe_dump(GOOD))
    mutate(cfg)  # type: ignore[operator]
    with pytest.raises(ConfigError) as info:
        parse_settings(cfg, env={"KEY": "k"})
    assert needle in str(info.value)


def test_unset_env_var_names_key_and_variable() -> None:
    with pytest.raises(ConfigError, match=r"backends\.up\.api_key: environment variable KEY is not set"):
        parse_settings(GOOD, env={})


def test_vllm_backend_needs_a_family() -> None:
    cfg = {"backends": {"v": {"kind": "vllm", "urls": ["http://127.0.0.1:8001/v1"]}}, "models": {"s": {"backend": "v"}}}
    with pytest.raises(ConfigError, match=r"models\.s\.family"):
        parse_settings(cfg, env={})


def test_start_command_refuses_bad_config(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("backends: {}\nmodels:\n  m: {backend: missing}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "server", "--config", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "models.m.backend" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "server", "--config", str(tmp_path / "none.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "cannot read config" in proc.stderr


def test_shipped_configs_load() -> None:
    settings = load_settings(ROOT / "config" / "models.yaml", env={})
    assert "gpt-4o-mini" in settings.models
