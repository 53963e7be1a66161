"""The ``auto`` gate's calibration bench (bench/auto_gate_fit.py, bench/auto_gate_calibrate.py)
without vLLM: the fit keeps the irrelevance target on the calibration split, the splits are the
file's even and odd positions, a sample is spread over whole files, reports merge per label."""

from __future__ import annotations

import random
from typing import Any

from bench import bfcl_support as bfcl
from bench.auto_gate_calibrate import interleaved, merged_by_label, spread
from bench.auto_gate_fit import fit_report, gate_score, weights_for


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


def test_reports_of_one_label_merge_for_the_chart() -> None:
    a = {"config": {"label": "x", "model": "m", "tool_choice": "auto"}, "categories": {"simple_python": {"n": 1}}}
    b = {"config": {"label": "x", "model": "m", "tool_choice": "auto"}, "categories": {"irrelevance": {"n": 2}}}
    c = {"config": {"label": None, "model": "n", "tool_choice": "auto"}, "categories": {"irrelevance": {"n": 3}}}
    merged = merged_by_label([a, b, c])
    assert [m["config"]["label"] for m in merged] == ["x", "n · auto"]
    assert merged[0]["categories"] == {"simple_python": {"n": 1}, "irrelevance": {"n": 2}}
