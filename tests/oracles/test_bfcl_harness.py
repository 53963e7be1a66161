"""bench.bfcl end to end against a fake OpenAI-compatible server on 127.0.0.1 that knows the answers.

A model that always answers with BFCL's ground truth must score 100% in every category through
the harness (requests, SDK, name mapping, scoring), streamed or not; a failed request is counted as
a wrong answer and a request error; the parse outcomes come from the endpoint's /metrics deltas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench import auto_gate_calibrate as calibrate
from bench import bfcl as harness
from bench import bfcl_report as report
from bench import bfcl_support as bfcl
from tests.oracles.fake_openai import FakeModel, serve

LIMIT = 3
FAIL = "multiple_1"


@pytest.fixture(scope="module")
def model() -> FakeModel:
    return FakeModel(fail_ids=frozenset({FAIL}))


@pytest.fixture
def base_url(model: FakeModel) -> Iterator[str]:
    with serve(model) as url:
        yield url


def _calls_in(categories: tuple[str, ...]) -> int:
    return sum(len(bfcl.ground_truth(e)) for c in categories for e in bfcl.load_entries(c, LIMIT) if e.id != FAIL)


@pytest.mark.parametrize("stream", [False, True])
def test_ground_truth_model_scores_everything_but_the_failed_request(base_url: str, stream: bool) -> None:
    config = harness.RunConfig(model="oracle", base_url=base_url, limit=LIMIT, stream=stream, concurrency=3)
    result = harness.run_bench(config)

    assert set(result["categories"]) == set(bfcl.CATEGORIES)
    for name, group in result["categories"].items():
        expected_correct = LIMIT - 1 if name == "multiple" else LIMIT
        assert (group["n"], group["correct"]) == (LIMIT, expected_correct), name
        assert group["request_errors"] == (1 if name == "multiple" else 0)
        assert group["median_latency_s"] is not None and group["median_latency_s"] > 0
    overall = result["overall"]
    assert (overall["n"], overall["correct"]) == (7 * LIMIT, 7 * LIMIT - 1)

    failed = [i for i in result["items"] if not i["valid"]]
    assert [(i["id"], i["request_failed"]) for i in failed] == [(FAIL, True)]
    assert "InternalServerError" in failed[0]["error"]
    math = next(i for i in result["items"] if i["id"] == "simple_python_1")
    assert math["answer"] == [{"math.factorial": {"number": 5}}]  # BFCL's dotted name, mapped back
    assert math["finish_reason"] == "tool_calls"

    assert result["parse_outcomes"] == {"hermes": {"parsed": _calls_in(bfcl.CATEGORIES)}}
    assert result["config"]["stream"] is stream
    json.dumps(result)  # the report is JSON as it stands


def test_cli_writes_report_table_and_chart(base_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, png, both = tmp_path / "run.json", tmp_path / "run.png", tmp_path / "both.png"
    argv = ["--model", "oracle", "--base-url", base_url, "--categories", "simple,irrelevance", "--limit", "2"]
    argv += ["--tool-choice", "required", "--parallel-tool-calls", "false", "--label", "fake · required"]
    assert harness.main([*argv, "--out", str(out), "--plot", str(png)]) == 0

    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["config"]["tool_choice"] == "required"
    assert saved["config"]["parallel_tool_calls"] is False
    assert saved["categories"]["simple_python"]["accuracy"] == 1.0
    table = capsys.readouterr().out
    assert "| simple_python | 2 | 2 | 100.0% |" in table
    assert "fake · required" in table
    assert png.read_bytes().startswith(b"\x89PNG")

    # Chart earlier runs without running anything.
    assert harness.main(["--plot", str(both), "--plot-with", str(out), str(out)]) == 0
    assert both.read_bytes().startswith(b"\x89PNG")


def test_unknown_category_is_refused_by_the_cli() -> None:
    with pytest.raises(SystemExit):
        harness.main(["--model", "m", "--categories", "multi_turn_base"])


def test_endpoint_without_toolrelay_metrics_reports_no_outcomes(base_url: str) -> None:
    with httpx.Client() as client:
        assert report.tool_call_counts(base_url + "/nothing-here", client) is None
        assert report.tool_call_counts("http://127.0.0.1:9/metrics", client) is None  # nothing listens
    assert report.metrics_url("http://h:8080/v1") == "http://h:8080/metrics"
    assert report.outcome_delta(None, None) is None
    before = {("hermes", "parsed"): 2.0}
    after = {("hermes", "parsed"): 5.0, ("hermes", "repaired"): 1.0, ("mistral", "parsed"): 0.0}
    assert report.outcome_delta(before, after) == {"hermes": {"parsed": 3, "repaired": 1}}


def test_parts_of_a_category_run_apart_merge_into_the_whole(base_url: str, tmp_path: Path) -> None:
    argv = ["--model", "oracle", "--base-url", base_url, "--categories", "irrelevance", "--limit", "5"]
    parts = [tmp_path / f"part{k}.json" for k in range(2)]
    for k, path in enumerate(parts):
        assert harness.main([*argv, "--every", "2", "--start", str(k), "--out", str(path)]) == 0
    ids = [[i["id"] for i in json.loads(p.read_text(encoding="utf-8"))["items"]] for p in parts]
    whole = [e.id for e in bfcl.load_entries("irrelevance", 5)]
    assert ids == [whole[0::2], whole[1::2]]

    merged = tmp_path / "whole.json"
    assert calibrate.main(["merge", str(merged), *map(str, parts)]) == 0
    report = json.loads(merged.read_text(encoding="utf-8"))
    assert sorted(i["id"] for i in report["items"]) == sorted(whole)
    assert report["categories"]["irrelevance"]["n"] == 5
