"""Config ``aliases``: client names and globs → configured models, checked at start-up; an alias is
served, counted and access-checked as the model it names."""

from __future__ import annotations

import re
from typing import Any

import anthropic
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.config import ConfigError, parse_settings
from server.errors import ModelNotFound
from server.routing import Router
from tests.anthropic.conftest import KEY, LIMITED_KEY, Relay


def config(aliases: dict[str, str]) -> dict[str, Any]:
    return {
        "backends": {"b": {"kind": "upstream", "base_url": "http://127.0.0.1:9/v1"}},
        "models": {"big": {"backend": "b"}, "small": {"backend": "b"}, "claude-exact": {"backend": "b"}},
        "aliases": aliases,
    }


def test_resolution_order() -> None:
    router = Router(parse_settings(config({"claude-*": "big", "claude-haiku-4-5": "small", "*-mini": "small"})))
    assert router.route("claude-haiku-4-5")[0].model == "small"  # an exact alias before any glob
    assert router.route("claude-sonnet-4-5")[0].model == "big"  # the first glob that matches
    assert router.route("gpt-mini")[0].model == "small"
    assert router.route("claude-exact")[0].model == "claude-exact"  # a configured name always wins
    assert router.resolve("Claude-Sonnet") is None  # globs match case-sensitively
    with pytest.raises(ModelNotFound):
        router.route("gpt-4o")


@pytest.mark.parametrize(
    ("aliases", "says"),
    [
        ({"claude-*": "nope"}, "aliases.claude-*: unknown model 'nope'"),
        ({"big": "small"}, "aliases.big: is a configured model's own name"),
        ({" ": "small"}, "aliases: an alias must not be empty"),
    ],
)
def test_bad_aliases_stop_start_up(aliases: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        parse_settings(config(aliases))


def _requests(relay: Relay, model: str) -> float:
    """toolrelay_requests_total for the messages door, ``model``, outcome ok."""
    for family in text_string_to_metric_families(httpx.get(f"{relay.url}/metrics").text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "toolrelay_requests_total" and labels.get("dialect") == "anthropic":
                if labels.get("model") == model and labels.get("outcome") == "ok":
                    return float(sample.value)
    return 0.0


def test_an_alias_is_counted_and_checked_as_its_model(relay: Relay) -> None:
    before = _requests(relay, "hosted")
    ask: dict[str, Any] = {"max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    with anthropic.Anthropic(base_url=relay.url, api_key=LIMITED_KEY, max_retries=0) as limited:
        # this key may use "hosted" only; claude-* names it
        assert limited.messages.create(model="claude-haiku-4-5", **ask).model == "claude-haiku-4-5"
    with anthropic.Anthropic(base_url=relay.url, api_key=KEY, max_retries=0) as client:
        client.messages.create(model="claude-opus-4-1", **ask)
    assert _requests(relay, "hosted") == before + 2  # the configured model's series, not the alias
    assert 'model="claude-' not in httpx.get(f"{relay.url}/metrics").text
