"""A fake hosted OpenAI-compatible API: real HTTP on loopback, reproducing providers' quirks.

It plays a small deterministic agent (the weather → SendMessage flow from the Doubao docs):
asked about the weather it calls the weather tool (two calls when two cities are named and
parallel calls are allowed), given results it calls the send tool when asked to send, otherwise
it answers in text. The *upstream model id* selects quirks, joined with ``+``, e.g.
``fake+args_object+no_id``:

- ``args_object``: arguments as a JSON object instead of a string
- ``no_id``: tool calls without ``id`` and ``type``
- ``repeat_id``: ``id``/``type``/``name`` repeated on every stream chunk
- ``index0``: parallel calls all streamed on ``index`` 0
- ``finish_end_turn`` / ``finish_tool_use``: provider finish reasons
- ``broken_json``: arguments cut off before the closing brace
- ``long_args``: every call's arguments also carry a ``content`` string of ``LONG_CONTENT`` (4 kB,
  streamed in 3-character fragments like all arguments): a file being written
- ``reasoning``: a ``reasoning_content`` before the answer
- ``no_stream_tools``: a streamed request with tools is refused (as some Doubao models do)
- ``mistral``: 9-character call ids, and it rejects ids and ``tool_choice`` values Mistral rejects
- ``moonshot``: rejects tool names that do not start with a lowercase letter
- ``openai_names``: rejects tool names outside ``^[A-Za-z0-9_-]{1,64}$``
- ``no_usage``: never sends usage
- ``echo_key``: a 401 whose message echoes the Authorization header (as some gateways do)

Every request body is recorded; ``GET /_requests`` returns them and ``DELETE /_requests`` clears.
``delay`` (seconds, default 0) is slept between stream chunks, as a model's time per token.
``GET /v1/models`` lists ``fake`` (what a readiness probe may ask). Any spec-valid body gets an
answer: ``custom`` tools and non-function ``tool_choice`` objects are accepted and never called.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import string
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

_ALNUM = string.ascii_letters + string.digits
# 4,096 characters of text with the escapes a file has (newlines, quotes, a tab)
LONG_CONTENT = ('def f(x):\n\treturn "x" * 2  # é\n' * 140)[:4096]


def _err(status: int, message: str, type_: str = "invalid_request_error", code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "param": None, "code": code}}, status)


def _function_names(tools: list[dict[str, Any]]) -> list[str]:
    """The function tools' names (``custom`` tools have no function)."""
    return [str(t["function"]["name"]) for t in tools if isinstance(t.get("function"), dict)]


def _pick(tools: list[dict[str, Any]], word: str) -> str | None:
    return next((name for name in _function_names(tools) if word in name.lower()), None)


def _cities(text: str) -> list[str]:
    known = ["北京", "上海", "Beijing", "Shanghai", "Paris", "Tokyo", "London"]
    return [c for c in known if c in text]


def plan(body: dict[str, Any]) -> tuple[str | None, list[tuple[str, dict[str, Any]]]]:
    """The agent's next move: (text, calls)."""
    tools = body.get("tools") or []
    messages = body["messages"]
    last = messages[-1]
    users = [m for m in messages if m["role"] == "user"]
    question = users[-1]["content"] if users else ""
    question = question if isinstance(question, str) else "".join(p.get("text", "") for p in question)
    choice = body.get("tool_choice")
    weather, send = _pick(tools, "weather"), _pick(tools, "send")
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice["function"]["name"]
        return None, [(name, {"location": (_cities(question) or ["Paris"])[0]})]
    if not tools or choice == "none":
        return f"You said: {question}", []
    if last["role"] == "user" and weather and ("天气" in question or "weather" in question.lower()):
        cities = _cities(question) or ["Paris"]
        if body.get("parallel_tool_calls") is False:
            cities = cities[:1]
        return None, [(weather, {"location": c}) for c in cities]
    if last["role"] == "tool":
        results = [m["content"] for m in messages if m["role"] == "tool"]
        called = {c["function"]["name"] for m in messages for c in m.get("tool_calls") or [] if "function" in c}
        wants_send = "发给" in question or "send" in question.lower()
        if send and wants_send and send not in called:
            to = re.findall(r"(?:发给|send (?:it )?to )\s*(\w+)", question)
            return None, [(send, {"receiver": to[0] if to else "alan", "content": " ".join(map(str, results))})]
        return "Done: " + " ".join(map(str, results)), []
    if (choice == "required" or choice == "any") and _function_names(tools):
        return None, [(_function_names(tools)[0], {"location": "Paris"})]
    return f"You said: {question}", []


def _check_quirk_rules(body: dict[str, Any], quirks: set[str]) -> JSONResponse | None:
    names = _function_names(body.get("tools") or [])
    if "moonshot" in quirks:
        bad = [n for n in names if not re.match(r"^[a-z][A-Za-z0-9_-]{0,63}$", n)]
        if bad:
            return _err(400, f"function name {bad[0]!r} is invalid: must start with a lowercase letter")
    if "openai_names" in quirks or "moonshot" in quirks:
        bad = [n for n in names if not re.match(r"^[A-Za-z0-9_-]{1,64}$", n)]
        if bad:
            return _err(400, f"Invalid 'tools[0].function.name': string does not match pattern: {bad[0]!r}")
    if "mistral" in quirks:
        if body.get("tool_choice") == "required":
            return _err(422, "tool_choice: Input should be 'auto', 'none', 'any' or 'required'... got required")
        for m in body["messages"]:
            ids = [c["id"] for c in m.get("tool_calls") or []]
            if m["role"] == "tool":
                ids.append(m["tool_call_id"])
            for i in ids:
                if not re.match(r"^[A-Za-z0-9]{9}$", i):
                    return _err(400, f"Tool call id was {i} but must be a-z, A-Z, 0-9, with a length of 9.")
    return None


def _call_id(quirks: set[str]) -> str:
    if "mistral" in quirks:
        return "".join(secrets.choice(_ALNUM) for _ in range(9))
    return "call_" + secrets.token_hex(12)


def _arguments(args: dict[str, Any], quirks: set[str]) -> Any:
    if "long_args" in quirks:
        args = {**args, "content": LONG_CONTENT}
    if "args_object" in quirks:
        return args
    text = json.dumps(args, ensure_ascii=False)
    return text[:-1] if "broken_json" in quirks else text


def _finish(calls: bool, quirks: set[str]) -> str:
    if "finish_end_turn" in quirks:
        return "end_turn"
    if calls and "finish_tool_use" in quirks:
        return "tool_use"
    return "tool_calls" if calls else "stop"


def _usage(body: dict[str, Any]) -> dict[str, int]:
    prompt = sum(len(str(m.get("content") or "")) for m in body["messages"]) // 4 + 7
    return {"prompt_tokens": prompt, "completion_tokens": 11, "total_tokens": prompt + 11}


def _completion(body: dict[str, Any], quirks: set[str]) -> dict[str, Any]:
    text, calls = plan(body)
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if "reasoning" in quirks:
        message["reasoning_content"] = "Let me think."
    if calls:
        message["tool_calls"] = []
        for name, args in calls:
            call: dict[str, Any] = {"function": {"name": name, "arguments": _arguments(args, quirks)}}
            if "no_id" not in quirks:
                call = {"id": _call_id(quirks), "type": "function", **call}
            message["tool_calls"].append(call)
    out = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1,
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(bool(calls), quirks)}],
    }
    if "no_usage" not in quirks:
        out["usage"] = _usage(body)
    return out


def _chunks(body: dict[str, Any], quirks: set[str]) -> list[dict[str, Any]]:
    text, calls = plan(body)
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    if "reasoning" in quirks:
        deltas += [{"reasoning_content": "Let me "}, {"reasoning_content": "think."}]
    if text:
        deltas += [{"content": text[i : i + 5]} for i in range(0, len(text), 5)]
    for n, (name, args) in enumerate(calls):
        index = 0 if "index0" in quirks else n
        call_id = _call_id(quirks)
        head: dict[str, Any] = {"index": index, "function": {"name": name, "arguments": ""}}
        if "no_id" not in quirks:
            head = {"id": call_id, "type": "function", **head}
        deltas.append({"tool_calls": [head]})
        raw = _arguments(args, quirks)
        pieces: list[Any] = [raw] if isinstance(raw, dict) else [raw[i : i + 3] for i in range(0, len(raw), 3)]
        for piece in pieces:
            tc: dict[str, Any] = {"index": index, "function": {"arguments": piece}}
            if "repeat_id" in quirks:
                tc = {"id": call_id, "type": "function", "index": index, "function": {"name": name, "arguments": piece}}
            deltas.append({"tool_calls": [tc]})
    chunks = [
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": body["model"],
            "choices": [{"index": 0, "delta": d, "finish_reason": None}],
        }
        for d in deltas
    ]
    chunks.append(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": body["model"],
            "choices": [{"index": 0, "delta": {}, "finish_reason": _finish(bool(calls), quirks)}],
        }
    )
    include = (body.get("stream_options") or {}).get("include_usage")
    if include and "no_usage" not in quirks:
        chunks.append(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": body["model"],
                "choices": [],
                "usage": _usage(body),
            }
        )
    return chunks


class FakeUpstream:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.delay = 0.0
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/responses", self.responses, methods=["POST"]),
                Route("/v1/models", self.models),
                Route("/_requests", self.recorded, methods=["GET", "DELETE"]),
            ]
        )

    async def models(self, _: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "fake"}]})

    async def recorded(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.requests.clear()
            self.headers.clear()
            return Response(status_code=204)
        return JSONResponse(self.requests)

    async def responses(self, request: Request) -> Response:
        """OpenAI's own Responses API, as far as ``responses: passthrough`` needs it: the request is
        recorded (marked ``"_door": "responses"``) and answered with a canned response naming the
        tools it was given, whole or as a short event stream (broken off after its first event
        when ``metadata.break_after_first`` is set)."""
        body = await request.json()
        self.requests.append({**body, "_door": "responses"})
        self.headers.append(dict(request.headers))
        tools = [str(t.get("type")) for t in body.get("tools") or []]
        message = {
            "id": "msg_upstream",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": f"upstream saw tools {tools}", "annotations": []}],
        }
        response = {
            "id": "resp_upstream",
            "object": "response",
            "created_at": 1,
            "status": "completed",
            "model": body.get("model"),
            "output": [message],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": body.get("tools") or [],
        }
        if not body.get("stream"):
            return JSONResponse(response)
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": {**response, "status": "in_progress", "output": []}},
            {"type": "response.output_item.added", "output_index": 0, "item": message},
            {"type": "response.output_item.done", "output_index": 0, "item": message},
            {"type": "response.completed", "response": response},
        ]

        async def frames() -> Any:
            for n, event in enumerate(events):
                yield f"event: {event['type']}\ndata: {json.dumps({**event, 'sequence_number': n})}\n\n".encode()
                if (body.get("metadata") or {}).get("break_after_first"):
                    raise ConnectionAbortedError("the fake breaks the stream off")  # the connection drops

        return StreamingResponse(frames(), media_type="text/event-stream")

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        quirks = set(str(body.get("model", "")).split("+"))
        if "echo_key" in quirks:
            return _err(
                401,
                f"Incorrect API key provided: {request.headers.get('authorization')}",
                "invalid_request_error",
                "invalid_api_key",
            )
        refused = _check_quirk_rules(body, quirks)
        if refused is not None:
            return refused
        if not body.get("stream"):
            return JSONResponse(_completion(body, quirks))
        if "no_stream_tools" in quirks and body.get("tools"):
            return _err(400, "streaming is not supported for function calling with this model")
        chunks = _chunks(body, quirks)

        async def frames() -> Any:
            for chunk in chunks:
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()
                await asyncio.sleep(self.delay)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream")
