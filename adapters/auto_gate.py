"""The ``auto`` decision: call a tool or answer in text, decided before generation (pure, no I/O).

A weak model left to itself under ``tool_choice: auto`` never opens a call (SmolLM2-135M: 0 of 400
BFCL simple_python items), and a constraint that forces the choice makes it call always. So the
decision is taken here, from measured signals, and the generation that follows is either the
``required`` call (same prompt, same constraint, same accuracy) or free text:

- **marker**: log P of the first token of the family's call marker (``<tool_call>`` → ``<``) at the
  start of the assistant turn, and log P of the most likely first token; their difference is the
  margin of "call" over the best text start. One extra one-token request to vLLM, whose prompt is
  the answer's own prompt, so the prefill is shared through prefix caching when the answer is text.
- **relevance**: lexical overlap between the latest request and the tools not yet called for it
  (``adapters.relevance``).

The decision is a linear score over these, ``call`` when it is above 0::

    bias + margin·(lp_marker − lp_best) + marker·lp_marker + name_overlap·overlap + bm25·bm25

The weights are calibrated per model on data (``bench/auto_gate_calibrate.py``; docs/accuracy.md)
and configured per model: ``family_options: {auto_policy: gated, auto_gate: {bias: …, …}}``.
A weight left at 0 drops its signal; with both marker weights at 0 no request is made at all, and
with non-negative marker weights none is made when the lexical part alone already says "text".

The backend supplies the scorer (``MarkerScorer``), so this module stays testable without vLLM.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from adapters.base import Message, ToolSpec
from adapters.relevance import Relevance, current_request, relevance


@dataclass(frozen=True, slots=True)
class MarkerScore:
    """From one next-token distribution at the start of the assistant turn: log P of the marker's
    first token, and log P of the most likely token (≥ the former)."""

    marker: float
    best: float


# (prompt, marker) -> the scores above; the backend implements it with one vLLM request.
MarkerScorer = Callable[[str, str], Awaitable[MarkerScore]]


@dataclass(frozen=True, slots=True)
class GateWeights:
    """The linear decision rule; see the module docstring. All-zero weights with a positive bias
    always call, with a negative bias never call."""

    bias: float = 0.0
    margin: float = 0.0
    marker: float = 0.0
    name_overlap: float = 0.0
    bm25: float = 0.0

    @property
    def needs_marker(self) -> bool:
        return self.margin != 0.0 or self.marker != 0.0

    @property
    def marker_only_lowers(self) -> bool:
        """Both marker terms are ≤ 0 (log-probabilities, and the marker's is at most the best's), so
        with non-negative weights they can only lower the score: a request the lexical part alone
        leaves at or below 0 is answered in text without asking vLLM (no added latency)."""
        return self.margin >= 0.0 and self.marker >= 0.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> GateWeights:
        """From a config mapping; unknown keys and non-numbers fail here, at config load."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"auto_gate: unknown key(s) {unknown}; known: {sorted(known)}")
        values: dict[str, float] = {}
        for key, value in options.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"auto_gate.{key}: expected a number, got {value!r}")
            values[key] = float(value)
        return cls(**values)


# The gate a model without its own calibration can use (``make run MODEL=… AUTO=gated``): lexical
# signals only, so no model is asked. Fitted by bench/auto_gate_fit.py on the BFCL labels alone (even
# positions of simple_python and irrelevance, every 3rd live_simple, every 5th live_irrelevance); on
# the odd positions it calls 84.5% of simple_python and 10.8% of irrelevance (docs/accuracy.md).
LEXICAL_GATE = GateWeights(bias=-1.953, name_overlap=3.41, bm25=1.557)


@dataclass(frozen=True, slots=True)
class Features:
    relevance: Relevance
    marker: MarkerScore | None  # None when the weights do not use it (no request was made)


@dataclass(frozen=True, slots=True)
class Decision:
    call: bool
    score: float
    features: Features


def score(weights: GateWeights, features: Features) -> float:
    total = weights.bias
    total += weights.name_overlap * features.relevance.name_overlap + weights.bm25 * features.relevance.bm25
    if features.marker is not None:
        m = features.marker
        total += weights.margin * (m.marker - m.best) + weights.marker * m.marker
    return total


def pending_tools(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> list[ToolSpec]:
    """The tools not yet called for the latest request: what the gate judged, so what a call it
    decides on may use (an agent's follow-up turn must not repeat the call it just made)."""
    _, called = current_request(messages)
    return [t for t in tools if t.name not in called]


async def decide(
    weights: GateWeights,
    *,
    prompt: str,
    marker: str,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    scorer: MarkerScorer,
) -> Decision:
    """Call or answer, for a request under ``auto`` whose prompt (tools declared, no forcing
    instruction) is ``prompt``. When every offered tool has already been called for the latest
    request (an agent's turn after the tool results), answer: the gate would otherwise call the
    same tool again and again; nothing is asked of the scorer then."""
    rel = relevance(messages, tools)
    if not pending_tools(messages, tools):
        return Decision(False, float("-inf"), Features(rel, None))
    lexical = score(weights, Features(rel, None))
    if not weights.needs_marker or (lexical <= 0.0 and weights.marker_only_lowers):
        return Decision(lexical > 0.0, lexical, Features(rel, None))
    features = Features(rel, await scorer(prompt, marker))
    value = score(weights, features)
    return Decision(value > 0.0, value, features)
