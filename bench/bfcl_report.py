"""The BFCL bench's report: per-category figures, toolrelay's parse outcomes, a table and a bar chart.

``bench/bfcl.py`` produces ``ItemResult`` rows; this module turns them into the JSON report
(``summarise``), reads toolrelay's ``toolrelay_tool_calls_total{family,outcome}`` counters from an
endpoint's ``/metrics`` so a run can report the parse outcomes it caused (``tool_call_counts`` before
and after, ``outcome_delta``), prints a Markdown table (``markdown_table``) and draws accuracy by
category for one or several reports (``plot``; matplotlib is imported only there).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

TOOL_CALLS_SAMPLE = "toolrelay_tool_calls_total"
Counts = dict[tuple[str, str], float]  # (family, outcome) -> count


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One BFCL item as the endpoint answered it."""

    id: str
    category: str
    valid: bool
    latency_s: float
    error: str = ""  # why it is wrong (BFCL's checker, or the request's failure)
    request_failed: bool = False  # HTTP/transport error: no answer at all
    finish_reason: str | None = None
    answer: list[dict[str, Any]] = field(default_factory=list)
    content: str = ""


def metrics_url(base_url: str) -> str:
    """toolrelay serves /metrics at its root; the OpenAI base URL ends in /v1."""
    root = base_url.rstrip("/").removesuffix("/v1")
    return f"{root}/metrics"


def tool_call_counts(url: str, client: httpx.Client) -> Counts | None:
    """toolrelay's tool-call counters at ``url``; None when the endpoint has no such metrics."""
    try:
        response = client.get(url)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    counts: Counts = {}
    try:
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == TOOL_CALLS_SAMPLE:
                    key = (sample.labels.get("family", ""), sample.labels.get("outcome", ""))
                    counts[key] = counts.get(key, 0.0) + sample.value
    except ValueError:  # not Prometheus text (a vLLM server without toolrelay answers its own format)
        return None
    return counts if counts else None


def outcome_delta(before: Counts | None, after: Counts | None) -> dict[str, dict[str, int]] | None:
    """Parse outcomes this run caused, per family: ``{"hermes": {"parsed": 12, "repaired": 1}}``."""
    if after is None:
        return None
    base = before or {}
    delta: dict[str, dict[str, int]] = {}
    for (family, outcome), value in sorted(after.items()):
        grew = int(round(value - base.get((family, outcome), 0.0)))
        if grew:
            delta.setdefault(family, {})[outcome] = grew
    return delta


def _latency_stats(latencies: Sequence[float]) -> dict[str, float | None]:
    if not latencies:
        return {"median_latency_s": None, "p90_latency_s": None}
    ordered = sorted(latencies)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return {"median_latency_s": round(statistics.median(ordered), 4), "p90_latency_s": round(p90, 4)}


def _group(items: Sequence[ItemResult]) -> dict[str, Any]:
    n = len(items)
    correct = sum(1 for i in items if i.valid)
    answered = [i.latency_s for i in items if not i.request_failed]
    return {
        "n": n,
        "correct": correct,
        "accuracy": round(correct / n, 4) if n else None,
        "request_errors": sum(1 for i in items if i.request_failed),
        **_latency_stats(answered),
    }


def summarise(
    config: Mapping[str, Any],
    items: Sequence[ItemResult],
    outcomes: dict[str, dict[str, int]] | None,
    wall_s: float,
) -> dict[str, Any]:
    """The JSON report: config, per-category and overall figures, parse outcomes, every item."""
    categories: dict[str, list[ItemResult]] = {}
    for item in items:
        categories.setdefault(item.category, []).append(item)
    return {
        "config": dict(config),
        "wall_s": round(wall_s, 2),
        "categories": {name: _group(group) for name, group in categories.items()},
        "overall": _group(items),
        "parse_outcomes": outcomes,
        "items": [asdict(i) for i in items],
    }


def _item(row: Mapping[str, Any]) -> ItemResult:
    return ItemResult(**{k: row[k] for k in ItemResult.__dataclass_fields__ if k in row})


def merged(reports: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Reports of one series (same label) as one report per label, in order of first appearance:
    a series run per category, or one category run in parts (``--every N --start K``). Figures are
    recomputed from the items (an item run twice counts once, the later answer)."""
    series: dict[str, list[Mapping[str, Any]]] = {}
    for report in reports:
        series.setdefault(label(report), []).append(report)
    out = []
    for name, parts in series.items():
        items = {row["id"]: _item(row) for part in parts for row in part["items"]}
        outcomes: dict[str, dict[str, int]] | None = None
        for part in parts:
            for family, counts in (part.get("parse_outcomes") or {}).items():
                totals = (outcomes := outcomes or {}).setdefault(family, {})
                for outcome, n in counts.items():
                    totals[outcome] = totals.get(outcome, 0) + n
        config = {**parts[0]["config"], "label": name}
        out.append(summarise(config, list(items.values()), outcomes, sum(p.get("wall_s", 0.0) for p in parts)))
    return out


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def label(report: Mapping[str, Any]) -> str:
    config = report["config"]
    if config.get("label"):
        return str(config["label"])
    return f"{config['model']} · {config['tool_choice']}"


def markdown_table(report: Mapping[str, Any]) -> str:
    rows = [
        "| category | n | correct | accuracy | median latency (s) | request errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, g in [*report["categories"].items(), ("overall", report["overall"])]:
        rows.append(
            f"| {name} | {g['n']} | {g['correct']} | {_percent(g['accuracy'])} | "
            f"{_seconds(g['median_latency_s'])} | {g['request_errors']} |"
        )
    outcomes = report.get("parse_outcomes")
    if outcomes:
        parts = [f"{fam}: " + ", ".join(f"{k} {v}" for k, v in sorted(o.items())) for fam, o in outcomes.items()]
        rows.append("")
        rows.append("toolrelay parse outcomes: " + "; ".join(parts))
    return "\n".join(rows)


def plot(reports: Sequence[Mapping[str, Any]], path: str) -> None:
    """A grouped bar chart: accuracy per category, one bar per report (model, mode)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on a server
    import matplotlib.pyplot as plt

    categories: list[str] = []
    for report in reports:
        categories += [c for c in report["categories"] if c not in categories]
    width = 0.8 / max(1, len(reports))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(categories)), 4.0))
    for k, report in enumerate(reports):
        offset = (k - (len(reports) - 1) / 2) * width
        # A category the run did not cover gets no bar (a zero bar would read as a measured 0%).
        ran = [(i, report["categories"][c]) for i, c in enumerate(categories) if c in report["categories"]]
        xs = [i + offset for i, _ in ran]
        values = [100 * (g.get("accuracy") or 0.0) for _, g in ran]
        bars = ax.bar(xs, values, width, label=label(report), color=f"C{k}")
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(range(len(categories)), categories, rotation=20, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("BFCL accuracy by category")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
