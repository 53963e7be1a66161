"""LlamaIndex (``llama-index-llms-openai-like``) against toolrelay over real HTTP, on both paths,
with 1, 2 and 3 calls: ``stream_chat_with_tools`` must select exactly the calls (each with its name
and whole arguments), and a ``FunctionAgent`` must finish a tool round trip over two turns."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from llama_index.core.agent.workflow import AgentOutput, FunctionAgent
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped]

from tests.clients.common import TOOL_NAME, Route, weather_report
from tests.clients.conftest import Relay


def get_weather(location: str) -> str:
    """The current weather in a city."""
    return weather_report(location)


def _llm(relay: Relay, route: Route, **clients: Any) -> OpenAILike:
    """``clients``: the http_client/async_http_client the test closes itself (an AsyncOpenAI left to
    the garbage collector closes its pool on a loop that is gone)."""
    return OpenAILike(
        model=route.model,
        api_base=relay.url,
        api_key="client-key",
        is_chat_model=True,
        is_function_calling_model=True,
        context_window=4096,
        max_retries=0,
        timeout=30,
        **clients,
    )


def test_stream_chat_with_tools_selects_each_call(relay: Relay, route: Route) -> None:
    tool = FunctionTool.from_defaults(fn=get_weather, name=TOOL_NAME)
    with openai.DefaultHttpxClient() as http:
        llm = _llm(relay, route, http_client=http)
        responses = list(llm.stream_chat_with_tools([tool], user_msg=route.question, allow_parallel_tool_calls=True))
    assert responses, "the stream yielded nothing"
    selections = llm.get_tool_calls_from_response(responses[-1], error_on_no_tool_call=False)
    assert [(s.tool_name, s.tool_kwargs) for s in selections] == route.calls
    ids = [s.tool_id for s in selections]
    assert all(ids) and len(set(ids)) == route.n, f"every selection has its call's own id: {ids}"


# llama-index-workflows walks the agent's members with inspect.getmembers, touching pydantic's
# deprecated attributes (``__fields__``, ``model_computed_fields`` on the instance, …).
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning")
def test_function_agent_round_trip(relay: Relay, route: Route) -> None:
    async def run() -> tuple[str, list[tuple[str, dict[str, object]]]]:
        async with openai.DefaultAsyncHttpxClient() as http:
            agent = FunctionAgent(
                tools=[FunctionTool.from_defaults(fn=get_weather, name=TOOL_NAME)],
                llm=_llm(relay, route, async_http_client=http),
                system_prompt="Answer weather questions with the get_weather tool.",
            )
            result: AgentOutput = await agent.run(user_msg=route.question)
        calls = [(c.tool_name, c.tool_kwargs) for c in result.tool_calls]
        return str(result), calls

    answer, calls = asyncio.run(run())
    # the agent runs the calls concurrently: it records them, and sends their results, as they finish
    assert sorted(calls, key=repr) == sorted(route.calls, key=repr), "the agent ran exactly the answer's calls"
    seen = relay.results_seen(route)
    assert sorted(seen) == sorted(route.reports), "the second turn carried every result"
    assert answer == route.final_answer(seen)
    assert relay.backend_requests(route) == 2, "two model turns: the calls, then the answer"
