"""``stream_arguments: incremental`` on the vLLM path: a fake vLLM replays a forced call with a 4 kB
argument token by token over real HTTP; the call's arguments reach the client in many fragments
while the model writes them (the constraint types them by the schema, so they cannot end
invalid), reassembled by the shared reconstructor. Unforced calls and families whose arguments are
not JSON as written keep coming whole. Needs no real vLLM."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.config import parse_settings
from tests.fakes.fake_upstream import LONG_CONTENT
from tests.fakes.fake_vllm import FakeVllm
from tests.reconstruct import rebuild, sse_chunks
from tests.servers import serve_app

WRITE = {
    "type": "function",
    "function": {
        "name": "write_file",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    },
}
ARGS = {"path": "f.py", "content": LONG_CONTENT}
ARGS_TEXT = json.dumps(ARGS, ensure_ascii=False)
ASK = [{"role": "user", "content": "Write f.py."}]
NAMED = {"type": "function", "function": {"name": "write_file"}}

# what each family's model writes for the call (the fake serves it from just after the prefill)
RAW = {
    "hermes": f'<tool_call>\n{{"name": "write_file", "arguments": {ARGS_TEXT}}}\n</tool_call><|im_end|>',
    "gpt_oss": f"<|channel|>commentary to=functions.write_file <|constrain|>json<|message|>{ARGS_TEXT}<|call|>",
    "kimi_k2": (
        "<|tool_calls_section_begin|><|tool_call_begin|>functions.write_file:0<|tool_call_argument_begin|>"
        f"{ARGS_TEXT}<|tool_call_end|><|tool_calls_section_end|><|im_end|>"
    ),
    "qwen3_coder": (
        "<tool_call>\n<function=write_file>\n<parameter=path>\nf.py\n</parameter>\n<parameter=content>\n"
        f"{LONG_CONTENT}\n</parameter>\n</function>\n</tool_call><|im_end|>"
    ),
}


@contextlib.contextmanager
def relay(family: str) -> Iterator[httpx.Client]:
    fake = FakeVllm(default=RAW[family], served="writer")
    with serve_app(fake.app) as vllm:
        settings = {
            "backends": {"local": {"kind": "vllm", "urls": [f"{vllm}/v1"]}},
            "models": {
                mode: {"backend": "local", "model": "writer", "family": family, "stream_arguments": mode}
                for mode in ("whole", "incremental")
            },
        }
        with serve_app(create_app(parse_settings(settings))) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield client


def streamed(client: httpx.Client, model: str, tool_choice: Any) -> list[dict[str, Any]]:
    body = {"model": model, "messages": ASK, "tools": [WRITE], "tool_choice": tool_choice, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200, r.read()
        return sse_chunks(list(r.iter_lines()))


def argument_fragments(chunks: list[dict[str, Any]]) -> list[str]:
    return [
        tc["function"]["arguments"]
        for chunk in chunks
        for choice in chunk["choices"]
        for tc in choice["delta"].get("tool_calls") or ()
        if tc["function"].get("arguments")
    ]


@pytest.mark.parametrize("family", ["hermes", "gpt_oss", "kimi_k2"])
def test_a_forced_calls_arguments_stream_as_the_model_writes_them(family: str) -> None:
    with relay(family) as client:
        for choice in (NAMED, "required"):
            chunks = streamed(client, "incremental", choice)
            [call] = rebuild(chunks)[0].calls
            assert call["name"] == "write_file" and json.loads(call["arguments"]) == ARGS
            assert call["arguments"] == ARGS_TEXT  # the text whole mode sends, byte for byte
            assert len(argument_fragments(chunks)) > 100, (family, choice)
            assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
            if family == "kimi_k2":
                assert call["id"] == "functions.write_file:0"
            whole = streamed(client, "whole", choice)
            assert len(argument_fragments(whole)) == 1 and rebuild(whole)[0].calls[0]["arguments"] == ARGS_TEXT
        # a non-streamed request is the same stream collected: the same call
        r = client.post(
            "/v1/chat/completions",
            json={"model": "incremental", "messages": ASK, "tools": [WRITE], "tool_choice": NAMED},
        )
        assert json.loads(r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == ARGS


def test_unforced_calls_and_text_valued_families_stay_whole() -> None:
    with relay("hermes") as client:  # auto: no constraint, so nothing guarantees the arguments
        chunks = streamed(client, "incremental", "auto")
        assert len(argument_fragments(chunks)) == 1
        assert json.loads(rebuild(chunks)[0].calls[0]["arguments"]) == ARGS
    with relay("qwen3_coder") as client:  # values are text, typed once the call is whole
        chunks = streamed(client, "incremental", NAMED)
        assert len(argument_fragments(chunks)) == 1
        assert json.loads(rebuild(chunks)[0].calls[0]["arguments"]) == {"path": "f.py", "content": LONG_CONTENT}


def test_a_forced_call_cut_by_max_tokens_ends_valid() -> None:
    with relay("hermes") as client:
        body = {"model": "incremental", "messages": ASK, "tools": [WRITE], "tool_choice": NAMED, "stream": True}
        with client.stream("POST", "/v1/chat/completions", json={**body, "max_tokens": 300}) as r:
            chunks = sse_chunks(list(r.iter_lines()))
        [call] = rebuild(chunks)[0].calls  # the reconstructor asserts a JSON object
        args = json.loads(call["arguments"])
        assert args["path"] == "f.py" and LONG_CONTENT.startswith(args["content"]) and len(args["content"]) > 100
        assert len(argument_fragments(chunks)) > 50
        assert chunks[-1]["choices"][0]["finish_reason"] == "length"
