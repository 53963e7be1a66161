"""The ``auto`` gate's calibration bench (bench/auto_gate_fit.py, bench/auto_gate_calibrate.py)
without vLLM: the fit keeps the irrelevance target on the calibration split, the splits are the
file's even and odd positions, a sample is spread over whole files, reports merge per label."""

from __future__ import annotations

import json
import random
from typing import Any

from bench import bfcl_report
from bench import bfcl_support as bfcl
from bench.auto_gate_calibrate import interleaved, spread
from bench.auto_gate_fit import fit_report, gate_score, weights_for
from bench.bfcl_report import ItemResult


def rows(seed: int = 0) -> list[dict[str, Any]]:
    """Synthetic gate inputs: calls are due where the name overlaps; the margin is noisier."""
    rng = random.Random(seed)
    out = []
    for category, should_call in (("simple_python", True), ("irrelevance", False)):
        for position in range(200):
            overlap = min(1.0, max(0.0, rng.gauss(0.7 if should_call else 0.1, 0.25)))
            margin = rng.gauss(-2.0 if should_call else -4.0, 1.5)
            out.append(
                {
                    "id": f"{category}_{position}",
                    "category": category,
                    "position": position,
                    "should_call": should_call,
                    "marker": margin - 1.0,
                    "best": -1.0,
                    "name_overlap": overlap,
                    "bm25": overlap / 2,
                    "gate_s": 0.1,
                    **({"required_prompt_right": position % 3 != 0} if should_call and position % 4 == 0 else {}),
                }
            )
    return out


def test_fit_keeps_the_no_call_target_on_the_calibration_split() -> None:
    data = rows()
    calibration = [r for r in data if r["position"] % 2 == 0]
    for target in (0.8, 0.9, 0.95):
        weights = weights_for(calibration, ["margin", "name_overlap", "bm25"], target)
        irrelevance = [r for r in calibration if r["category"] == "irrelevance"]
        kept = sum(1 for r in irrelevance if gate_score(r, weights) <= 0) / len(irrelevance)
        assert kept >= target
        assert weights["name_overlap"] > 0 and weights["margin"] > 0  # more overlap, likelier marker: call
    simple = [r for r in calibration if r["category"] == "simple_python"]
    assert sum(1 for r in simple if gate_score(r, weights) > 0) > len(simple) / 2


def test_report_names_both_splits_and_the_weights() -> None:
    text = fit_report(rows(), ["margin", "name_overlap"], 0.9)
    assert text.startswith("auto_gate: {bias: ")
    assert "calibration (even positions):" in text and "held out (odd positions):" in text
    assert "required_prompt: required" in text


def test_samples_are_spread_over_whole_files() -> None:
    entries = bfcl.load_entries("simple_python")
    picked = spread(entries, 5)
    assert [p for p, _ in picked[:3]] == [0, 5, 10] and picked[-1][0] == 395
    order = interleaved([picked, spread(bfcl.load_entries("irrelevance"), 3)])
    first = [p for p, e in order[:20] if e.category == "simple_python"]
    assert max(first) > 300 and min(first) < 100  # the first items taken already span the file


def _report(label: str | None, model: str, items: list[ItemResult], outcomes: dict[str, dict[str, int]] | None) -> Any:
    config = {"label": label, "model": model, "tool_choice": "auto"}
    return json.loads(json.dumps(bfcl_report.summarise(config, items, outcomes, 2.0)))


def test_reports_of_one_label_merge_by_category_and_by_part() -> None:
    def item(id_: str, category: str, valid: bool) -> ItemResult:
        return ItemResult(id=id_, category=category, valid=valid, latency_s=1.0)

    # simple_python in two parts (--every 2 --start 0/1), irrelevance in a third report, another label
    a = _report(
        "x", "m", [item("s0", "simple_python", True), item("s2", "simple_python", False)], {"hermes": {"parsed": 2}}
    )
    b = _report("x", "m", [item("s1", "simple_python", True)], {"hermes": {"parsed": 1, "repaired": 1}})
    c = _report("x", "m", [item("i0", "irrelevance", True), item("s1", "simple_python", False)], None)
    d = _report(None, "n", [item("i0", "irrelevance", False)], None)
    merged = bfcl_report.merged([a, b, c, d])
    assert [bfcl_report.label(m) for m in merged] == ["x", "n · auto"]
    x = merged[0]
    # s1 ran twice: the later answer (c's, wrong) counts once
    assert x["categories"]["simple_python"] == {**x["categories"]["simple_python"], "n": 3, "correct": 1}
    assert x["categories"]["irrelevance"]["correct"] == 1 and x["overall"]["n"] == 4
    assert x["parse_outcomes"] == {"hermes": {"parsed": 3, "repaired": 1}} and x["wall_s"] == 6.0
    assert merged[1]["overall"] == {**merged[1]["overall"], "n": 1, "correct": 0}
