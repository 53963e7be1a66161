"""The I/O half of the ``auto`` decision (``adapters/auto_gate.py``) on a vLLM replica.

``VllmMarkerScorer`` answers "how likely does the assistant turn start with the call marker?" with
one request to vLLM's ``/v1/completions``: the prompt, one token, ``allowed_token_ids`` = the
marker's first token, ``logprobs: 1``. vLLM reports the *raw* log-probabilities (before its logits
processors, so before the allowed-token mask), hence the sampled token's logprob is log P(marker's
first token) under the model, and ``top_logprobs`` holds the most likely token's. Measured on the
CPU vLLM 0.32 with SmolLM2: the same number as ``prompt_logprobs`` on the prompt plus marker, at a
fifth of the cost (0.17 s against 0.85 s on a 315-token prompt: ``prompt_logprobs`` recomputes the
whole prompt, this one-token request reuses the cached prefix). A structured-outputs constraint
would not do: vLLM then reports the masked distribution (log P = 0).

The marker's first token id is asked of vLLM's ``/tokenize`` once per replica and model.

``AutoGate.apply`` is the whole hook the vLLM backend needs: given the request body it built for
``tool_choice: auto`` (the family's text-branch constraint in it), it asks the family's gate, and
on "call" turns the body into the ``required`` call: the same prompt plus the forced constraint's
prefill and structured outputs. The gate's one-token request prefilled that same prompt, so vLLM's
prefix cache serves it to the answer that follows, whichever branch it takes. A gate that cannot
be asked (vLLM error) answers in text and counts as ``failed``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, Literal

import httpx
import orjson

from adapters.auto_gate import MarkerScore, decide, pending_tools
from adapters.base import Adapter, Constraint, Message, ToolChoice, ToolSpec

GateOutcome = Literal["called", "answered", "failed"]
GATE_OUTCOMES: tuple[GateOutcome, ...] = ("called", "answered", "failed")
# (model as clients name it, outcome, seconds the decision took); server.metrics.Metrics.auto_decision
GateObserver = Callable[[str, str, float], None]


class GateError(Exception):
    """The replica could not score the marker; the caller answers as if the gate said "text"."""


class VllmMarkerScorer:
    """``MarkerScorer`` for one replica (``base_url`` is its /v1 base) and served model."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        model: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        token_ids: dict[str, int] | None = None,
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._root = self._base.removesuffix("/v1")
        self._model = model
        self._headers = headers or {}
        self._timeout = httpx.Timeout(timeout)
        # marker -> first token id; pass a dict that outlives the scorer to ask /tokenize only once
        self._token_ids = token_ids if token_ids is not None else {}

    async def __call__(self, prompt: str, marker: str) -> MarkerScore:
        token = await self._first_token(marker)
        body = {
            "model": self._model,
            "prompt": prompt,
            "max_tokens": 1,
            "temperature": 0,
            "logprobs": 1,
            "allowed_token_ids": [token],
            "skip_special_tokens": False,
        }
        data = await self._post(f"{self._base}/completions", body)
        try:
            logprobs = data["choices"][0]["logprobs"]
            chosen = float(logprobs["token_logprobs"][0])
            top = logprobs.get("top_logprobs") or [{}]
            best = max([chosen, *(float(v) for v in (top[0] or {}).values())])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise GateError(f"unexpected logprobs in vLLM's answer: {type(exc).__name__}") from None
        return MarkerScore(marker=chosen, best=best)

    async def _first_token(self, marker: str) -> int:
        found = self._token_ids.get(marker)
        if found is None:
            body = {"model": self._model, "prompt": marker, "add_special_tokens": False}
            data = await self._post(f"{self._root}/tokenize", body)
            tokens = data.get("tokens")
            if not isinstance(tokens, list) or not tokens or not isinstance(tokens[0], int):
                raise GateError(f"vLLM's /tokenize gave no tokens for {marker!r}")
            found = self._token_ids[marker] = tokens[0]
        return found

    async def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._client.post(
                url,
                content=orjson.dumps(body),
                headers={**self._headers, "content-type": "application/json"},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise GateError(f"vLLM did not answer the gate request: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise GateError(f"vLLM answered the gate request with HTTP {response.status_code}")
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise GateError("vLLM's answer to the gate request is not JSON") from None
        if not isinstance(data, dict):
            raise GateError("vLLM's answer to the gate request is not an object")
        return data


class AutoGate:
    """The ``auto`` decision for one vLLM backend (see the module docstring)."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
        self._client = client
        self._headers = {k: v for k, v in (headers or {}).items() if k.lower() != "content-type"}
        self._token_ids: dict[tuple[str, str], dict[str, int]] = {}
        self.observer: GateObserver | None = None  # set by the app: metrics

    async def apply(
        self,
        adapter: Adapter,
        body: MutableMapping[str, Any],
        constraint: Constraint | None,
        *,
        replica_url: str,
        model: str,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        tool_choice: ToolChoice,
        parallel_tool_calls: bool,
    ) -> Constraint | None:
        """The constraint the answer is parsed with; ``body`` is changed in place on "call"."""
        weights, marker = adapter.auto_gate, adapter.call_marker
        if weights is None or marker is None or tool_choice.mode != "auto":
            return constraint
        if not tools:
            return constraint
        started = time.perf_counter()
        prompt = str(body["prompt"])
        if constraint is not None and constraint.prefill:
            prompt = prompt[: len(prompt) - len(constraint.prefill)]
        served = str(body.get("model") or "")
        cache = self._token_ids.setdefault((replica_url, served), {})
        scorer = VllmMarkerScorer(self._client, replica_url, served, headers=self._headers, token_ids=cache)
        outcome: GateOutcome = "answered"
        try:
            decision = await decide(
                weights, prompt=prompt, marker=marker, messages=messages, tools=tools, scorer=scorer
            )
            # a call may use only the tools the gate judged (those not yet called for this request)
            allowed = pending_tools(messages, tools)
            forced = adapter.constraint(allowed, ToolChoice("required"), parallel_tool_calls=parallel_tool_calls)
            if decision.call and forced is not None:
                body["prompt"] = prompt + forced.prefill
                body["structured_outputs"] = dict(forced.structured_outputs)
                constraint, outcome = forced, "called"
        except GateError:
            outcome = "failed"
        if self.observer is not None:
            self.observer(model, outcome, time.perf_counter() - started)
        return constraint
