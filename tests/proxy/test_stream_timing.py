"""When things go out on a hosted-API stream (README, "Streams"): the opening frame as soon as the
upstream opens its stream, a call's index/id/name as soon as its name arrives, its arguments only
once they are complete."""

from __future__ import annotations

import orjson

from adapters.base import TextDelta, ToolCallArgsDelta, ToolCallStart, ToolSpec
from server.backends.base import Delta
from server.backends.normalize import ChoiceNormalizer
from server.dialects.chat.stream import ChunkEncoder

WEATHER = ToolSpec("get_weather", "", {"type": "object", "properties": {"city": {"type": "string"}}})


def test_role_only_delta_is_the_opening_frame() -> None:
    norm = ChoiceNormalizer({"get_weather": WEATHER}, lambda n: n)
    assert norm.delta({"role": "assistant"}) == [TextDelta("")]
    assert norm.delta({"role": "assistant", "content": "Hi"}) == [TextDelta("Hi")]


def test_call_is_announced_when_its_name_arrives_and_its_arguments_at_the_end() -> None:
    norm = ChoiceNormalizer({"get_weather": WEATHER}, lambda n: n)
    first = norm.delta({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "get_weather"}}]})
    assert [type(e) for e in first] == [ToolCallStart]
    assert isinstance(first[0], ToolCallStart) and first[0].name == "get_weather" and first[0].id == "call_1"
    assert norm.delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]}) == []
    assert norm.delta({"tool_calls": [{"index": 0, "function": {"arguments": 'ris"}'}}]}) == []
    args = [e for e in norm.finish() if isinstance(e, ToolCallArgsDelta)]
    assert orjson.loads("".join(e.fragment for e in args)) == {"city": "Paris"}


def test_encoder_writes_the_opening_frame_once() -> None:
    enc = ChunkEncoder("chatcmpl-1", 0, "m", legacy=False, include_usage=False)
    first = enc.encode(Delta(0, TextDelta("")))
    assert first
    assert orjson.loads(first.removeprefix(b"data: "))["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert enc.encode(Delta(0, TextDelta(""))) == b""  # nothing new to say
