"""A real Prometheus scrapes a real toolrelay (``python -m server``, uvicorn, loopback) in front of
the fake hosted API. After known traffic, including tool calls (clean and repaired), streamed
requests, an upstream error and a fallback, PromQL through Prometheus' HTTP API must return the
expected series and values; every query of the Grafana dashboard must evaluate; and 1,000 requests
naming random unknown models must not add a single series."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.fakes.fake_upstream import FakeUpstream
from tests.ops.harness import (
    CLIENT_KEY,
    Prometheus,
    closed_port_url,
    prometheus,
    toolrelay,
    weather_request,
    write_config,
)
from tests.ops.tools import REPO
from tests.servers import serve_app

pytestmark = pytest.mark.prometheus

N_PLAIN, N_STREAM, N_BROKEN, N_ECHO, N_FLAKY = 6, 4, 3, 2, 2


@dataclass
class Stack:
    relay: str
    prom: Prometheus


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("prom")
    upstream = FakeUpstream()
    with serve_app(upstream.app) as upstream_url:
        config = write_config(tmp / "config.yaml", upstream_url, closed_port_url())
        with toolrelay(config, tmp / "toolrelay.log") as relay:
            rules = (REPO / "docker" / "prometheus-alerts.yml",)
            with prometheus(relay.removeprefix("http://"), tmp / "prometheus", rule_files=rules) as prom:
                _traffic(relay)
                prom.wait_scrape_after(time.time() + 0.2)
                yield Stack(relay, prom)


def _traffic(relay: str) -> None:
    headers = {"authorization": f"Bearer {CLIENT_KEY}"}
    with httpx.Client(base_url=relay, headers=headers, timeout=30) as c:
        for _ in range(N_PLAIN):
            r = c.post("/v1/chat/completions", json=weather_request("plain"))
            assert r.status_code == 200 and r.json()["choices"][0]["finish_reason"] == "tool_calls", r.text
        for _ in range(N_STREAM):
            with c.stream("POST", "/v1/chat/completions", json=weather_request("plain", stream=True)) as r:
                assert r.status_code == 200
                frames = [line for line in r.iter_lines() if line.startswith("data: ")]
            assert frames[-1] == "data: [DONE]"
        for _ in range(N_BROKEN):
            r = c.post("/v1/chat/completions", json=weather_request("broken"))
            assert r.status_code == 200, r.text
            args = r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
            assert json.loads(args) == {"location": "Paris"}
        for _ in range(N_ECHO):
            assert c.post("/v1/chat/completions", json=weather_request("echo-key")).status_code == 401
        for _ in range(N_FLAKY):
            r = c.post("/v1/chat/completions", json=weather_request("flaky"))
            assert r.status_code == 200, r.text


def test_toolrelay_target_is_up(stack: Stack) -> None:
    assert stack.prom.value('up{job="toolrelay"}') == 1


def test_requests_by_model_backend_and_outcome(stack: Stack) -> None:
    p = stack.prom
    # flaky falls back to plain: the request is counted once, under the model asked for and the
    # backend that answered.
    assert p.value('sum(toolrelay_requests_total{model="plain",backend="fake",outcome="ok"})') == N_PLAIN + N_STREAM
    assert p.value('sum(toolrelay_requests_total{model="broken",backend="fake-generic",outcome="ok"})') == N_BROKEN
    assert p.value('sum(toolrelay_requests_total{model="echo-key",outcome="error"})') == N_ECHO
    assert p.value('sum(toolrelay_requests_total{model="flaky",outcome="ok"})') == N_FLAKY
    assert p.value("sum(toolrelay_requests_total)") == N_PLAIN + N_STREAM + N_BROKEN + N_ECHO + N_FLAKY


def test_tool_calls_by_family_and_outcome(stack: Stack) -> None:
    p = stack.prom
    assert p.value('toolrelay_tool_calls_total{family="upstream",outcome="parsed"}') == N_PLAIN + N_STREAM + N_FLAKY
    assert p.value('toolrelay_tool_calls_total{family="upstream",outcome="repaired"}') == N_BROKEN
    assert p.value('toolrelay_tool_calls_total{family="upstream",outcome="invalid"}') == 0
    assert p.value('sum(toolrelay_finish_reasons_total{reason="tool_calls"})') == (
        N_PLAIN + N_STREAM + N_BROKEN + N_FLAKY
    )


def test_latency_and_ttft_histograms(stack: Stack) -> None:
    p = stack.prom
    assert p.value('sum(toolrelay_request_duration_seconds_count{model="plain"})') == N_PLAIN + N_STREAM
    # TTFT exists for streamed requests only.
    assert p.value('sum(toolrelay_time_to_first_token_seconds_count{model="plain"})') == N_STREAM
    p95 = p.value('histogram_quantile(0.95, sum by (le) (toolrelay_request_duration_seconds_bucket{model="plain"}))')
    assert p95 is not None and 0 < p95 < 5  # a loopback fake answers in milliseconds
    # The +Inf bucket equals the count: buckets are cumulative and nothing was lost.
    assert p.value('sum(toolrelay_request_duration_seconds_bucket{model="plain",le="+Inf"})') == N_PLAIN + N_STREAM


def test_backend_call_latency(stack: Stack) -> None:
    p = stack.prom
    # Every call that reached the fake backend, flaky's fallbacks included; the 401s as errors.
    ok = 'sum(toolrelay_upstream_request_duration_seconds_count{backend="fake",outcome="ok"})'
    assert p.value(ok) == N_PLAIN + N_STREAM + N_FLAKY
    error = 'sum(toolrelay_upstream_request_duration_seconds_count{backend="fake",outcome="error"})'
    assert p.value(error) == N_ECHO


def test_tokens_are_counted(stack: Stack) -> None:
    p = stack.prom
    # The fake reports 11 completion tokens per answer; streams ask for usage too. Tokens count
    # under the model that generated them: flaky's fallback answers are plain's tokens.
    assert p.value('toolrelay_completion_tokens_total{model="plain"}') == 11 * (N_PLAIN + N_STREAM + N_FLAKY)
    assert p.value('toolrelay_completion_tokens_total{model="broken"}') == 11 * N_BROKEN
    prompt = p.value('toolrelay_prompt_tokens_total{model="plain"}')
    assert prompt is not None and prompt > 0


def test_upstream_errors_and_fallbacks(stack: Stack) -> None:
    p = stack.prom
    assert p.value('toolrelay_fallbacks_total{model="flaky"}') == N_FLAKY
    dead = p.query('toolrelay_upstream_errors_total{backend="dead"} > 0')
    assert sum(float(s["value"][1]) for s in dead) == N_FLAKY
    echo = p.query('toolrelay_upstream_errors_total{backend="fake"} > 0')
    assert {s["metric"]["kind"] for s in echo} == {"upstream_error"}
    assert p.value("toolrelay_requests_in_flight") == 0


def test_every_dashboard_query_evaluates(stack: Stack) -> None:
    dashboard = json.loads((REPO / "docker/grafana/dashboards/toolrelay.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    # rate() needs two samples of a series: the fixture waited for one scrape after the traffic,
    # so wait for one more (with a single scrape holding a series, its rate is empty).
    stack.prom.wait_scrape_after(time.time() + 0.2)
    empty = []
    for expr in exprs:
        concrete = expr.replace("$__rate_interval", "5m").replace("$model", ".*")
        if not stack.prom.query(concrete) and "vllm:" not in expr:
            empty.append(expr)
    # After this traffic each toolrelay panel has data, except retries (no backend retried) and
    # ratios over error series that stayed at zero.
    allowed = {e for e in empty if "toolrelay_retries_total" in e}
    assert set(empty) <= allowed, empty


def _series(relay: str) -> set[str]:
    text = httpx.get(f"{relay}/metrics", timeout=10).text
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_unknown_models_add_no_series(stack: Stack) -> None:
    p = stack.prom
    count = 'count({__name__=~"toolrelay_.*"})'
    before_scraped = p.value(count)
    before = _series(stack.relay)
    statuses = set()
    with httpx.Client(base_url=stack.relay, timeout=30) as c:
        for _ in range(1000):
            model = "unknown-" + secrets.token_hex(6)
            r = c.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
            statuses.add(r.status_code)
    assert statuses == {404}
    unknown = 'toolrelay_requests_total{model="_unknown",backend="_unknown",outcome="error",dialect="chat"}'
    after = _series(stack.relay)
    assert after == before, sorted(after - before)[:10]
    assert not [s for s in after if re.search(r'model="unknown-', s)]
    p.wait_scrape_after(time.time() + 0.2)
    assert p.value(count) == before_scraped
    assert p.value('count({__name__=~"toolrelay_.*", model=~"unknown-.*"})') is None
    # They are still counted, all in the one fixed series.
    assert p.value(unknown) == 1000


def test_alert_rules_evaluate_against_live_series(stack: Stack) -> None:
    deadline = time.monotonic() + 20
    while True:
        groups = httpx.get(f"{stack.prom.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        if rules and all(r["health"] != "unknown" for r in rules) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(rules) == 6
    assert {r["name"]: r["health"] for r in rules if r["health"] != "ok"} == {}
    # Healthy traffic on loopback: nothing fires.
    assert [r["name"] for r in rules if r["state"] == "firing"] == []
