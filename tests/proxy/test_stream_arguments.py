"""``stream_arguments: incremental`` on the hosted path: the fake upstream streams a 4 kB argument in
3-character fragments over real HTTP; the client gets it in many fragments before the call ends,
reassembled by the shared reconstructor (each call whole before the next, arguments a JSON object).
Broken JSON still ends as a valid repaired call; what coercion changes is never sent early."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from adapters.base import Outcome, ToolCallArgsDelta, ToolCallEnd, ToolCallStart, ToolSpec
from server.app import create_app
from server.backends.base import Delta, Finish, StreamItem
from server.backends.normalize import ChoiceNormalizer
from server.config import parse_settings
from server.dialects.chat.stream import ChunkEncoder
from server.pipeline import in_call_order
from tests.fakes.fake_upstream import LONG_CONTENT, FakeUpstream
from tests.reconstruct import rebuild, sse_chunks
from tests.servers import serve_app

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "content": {"type": "string"}},
            "required": ["location"],
        },
    },
}
ONE = [{"role": "user", "content": "What is the weather in Paris?"}]
TWO = [{"role": "user", "content": "What is the weather in Paris and Tokyo?"}]

# client model → (upstream id with the fake's quirks, stream_arguments)
MODELS = {
    "whole": ("fake+long_args", "whole"),
    "inc": ("fake+long_args", "incremental"),
    "inc-broken": ("fake+long_args+broken_json", "incremental"),
    "inc-index0": ("fake+long_args+index0+no_id", "incremental"),
    "inc-repeat": ("fake+long_args+repeat_id", "incremental"),
    "inc-object": ("fake+long_args+args_object", "incremental"),
}


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    fake = FakeUpstream()
    with serve_app(fake.app) as upstream:
        settings = {
            "backends": {"up": {"kind": "upstream", "base_url": f"{upstream}/v1"}},
            "models": {
                name: {"backend": "up", "model": model, "stream_arguments": mode}
                for name, (model, mode) in MODELS.items()
            },
        }
        with serve_app(create_app(parse_settings(settings))) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield client


def stream(http: httpx.Client, model: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = {"model": model, "messages": messages, "tools": [WEATHER], "stream": True}
    with http.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200, r.read()
        return sse_chunks(list(r.iter_lines()))


def fragments(chunks: list[dict[str, Any]], index: int) -> list[str]:
    """The argument fragments call ``index`` got, each from its own chunk, in order."""
    return [
        tc["function"]["arguments"]
        for chunk in chunks
        for choice in chunk["choices"]
        for tc in choice["delta"].get("tool_calls") or ()
        if tc["index"] == index and tc["function"].get("arguments")
    ]


def test_whole_sends_the_arguments_in_one_fragment(http: httpx.Client) -> None:
    chunks = stream(http, "whole", ONE)
    [call] = rebuild(chunks)[0].calls
    assert json.loads(call["arguments"]) == {"location": "Paris", "content": LONG_CONTENT}
    assert len(fragments(chunks, 0)) == 1


@pytest.mark.parametrize("model", ["inc", "inc-repeat", "inc-index0"])
def test_incremental_streams_a_long_argument_in_many_fragments(http: httpx.Client, model: str) -> None:
    chunks = stream(http, model, ONE)
    [call] = rebuild(chunks)[0].calls
    assert json.loads(call["arguments"]) == {"location": "Paris", "content": LONG_CONTENT}
    sent = fragments(chunks, 0)
    assert len(sent) > 100, "fragments go out as the upstream sends them, not once at the end"
    # the finish chunk comes after the last fragment: they were not all held for the end
    last = max(n for n, c in enumerate(chunks) if any(c2.get("delta", {}).get("tool_calls") for c2 in c["choices"]))
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls" and last < len(chunks) - 1
    assert call["arguments"] == json.dumps({"location": "Paris", "content": LONG_CONTENT}, ensure_ascii=False)


@pytest.mark.parametrize("model", ["inc", "inc-repeat", "inc-index0"])
def test_parallel_calls_each_stream_whole_before_the_next(http: httpx.Client, model: str) -> None:
    chunks = stream(http, model, TWO)
    calls = rebuild(chunks)[0].calls  # asserts no fragment of call 0 after call 1 began
    want = [{"location": c, "content": LONG_CONTENT} for c in ("Paris", "Tokyo")]
    assert [json.loads(c["arguments"]) for c in calls] == want
    assert len(fragments(chunks, 0)) > 100 and len(fragments(chunks, 1)) > 100


def test_broken_json_still_ends_as_a_valid_repaired_call(http: httpx.Client) -> None:
    chunks = stream(http, "inc-broken", ONE)  # the upstream never sends the closing brace
    [call] = rebuild(chunks)[0].calls
    assert json.loads(call["arguments"]) == {"location": "Paris", "content": LONG_CONTENT}
    sent = fragments(chunks, 0)
    assert len(sent) > 100 and sent[-1].endswith("}")


def test_arguments_sent_as_an_object_come_whole(http: httpx.Client) -> None:
    chunks = stream(http, "inc-object", ONE)
    [call] = rebuild(chunks)[0].calls
    assert json.loads(call["arguments"]) == {"location": "Paris", "content": LONG_CONTENT}
    assert len(fragments(chunks, 0)) == 1


def test_non_streamed_answers_are_unchanged(http: httpx.Client) -> None:
    r = http.post("/v1/chat/completions", json={"model": "inc", "messages": TWO, "tools": [WEATHER]})
    calls = r.json()["choices"][0]["message"]["tool_calls"]
    assert [json.loads(c["function"]["arguments"])["location"] for c in calls] == ["Paris", "Tokyo"]


# --------------------------------------------------------------------------- the normaliser alone

TOOL = ToolSpec(
    "f",
    parameters={
        "type": "object",
        "properties": {"text": {"type": "string"}, "days": {"type": "integer"}, "ok": {"type": "boolean"}},
    },
)


def normalised(pieces: list[str]) -> tuple[list[str], str, Outcome]:
    """(fragments sent before the choice finished, the arguments a client ends up with, outcome)."""
    norm = ChoiceNormalizer({"f": TOOL}, lambda n: n, incremental=True)
    early: list[str] = []
    events = norm.delta({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}]})
    assert isinstance(events[0], ToolCallStart)
    for piece in pieces:
        for e in norm.delta({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}):
            assert isinstance(e, ToolCallArgsDelta)
            early.append(e.fragment)
    late = norm.finish()
    end = late[-1]
    assert isinstance(end, ToolCallEnd)
    text = "".join(early) + "".join(e.fragment for e in late if isinstance(e, ToolCallArgsDelta))
    assert isinstance(json.loads(text), dict)
    return early, text, end.outcome


def split(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def test_a_value_coercion_rewrites_is_held_until_the_end() -> None:
    early, text, outcome = normalised(split('{"text": "hello there", "days": "2", "ok": true}'))
    assert "".join(early) == '{"text": "hello there"'  # "2" for an integer: coerced, so never sent as is
    assert text == '{"text": "hello there", "days": 2, "ok": true}' and outcome is Outcome.PARSED


def test_compact_upstream_json_goes_out_in_the_layout_whole_mode_sends() -> None:
    early, text, outcome = normalised(split('{"text":"a\\u00e9b","days":3,"ok":false}', 3))
    assert text == '{"text": "aéb", "days": 3, "ok": false}' and "".join(early) == text
    assert outcome is Outcome.PARSED


def test_when_repair_contradicts_what_was_sent_the_sent_text_is_closed() -> None:
    early, text, outcome = normalised(split('{"text": "one", "text": "two"}'))
    assert "".join(early) == '{"text": "one"' and text == '{"text": "one"}' and outcome is Outcome.REPAIRED


def test_arguments_that_never_become_json_stay_whole() -> None:
    norm = ChoiceNormalizer({"f": TOOL}, lambda n: n, incremental=True)
    events = norm.delta({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "not json"}}]})
    assert [type(e) for e in events] == [ToolCallStart]
    late = norm.finish()
    assert [(type(e), getattr(e, "fragment", None)) for e in late][0] == (ToolCallArgsDelta, "not json")
    # nothing was sent: the call comes out as whole mode sends it (a hosted call's invalid text as given)
    assert isinstance(late[-1], ToolCallEnd) and late[-1].outcome is Outcome.INVALID


# --------------------------------------------------------------------------- random upstream streams


def corrupt(text: str, rng: random.Random) -> str:
    """What hosted models do to argument JSON now and then."""
    kind = rng.randint(0, 5)
    if kind == 0:
        return text[: rng.randint(1, len(text))]  # cut off
    if kind == 1:
        return text.replace('"days": 3', '"days": "3"')  # a number as text: coerced
    if kind == 2:
        return text[:-1] + ", }"  # a trailing comma
    if kind == 3:
        return json.dumps(json.loads(text), separators=(",", ":"))  # compact
    return text


async def through_pipeline(deltas: list[dict[str, Any]], incremental: bool) -> list[dict[str, str]]:
    """The normaliser's events as the pipeline orders them, encoded by the real chat encoder and
    reassembled by the shared reconstructor (which asserts the delta rules)."""
    norm = ChoiceNormalizer({"f": TOOL}, lambda n: n, incremental=incremental)

    async def items() -> AsyncIterator[StreamItem]:
        for delta in deltas:
            for event in norm.delta(delta):
                yield Delta(0, event)
        for event in norm.finish():
            yield Delta(0, event)
        yield Finish(0, "tool_calls")

    encoder = ChunkEncoder("chatcmpl-x", 0, "m", legacy=False, include_usage=False)
    frames = b"".join([encoder.encode(item) async for item in in_call_order(items())])
    # json_arguments=False: whole mode keeps a hosted call whose text no repair makes an object as
    # given (outcome invalid); the test below holds incremental mode to valid JSON itself
    [rebuilt] = rebuild(sse_chunks([*frames.decode().split("\n"), "data: [DONE]"]), json_arguments=False).values()
    return rebuilt.calls


@pytest.mark.parametrize("seed", range(8))
def test_random_upstream_streams_agree_with_whole_mode(seed: int) -> None:
    """1-3 calls, any fragment size, cut off / coerced / trailing-comma / compact arguments, calls
    on their own index or all on index 0 without ids: every call comes whole and in order, its
    arguments exactly what whole mode sends, or (rule 2) a JSON object closed where sending stopped."""
    rng = random.Random(seed)
    for _ in range(40):
        index0 = rng.random() < 0.3
        deltas: list[dict[str, Any]] = []
        for n in range(rng.randint(1, 3)):
            args = {"text": "".join(rng.choice('ab é\n"\\') for _ in range(rng.randint(0, 60))), "days": 3}
            text = corrupt(json.dumps(args, ensure_ascii=rng.random() < 0.5), rng)
            head: dict[str, Any] = {"index": 0 if index0 else n, "function": {"name": "f", "arguments": ""}}
            if not index0:
                head["id"] = f"call_{n}"
            deltas.append({"tool_calls": [head]})
            size = rng.randint(1, 12)
            for i in range(0, len(text), size):
                piece = {"index": 0 if index0 else n, "function": {"arguments": text[i : i + size]}}
                deltas.append({"tool_calls": [piece]})
        whole = asyncio.run(through_pipeline(deltas, incremental=False))
        streamed = asyncio.run(through_pipeline(deltas, incremental=True))
        assert [c["name"] for c in streamed] == [c["name"] for c in whole]
        for got, want in zip(streamed, whole, strict=True):
            if got["arguments"] == want["arguments"]:
                continue  # as whole sends it (an invalid text too: nothing of it was sent early)
            # rule 2: what went out early was closed as it stood; whole mode repaired differently
            assert isinstance(json.loads(got["arguments"]), dict), got
