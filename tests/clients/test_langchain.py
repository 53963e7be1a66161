"""LangChain (``langchain-openai``) against toolrelay over real HTTP: ``ChatOpenAI.bind_tools``
invoke and stream (chunks aggregated as LangChain users do), on both paths, with 1, 2 and 3 calls."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tests.clients.common import TOOL_NAME, Route, weather_report
from tests.clients.conftest import Relay


@tool(TOOL_NAME)
def get_weather(location: str) -> str:
    """The current weather in a city."""
    return weather_report(location)


def _model(relay: Relay, route: Route) -> Any:
    llm = ChatOpenAI(base_url=relay.url, api_key="client-key", model=route.model, max_retries=0, timeout=30)
    return llm.bind_tools([get_weather])


def _check_calls(message: AIMessage, route: Route) -> None:
    assert message.invalid_tool_calls == [], f"calls LangChain could not parse: {message.invalid_tool_calls}"
    assert [(c["name"], c["args"]) for c in message.tool_calls] == route.calls
    ids = [c["id"] for c in message.tool_calls]
    assert all(ids) and len(set(ids)) == route.n, f"every call has its own id: {ids}"


def test_bind_tools_invoke(relay: Relay, route: Route) -> None:
    message = _model(relay, route).invoke(route.question)
    assert isinstance(message, AIMessage)
    _check_calls(message, route)
    assert message.response_metadata["finish_reason"] == "tool_calls"


def test_bind_tools_stream(relay: Relay, route: Route) -> None:
    full: AIMessageChunk | None = None
    for chunk in _model(relay, route).stream(route.question):
        assert isinstance(chunk, AIMessageChunk)
        full = chunk if full is None else full + chunk
    assert full is not None
    _check_calls(full, route)
    assert full.response_metadata["finish_reason"] == "tool_calls"
    # the streamed pieces, as LangChain collected them: one entry per call, each whole
    chunks = full.tool_call_chunks
    assert [(c["index"], c["name"]) for c in chunks] == [(i, TOOL_NAME) for i in range(route.n)]
