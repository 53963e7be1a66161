"""openai-python against toolrelay over real HTTP, on the hosted path and the vLLM path, with 1, 2
and 3 calls in one answer: plain create (JSON and SSE), the ``chat.completions.stream`` helper (its
``tool_calls.function.arguments.done`` events and final completion), strict
``pydantic_function_tool`` and ``chat.completions.parse`` with tools."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.clients.common import TOOL_NAME, WEATHER_TOOL, GetWeather, Route, parsed
from tests.clients.conftest import Relay
from tests.clients.stream_rules import reassemble


@pytest.fixture()
def client(relay: Relay) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=relay.url, api_key="client-key", max_retries=0, timeout=30) as c:
        yield c


def _ask(route: Route) -> list[Any]:
    return [{"role": "user", "content": route.question}]


def test_create_json(client: openai.OpenAI, route: Route) -> None:
    reply = client.chat.completions.create(model=route.model, messages=_ask(route), tools=[WEATHER_TOOL])
    [choice] = reply.choices
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.function.name, parsed(c.function.arguments)) for c in calls] == route.calls  # type: ignore[union-attr]
    assert all(c.type == "function" and c.id for c in calls)
    assert len({c.id for c in calls}) == route.n, "every call has its own id"
    assert not choice.message.content


def test_create_stream_follows_delta_rules(client: openai.OpenAI, route: Route) -> None:
    stream = client.chat.completions.create(
        model=route.model,
        messages=_ask(route),
        tools=[WEATHER_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    )
    out = reassemble(stream, include_usage=True)
    assert [(c.name, parsed(c.arguments)) for c in out.calls] == route.calls
    assert len({c.id for c in out.calls}) == route.n
    assert out.finish_reason == "tool_calls"


def test_stream_helper_arguments_done_events(client: openai.OpenAI, route: Route) -> None:
    done: list[tuple[int, str, Any]] = []
    with client.chat.completions.stream(model=route.model, messages=_ask(route), tools=[WEATHER_TOOL]) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.done":
                done.append((event.index, event.name, parsed(event.arguments)))
        final = stream.get_final_completion()
    want = [(i, name, args) for i, (name, args) in enumerate(route.calls)]
    assert done == want, "one arguments.done event per call, in order, each with the call's whole arguments"
    [choice] = final.choices
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.function.name, parsed(c.function.arguments)) for c in calls] == route.calls
    assert len({c.id for c in calls}) == route.n


def test_stream_helper_strict_pydantic_tool(client: openai.OpenAI, route: Route) -> None:
    tool = openai.pydantic_function_tool(GetWeather, name=TOOL_NAME)
    assert tool["function"].get("strict") is True
    done: list[tuple[int, str, object]] = []
    with client.chat.completions.stream(model=route.model, messages=_ask(route), tools=[tool]) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.done":
                done.append((event.index, event.name, event.parsed_arguments))
        final = stream.get_final_completion()
    want = [(i, TOOL_NAME, GetWeather(**args)) for i, (_, args) in enumerate(route.calls)]
    assert done == want
    calls = final.choices[0].message.tool_calls or []
    assert [c.function.parsed_arguments for c in calls] == [GetWeather(**args) for _, args in route.calls]


def test_parse_with_strict_tool(client: openai.OpenAI, route: Route) -> None:
    tool = openai.pydantic_function_tool(GetWeather, name=TOOL_NAME)
    reply = client.chat.completions.parse(model=route.model, messages=_ask(route), tools=[tool])
    [choice] = reply.choices
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.function.name, c.function.parsed_arguments) for c in calls] == [
        (name, GetWeather(**args)) for name, args in route.calls
    ]


def test_tool_round_trip(client: openai.OpenAI, relay: Relay, route: Route) -> None:
    """The calls go back as an assistant turn with one result per id; the model then answers."""
    messages: list[Any] = _ask(route)
    first = client.chat.completions.create(model=route.model, messages=messages, tools=[WEATHER_TOOL])
    message = first.choices[0].message
    messages.append(message.model_dump(exclude_none=True))
    for call in message.tool_calls or []:
        report = f"{parsed(call.function.arguments)['location']}: sunny, 21 C"  # type: ignore[union-attr]
        messages.append({"role": "tool", "tool_call_id": call.id, "content": report})
    second = client.chat.completions.create(model=route.model, messages=messages, tools=[WEATHER_TOOL], stream=True)
    out = reassemble(second)
    assert relay.results_seen(route) == route.reports
    assert out.calls == [] and out.finish_reason == "stop"
    assert out.content == route.final_answer(route.reports)
