"""The vLLM backend's hooks for ``tool_choice`` through the whole app, against the fake vLLM (real
HTTP on loopback, no model): under ``none`` the call markup a model writes anyway never reaches the
client, streamed or not, for every family with a marker; under ``auto`` a gated model asks the gate
first, and the gate's vLLM request failing answers in text rather than failing the request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from server.app import create_app
from server.config import parse_settings
from tests.fakes.fake_vllm import RECORDED, FakeVllm
from tests.servers import serve_app
from tests.vllm.conftest import relay_settings
from tests.vllm.test_fake_families import ASK, NOW, WEATHER

MARKUP = ("<tool_call>", "</tool_call>", "[TOOL_CALLS]", "<|python_tag|>", "tool▁call", "<|tool_call")
# families whose recorded output holds call markup toolrelay can recognise (pythonic's bare list cannot be)
MARKED = ["hermes", "qwen3", "llama3_json", "mistral", "deepseek_v3", "glm45", "kimi_k2"]


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeVllm, str]]:
    server = FakeVllm()
    with serve_app(server.app) as url:
        yield server, url


def client_for(settings: dict[str, Any]) -> Iterator[tuple[openai.OpenAI, str]]:
    with serve_app(create_app(parse_settings(settings))) as relay:
        with openai.OpenAI(base_url=f"{relay}/v1", api_key="unused", max_retries=0, timeout=30) as client:
            yield client, relay


def decisions(relay: str) -> dict[str, float]:
    text = httpx.get(f"{relay}/metrics", timeout=10).text
    prefix = 'toolrelay_auto_decisions_total{decision="'
    out = {}
    for line in text.splitlines():
        if line.startswith(prefix) and 'model="smollm2"' in line:
            out[line[len(prefix) :].split('"', 1)[0]] = float(line.rsplit(" ", 1)[1])
    return out


@pytest.mark.parametrize("family", MARKED)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_none_returns_no_call_markup(family: str, stream: bool, fake: tuple[FakeVllm, str]) -> None:
    assert any(m in RECORDED[family] for m in MARKUP)  # the model does write a call here
    settings = relay_settings([f"{fake[1]}/v1"], model=family, family=family)
    for client, _ in client_for(settings):
        kwargs: dict[str, Any] = dict(model="smollm2", messages=ASK, tools=[WEATHER, NOW], tool_choice="none")
        if stream:
            content, calls, finish = "", 0, None
            for chunk in client.chat.completions.create(**kwargs, stream=True):
                for choice in chunk.choices:
                    content += choice.delta.content or ""
                    calls += len(choice.delta.tool_calls or [])
                    finish = choice.finish_reason or finish
        else:
            reply = client.chat.completions.create(**kwargs)
            message, finish = reply.choices[0].message, reply.choices[0].finish_reason
            content, calls = message.content or "", len(message.tool_calls or [])
        assert calls == 0 and finish == "stop"
        assert not any(m in content for m in MARKUP), content
        assert "Paris" not in content  # the call's arguments went with its markup


def gated_settings(url: str) -> dict[str, Any]:
    settings = relay_settings([f"{url}/v1"], model="hermes", family="hermes")
    model = settings["models"]["smollm2"]  # type: ignore[index]
    model["family_options"] = {"auto_policy": "gated", "auto_gate": {"bias": 1.0, "margin": 1.0}}
    return settings


def test_a_failing_gate_answers_in_text_and_is_counted(fake: tuple[FakeVllm, str]) -> None:
    # the fake vLLM streams text where the gate wants logprobs: it cannot score, so the request goes on as text
    server, url = fake
    for client, relay in client_for(gated_settings(url)):
        before = len(server.requests)
        reply = client.chat.completions.create(model="smollm2", messages=ASK, tools=[WEATHER, NOW], tool_choice="auto")
        sent = server.requests[before:]
        *gate, answer = sent
        assert all("allowed_token_ids" in g for g in gate)  # the gate's own request, if it got that far
        assert "structural_tag" in answer["structured_outputs"]  # the text branch
        assert reply.choices[0].message.tool_calls  # the recorded text opens a call: triggered keeps it
        assert decisions(relay) == {"failed": 1.0}


def test_lexical_gate_calls_without_a_vllm_request(fake: tuple[FakeVllm, str]) -> None:
    server, url = fake
    settings = gated_settings(url)
    settings["models"]["smollm2"]["family_options"]["auto_gate"] = {"bias": -0.5, "name_overlap": 1.0}  # type: ignore[index]
    for client, relay in client_for(settings):
        before = len(server.requests)
        ask = [{"role": "user", "content": "What is the weather in Paris?"}]
        reply = client.chat.completions.create(model="smollm2", messages=ask, tools=[WEATHER], tool_choice="auto")
        (sent,) = server.requests[before:]
        assert "regex" in sent["structured_outputs"] or "json" in sent["structured_outputs"]  # the forced call
        assert sent["prompt"].endswith("<|im_start|>assistant\n<tool_call>\n")
        assert [c.function.name for c in reply.choices[0].message.tool_calls or []] == ["get_weather"]
        assert decisions(relay) == {"called": 1.0}
