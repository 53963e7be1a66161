"""Hypothesis against everything that reads an upstream's answer: the SSE reader, the chunk
decoder, the stream normalizer and the JSON completion reader, through ``UpstreamBackend`` itself.

Whatever bytes an upstream sends, the only exception that leaves the backend is a ``ProxyError``
(rendered as a typed OpenAI error); a bug in a reader would surface as anything else.
The seam is ``httpx.MockTransport``: the backend's own HTTP code runs, only the socket is replaced.

The family parsers (``adapters.REGISTRY``) have their own arbitrary-text fuzz test with random
splits: ``tests/adapters/test_conformance.py::test_fuzz_never_raises_and_stream_matches``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.backends.base import Completion, StreamItem
from server.backends.sse import sse_events
from server.backends.upstream import UpstreamBackend
from server.config import Limits, parse_settings
from server.dialects.chat.decode import decode
from server.errors import ProxyError
from server.routing import Router

SETTINGS = parse_settings(
    {
        "backends": {"up": {"kind": "upstream", "provider": "generic", "base_url": "http://upstream.test/v1"}},
        "models": {"m": {"backend": "up"}},
    },
    env={},
)
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}},
]
REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": TOOLS}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
names = st.sampled_from(["get_weather", "unknown", "", "get_weather\x00"])
arguments = st.one_of(st.text(max_size=20), st.just('{"location": "Paris"}'), st.just('{"loc'), json_values)
tool_call = st.fixed_dictionaries(
    {},
    optional={
        "index": st.one_of(st.integers(-1, 3), json_values),
        "id": st.one_of(st.text(max_size=8), json_values),
        "type": st.sampled_from(["function", "other"]),
        "function": st.one_of(
            st.fixed_dictionaries({}, optional={"name": st.one_of(names, json_values), "arguments": arguments}),
            json_values,
        ),
    },
)
delta = st.fixed_dictionaries(
    {},
    optional={
        "role": st.one_of(st.just("assistant"), json_values),
        "content": st.one_of(st.text(max_size=20), json_values),
        "reasoning_content": st.one_of(st.text(max_size=10), json_values),
        "tool_calls": st.one_of(st.lists(tool_call, max_size=3), json_values),
    },
)
choice = st.fixed_dictionaries(
    {},
    optional={
        "index": st.one_of(st.integers(0, 2), json_values),
        "delta": st.one_of(delta, json_values),
        "message": st.one_of(delta, json_values),
        "finish_reason": st.one_of(st.sampled_from(["stop", "tool_calls", "length", "end_turn", None]), json_values),
    },
)
chunk = st.one_of(
    st.fixed_dictionaries(
        {"choices": st.one_of(st.lists(choice, max_size=2), json_values)},
        optional={"usage": json_values, "error": json_values},
    ),
    json_values,
)


def sse_body(chunks: list[Any], junk: list[str], done: bool) -> bytes:
    frames = [f"data: {json.dumps(c)}\n\n" for c in chunks] + [f"{j}\n\n" for j in junk]
    return ("".join(frames) + ("data: [DONE]\n\n" if done else "")).encode()


class Body(httpx.AsyncByteStream):
    """A response body that arrives in pieces of 7 bytes, as from a socket."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.data), 7):
            yield self.data[i : i + 7]


def backend_answering(body: bytes, content_type: str) -> tuple[UpstreamBackend, httpx.AsyncClient]:
    transport = httpx.MockTransport(
        lambda _: httpx.Response(200, stream=Body(body), headers={"content-type": content_type})
    )
    client = httpx.AsyncClient(transport=transport)
    return UpstreamBackend("up", SETTINGS.backends["up"], client), client  # type: ignore[arg-type]


async def run(body: bytes, content_type: str, stream: bool) -> list[StreamItem] | Completion:
    backend, client = backend_answering(body, content_type)
    job = decode(dict(REQUEST), Limits())
    target = Router(SETTINGS).route("m")[0]
    try:
        if stream:
            return [item async for item in backend.stream(job, target)]
        return await backend.complete(job, target)
    finally:
        await client.aclose()


def only_proxy_errors(body: bytes, content_type: str, stream: bool) -> None:
    try:
        asyncio.run(run(body, content_type, stream))
    except ProxyError:
        pass


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(chunks=st.lists(chunk, max_size=5), junk=st.lists(st.text(max_size=15), max_size=2), done=st.booleans())
def test_stream_reader_raises_only_proxy_errors(chunks: list[Any], junk: list[str], done: bool) -> None:
    # The first stream chunk would carry a tools request; streaming is on for the generic provider.
    only_proxy_errors(sse_body(chunks, junk, done), "text/event-stream", stream=True)


@FUZZ
@given(answer=st.one_of(chunk, st.fixed_dictionaries({"choices": st.lists(choice, max_size=2)})))
def test_completion_reader_raises_only_proxy_errors(answer: Any) -> None:
    only_proxy_errors(json.dumps(answer).encode(), "application/json", stream=False)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_proxy_errors(raw: bytes) -> None:
    only_proxy_errors(raw, "text/event-stream", stream=True)
    only_proxy_errors(raw, "application/json", stream=False)


async def _payloads(parts: list[bytes]) -> list[bytes]:
    async def chunks() -> Any:
        for p in parts:
            yield p

    return [p async for p in sse_events(chunks())]


@FUZZ
@given(
    text=st.text(alphabet=st.sampled_from(list("data: {}[]DONE\r\n x")), max_size=80), cuts=st.lists(st.integers(0, 80))
)
def test_sse_reader_is_split_invariant(text: str, cuts: list[int]) -> None:
    raw = text.encode()
    points = sorted({min(c, len(raw)) for c in cuts})
    parts = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert asyncio.run(_payloads(parts)) == asyncio.run(_payloads([raw]))
