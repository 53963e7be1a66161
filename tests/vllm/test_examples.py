"""The agent examples against the embedded default as ``make run`` serves it (``config/local.yaml``:
SmolLM2 on the real CPU vLLM, ``auto_policy: gated``), with ``tool_choice: auto`` and no tool named:
each agent makes the call the question needs, gets the result back, ends in a text answer, and
prints the calls it made. Also: the gate answers a question no tool fits in text, and counts both
decisions in ``/metrics``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from agents import set_tracing_disabled
from langchain_openai import ChatOpenAI

from examples import agents_sdk_agent, langchain_agent, weather_agent
from server.app import create_app
from server.config import load_settings
from tests.servers import ROOT, serve_app

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(900)]

QUESTION = "What is the current weather in Paris?"


@pytest.fixture(scope="module")
def shipped_relay(vllm_url: str) -> Iterator[str]:
    """toolrelay with the shipped config/local.yaml, in front of the session's real vLLM."""
    settings = load_settings(Path(ROOT / "config" / "local.yaml"), env={"VLLM_URL": vllm_url})
    with serve_app(create_app(settings)) as url:
        yield url


def decisions(relay: str) -> dict[str, float]:
    prefix = 'toolrelay_auto_decisions_total{decision="'
    out: dict[str, float] = {}
    for line in httpx.get(f"{relay}/metrics", timeout=10).text.splitlines():
        if line.startswith(prefix) and 'model="smollm2"' in line:
            out[line[len(prefix) :].split('"', 1)[0]] = float(line.rsplit(" ", 1)[1])
    return out


def test_langchain_agent_calls_the_weather_tool(shipped_relay: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = decisions(shipped_relay).get("called", 0.0)
    llm = ChatOpenAI(base_url=f"{shipped_relay}/v1", api_key="unused", model="smollm2", temperature=0, max_tokens=120)
    calls, answer = langchain_agent.run_agent(llm, QUESTION)
    assert [name for name, _ in calls] == ["get_current_weather"]
    assert isinstance(calls[0][1].get("location"), str)
    assert answer and "<tool_call>" not in answer  # the turn after the result is text
    assert "assistant calls get_current_weather(" in capsys.readouterr().out
    assert decisions(shipped_relay).get("called", 0.0) == before + 1


def test_agents_sdk_agent_calls_the_weather_tool(shipped_relay: str, capsys: pytest.CaptureFixture[str]) -> None:
    set_tracing_disabled(True)
    try:
        calls, answer = asyncio.run(
            agents_sdk_agent.run_agent(f"{shipped_relay}/v1", "smollm2", "unused", QUESTION, max_tokens=120)
        )
    finally:
        set_tracing_disabled(False)
    assert [name for name, _ in calls] == ["get_current_weather"]
    assert isinstance(json.loads(calls[0][1]).get("location"), str)
    assert answer and "<tool_call>" not in answer
    assert "assistant called get_current_weather(" in capsys.readouterr().out


def test_weather_agent_calls_under_auto(shipped_relay: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = weather_agent.main(["--base-url", f"{shipped_relay}/v1", "--question", QUESTION, "--max-rounds", "3"])
    out = capsys.readouterr().out
    assert "assistant calls get_current_weather(" in out, out
    assert code == 0, out  # it ended in a text answer within the rounds
    assert "<tool_call>" not in out.rsplit("assistant:", 1)[-1]


def test_a_question_no_tool_fits_is_answered_in_text(shipped_relay: str) -> None:
    before = decisions(shipped_relay).get("answered", 0.0)
    with openai.OpenAI(base_url=f"{shipped_relay}/v1", api_key="unused", max_retries=0, timeout=300) as client:
        reply = client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "Write one sentence about the history of Rome."}],
            tools=agents_sdk_tools(),  # type: ignore[arg-type]
            tool_choice="auto",
            temperature=0,
            max_tokens=40,
        )
    assert not reply.choices[0].message.tool_calls
    assert reply.choices[0].message.content
    assert decisions(shipped_relay).get("answered", 0.0) == before + 1


def agents_sdk_tools() -> list[dict[str, object]]:
    """The example's tools as OpenAI tools, as the SDK sends them."""
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.params_json_schema},
        }
        for t in (agents_sdk_agent.get_current_weather, agents_sdk_agent.convert_currency)
    ]
