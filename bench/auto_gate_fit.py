"""Fit the ``auto`` gate's weights on the calibration split and report both splits (no I/O).

Rows come from ``bench/auto_gate_calibrate.py features``. The calibration split is the even
positions of each category file, the held-out split the odd ones. The fit is a class-balanced
logistic regression of ``should_call`` (the category wants a call) on the chosen features; its
bias is then moved so that ``min_no_call`` of the calibration split's ``irrelevance`` items stay
uncalled (the target the policy must meet). The printed weights are raw (not standardised), ready
for ``family_options: {auto_gate: …}``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

FEATURES = ("margin", "marker", "name_overlap", "bm25")


def feature(row: Mapping[str, Any], name: str) -> float:
    if name == "margin":
        return float(row["marker"]) - float(row["best"])
    return float(row[name])


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 4000, lr: float = 0.5, l2: float = 1e-3) -> np.ndarray:
    """Weights (bias last) of a class-balanced logistic regression, by gradient descent."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    pos = max(1.0, float(y.sum()))
    neg = max(1.0, float(n - y.sum()))
    sample_w = np.where(y == 1, n / (2 * pos), n / (2 * neg))
    w = np.zeros(d + 1)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(xb @ w)))
        grad = xb.T @ ((p - y) * sample_w) / n + l2 * np.append(w[:-1], 0.0)
        w -= lr * grad
    return w


def weights_for(rows: Sequence[Mapping[str, Any]], names: Sequence[str], min_no_call: float) -> dict[str, float]:
    """Raw gate weights fitted on ``rows`` (the calibration split)."""
    x = np.array([[feature(r, f) for f in names] for r in rows], dtype=float)
    y = np.array([1.0 if r["should_call"] else 0.0 for r in rows])
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    w = fit_logistic((x - mean) / std, y)
    raw = w[:-1] / std
    bias = float(w[-1] - (raw * mean).sum())
    # Move the bias so that the share of irrelevance items scoring <= 0 reaches min_no_call.
    irr = sorted(float(np.dot(raw, [feature(r, f) for f in names])) for r in rows if r["category"] == "irrelevance")
    if irr:
        k = min(len(irr) - 1, math.ceil(min_no_call * len(irr)) - 1)
        bias = min(bias, -irr[k])  # scores (without bias) up to the k-th stay at or below 0
    return {"bias": bias, **{f: float(v) for f, v in zip(names, raw, strict=True)}}


def gate_score(row: Mapping[str, Any], weights: Mapping[str, float]) -> float:
    return weights["bias"] + sum(v * feature(row, k) for k, v in weights.items() if k != "bias")


def split_table(rows: Sequence[Mapping[str, Any]], weights: Mapping[str, float]) -> list[str]:
    """Per category: items, share called, and the expected ``auto`` accuracy (a right ``required``
    call where a call is due, no call where none is)."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["category"]].append(r)
    lines = []
    for category, group in sorted(groups.items()):
        called = [gate_score(r, weights) > 0 for r in group]
        if group[0]["should_call"]:
            acc = _call_accuracy(group, called)
        else:
            acc = f"auto {sum(not c for c in called)}/{len(group)}"
        lines.append(f"  {category:18} n={len(group):4}  called {sum(called) / len(group):6.1%}  {acc}")
    return lines


def _call_accuracy(group: Sequence[Mapping[str, Any]], called: Sequence[bool]) -> str:
    """On the items whose ``required`` call was run: how many ``required`` gets right, and how many
    ``auto`` would (called, and the call right), for each prompt the call can follow."""
    parts = []
    for key in ("required_prompt", "auto_prompt"):
        pairs = [(r, c) for r, c in zip(group, called, strict=True) if f"{key}_right" in r]
        if pairs:
            req = sum(1 for r, _ in pairs if r[f"{key}_right"])
            auto = sum(1 for r, c in pairs if c and r[f"{key}_right"])
            parts.append(f"{key}: required {req}/{len(pairs)}, auto {auto}/{len(pairs)}")
    return "; ".join(parts) or "-"


def fit_report(rows: Sequence[Mapping[str, Any]], names: Sequence[str], min_no_call: float) -> str:
    unknown = set(names) - set(FEATURES)
    if unknown:
        raise SystemExit(f"unknown feature(s) {sorted(unknown)}; known: {FEATURES}")
    calibration = [r for r in rows if r["position"] % 2 == 0]
    held_out = [r for r in rows if r["position"] % 2 == 1]
    weights = weights_for(calibration, names, min_no_call)
    gate_s = sorted(float(r["gate_s"]) for r in rows)
    out = ["auto_gate: {" + ", ".join(f"{k}: {v:.4g}" for k, v in weights.items()) + "}"]
    out += ["calibration (even positions):", *split_table(calibration, weights)]
    out += ["held out (odd positions):", *split_table(held_out, weights)]
    if gate_s:
        out.append(f"gate request: median {gate_s[len(gate_s) // 2]:.3f} s over {len(gate_s)}")
    return "\n".join(out)
