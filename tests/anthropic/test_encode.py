"""Items → the Anthropic message body and event stream: block order, ids, inputs, stop reasons, errors."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.base import (
    CallRejected,
    Outcome,
    ParsedCall,
    ParsedMessage,
    ReasoningDelta,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallEnd,
    ToolCallStart,
)
from server.backends.base import Choice, Completion, Delta, Finish, StreamItem, Usage, collect, replay
from server.backends.normalize import client_stop
from server.dialects.anthropic import error_body, error_type
from server.dialects.anthropic.body import input_json, message_body, stop_reason, tool_use_id
from server.dialects.anthropic.stream import EventEncoder
from server.errors import (
    AuthenticationFailed,
    BadGateway,
    GatewayTimeout,
    InvalidRequest,
    ModelNotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
)
from tests.anthropic.events import message_from_events, sse


def run(items: list[StreamItem]) -> tuple[bytes, dict[str, Any]]:
    enc = EventEncoder("msg_1", "m", error_body)
    raw = enc.open() + b"".join(enc.encode(i) for i in items) + asyncio.run(enc.close())
    return raw, message_from_events(list(sse(raw.decode().split("\n"))))


def call(index: int, name: str, args: str, *fragments: str) -> list[StreamItem]:
    parts = fragments or (args,)
    return [
        Delta(0, ToolCallStart(index, f"call_{index}", name)),
        *(Delta(0, ToolCallArgsDelta(index, p)) for p in parts),
        Delta(0, ToolCallEnd(index)),
    ]


def test_blocks_in_order_with_usage() -> None:
    items: list[StreamItem] = [
        Delta(0, TextDelta("")),  # the opening frame: nothing for the wire
        Delta(0, ReasoningDelta("Let me ")),
        Delta(0, ReasoningDelta("think.")),
        Delta(0, TextDelta("Checking")),
        Delta(0, TextDelta(" now.")),
        *call(0, "get_weather", "", '{"city": ', '"Paris"}'),
        *call(1, "now", "{}"),
        Finish(0, "tool_calls"),
        Usage(12, 34),
    ]
    raw, msg = run(items)
    assert raw.startswith(b"event: message_start\ndata: ") and b"event: ping\n" in raw
    assert raw.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert msg["content"] == [
        {"type": "thinking", "thinking": "Let me think.", "signature": ""},
        {"type": "text", "text": "Checking now."},
        {"type": "tool_use", "id": "toolu_call_0", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_call_1", "name": "now", "input": {}},
    ]
    assert (msg["stop_reason"], msg["stop_sequence"]) == ("tool_use", None)
    assert msg["usage"] == {"input_tokens": 12, "output_tokens": 34}
    # a call's arguments go out once it is whole, as one delta
    assert raw.count(b"input_json_delta") == 2


def test_text_during_an_open_call_waits_for_it() -> None:
    items: list[StreamItem] = [
        Delta(0, ToolCallStart(0, "c", "f")),  # a hosted call is announced at its name …
        Delta(0, TextDelta("late text")),  # … text that comes meanwhile follows the call
        Delta(0, ToolCallArgsDelta(0, '{"a": 1}')),
        Delta(0, ToolCallEnd(0)),
        Finish(0, "tool_calls"),
    ]
    _, msg = run(items)
    assert [b["type"] for b in msg["content"]] == ["tool_use", "text"]
    assert msg["content"][0]["input"] == {"a": 1} and msg["content"][1]["text"] == "late text"


def test_unfinished_call_is_closed_at_the_finish() -> None:
    items: list[StreamItem] = [
        Delta(0, ToolCallStart(0, "c", "f")),
        Delta(0, ToolCallArgsDelta(0, '{"a": ')),
        Delta(0, TextDelta("x")),
        Finish(0, "length"),
    ]
    _, msg = run(items)
    assert msg["content"][0]["input"] == {}  # cut-off arguments are no object
    assert msg["content"][1] == {"type": "text", "text": "x"}
    assert msg["stop_reason"] == "max_tokens"


def test_stop_reasons() -> None:
    assert run([Delta(0, TextDelta("a")), Finish(0, "stop")])[1]["stop_reason"] == "end_turn"
    _, msg = run([Delta(0, TextDelta("a")), Finish(0, "stop", "END")])
    assert (msg["stop_reason"], msg["stop_sequence"]) == ("stop_sequence", "END")
    assert run([Finish(0, "content_filter")])[1]["stop_reason"] == "refusal"
    assert run([Finish(0, "stop")])[1]["content"] == []
    assert (stop_reason("stop", None), stop_reason("length", "x"), stop_reason("other", None)) == (
        "end_turn",
        "max_tokens",
        "end_turn",
    )


def test_rejected_calls_and_other_choices_leave_no_trace() -> None:
    items: list[StreamItem] = [
        Delta(0, TextDelta("<tool_call>{bad}</tool_call>")),
        Delta(0, CallRejected("f", Outcome.INVALID)),
        Delta(1, TextDelta("another choice")),
        Finish(1, "stop"),
        Finish(0, "stop"),
    ]
    _, msg = run(items)
    assert msg["content"] == [{"type": "text", "text": "<tool_call>{bad}</tool_call>"}]


def test_ids_and_inputs() -> None:
    assert tool_use_id("call_abc") == "toolu_call_abc"
    assert tool_use_id("functions.get_weather:0") == "toolu_functions_get_weather_0"
    assert tool_use_id("toolu_01A") == "toolu_01A"
    assert input_json('{"a": [1]}') == '{"a": [1]}'
    assert input_json("") == input_json("[1, 2]") == input_json('{"a": ') == input_json('"text"') == "{}"


def test_body_matches_the_stream() -> None:
    message = ParsedMessage(
        content="Checking.",
        reasoning="Hmm.",
        tool_calls=[
            ParsedCall("call_1", "get_weather", '{"city": "Paris"}', Outcome.PARSED),
            ParsedCall("call_2", "broken", "not json", Outcome.INVALID),
        ],
    )
    completion = Completion([Choice(message, "tool_calls")], Usage(5, 6))
    body = message_body(completion, "msg_x", "claude-x")
    assert body == {
        "id": "msg_x",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "Hmm.", "signature": ""},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_call_2", "name": "broken", "input": {}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 6},
    }
    _, streamed = run(list(replay(completion)))
    assert {**streamed, "id": "msg_x", "model": "claude-x"} == body
    stopped = message_body(Completion([Choice(ParsedMessage(content="a"), "stop", "END")]), "msg_y", "m")
    assert (stopped["stop_reason"], stopped["stop_sequence"], stopped["usage"]) == (
        "stop_sequence",
        "END",
        {"input_tokens": 0, "output_tokens": 0},
    )


def test_stop_sequence_survives_collect_and_replay() -> None:
    async def items():  # type: ignore[no-untyped-def]
        yield Delta(0, TextDelta("a"))
        yield Finish(0, "stop", "END")

    completion = asyncio.run(collect(items()))
    assert completion.choices[0].stop_sequence == "END"
    assert list(replay(completion))[-1] == Finish(0, "stop", "END")


def test_errors_in_anthropic_shape() -> None:
    expected = {
        InvalidRequest("x"): (400, "invalid_request_error"),
        PayloadTooLarge("x"): (413, "invalid_request_error"),
        AuthenticationFailed("x"): (401, "authentication_error"),
        PermissionDenied("x"): (403, "permission_error"),
        ModelNotFound("x"): (404, "not_found_error"),
        RateLimited("x"): (429, "rate_limit_error"),
        BadGateway("x"): (502, "api_error"),
        ServiceUnavailable("x"): (503, "overloaded_error"),
        GatewayTimeout("x"): (504, "timeout_error"),
        UpstreamError(529, "busy"): (529, "overloaded_error"),
        UpstreamError(500, "boom"): (500, "api_error"),
        UpstreamError(422, "bad"): (422, "invalid_request_error"),
    }
    for err, (status, kind) in expected.items():
        assert err.status == status and error_type(err.status) == kind
        assert error_body(err) == {"type": "error", "error": {"type": kind, "message": err.message}}
    enc = EventEncoder("msg_1", "m", error_body)
    frame = enc.error(BadGateway("backend broke the stream"))
    assert frame == (
        b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"backend broke the stream"}}\n\n'
    )


def test_only_the_clients_own_stop_sequences_count() -> None:
    assert client_stop("END", ("END", "STOP")) == "END"
    assert client_stop("<|im_end|>", ("END",)) is None  # a family's end-of-turn string is no stop_sequence
    assert client_stop(None, ("END",)) is None and client_stop(151645, ("END",)) is None  # eos token ids
