"""Hypothesis against everything that reads an upstream's answer: the SSE reader, the chunk
decoder, the stream normalizer and the JSON completion reader, through ``UpstreamBackend`` itself.

Whatever bytes an upstream sends, the only exception that leaves the backend is a ``ProxyError``
(rendered as a typed OpenAI error); a bug in a reader would surface as anything else.
The seam is a loopback server that answers every request with the example's bytes (chunked, in
pieces of 7 bytes): the backend's own HTTP code runs, over a real socket.

The family parsers (``adapters.REGISTRY``) have their own arbitrary-text fuzz test with random
splits: ``tests/adapters/test_conformance.py::test_fuzz_never_raises_and_stream_matches``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.backends.base import Completion, StreamItem
from server.backends.sse import sse_events
from server.backends.upstream import UpstreamBackend
from server.config import Limits, Settings, parse_settings
from server.dialects.chat.decode import decode
from server.errors import ProxyError
from server.routing import Router
from server.transport import Connections


def settings_for(port: int) -> Settings:
    backend = {"kind": "upstream", "provider": "generic", "base_url": f"http://127.0.0.1:{port}/v1"}
    return parse_settings({"backends": {"up": backend}, "models": {"m": {"backend": "up"}}}, env={})


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


class FakeUpstream:
    """A loopback server answering every request with the current example's bytes, chunked in pieces
    of 7 bytes as from a socket, and the backend in front of it. One event loop, server and connection
    pool serve the whole module, as one pool serves a running toolrelay."""

    def __init__(self) -> None:
        self.body, self.content_type = b"", ""
        self.runner = asyncio.Runner()
        self.server = self.runner.run(asyncio.start_server(self._reply, "127.0.0.1", 0))
        settings = settings_for(self.server.sockets[0].getsockname()[1])
        self.connections = Connections()
        self.backend = UpstreamBackend("up", settings.backends["up"], self.connections)  # type: ignore[arg-type]
        self.target = Router(settings).route("m")[0]

    def only_proxy_errors(self, body: bytes, content_type: str, stream: bool) -> None:
        self.body, self.content_type = body, content_type
        try:
            self.runner.run(self._ask(stream))
        except ProxyError:
            pass

    async def _ask(self, stream: bool) -> list[StreamItem] | Completion:
        job = decode(dict(REQUEST), Limits())
        if stream:
            return [item async for item in self.backend.stream(job, self.target)]
        return await self.backend.complete(job, self.target)

    async def _reply(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            sized = [line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
            await reader.readexactly(int(sized[0].split(b":", 1)[1]) if sized else 0)
            body = self.body
            writer.write(
                f"HTTP/1.1 200 OK\r\ncontent-type: {self.content_type}\r\ntransfer-encoding: chunked\r\n"
                "connection: close\r\n\r\n".encode()
            )
            for i in range(0, len(body), 7):
                piece = body[i : i + 7]
                writer.write(b"%x\r\n%b\r\n" % (len(piece), piece))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the backend gave up on the answer (an error found half-way): nothing to finish
        finally:
            writer.close()

    def close(self) -> None:
        self.runner.run(self.connections.aclose())
        self.server.close()
        self.runner.run(self.server.wait_closed())
        self.runner.close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    try:
        yield fake
    finally:
        fake.close()


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(chunks=st.lists(chunk, max_size=5), junk=st.lists(st.text(max_size=15), max_size=2), done=st.booleans())
def test_stream_reader_raises_only_proxy_errors(
    upstream: FakeUpstream, chunks: list[Any], junk: list[str], done: bool
) -> None:
    # The first stream chunk would carry a tools request; streaming is on for the generic provider.
    upstream.only_proxy_errors(sse_body(chunks, junk, done), "text/event-stream", stream=True)


@FUZZ
@given(answer=st.one_of(chunk, st.fixed_dictionaries({"choices": st.lists(choice, max_size=2)})))
def test_completion_reader_raises_only_proxy_errors(upstream: FakeUpstream, answer: Any) -> None:
    upstream.only_proxy_errors(json.dumps(answer).encode(), "application/json", stream=False)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_proxy_errors(upstream: FakeUpstream, raw: bytes) -> None:
    upstream.only_proxy_errors(raw, "text/event-stream", stream=True)
    upstream.only_proxy_errors(raw, "application/json", stream=False)


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
