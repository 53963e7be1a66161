"""The vLLM side of the ``auto`` gate (server/backends/vllm_gate.py) against a fake vLLM
(``httpx.MockTransport``): the one-token request it sends, how it reads the answer, and how it turns
the request body into the ``required`` call, or leaves it, or fails open to text."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from adapters.base import CallRecord, Constraint, Message, ToolChoice
from adapters.hermes import HermesAdapter
from server.backends.vllm_gate import AutoGate
from server.metrics import Metrics
from tests.adapters.tools_common import NOW, WEATHER

BASE = "http://vllm.test/v1"
MARKER_IDS = [44, 19324, 79, 4350, 46]  # "<tool_call>" in SmolLM2's tokenizer


class FakeVllm:
    def __init__(self, marker_logprob: float, best_logprob: float, status: int = 200) -> None:
        self.marker_logprob, self.best_logprob, self.status = marker_logprob, best_logprob, status
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append((request.url.path, body))
        if self.status != 200:
            return httpx.Response(self.status, json={"error": {"message": "boom"}})
        if request.url.path == "/tokenize":
            return httpx.Response(200, json={"tokens": MARKER_IDS, "count": 5})
        top = [{"<": self.marker_logprob, "The": self.best_logprob}]
        logprobs = {"tokens": ["<"], "token_logprobs": [self.marker_logprob], "top_logprobs": top}
        return httpx.Response(200, json={"choices": [{"text": "<", "logprobs": logprobs}]})


def apply(fake: FakeVllm, adapter: HermesAdapter, *, mode: str = "auto", question: str = "Weather in Paris?") -> Any:
    messages = [Message("user", question)]
    tools = [WEATHER]
    choice = ToolChoice(mode)  # type: ignore[arg-type]
    prompt = adapter.render(messages, tools, choice)
    constraint = adapter.constraint(tools, choice)
    body: dict[str, Any] = {"model": "smol", "prompt": prompt + (constraint.prefill if constraint else "")}
    if constraint is not None:
        body["structured_outputs"] = dict(constraint.structured_outputs)
    seen: list[tuple[str, str, float]] = []

    async def go() -> Constraint | None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as client:
            gate = AutoGate(client, {"authorization": "Bearer k", "content-type": "application/json"})
            gate.observer = lambda model, outcome, seconds: seen.append((model, outcome, seconds))
            found = None
            for _ in range(2):  # twice: the marker's token id is asked for once
                copy = dict(body)
                found = await gate.apply(
                    adapter,
                    copy,
                    constraint,
                    replica_url=BASE,
                    model="smollm2",
                    messages=messages,
                    tools=tools,
                    tool_choice=choice,
                    parallel_tool_calls=True,
                )
            body.update(copy)
            return found

    result = asyncio.run(go())
    return result, body, prompt, seen


GATED = {"auto_policy": "gated", "auto_gate": {"bias": 2.0, "margin": 1.0}, "call_format": "regex"}


def test_call_turns_the_body_into_the_required_call_on_the_same_prompt() -> None:
    fake = FakeVllm(marker_logprob=-1.5, best_logprob=-1.0)  # margin -0.5: 2 - 0.5 > 0, call
    adapter = HermesAdapter(**GATED)  # type: ignore[arg-type]
    constraint, body, prompt, seen = apply(fake, adapter)
    forced = adapter.constraint([WEATHER], ToolChoice("required"))
    assert constraint == forced and forced is not None
    assert body["prompt"] == prompt + forced.prefill  # the gate's prompt: vLLM's prefix cache holds it
    assert body["structured_outputs"] == dict(forced.structured_outputs)
    assert [(m, o) for m, o, _ in seen] == [("smollm2", "called")] * 2
    paths = [p for p, _ in fake.requests]
    assert paths == ["/tokenize", "/v1/completions", "/v1/completions"]
    tokenize, score = fake.requests[0][1], fake.requests[1][1]
    assert tokenize == {"model": "smol", "prompt": "<tool_call>", "add_special_tokens": False}
    assert score["prompt"] == prompt and score["allowed_token_ids"] == [44]
    assert (score["max_tokens"], score["logprobs"], score["temperature"]) == (1, 1, 0)


def test_a_follow_up_call_is_constrained_to_the_tools_not_yet_called() -> None:
    fake = FakeVllm(marker_logprob=-1.0, best_logprob=-1.0)
    adapter = HermesAdapter(**GATED)  # type: ignore[arg-type]
    call = CallRecord("c1", "get_weather", '{"city": "Paris"}')
    messages = [
        Message("user", "Weather in Paris, and what time is it?"),
        Message("assistant", None, tool_calls=(call,)),
        Message("tool", "sunny", tool_call_id="c1", name="get_weather"),
    ]
    tools = [WEATHER, NOW]
    auto = ToolChoice("auto")
    body: dict[str, Any] = {"model": "smol", "prompt": adapter.render(messages, tools, auto)}

    async def go() -> Constraint | None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as client:
            return await AutoGate(client).apply(
                adapter, body, adapter.constraint(tools, auto), replica_url=BASE, model="smollm2",
                messages=messages, tools=tools, tool_choice=auto, parallel_tool_calls=True,
            )  # fmt: skip

    constraint = asyncio.run(go())
    assert constraint == adapter.constraint([NOW], ToolChoice("required"))  # not get_weather again
    assert '"now"' in body["structured_outputs"]["regex"] and "get_weather" not in body["structured_outputs"]["regex"]


def test_answer_leaves_the_text_branch_as_the_family_built_it() -> None:
    fake = FakeVllm(marker_logprob=-6.0, best_logprob=-1.0)  # margin -5: 2 - 5 < 0, answer
    adapter = HermesAdapter(**GATED)  # type: ignore[arg-type]
    constraint, body, prompt, seen = apply(fake, adapter)
    assert constraint is not None and "structural_tag" in constraint.structured_outputs  # triggered text
    assert body["prompt"] == prompt and "structural_tag" in body["structured_outputs"]
    assert {o for _, o, _ in seen} == {"answered"}


def test_a_failing_vllm_fails_open_to_text_and_counts_as_failed() -> None:
    fake = FakeVllm(-1.0, -1.0, status=500)
    constraint, body, prompt, seen = apply(fake, HermesAdapter(**GATED))  # type: ignore[arg-type]
    assert body["prompt"] == prompt and "structural_tag" in body["structured_outputs"]
    assert {o for _, o, _ in seen} == {"failed"}
    assert constraint is not None and constraint.prefill == ""


@pytest.mark.parametrize("mode", ["none", "required"])
def test_only_auto_is_gated(mode: str) -> None:
    fake = FakeVllm(-1.0, -1.0)
    _, _, _, seen = apply(fake, HermesAdapter(**GATED), mode=mode)  # type: ignore[arg-type]
    assert fake.requests == [] and seen == []


def test_a_model_without_a_gate_is_left_alone() -> None:
    fake = FakeVllm(-1.0, -1.0)
    constraint, body, prompt, seen = apply(fake, HermesAdapter(auto_policy="triggered"))
    assert fake.requests == [] and seen == [] and body["prompt"] == prompt


def test_metrics_count_decisions_per_configured_model_only() -> None:
    metrics = Metrics(["smollm2"], ["local"], CollectorRegistry())
    metrics.auto_decision("smollm2", "called", 0.05)
    metrics.auto_decision("smollm2", "answered", 0.04)
    metrics.auto_decision("who", "called", 0.01)  # not configured: folded into _unknown
    metrics.auto_decision("smollm2", "maybe", 0.01)  # not an outcome: folded into other
    text = metrics.render()[0].decode()
    assert 'toolrelay_auto_decisions_total{decision="called",model="smollm2"} 1.0' in text
    assert 'toolrelay_auto_decisions_total{decision="answered",model="smollm2"} 1.0' in text
    assert 'toolrelay_auto_decisions_total{decision="called",model="_unknown"} 1.0' in text
    assert 'toolrelay_auto_decisions_total{decision="other",model="smollm2"} 1.0' in text
    assert 'toolrelay_auto_decision_seconds_count{model="smollm2"} 3.0' in text
