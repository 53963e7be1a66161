"""The OpenAI Agents SDK's default model — ``OpenAIResponsesModel``, over ``POST /v1/responses`` —
running an agent with a ``function_tool`` against toolrelay, on the hosted and vLLM paths with 1,
2 and 3 calls (run and run_streamed): the calls of the first answer run, their outputs go back,
and the agent finishes with the model's answer to them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from agents.items import ToolCallItem, ToolCallOutputItem
from agents.result import RunResultBase
from openai import AsyncOpenAI

from tests.clients.common import TOOL_NAME, Route, weather_report
from tests.responses.conftest import Relay


@function_tool(name_override=TOOL_NAME)
def get_weather(location: str) -> str:
    """The current weather in a city.

    Args:
        location: a city name
    """
    return weather_report(location)


@pytest.fixture(autouse=True, scope="module")
def _no_tracing() -> Iterator[None]:
    set_tracing_disabled(True)  # the SDK would otherwise export traces to OpenAI
    yield
    set_tracing_disabled(False)


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
def test_agent_tool_round_trip(streamed: bool, relay: Relay, route: Route) -> None:
    async def run() -> RunResultBase:
        async with AsyncOpenAI(base_url=relay.url, api_key="client-key", max_retries=0, timeout=30) as client:
            agent = Agent(
                name="weather",
                instructions="Answer weather questions with the get_weather tool.",
                model=OpenAIResponsesModel(model=route.model, openai_client=client),
                tools=[get_weather],
            )
            if not streamed:
                return await Runner.run(agent, route.question)
            result = Runner.run_streamed(agent, route.question)
            async for _ in result.stream_events():
                pass
            return result

    result = asyncio.run(run())
    calls = [i.raw_item for i in result.new_items if isinstance(i, ToolCallItem)]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == route.calls  # type: ignore[union-attr]
    assert [i.output for i in result.new_items if isinstance(i, ToolCallOutputItem)] == route.reports
    assert relay.results_seen(route) == route.reports
    assert result.final_output == route.final_answer(route.reports)
