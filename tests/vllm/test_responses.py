"""The Responses door in front of the real CPU vLLM serving SmolLM2 (``config/local.yaml``, as
``make run`` serves it), driven by openai-python and the Agents SDK's default (Responses) model:
a forced call valid against its schema, the ``function_call_output`` round trip continued by
``previous_response_id`` with the store on, a streamed named call equal to the non-streamed one
with every event rule kept, and a ``function_tool`` agent run to its text answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, set_tracing_disabled
from agents.items import ToolCallItem, ToolCallOutputItem

from examples.agents_sdk_agent import convert_currency, get_current_weather
from server.app import create_app
from server.config import ResponsesConfig, ResponseStoreConfig, load_settings
from tests.doors.doors import responses_answer, responses_events, sse
from tests.servers import ROOT, serve_app
from tests.vllm.test_e2e import SCHEMAS, TOOLS

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(900)]

FLAT_TOOLS: list[dict[str, Any]] = [{"type": "function", **t["function"]} for t in TOOLS]
ASK = "What is the weather like in Paris today?"


@pytest.fixture(scope="module")
def relay(vllm_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """toolrelay with the shipped config/local.yaml and its store in a temporary SQLite file."""
    settings = load_settings(Path(ROOT / "config" / "local.yaml"), env={"VLLM_URL": vllm_url})
    store = ResponseStoreConfig(url=f"sqlite:///{tmp_path_factory.mktemp('store') / 'responses.sqlite3'}")
    settings = settings.model_copy(update={"responses": ResponsesConfig(store=store)})
    with serve_app(create_app(settings)) as url:
        yield url


@pytest.fixture()
def client(relay: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{relay}/v1", api_key="unused", max_retries=0, timeout=300) as c:
        yield c


def test_forced_call_and_round_trip_by_previous_response_id(client: openai.OpenAI) -> None:
    first = client.responses.create(
        model="smollm2", input=ASK, tools=FLAT_TOOLS, tool_choice="required", temperature=0, max_output_tokens=80
    )  # type: ignore[call-overload]
    answer = responses_answer(first.model_dump(mode="json"))
    assert answer.calls and answer.stop == "tool_calls"
    calls = [i for i in first.output if i.type == "function_call"]
    for call in calls:
        jsonschema.validate(json.loads(call.arguments), SCHEMAS[call.name])
    outputs = [
        {"type": "function_call_output", "call_id": c.call_id, "output": '{"forecast": "sunny", "temperature_c": 21}'}
        for c in calls
    ]
    second = client.responses.create(
        model="smollm2",
        previous_response_id=first.id,
        input=outputs,  # type: ignore[arg-type]
        tools=FLAT_TOOLS,  # type: ignore[arg-type]
        tool_choice="none",
        temperature=0,
        max_output_tokens=40,
    )
    assert second.status in ("completed", "incomplete")
    assert second.output_text and "<tool_call>" not in second.output_text
    # the stored call and its output reached the model: the prompt is longer than the question alone
    alone = client.responses.create(
        model="smollm2", input=ASK, tools=FLAT_TOOLS, tool_choice="none", max_output_tokens=1, store=False
    )  # type: ignore[call-overload]
    assert second.usage is not None and alone.usage is not None
    assert second.usage.input_tokens > alone.usage.input_tokens + 10
    items = client.responses.input_items.list(second.id, order="asc").data
    assert [i.type for i in items][-len(calls) :] == ["function_call_output"] * len(calls)


def test_streamed_named_call_equals_non_streamed(relay: str, client: openai.OpenAI) -> None:
    body: dict[str, Any] = {
        "model": "smollm2",
        "input": ASK,
        "tools": FLAT_TOOLS,
        "tool_choice": {"type": "function", "name": "get_weather"},
        "temperature": 0,
        "max_output_tokens": 80,
        "store": False,
    }
    plain = client.responses.create(**body)
    with httpx.stream("POST", f"{relay}/v1/responses", json={**body, "stream": True}, timeout=300) as r:
        assert r.status_code == 200
        final = responses_events(list(sse(r.iter_lines())))
    streamed = responses_answer(final)
    assert streamed.calls == responses_answer(plain.model_dump(mode="json")).calls
    assert [name for name, _ in streamed.calls] == ["get_weather"]
    jsonschema.validate(streamed.calls[0][1], SCHEMAS["get_weather"])


def test_agents_sdk_responses_model_runs_a_function_tool(relay: str) -> None:
    # A forced first call and the tool's output as the answer: what the 135M model does under
    # ``auto`` after a result is the auto policy's business (tests/vllm/test_examples.py), not this door's.
    async def run() -> Any:
        async with openai.AsyncOpenAI(base_url=f"{relay}/v1", api_key="unused", max_retries=0, timeout=300) as c:
            agent = Agent(
                name="assistant",
                instructions="You are a helpful assistant. Use a tool when it helps answer.",
                model=OpenAIResponsesModel(model="smollm2", openai_client=c),
                model_settings=ModelSettings(tool_choice="get_current_weather", temperature=0, max_tokens=120),
                tools=[get_current_weather, convert_currency],
                tool_use_behavior="stop_on_first_tool",
            )
            return await Runner.run(agent, "What is the current weather in Paris?", max_turns=2)

    set_tracing_disabled(True)
    try:
        result = asyncio.run(run())
    finally:
        set_tracing_disabled(False)
    calls = [i.raw_item for i in result.new_items if isinstance(i, ToolCallItem)]
    assert [getattr(c, "name", None) for c in calls] == ["get_current_weather"]
    assert isinstance(json.loads(getattr(calls[0], "arguments", "{}")).get("location"), str)
    [output] = [i.output for i in result.new_items if isinstance(i, ToolCallOutputItem)]
    assert result.final_output == output and json.loads(output)["forecast"] == "sunny"
