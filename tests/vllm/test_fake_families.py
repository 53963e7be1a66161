"""The vllm backend against fake vLLM servers (real HTTP on loopback) that stream recorded raw
outputs of every family token by token: the families SmolLM2 cannot produce, the request vLLM
receives, and replica handling. Needs no real vLLM, so it runs in the quick loop too."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from server.app import create_app
from server.config import parse_settings
from tests.fakes.fake_vllm import RECORDED, FakeVllm
from tests.servers import serve_app
from tests.vllm.conftest import relay_settings

FAMILIES = [
    "hermes",
    "qwen3",
    "llama3_json",
    "pythonic",
    "mistral",
    "deepseek_v3",
    "glm45",
    "kimi_k2",
    "deepseek_v32",
    "gpt_oss",
    "qwen3_coder",
    "glm47",
    "minimax_m2",
]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
NOW = {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}
ASK = [{"role": "user", "content": "Weather in Paris for two days?"}]
EXPECTED = {"pythonic": [("get_weather", {"city": "Paris", "days": 2}), ("now", {})]}


@contextlib.contextmanager
def relay(replicas: list[str], family: str = "hermes", model: str = "hermes") -> Iterator[openai.OpenAI]:
    settings = relay_settings([f"{u}/v1" for u in replicas], model=model, family=family)
    with serve_app(create_app(parse_settings(settings))) as url:
        with openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30) as client:
            yield client


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeVllm, str]]:
    server = FakeVllm()
    with serve_app(server.app) as url:
        yield server, url


def calls_of(message: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]


@pytest.mark.parametrize("family", FAMILIES)
def test_family_calls_streamed_and_not(family: str, fake: tuple[FakeVllm, str]) -> None:
    with relay([fake[1]], family=family, model=family) as client:
        kwargs: dict[str, Any] = dict(model="smollm2", messages=ASK, tools=[WEATHER, NOW])
        reply = client.chat.completions.create(**kwargs)
        want = EXPECTED.get(family, [("get_weather", {"city": "Paris", "days": 2})])
        assert calls_of(reply.choices[0].message) == want
        assert reply.choices[0].finish_reason == "tool_calls"
        assert reply.usage is not None and reply.usage.completion_tokens > 0

        names: dict[int, str] = {}
        args: dict[int, str] = {}
        finish = None
        for chunk in client.chat.completions.create(stream=True, **kwargs):
            for choice in chunk.choices:
                for tc in choice.delta.tool_calls or ():
                    if tc.function and tc.function.name:
                        names[tc.index] = tc.function.name
                    args[tc.index] = args.get(tc.index, "") + ((tc.function and tc.function.arguments) or "")
                finish = choice.finish_reason or finish
        assert [(names[i], json.loads(args[i])) for i in sorted(names)] == want
        assert finish == "tool_calls"
        if family in ("qwen3", "gpt_oss", "glm47", "minimax_m2"):  # reasoning (gpt-oss: analysis channel)
            assert "get_weather" in (getattr(reply.choices[0].message, "reasoning_content", None) or "")
        if family == "kimi_k2":  # the id the model wrote, as Kimi's template expects it back
            assert [c.id for c in reply.choices[0].message.tool_calls or ()] == ["functions.get_weather:0"]


def test_request_vllm_receives(fake: tuple[FakeVllm, str]) -> None:
    server, url = fake
    with relay([url]) as client:
        server.requests.clear()
        client.chat.completions.create(
            model="smollm2", messages=ASK, tools=[WEATHER], tool_choice="required", stop=["END"], seed=7
        )
        body = server.requests[-1]
        assert body["model"] == "hermes" and body["stream"] is True
        assert body["skip_special_tokens"] is False
        assert body["stop"] == ["<|im_end|>", "END"] and body["seed"] == 7
        assert body["prompt"].endswith("<|im_start|>assistant\n<tool_call>\n")
        schema = body["structured_outputs"]["json"]
        assert [s["properties"]["name"]["const"] for s in schema["anyOf"]] == ["get_weather"]

        server.requests.clear()
        reply = client.chat.completions.create(model="smollm2", messages=ASK, tools=[WEATHER], tool_choice="none")
        body = server.requests[-1]
        assert "structured_outputs" not in body and "<tools>" not in body["prompt"]
        assert body["max_tokens"] == 4096  # the replica's max_model_len: vLLM's default would be 16 tokens
        assert reply.choices[0].message.content  # the recorded call is text when no tools are offered


def test_error_before_first_byte_moves_to_another_replica() -> None:
    bad, good = FakeVllm(default=RECORDED["hermes"]), FakeVllm(default=RECORDED["hermes"])
    bad.fail_status = 500
    with serve_app(bad.app) as bad_url, serve_app(good.app) as good_url, relay([bad_url, good_url]) as client:
        for _ in range(4):
            reply = client.chat.completions.create(model="smollm2", messages=ASK, tools=[WEATHER])
            assert reply.choices[0].finish_reason == "tool_calls"
        assert len(good.requests) == 4


def test_killed_replica_is_skipped_and_requests_survive() -> None:
    a, b = FakeVllm(default=RECORDED["hermes"]), FakeVllm(default=RECORDED["hermes"])
    with contextlib.ExitStack() as stack:
        a_url = stack.enter_context(serve_app(a.app))
        b_stack = contextlib.ExitStack()
        b_url = b_stack.enter_context(serve_app(b.app))
        client = stack.enter_context(relay([a_url, b_url]))
        for _ in range(4):
            client.chat.completions.create(model="smollm2", messages=ASK, tools=[WEATHER])
        assert a.requests and b.requests, "idle replicas share the load"
        b_stack.close()  # replica b goes away
        before = len(a.requests)
        for _ in range(6):
            reply = client.chat.completions.create(model="smollm2", messages=ASK, tools=[WEATHER], stream=False)
            assert reply.choices[0].finish_reason == "tool_calls"
        assert len(a.requests) == before + 6


def test_unhealthy_replica_is_not_picked_and_ready_reports_it() -> None:
    a, b = FakeVllm(default=RECORDED["hermes"]), FakeVllm(default=RECORDED["hermes"])
    b.healthy = False
    with serve_app(a.app) as a_url, serve_app(b.app) as b_url, relay([a_url, b_url]) as client:
        ready = httpx.get(str(client.base_url).removesuffix("/v1/") + "/ready", timeout=5)
        assert ready.status_code == 200  # one replica up is enough
        for _ in range(4):
            client.chat.completions.create(model="smollm2", messages=ASK, tools=[WEATHER])
        assert len(a.requests) == 4 and not b.requests


def test_model_with_its_own_chat_template(fake: tuple[FakeVllm, str], tmp_path: Path) -> None:
    server, url = fake
    template = tmp_path / "own.jinja"
    template.write_text(
        "{% for m in messages %}<<{{ m.role }}>>{{ m.content }}{% endfor %}"
        "{% if tools %}[{{ tools | map(attribute='function.name') | join(',') }}]{% endif %}<<assistant>>"
    )
    settings = relay_settings([f"{url}/v1"], model="hermes")
    settings["models"]["smollm2"]["chat_template"] = str(template)  # type: ignore[index]
    with serve_app(create_app(parse_settings(settings))) as relay_url:
        with openai.OpenAI(base_url=f"{relay_url}/v1", api_key="unused", max_retries=0) as client:
            server.requests.clear()
            reply = client.chat.completions.create(model="smollm2", messages=ASK, tools=[WEATHER])
    assert server.requests[-1]["prompt"] == f"<<user>>{ASK[0]['content']}[get_weather]<<assistant>>"
    assert calls_of(reply.choices[0].message) == [("get_weather", {"city": "Paris", "days": 2})]


def test_gpt_oss_forced_call_is_prefilled_on_the_commentary_channel(fake: tuple[FakeVllm, str]) -> None:
    server, url = fake
    with relay([url], family="gpt_oss", model="gpt_oss") as client:
        server.requests.clear()
        named = {"type": "function", "function": {"name": "get_weather"}}
        reply = client.chat.completions.create(model="smollm2", messages=ASK, tools=[WEATHER, NOW], tool_choice=named)
        body = server.requests[-1]
        assert body["prompt"].endswith(
            "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
        )
        assert body["structured_outputs"] == {"json": WEATHER["function"]["parameters"]}
        assert body["stop"][:2] == ["<|call|>", "<|return|>"]
        # the fake continues after the prefill: the parser read prefill + arguments as one call
        assert calls_of(reply.choices[0].message) == [("get_weather", {"city": "Paris", "days": 2})]
        assert reply.choices[0].finish_reason == "tool_calls"
        assert not getattr(reply.choices[0].message, "reasoning_content", None)  # a forced call skips reasoning
