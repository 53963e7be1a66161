"""The core pipeline's own rules: calls go out whole and in order whatever the backend sends, and the
spec's tool forms (``allowed_tools``, ``custom``) reach each kind of backend as it can serve them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest

from adapters.base import Event, TextDelta, ToolCallArgsDelta, ToolCallEnd, ToolCallStart
from server.app import create_app
from server.backends.base import Delta, Finish, StreamItem
from server.config import parse_settings
from server.pipeline import in_call_order
from tests.fakes.fake_upstream import FakeUpstream
from tests.proxy.test_flows import PARALLEL_Q, SEND, WEATHER
from tests.reconstruct import rebuild
from tests.servers import free_port, serve_app


async def _items(events: list[StreamItem]) -> AsyncIterator[StreamItem]:
    for e in events:
        yield e


def _ordered(events: list[StreamItem]) -> list[StreamItem]:
    async def run() -> list[StreamItem]:
        return [item async for item in in_call_order(_items(events))]

    return asyncio.run(run())


def _d(event: Event, choice: int = 0) -> Delta:
    return Delta(choice, event)


def test_calls_announced_early_go_out_whole_in_index_order() -> None:
    # what a hosted stream looks like once normalised: both names first, arguments at the end
    names_first: list[StreamItem] = [
        _d(TextDelta("")),
        _d(ToolCallStart(0, "a", "f")),
        _d(ToolCallStart(1, "b", "g")),
        _d(ToolCallArgsDelta(0, '{"x": 1}')),
        _d(ToolCallEnd(0)),
        _d(ToolCallArgsDelta(1, "{}")),
        _d(ToolCallEnd(1)),
        Finish(0, "tool_calls"),
    ]
    out = _ordered(names_first)
    calls = [i.event for i in out if isinstance(i, Delta) and not isinstance(i.event, TextDelta)]
    assert calls == [
        ToolCallStart(0, "a", "f"),
        ToolCallArgsDelta(0, '{"x": 1}'),
        ToolCallEnd(0),
        ToolCallStart(1, "b", "g"),
        ToolCallArgsDelta(1, "{}"),
        ToolCallEnd(1),
    ]
    assert out[-1] == Finish(0, "tool_calls")
    assert sorted(map(repr, out)) == sorted(map(repr, names_first))  # nothing lost, nothing added


def test_choices_are_ordered_independently_and_text_is_not_held() -> None:
    items: list[StreamItem] = [
        _d(ToolCallStart(0, "a", "f"), 0),
        _d(ToolCallStart(1, "b", "g"), 0),
        _d(ToolCallStart(0, "c", "h"), 1),
        _d(TextDelta("hi"), 1),
        _d(ToolCallArgsDelta(1, "{}"), 0),
        _d(ToolCallArgsDelta(0, "{}"), 1),
        _d(ToolCallEnd(0), 1),
        _d(ToolCallEnd(1), 0),
        _d(ToolCallArgsDelta(0, "{}"), 0),
        _d(ToolCallEnd(0), 0),
        Finish(0, "tool_calls"),
        Finish(1, "tool_calls"),
    ]
    out = _ordered(items)
    zero = [i.event for i in out if isinstance(i, Delta) and i.choice == 0]
    assert [type(e).__name__ + str(e.index) for e in zero if not isinstance(e, TextDelta)] == [
        "ToolCallStart0",
        "ToolCallArgsDelta0",
        "ToolCallEnd0",
        "ToolCallStart1",
        "ToolCallArgsDelta1",
        "ToolCallEnd1",
    ]
    one = [i for i in out if isinstance(i, Delta) and i.choice == 1]
    assert [type(i.event).__name__ for i in one] == ["ToolCallStart", "TextDelta", "ToolCallArgsDelta", "ToolCallEnd"]


# --------------------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[FakeUpstream, str]]:
    upstream = FakeUpstream()
    with serve_app(upstream.app) as up:
        settings = parse_settings(
            {
                "backends": {
                    "hosted": {"kind": "upstream", "provider": "openai", "base_url": f"{up}/v1"},
                    # nothing listens there: the requests below must be refused before any connection
                    "local": {"kind": "vllm", "urls": [f"http://127.0.0.1:{free_port()}/v1"]},
                },
                "models": {
                    "plain": {"backend": "hosted", "model": "fake"},
                    "smollm2": {"backend": "local", "model": "smol", "family": "hermes"},
                },
            }
        )
        with serve_app(create_app(settings)) as relay:
            yield upstream, relay


def _stream_lines(relay: str, body: dict[str, Any]) -> list[str]:
    with httpx.stream("POST", f"{relay}/v1/chat/completions", json={**body, "stream": True}, timeout=30) as r:
        assert r.status_code == 200, r.read()
        return list(r.iter_lines())


def test_two_hosted_calls_stream_whole_and_in_order(stack: tuple[FakeUpstream, str]) -> None:
    _, relay = stack
    lines = _stream_lines(
        relay, {"model": "plain", "messages": [{"role": "user", "content": PARALLEL_Q}], "tools": [WEATHER]}
    )
    chunks = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    [choice] = rebuild(chunks).values()  # asserts each call whole before the next begins
    assert [json.loads(c["arguments"]) for c in choice.calls] == [{"location": "Paris"}, {"location": "Tokyo"}]


def test_openai_stream_helper_sees_full_arguments_for_each_call(stack: tuple[FakeUpstream, str]) -> None:
    _, relay = stack
    done: list[tuple[int, str]] = []
    with openai.OpenAI(base_url=f"{relay}/v1", api_key="k", max_retries=0) as client:
        with client.chat.completions.stream(
            model="plain",
            messages=[{"role": "user", "content": PARALLEL_Q}],
            tools=[WEATHER],  # type: ignore[list-item]
        ) as stream:
            for event in stream:
                if event.type == "tool_calls.function.arguments.done":
                    done.append((event.index, event.arguments))
            final = stream.get_final_completion()
    assert [(i, json.loads(a)) for i, a in done] == [(0, {"location": "Paris"}), (1, {"location": "Tokyo"})]
    assert len(final.choices[0].message.tool_calls or []) == 2


def test_allowed_tools_narrow_what_the_backend_is_offered(stack: tuple[FakeUpstream, str]) -> None:
    upstream, relay = stack
    upstream.requests.clear()
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "SendMessage"}}]},
    }
    r = httpx.post(
        f"{relay}/v1/chat/completions",
        json={
            "model": "plain",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [WEATHER, SEND],
            "tool_choice": choice,
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    [sent] = upstream.requests
    assert [t["function"]["name"] for t in sent["tools"]] == ["SendMessage"]
    assert sent["tool_choice"] == "required"


def test_allowed_tools_naming_an_unknown_tool_is_a_400(stack: tuple[FakeUpstream, str]) -> None:
    _, relay = stack
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "nope"}}]},
    }
    r = httpx.post(
        f"{relay}/v1/chat/completions",
        json={
            "model": "plain",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [WEATHER],
            "tool_choice": choice,
        },
        timeout=30,
    )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "tool_choice.allowed_tools.tools"
    assert "'nope'" in r.json()["error"]["message"]


CUSTOM = {"type": "custom", "custom": {"name": "code_exec", "description": "Run Python", "format": {"type": "text"}}}


def test_custom_tools_pass_through_to_a_hosted_api(stack: tuple[FakeUpstream, str]) -> None:
    upstream, relay = stack
    upstream.requests.clear()
    history = [
        {"role": "user", "content": "run it"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "type": "custom", "custom": {"name": "code_exec", "input": "print(1)"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "1"},
    ]
    r = httpx.post(
        f"{relay}/v1/chat/completions",
        json={
            "model": "plain",
            "messages": history,
            "tools": [CUSTOM, WEATHER],
            "tool_choice": {"type": "custom", "custom": {"name": "code_exec"}},
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    [sent] = upstream.requests
    assert CUSTOM in sent["tools"]
    assert sent["tool_choice"] == {"type": "custom", "custom": {"name": "code_exec"}}
    assert sent["messages"][1]["tool_calls"][0]["custom"] == {"name": "code_exec", "input": "print(1)"}


def test_custom_tools_on_a_local_family_are_a_400_naming_the_param(stack: tuple[FakeUpstream, str]) -> None:
    _, relay = stack
    r = httpx.post(
        f"{relay}/v1/chat/completions",
        json={"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "tools": [CUSTOM]},
        timeout=30,
    )
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == "tools" and "custom tools" in err["message"] and "hermes" in err["message"]


def test_unknown_path_names_the_path_and_the_endpoints(stack: tuple[FakeUpstream, str]) -> None:
    _, relay = stack
    r = httpx.post(f"{relay}/v1/chat/completion", json={}, timeout=10)
    assert r.status_code == 404
    err = r.json()["error"]
    assert "/v1/chat/completion" in err["message"] and "POST /v1/chat/completions" in err["message"]
    assert err["code"] != "model_not_found" and "model" not in (err["param"] or "")


def test_ready_reports_each_backend_and_probes_hosted_ones(stack: tuple[FakeUpstream, str]) -> None:
    _, relay = stack
    r = httpx.get(f"{relay}/ready", timeout=10)
    assert r.status_code == 503  # the vLLM backend has nothing listening
    assert r.json()["backends"] == {"hosted": True, "local": False}
