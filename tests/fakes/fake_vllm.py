"""A fake vLLM OpenAI server over real HTTP: ``/v1/completions`` streams recorded raw outputs token
by token, as vLLM does with ``skip_special_tokens: false``; also ``/health``, ``/v1/models``, a
``/metrics`` with ``vllm:num_requests_running`` and ``/tokenize`` (the count of the same tokenizer).

It covers the families the CPU test model (SmolLM2) cannot produce. The model name a request sends
picks the output: ``RECORDED[model]``, else ``default``, else a 404. Like vLLM it cuts the output
at the first stop string (not included; finish_reason ``stop``, ``stop_reason`` naming the string)
or after ``max_tokens`` tokens (``length``), and ends with a usage chunk when
``stream_options.include_usage`` is set. A model in ``AFTER_RESULTS`` answers with that text
instead once the prompt's last user turn carries hermes tool results (``<tool_response>``), so
agents can finish a tool round trip. Test
controls: ``requests`` (every body received), ``fail_status`` (answer every completion with that
HTTP error), ``delay`` (seconds between tokens), ``healthy`` (what ``/health`` says).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

# Raw generations as the models write them (special tokens kept), ending with the turn's end token.
RECORDED: dict[str, str] = {
    "hermes": (
        'I will check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n'
        "</tool_call><|im_end|>"
    ),
    "qwen3": (
        "<think>\nThe user wants the weather in Paris; I should call get_weather.\n</think>\n\n"
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n</tool_call><|im_end|>'
    ),
    "llama3_json": '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris", "days": 2}}<|eom_id|>',
    "pythonic": "[get_weather(city='Paris', days=2), now()]<|eot_id|>",
    "mistral": '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}]</s>',
    "deepseek_v3": (
        "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
        '{"city": "Paris", "days": 2}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>'
    ),
    "glm45": (
        "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n"
        "<arg_key>days</arg_key>\n<arg_value>2</arg_value>\n</tool_call><|observation|>"
    ),
    # K2-Thinking: a think block, text, then the call under the id the model counts itself
    "kimi_k2": (
        "<think>The user wants the weather in Paris for two days.</think>I will check."
        "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
        '{"city": "Paris", "days": 2}<|tool_call_end|><|tool_calls_section_end|><|im_end|>'
    ),
    # DeepSeek V3.2 chat mode, laid out as its encoding writes calls (values typed by string="…")
    "deepseek_v32": (
        "\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"get_weather\">\n"
        '<｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>\n'
        '<｜DSML｜parameter name="days" string="false">2</｜DSML｜parameter>\n'
        "</｜DSML｜invoke>\n</｜DSML｜function_calls><｜end▁of▁sentence｜>"
    ),
    # gpt-oss (harmony): reasoning on the analysis channel, then the call; vLLM stops at <|call|>
    "gpt_oss": (
        "<|channel|>analysis<|message|>The user wants the weather in Paris for two days, so I call get_weather."
        "<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
        '{"city":"Paris","days":2}<|call|>'
    ),
    # Qwen3-Coder: prose, then one <function=…> block; values are text typed by the tool's schema
    "qwen3_coder": (
        "I will check the weather.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
        "<parameter=days>\n2\n</parameter>\n</function>\n</tool_call><|im_end|>"
    ),
    # GLM-4.7: the prompt opened <think>, so the output starts inside the reasoning; compact tags
    "glm47": (
        "The user wants the weather in Paris for two days, so I call get_weather.</think>"
        "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value>"
        "<arg_key>days</arg_key><arg_value>2</arg_value></tool_call><|observation|>"
    ),
    # MiniMax-M2: the prompt opened <think>\n too; one <invoke> in a <minimax:tool_call> section
    "minimax_m2": (
        "The user wants the weather in Paris for two days, so I call get_weather.\n</think>\n\n"
        '<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="city">Paris</parameter>\n'
        '<parameter name="days">2</parameter>\n</invoke>\n</minimax:tool_call>[e~['
    ),
    "text": "Hello! It is sunny in Paris today.<|im_end|>",
}

# Parallel hermes calls, as Qwen2.5 writes them: 1, 2 and 3 calls of one tool in one answer
# (the client-compatibility suite, tests/clients), and the answer once the results are back.
WEATHER_CITIES = ("Paris", "Tokyo", "London")


def _weather_calls(n: int) -> str:
    call = '<tool_call>\n{{"name": "get_weather", "arguments": {{"location": "{}"}}}}\n</tool_call>'
    return "\n".join(call.format(city) for city in WEATHER_CITIES[:n]) + "<|im_end|>"


RECORDED.update({f"hermes_weather_{n}": _weather_calls(n) for n in (1, 2, 3)})
AFTER_RESULTS: dict[str, str] = {
    f"hermes_weather_{n}": "Sunny in every city you asked about.<|im_end|>" for n in (1, 2, 3)
}

# Special markers stay whole (one token each, as in the real vocabularies); words keep their space.
_TOKEN = re.compile(r"<\|[^|<>]+\|>|<｜[^｜]+｜>|\[/?[A-Z_]+\]|</?[a-z_]+>|\s?\w+|\s?[^\w\s]|\s+")


def tokens(text: str) -> list[str]:
    out = _TOKEN.findall(text)
    assert "".join(out) == text, "the tokenizer must cover the text"
    return out


class FakeVllm:
    def __init__(self, default: str | None = None, *, served: str = "smol", max_model_len: int = 4096) -> None:
        self.default = default  # the raw output for a model name RECORDED does not know
        self.served = served  # listed in /v1/models beside the RECORDED names
        self.max_model_len = max_model_len
        self.requests: list[dict[str, Any]] = []
        self.fail_status: int | None = None
        self.delay = 0.0
        self.healthy = True
        self.running = 0
        self.app = Starlette(
            routes=[
                Route("/v1/completions", self.completions, methods=["POST"]),
                Route("/v1/models", self.models),
                Route("/health", self.health),
                Route("/metrics", self.metrics),
                Route("/tokenize", self.tokenize, methods=["POST"]),
            ]
        )

    async def health(self, _: Request) -> Response:
        return Response(status_code=200 if self.healthy else 503)

    async def models(self, _: Request) -> Response:
        names = [*sorted(RECORDED), self.served]
        cards = [{"id": n, "object": "model", "max_model_len": self.max_model_len} for n in names]
        return JSONResponse({"object": "list", "data": cards})

    async def metrics(self, _: Request) -> Response:
        return PlainTextResponse(f'vllm:num_requests_running{{model_name="fake"}} {float(self.running)}\n')

    async def tokenize(self, request: Request) -> Response:
        count = len(tokens(str((await request.json()).get("prompt", ""))))
        return JSONResponse({"count": count, "max_model_len": self.max_model_len, "tokens": list(range(count))})

    async def completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        if self.fail_status is not None:
            return JSONResponse(
                {"error": {"message": "fake failure", "type": "InternalServerError", "code": self.fail_status}},
                status_code=self.fail_status,
            )
        name = str(body.get("model"))
        raw = RECORDED.get(name, self.default)
        if name in AFTER_RESULTS and _answers_results(str(body.get("prompt", ""))):
            raw = AFTER_RESULTS[name]
        if raw is None:
            return JSONResponse(
                {"error": {"message": f"The model `{name}` does not exist.", "type": "NotFoundError", "code": 404}},
                status_code=404,
            )
        if body.get("structured_outputs"):
            raw = _after_prefill(str(body.get("prompt", "")), raw)
        return StreamingResponse(self._stream(body, raw), media_type="text/event-stream")

    async def _stream(self, body: dict[str, Any], raw: str) -> AsyncIterator[bytes]:
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else list(stops)
        cut, matched = min(((raw.find(s), s) for s in stops if s in raw), default=(-1, None))
        text = raw if cut < 0 else raw[:cut]
        toks = tokens(text)
        limit = body.get("max_tokens", 16)  # vLLM's completions default
        reason = "stop"
        if isinstance(limit, int) and len(toks) > limit:
            toks, reason, matched = toks[:limit], "length", None
        cid, created = "cmpl-" + secrets.token_hex(8), int(time.time())
        head = {"id": cid, "object": "text_completion", "created": created, "model": body.get("model")}
        self.running += 1
        try:
            for n, tok in enumerate(toks):
                if self.delay:
                    await asyncio.sleep(self.delay)
                last = n == len(toks) - 1
                choice = {"index": 0, "text": tok, "logprobs": None, "finish_reason": reason if last else None}
                choice["stop_reason"] = matched if last else None
                yield _frame({**head, "choices": [choice]})
            if not toks:
                choice = {"index": 0, "text": "", "finish_reason": reason, "stop_reason": matched}
                yield _frame({**head, "choices": [choice]})
            if (body.get("stream_options") or {}).get("include_usage"):
                prompt_tokens = len(tokens(str(body.get("prompt", ""))))
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(toks)}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                yield _frame({**head, "choices": [], "usage": usage})
            yield b"data: [DONE]\n\n"
        finally:
            self.running -= 1


def _answers_results(prompt: str) -> bool:
    """Whether the prompt's last user turn is hermes tool results (the model's turn follows)."""
    _, sep, last_user = prompt.rpartition("<|im_start|>user")
    return bool(sep) and "<tool_response>" in last_user


def _after_prefill(prompt: str, raw: str) -> str:
    """A constrained request's prompt ends with the family's prefill (``<tool_call>\\n`` …), which the
    model continues: serve the recorded output from just after the longest prompt tail it contains."""
    for k in range(min(len(prompt), 200), 3, -1):
        at = raw.find(prompt[-k:])
        if at >= 0:
            return raw[at + k :]
    return raw


def _frame(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"
