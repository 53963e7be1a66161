"""A small, strict reader of ``text/event-stream`` bodies as OpenAI-compatible servers send them.

Works on bytes (no per-line decoding), joins multi-line ``data:`` fields, ignores comments and
other fields, and stops at ``data: [DONE]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from server.errors import BadGateway

DONE = b"[DONE]"


async def sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Yield the data payload of each event, up to (not including) ``[DONE]``."""
    buf = b""
    data: list[bytes] = []
    async for chunk in chunks:
        buf += chunk
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            # The usual event, one ``data: `` line and a blank one, is taken whole.
            if not data and buf.startswith(b"data: ", start) and buf[nl + 1 : nl + 2] == b"\n" and buf[nl - 1] != 13:
                payload = buf[start + 6 : nl]
                start = nl + 2
                if payload == DONE:
                    return
                yield payload
                continue
            line = buf[start:nl]
            start = nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if data:
                    payload = b"\n".join(data)
                    data = []
                    if payload == DONE:
                        return
                    yield payload
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
        buf = buf[start:]
    # The body ended without [DONE]: a final event not followed by a blank line still counts.
    if buf.startswith(b"data:"):
        data.append(buf[5:].strip())
    if data:
        payload = b"\n".join(data)
        if payload != DONE:
            yield payload


def decode_chunk(payload: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise BadGateway("the upstream stream sent an event that is not JSON") from None
    if not isinstance(obj, dict):
        raise BadGateway("the upstream stream sent an event that is not a JSON object")
    return obj
