"""What the Responses door sends on and what it refuses: the chat request a hosted API receives
for a Responses request, bad requests answered with a 400 naming the param (in the OpenAI error
shape, never a 500), cut-off answers, and ``responses: passthrough``."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.doors.doors import responses_events, sse
from tests.responses.conftest import WEATHER_TOOL, Relay


def _post(http: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return http.post("/v1/responses", json=body)


def test_hosted_request_translated_onto_chat(http: httpx.Client, relay: Relay) -> None:
    body = {
        "model": "hosted",
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Answer in English."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": False,
        "max_output_tokens": 50,
        "temperature": 0.5,
        "top_p": 0.9,
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
        "reasoning": {"effort": "low", "summary": "auto"},
        "metadata": {"k": "v"},
        "include": ["reasoning.encrypted_content"],
        "truncation": "disabled",
        "store": False,
        "user": "u1",
        "safety_identifier": "s1",
        "some_vendor_field": {"x": 1},
    }
    r = _post(http, body)
    assert r.status_code == 200, r.text
    sent = relay.upstream.requests[-1]
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Answer in English."},
        {"role": "user", "content": "Hi"},
    ]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER_TOOL["parameters"],
                "description": WEATHER_TOOL["description"],
                "strict": True,
            },
        }
    ]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["parallel_tool_calls"] is False
    assert sent["max_completion_tokens"] == 50 and "max_tokens" not in sent  # provider openai
    assert (sent["temperature"], sent["top_p"], sent["user"], sent["reasoning_effort"]) == (0.5, 0.9, "u1", "low")
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
    }
    # unknown fields go on to hosted APIs; Responses-only fields never do
    assert sent["some_vendor_field"] == {"x": 1} and sent["safety_identifier"] == "s1"
    for dropped in ("input", "instructions", "text", "reasoning", "metadata", "include", "truncation", "store"):
        assert dropped not in sent
    out = r.json()
    assert out["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert out["parallel_tool_calls"] is False and out["metadata"] == {"k": "v"} and out["store"] is False
    assert out["text"]["format"]["type"] == "json_schema" and out["reasoning"]["effort"] == "low"
    assert out["max_output_tokens"] == 50 and out["temperature"] == 0.5 and out["instructions"] == "Be brief."


def test_allowed_tools_and_history(http: httpx.Client, relay: Relay) -> None:
    send = {"type": "function", "name": "send_message", "parameters": {"type": "object", "properties": {}}}
    body = {
        "model": "hosted",
        "input": [
            {"role": "user", "content": "What is the weather in Paris?"},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Look it up."}]},
            {"type": "function_call", "call_id": "call_a", "name": "get_weather", "arguments": '{"location":"Paris"}'},
            {"type": "function_call_output", "call_id": "call_a", "output": "sunny"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Sunny."}]},
            {"role": "user", "content": "And now?"},
        ],
        "tools": [WEATHER_TOOL, send],
        "tool_choice": {
            "type": "allowed_tools",
            "mode": "auto",
            "tools": [{"type": "function", "name": "send_message"}],
        },
        "store": False,
    }
    r = _post(http, body)
    assert r.status_code == 200, r.text
    sent = relay.upstream.requests[-1]
    assert [t["function"]["name"] for t in sent["tools"]] == ["send_message"]
    assert "tool_choice" not in sent  # auto: every provider's default
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
            }
        ],
        "reasoning_content": "Look it up.",
    }
    assert sent["messages"][2] == {"role": "tool", "content": "sunny", "tool_call_id": "call_a"}
    assert sent["messages"][3] == {"role": "assistant", "content": "Sunny."}


BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"input": "hi"}, "model", "missing required parameter"),
    ({"model": "hosted"}, "input", "input is empty"),
    ({"model": "nope", "input": "hi"}, "model", "does not exist"),
    ({"model": "hosted", "input": [{"type": "web_search_call", "id": "x"}]}, "input.0.type", "not supported"),
    ({"model": "hosted", "input": [{"type": "item_reference", "id": "x"}]}, "input.0.type", "item_reference"),
    ({"model": "hosted", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input.0.call_id", ""),
    ({"model": "hosted", "input": [{"role": "robot", "content": "x"}]}, "input.0.role", ""),
    (
        {"model": "hosted", "input": [{"type": "function_call_output", "call_id": "c9", "output": "x"}]},
        "input.0.call_id",
        "No tool call found",
    ),
    (
        {
            "model": "hosted",
            "input": [
                {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
                {"role": "user", "content": "next"},
            ],
        },
        "input.0",
        "No tool output found",
    ),
    ({"model": "hosted", "input": "hi", "tools": [{"type": "web_search_preview"}]}, "tools.0.type", "passthrough"),
    ({"model": "hosted", "input": "hi", "tools": [{"type": "function"}]}, "tools.0.name", ""),
    ({"model": "hosted", "input": "hi", "tools": [WEATHER_TOOL, WEATHER_TOOL]}, "tools.1.name", "duplicate"),
    ({"model": "hosted", "input": "hi", "tool_choice": "required"}, "tool_choice", "at least one tool"),
    (
        {"model": "hosted", "input": "hi", "tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "name": "x"}},
        "tool_choice.name",
        "not among",
    ),
    (
        {"model": "hosted", "input": "hi", "tools": [WEATHER_TOOL], "tool_choice": {"type": "file_search"}},
        "tool_choice.type",
        "",
    ),
    ({"model": "hosted", "input": "hi", "max_output_tokens": 0}, "max_output_tokens", ""),
    ({"model": "hosted", "input": "hi", "temperature": 3}, "temperature", ""),
    (
        {"model": "hosted", "input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}},
        "text.format.schema",
        "",
    ),
    ({"model": "hosted", "input": "hi", "background": True}, "background", "background"),
    ({"model": "hosted", "input": "hi", "previous_response_id": "resp_nope"}, "previous_response_id", "not found"),
    # a local text-only family: the client's own item named, in its own words (not the chat form)
    (
        {
            "model": "short",
            "instructions": "Be brief.",
            "input": [
                {"role": "user", "content": "hi"},
                {"role": "user", "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}]},
            ],
        },
        "input.1",
        "input.1 holds an image: this model takes text only",
    ),
    (
        {
            "model": "short",
            "input": [
                {"role": "user", "content": "hi"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "custom_tool_call", "call_id": "c1", "name": "grep", "input": "x"},
                {"type": "custom_tool_call_output", "call_id": "c1", "output": "found"},
            ],
        },
        "input.1",
        "custom tool call 'grep'",
    ),
]


@pytest.mark.parametrize(("body", "param", "words"), BAD, ids=[b[1] + "-" + str(i) for i, b in enumerate(BAD)])
def test_bad_requests_name_their_param(http: httpx.Client, body: dict[str, Any], param: str, words: str) -> None:
    r = _post(http, body)
    assert r.status_code in (400, 404), r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error" and err["param"] == param, err
    assert words in err["message"]


def test_sdk_raises_its_error_classes(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(model="hosted", input="hi", tools=[{"type": "web_search_preview"}])
    assert bad.value.param == "tools.0.type"
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model", input="hi")


def test_not_json_and_unknown_paths_answer_in_the_openai_shape(http: httpx.Client) -> None:
    r = http.post("/v1/responses", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = http.put("/v1/responses")
    assert r.status_code == 405 and r.json()["error"]["type"] == "invalid_request_error"
    r = http.get("/v1/responses/resp_x/nothing")
    assert r.status_code == 404 and "POST /v1/responses" in r.json()["error"]["message"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_cut_off_answer_is_incomplete(http: httpx.Client, stream: bool) -> None:
    body = {"model": "short", "input": "Hello?", "max_output_tokens": 3, "stream": stream, "store": False}
    if not stream:
        out = _post(http, body).json()
    else:
        with http.stream("POST", "/v1/responses", json=body) as r:
            events = list(sse(r.iter_lines()))
        assert events[-1].name == "response.incomplete"
        out = responses_events(events)
    assert out["status"] == "incomplete" and out["incomplete_details"] == {"reason": "max_output_tokens"}
    [message] = out["output"]
    assert message["status"] == "incomplete" and out["output_text"] == "Hello! It"
    assert out["usage"]["output_tokens"] == 3


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_reasoning_becomes_a_reasoning_item(http: httpx.Client, stream: bool) -> None:
    body = {"model": "reasoning", "input": "Hello?", "stream": stream, "store": False}
    if not stream:
        out = _post(http, body).json()
    else:
        with http.stream("POST", "/v1/responses", json=body) as r:
            events = list(sse(r.iter_lines()))
        kinds = [e.name for e in events]
        assert kinds.count("response.reasoning_summary_text.delta") == 2
        out = responses_events(events)
    assert [i["type"] for i in out["output"]] == ["reasoning", "message"]
    assert out["output"][0]["summary"] == [{"type": "summary_text", "text": "Let me think."}]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_passthrough_forwards_unchanged(http: httpx.Client, relay: Relay, stream: bool) -> None:
    body = {
        "model": "passthrough",
        "input": [{"type": "item_reference", "id": "msg_1"}],
        "tools": [{"type": "web_search_preview"}],
        "stream": stream,
    }
    if not stream:
        r = _post(http, body)
        assert r.status_code == 200, r.text
        out = r.json()
    else:
        with http.stream("POST", "/v1/responses", json=body) as r:
            assert r.status_code == 200
            events = list(sse(r.iter_lines()))
        out = json.loads(events[-1].data)["response"]
    assert (
        out["id"] == "resp_upstream"
        and out["output"][0]["content"][0]["text"] == "upstream saw tools ['web_search_preview']"
    )
    sent = relay.upstream.requests[-1]
    assert sent == {**body, "model": "fake", "_door": "responses"}
    assert relay.upstream.headers[-1]["authorization"].startswith("Bearer sk-upstream")


def test_the_access_log_names_the_door(http: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="toolrelay.access"):
        assert _post(http, {"model": "hosted", "input": "hi", "store": False}).status_code == 200
    lines = [r for r in caplog.records if r.name == "toolrelay.access" and getattr(r, "path", "") == "/v1/responses"]
    assert lines and (lines[-1].dialect, lines[-1].model, lines[-1].backend) == ("responses", "hosted", "hosted")  # type: ignore[attr-defined]


def test_passthrough_stream_broken_off_ends_with_an_error_event(http: httpx.Client) -> None:
    body = {"model": "passthrough", "input": "hi", "stream": True, "metadata": {"break_after_first": "1"}}
    with http.stream("POST", "/v1/responses", json=body) as r:
        assert r.status_code == 200
        events = list(sse(r.iter_lines()))
    assert events[0].name == "response.created"
    assert events[-1].name == "error"
    assert json.loads(events[-1].data)["code"] == "bad_gateway"
