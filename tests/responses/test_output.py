"""The Responses stream encoder alone: items in, events out, checked by the same rules as over HTTP
— text that arrives while a call is open, a failure mid-stream, an empty answer; and the
pipeline's call ordering when several calls are announced before any ends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from adapters.base import Outcome, ReasoningDelta, TextDelta, ToolCallArgsDelta, ToolCallEnd, ToolCallStart
from server.backends.base import Delta, Finish, StreamItem, Usage
from server.dialects.base import Answer
from server.dialects.responses.decode import Context
from server.dialects.responses.stream import ResponseEncoder
from server.errors import GatewayTimeout
from server.pipeline import in_call_order
from tests.doors.doors import responses_events, sse


def _encode(items: list[StreamItem], *, fail: bool = False) -> list[str]:
    enc = ResponseEncoder(Context(), Answer("resp_test", 1, "m"))
    out = enc.open() + b"".join(enc.encode(i) for i in items)
    out += enc.error(GatewayTimeout("backend stalled")) if fail else asyncio.run(enc.close())
    return out.decode().split("\n")


def test_text_during_a_call_waits_for_its_end() -> None:
    items: list[StreamItem] = [
        Delta(0, ReasoningDelta("hmm")),
        Delta(0, TextDelta("a")),
        Delta(0, ToolCallStart(0, "call_1", "f")),
        Delta(0, ToolCallArgsDelta(0, '{"x":')),
        Delta(0, TextDelta("b")),  # a parser may pass text while a call is open
        Delta(0, ToolCallArgsDelta(0, " 1}")),
        Delta(0, ToolCallEnd(0, Outcome.PARSED)),
        Finish(0, "tool_calls"),
        Usage(3, 4),
    ]
    final = responses_events(list(sse(_encode(items))))
    assert [i["type"] for i in final["output"]] == ["reasoning", "message", "function_call", "message"]
    assert final["output"][2]["arguments"] == '{"x": 1}' and final["output_text"] == "ab"
    assert final["usage"]["total_tokens"] == 7 and final["status"] == "completed"


def test_failure_after_the_start_is_an_error_event_then_failed() -> None:
    events = list(sse(_encode([Delta(0, TextDelta("par"))], fail=True)))
    names = [e.name for e in events]
    assert names[-2:] == ["error", "response.failed"]
    error = json.loads(events[-2].data)
    assert error["code"] == "upstream_timeout" and error["message"] == "backend stalled"
    failed = json.loads(events[-1].data)["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "upstream_timeout"
    assert failed["output"][0]["status"] == "incomplete"


def test_an_empty_answer_is_one_empty_message() -> None:
    final = responses_events(list(sse(_encode([Delta(0, TextDelta("")), Finish(0, "stop")]))))
    assert [(i["type"], i["content"][0]["text"]) for i in final["output"]] == [("message", "")]


def test_calls_announced_together_come_out_whole_in_order() -> None:
    # a hosted stream names every call first and sends the arguments at the end
    raw: list[StreamItem] = [Delta(0, ToolCallStart(i, f"c{i}", "f")) for i in range(3)]
    for i in range(3):
        raw += [Delta(0, ToolCallArgsDelta(i, "{}")), Delta(0, ToolCallEnd(i, Outcome.PARSED))]
    raw.append(Finish(0, "tool_calls"))

    async def items() -> AsyncIterator[StreamItem]:
        for item in raw:
            yield item

    async def ordered() -> list[StreamItem]:
        return [i async for i in in_call_order(items())]

    out = asyncio.run(ordered())
    events = [i.event for i in out if isinstance(i, Delta)]
    kinds = [(type(e).__name__, e.index) for e in events]  # type: ignore[union-attr]
    assert kinds == [(k, i) for i in range(3) for k in ("ToolCallStart", "ToolCallArgsDelta", "ToolCallEnd")]
