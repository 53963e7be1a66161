"""Several uvicorn workers (``python -m server --workers 2``) with ``PROMETHEUS_MULTIPROC_DIR``:
whichever worker answers a scrape, /metrics reports the totals over all workers, and the
in-flight gauge counts only live workers."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from tests.fakes.fake_upstream import FakeUpstream
from tests.ops.harness import closed_port_url, toolrelay, weather_request, write_config
from tests.servers import serve_app

REQUESTS = 24


def _value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not in /metrics")


def _workers(metrics_dir: Path) -> set[str]:
    return {m.group(1) for p in metrics_dir.iterdir() if (m := re.search(r"_(\d+)\.db$", p.name))}


def test_two_workers_report_merged_totals(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "prom-multiproc"
    metrics_dir.mkdir()
    upstream = FakeUpstream()
    with serve_app(upstream.app) as upstream_url:
        config = write_config(tmp_path / "config.yaml", upstream_url, closed_port_url())
        env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        with toolrelay(config, tmp_path / "toolrelay.log", args=("--workers", "2"), env=env) as relay:
            # /health answered as soon as one worker was up; each worker writes its metric files when its
            # app starts (series are pre-created), so wait for the second before sending traffic.
            deadline = time.monotonic() + 60
            while len(_workers(metrics_dir)) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(_workers(metrics_dir)) >= 2, "both workers should have created their metric files"
            # A fresh connection per request and per scrape, so the kernel spreads them over workers.
            for _ in range(REQUESTS):
                r = httpx.post(f"{relay}/v1/chat/completions", json=weather_request("plain"), timeout=30)
                assert r.status_code == 200, r.text
            for _ in range(8):
                text = httpx.get(f"{relay}/metrics", timeout=10).text
                ok = 'toolrelay_requests_total{backend="fake",dialect="chat",model="plain",outcome="ok"}'
                assert _value(text, ok) == REQUESTS
                assert _value(text, 'toolrelay_tool_calls_total{family="upstream",outcome="parsed"}') == REQUESTS
                assert _value(text, "toolrelay_requests_in_flight") == 0
                count = 'toolrelay_request_duration_seconds_count{model="plain",outcome="ok"}'
                assert _value(text, count) == REQUESTS
