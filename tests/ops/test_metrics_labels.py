"""The label policy of ``server.metrics``, in process: names nobody configured and values outside
the fixed enums are folded into ``_unknown`` / ``other``, so the set of series is fixed by the
config; each app has its own registry; the exposition parses as Prometheus text."""

from __future__ import annotations

import secrets

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from server.config import parse_settings
from server.metrics import Metrics

SETTINGS = parse_settings(
    {
        "backends": {
            "hosted": {"kind": "upstream", "base_url": "https://api.example/v1"},
            "local": {"kind": "vllm", "urls": ["http://127.0.0.1:8001/v1"]},
        },
        "models": {
            "gpt": {"backend": "hosted"},
            "smol": {"backend": "local", "family": "hermes", "fallbacks": ["gpt"]},
        },
    }
)


def series(m: Metrics) -> dict[str, float]:
    body, content_type = m.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def test_configured_series_exist_at_zero_before_any_traffic() -> None:
    s = series(Metrics.from_settings(SETTINGS))
    assert s["toolrelay_requests_total{backend=local,dialect=chat,model=smol,outcome=ok}"] == 0
    assert s["toolrelay_requests_total{backend=_unknown,dialect=chat,model=_unknown,outcome=error}"] == 0
    assert s["toolrelay_tool_calls_total{family=hermes,outcome=repaired}"] == 0
    assert s["toolrelay_tool_calls_total{family=upstream,outcome=parsed}"] == 0
    assert s["toolrelay_requests_in_flight{}"] == 0


def _junk_round(m: Metrics) -> None:
    junk = secrets.token_hex(4)
    m.request(f"model-{junk}", f"backend-{junk}", "ok", 0.1)
    m.request("smol", "local", f"outcome-{junk}", 0.1)
    m.first_token(f"model-{junk}", 0.1)
    m.upstream_call(f"backend-{junk}", f"weird-{junk}", 0.1)
    m.usage(f"model-{junk}", 3, 5)
    m.tool_call(f"family-{junk}", f"outcome-{junk}")
    m.finish_reason(f"model-{junk}", f"reason-{junk}")
    m.fallback(f"model-{junk}")
    m.retry(f"backend-{junk}")
    m.upstream_error(f"backend-{junk}", f"Kind{junk}")


def test_unknown_names_and_values_are_folded() -> None:
    m = Metrics.from_settings(SETTINGS)
    _junk_round(m)
    first = set(series(m))
    for _ in range(199):
        _junk_round(m)
    after = series(m)
    # The first round may open the fixed fallback series; 199 rounds of new junk add none.
    assert set(after) == first
    assert not [k for k in after if "model-" in k or "backend-" in k or "family-" in k or "Kind" in k]
    assert after["toolrelay_requests_total{backend=_unknown,dialect=chat,model=_unknown,outcome=ok}"] == 200
    assert after["toolrelay_requests_total{backend=local,dialect=chat,model=smol,outcome=error}"] == 200
    assert after["toolrelay_tool_calls_total{family=_unknown,outcome=other}"] == 200
    assert after["toolrelay_finish_reasons_total{model=_unknown,reason=other}"] == 200
    assert after["toolrelay_upstream_errors_total{backend=_unknown,kind=other}"] == 200
    assert after["toolrelay_upstream_request_duration_seconds_count{backend=_unknown,outcome=error}"] == 200


def test_error_kinds_come_from_the_error_classes() -> None:
    m = Metrics.from_settings(SETTINGS)
    m.upstream_error("hosted", "GatewayTimeout")
    m.upstream_error("hosted", "rate_limited")
    m.upstream_error("hosted", "BadGateway")
    s = series(m)
    for kind in ("gateway_timeout", "rate_limited", "bad_gateway"):
        assert s[f"toolrelay_upstream_errors_total{{backend=hosted,kind={kind}}}"] == 1


def test_each_app_has_its_own_registry() -> None:
    a, b = Metrics.from_settings(SETTINGS), Metrics.from_settings(SETTINGS, CollectorRegistry())
    a.request("gpt", "hosted", "ok", 0.2)
    assert series(a)["toolrelay_requests_total{backend=hosted,dialect=chat,model=gpt,outcome=ok}"] == 1
    assert series(b)["toolrelay_requests_total{backend=hosted,dialect=chat,model=gpt,outcome=ok}"] == 0


def test_histograms_and_tokens() -> None:
    m = Metrics.from_settings(SETTINGS)
    m.request("smol", "local", "ok", 0.3)
    m.first_token("smol", 0.04)
    m.usage("smol", 120, 30)
    m.usage("smol", -5, -1)  # nonsense from a provider must not raise (counters cannot go down)
    s = series(m)
    assert s["toolrelay_request_duration_seconds_bucket{le=0.25,model=smol,outcome=ok}"] == 0
    assert s["toolrelay_request_duration_seconds_bucket{le=0.5,model=smol,outcome=ok}"] == 1
    assert s["toolrelay_time_to_first_token_seconds_bucket{le=0.05,model=smol}"] == 1
    assert s["toolrelay_prompt_tokens_total{model=smol}"] == 120
    assert s["toolrelay_completion_tokens_total{model=smol}"] == 30
