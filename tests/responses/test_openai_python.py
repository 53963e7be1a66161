"""openai-python's Responses API against toolrelay over real HTTP, on the hosted and vLLM paths with
1, 2 and 3 calls: ``responses.create`` and ``responses.stream`` with a function tool, the
``function_call_output`` round trip (stateless, and by ``previous_response_id`` with the store on),
and the stored response read back, listed and deleted."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.responses import Response

from tests.clients.common import Route, parsed
from tests.doors.doors import Event, responses_answer, responses_events
from tests.responses.conftest import WEATHER_TOOL, Relay


def _calls(response: Response) -> list[Any]:
    return [item for item in response.output if item.type == "function_call"]


def _check_calls(response: Response, route: Route) -> list[Any]:
    assert response.status == "completed"
    calls = _calls(response)
    assert [(c.name, parsed(c.arguments)) for c in calls] == route.calls
    assert len({c.call_id for c in calls}) == len(calls) and all(c.id and c.id.startswith("fc_") for c in calls)
    assert response.usage is not None and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert response.tools[0].name == WEATHER_TOOL["name"]  # type: ignore[union-attr]
    assert response.tool_choice == "auto" and response.parallel_tool_calls is True
    # the SDK's own view and toolrelay's rules agree
    responses_answer(response.model_dump(mode="json"))
    return calls


def _outputs(calls: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function_call_output",
            "call_id": c.call_id,
            "output": f"{json.loads(c.arguments)['location']}: sunny, 21 C",
        }
        for c in calls
    ]


def test_create_and_stateless_round_trip(client: openai.OpenAI, relay: Relay, route: Route) -> None:
    first = client.responses.create(model=route.model, input=route.question, tools=[WEATHER_TOOL], store=False)
    calls = _check_calls(first, route)
    assert first.store is False
    # the whole conversation sent back, as a stateless client does: the calls as input items
    history: list[Any] = [{"role": "user", "content": route.question}, *(c.model_dump() for c in calls)]
    second = client.responses.create(
        model=route.model, input=[*history, *_outputs(calls)], tools=[WEATHER_TOOL], store=False
    )
    assert second.status == "completed" and not _calls(second)
    assert second.output_text == route.final_answer(route.reports)
    assert relay.results_seen(route) == route.reports
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)  # store: false is not kept


def test_stream_and_previous_response_id(client: openai.OpenAI, relay: Relay, route: Route) -> None:
    with client.responses.stream(model=route.model, input=route.question, tools=[WEATHER_TOOL]) as stream:
        events = list(stream)
        first = stream.get_final_response()
    calls = _check_calls(first, route)
    kinds = [e.type for e in events]
    assert kinds.count("response.function_call_arguments.done") == route.n
    # the SDK's accumulated arguments are the whole arguments of each call
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [e.arguments for e in done] == [c.arguments for c in calls]
    with client.responses.stream(
        model=route.model, previous_response_id=first.id, input=_outputs(calls), tools=[WEATHER_TOOL]
    ) as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        second = stream.get_final_response()
    assert text == second.output_text == route.final_answer(route.reports)
    assert second.previous_response_id == first.id
    assert relay.results_seen(route) == route.reports


def test_create_continues_with_previous_response_id(client: openai.OpenAI, relay: Relay, route: Route) -> None:
    first = client.responses.create(
        model=route.model, input=route.question, instructions="Use the tools.", tools=[WEATHER_TOOL]
    )
    calls = _check_calls(first, route)
    assert first.store is True and first.instructions == "Use the tools."
    second = client.responses.create(
        model=route.model, previous_response_id=first.id, input=_outputs(calls), tools=[WEATHER_TOOL]
    )
    assert second.output_text == route.final_answer(route.reports)
    assert relay.results_seen(route) == route.reports
    # stored, read back, listed and deleted
    assert client.responses.retrieve(second.id).output_text == route.final_answer(route.reports)
    items = client.responses.input_items.list(second.id, order="asc")
    kinds = [i.type for i in items.data]
    assert kinds == ["message", *["function_call"] * route.n, *["function_call_output"] * route.n]
    assert [i.call_id for i in items.data if i.type == "function_call_output"] == [c.call_id for c in calls]
    deleted = client.responses.delete(second.id)
    assert deleted is None or getattr(deleted, "deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(second.id)


def test_stream_events_follow_the_rules(http: Any, route: Route) -> None:
    body = {"model": route.model, "input": route.question, "tools": [WEATHER_TOOL], "stream": True}
    with http.stream("POST", "/v1/responses", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        from tests.doors.doors import sse

        events: list[Event] = list(sse(r.iter_lines()))
    final = responses_events(events)
    assert [(i["name"], json.loads(i["arguments"])) for i in final["output"]] == route.calls
