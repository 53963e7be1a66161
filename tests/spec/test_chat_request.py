"""``POST /v1/chat/completions`` against the official OpenAI schema (vendored in data/): every body the
spec accepts, toolrelay accepts (answered by the hosted fake, never a 400); every body it rejects
gets a 400 whose ``error.param`` names the offending parameter.

Each hand-written body is first checked against the vendored schema, so a case can only claim what
the spec says. Generated bodies draw each top-level parameter from its own schema (schema.py)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.spec.conftest import MODEL
from tests.spec.schema import DEFS, spec_errors, top_level, values

ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
BASE: dict[str, Any] = {"model": MODEL, "messages": ASK}
DROP = object()  # a patch value that removes the key

WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
TIME = {"type": "function", "function": {"name": "get_time"}}
SQL = {
    "type": "custom",
    "custom": {
        "name": "run_sql",
        "description": "Run one SQL query",
        "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": "start: /SELECT .+/"}},
    },
}
FREEFORM = {"type": "custom", "custom": {"name": "shell", "format": {"type": "text"}}}
DIGITS = {
    "type": "custom",
    "custom": {"name": "pin", "format": {"type": "grammar", "grammar": {"syntax": "regex", "definition": r"\d{4}"}}},
}
FUNCTION_CALL_HISTORY = [
    *ASK,
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
]
CUSTOM_CALL_HISTORY = [
    {"role": "user", "content": "How many users are there?"},
    {
        "role": "assistant",
        "tool_calls": [{"id": "call_c", "type": "custom", "custom": {"name": "run_sql", "input": "SELECT 1"}}],
    },
    {"role": "tool", "tool_call_id": "call_c", "content": "42"},
]


def body_with(patch: dict[str, Any]) -> dict[str, Any]:
    body = dict(BASE)
    for key, value in patch.items():
        if value is DROP:
            body.pop(key, None)
        else:
            body[key] = value
    return body


VALID: dict[str, dict[str, Any]] = {
    # tools and every tool_choice form
    "tool_choice-none": {"tools": [WEATHER], "tool_choice": "none"},
    "tool_choice-auto": {"tools": [WEATHER], "tool_choice": "auto"},
    "tool_choice-required": {"tools": [WEATHER], "tool_choice": "required"},
    "tool_choice-named": {
        "tools": [WEATHER, TIME],
        "tool_choice": {"type": "function", "function": {"name": "get_time"}},
    },
    "tool_choice-allowed_tools-auto": {
        "tools": [WEATHER, TIME],
        "tool_choice": {
            "type": "allowed_tools",
            "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "get_weather"}}]},
        },
    },
    "tool_choice-allowed_tools-required": {
        "tools": [WEATHER, TIME, SQL],
        "tool_choice": {
            "type": "allowed_tools",
            "allowed_tools": {
                "mode": "required",
                "tools": [
                    {"type": "function", "function": {"name": "get_time"}},
                    {"type": "custom", "custom": {"name": "run_sql"}},
                ],
            },
        },
    },
    "tool_choice-custom": {"tools": [WEATHER, SQL], "tool_choice": {"type": "custom", "custom": {"name": "run_sql"}}},
    "tools-custom-grammar-lark": {"tools": [SQL]},
    "tools-custom-grammar-regex": {"tools": [DIGITS]},
    "tools-custom-text": {"tools": [FREEFORM, WEATHER]},
    "tools-custom-no-format": {"tools": [{"type": "custom", "custom": {"name": "note"}}]},
    "tools-function-no-parameters": {"tools": [TIME]},
    "tools-function-strict-null": {
        "tools": [{"type": "function", "function": {**WEATHER["function"], "strict": None}}]
    },
    "tools-empty-list": {"tools": []},
    "parallel_tool_calls-false": {"tools": [WEATHER], "parallel_tool_calls": False},
    "history-function-call": {"messages": FUNCTION_CALL_HISTORY, "tools": [WEATHER]},
    "history-custom-call": {"messages": CUSTOM_CALL_HISTORY, "tools": [SQL]},
    "legacy-functions-named": {"functions": [WEATHER["function"]], "function_call": {"name": "get_weather"}},
    "legacy-functions-auto": {"functions": [WEATHER["function"]], "function_call": "auto"},
    "legacy-functions-none": {"functions": [WEATHER["function"]], "function_call": "none"},
    "legacy-function-message": {
        "functions": [WEATHER["function"]],
        "messages": [
            *ASK,
            {"role": "assistant", "content": None, "function_call": {"name": "get_weather", "arguments": "{}"}},
            {"role": "function", "name": "get_weather", "content": "sunny"},
        ],
    },
    # counts and budgets at the spec's bounds
    "n-1": {"n": 1},
    "n-16": {"n": 16},
    "n-17": {"n": 17},
    "n-128": {"n": 128},
    "n-null": {"n": None},
    "max_completion_tokens-0": {"max_completion_tokens": 0},
    "max_completion_tokens-1": {"max_completion_tokens": 1},
    "max_tokens-1": {"max_tokens": 1},
    "temperature-0": {"temperature": 0},
    "temperature-2": {"temperature": 2},
    "temperature-null": {"temperature": None},
    "top_p-0": {"top_p": 0},
    "top_p-1": {"top_p": 1},
    "penalties-min": {"presence_penalty": -2, "frequency_penalty": -2},
    "penalties-max": {"presence_penalty": 2, "frequency_penalty": 2.0},
    "logprobs-top_logprobs-0": {"logprobs": True, "top_logprobs": 0},
    "logprobs-top_logprobs-20": {"logprobs": True, "top_logprobs": 20},
    "logit_bias": {"logit_bias": {"50256": -100, "15339": 100}},
    "seed-int64": {"seed": 2**63 - 1},
    "seed-negative": {"seed": -(2**63)},
    "stop-string": {"stop": "\n\n"},
    "stop-4": {"stop": ["a", "b", "c", "d"]},
    "stop-null": {"stop": None},
    # response formats
    "response_format-text": {"response_format": {"type": "text"}},
    "response_format-json_object": {"response_format": {"type": "json_object"}},
    "response_format-json_schema": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "weather",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"t": {"type": "number"}},
                    "required": ["t"],
                    "additionalProperties": False,
                },
            },
        }
    },
    "response_format-json_schema-name-only": {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
    # content parts
    "content-text-parts": {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
    "content-image-url": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
                ],
            }
        ]
    },
    "content-image-data-url": {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}],
            }
        ]
    },
    "content-input-audio": {
        "messages": [
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}
        ]
    },
    "content-file": {
        "messages": [
            {"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc", "filename": "a.pdf"}}]}
        ]
    },
    "content-cache-breakpoint": {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi", "prompt_cache_breakpoint": {"mode": "explicit"}}],
            }
        ]
    },
    "system-and-developer-parts": {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}], "name": "ops"},
            {"role": "user", "content": "hi", "name": "alice"},
        ]
    },
    "assistant-parts-and-refusal": {
        "messages": [
            *ASK,
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "I cannot."}, {"type": "refusal", "refusal": "No."}],
            },
            {"role": "assistant", "content": None, "refusal": "No."},
            {"role": "user", "content": "Why not?"},
        ]
    },
    "tool-result-parts": {
        "messages": [
            *FUNCTION_CALL_HISTORY[:2],
            {"role": "tool", "tool_call_id": "call_a", "content": [{"type": "text", "text": "sunny"}]},
        ],
        "tools": [WEATHER],
    },
    "assistant-audio-ref": {
        "messages": [*ASK, {"role": "assistant", "audio": {"id": "audio_1"}}, {"role": "user", "content": "Again?"}]
    },
    # everything else the request may carry
    "stream-usage-obfuscation": {
        "stream": True,
        "stream_options": {"include_usage": True, "include_obfuscation": False},
    },
    "stream_options-null": {"stream": False, "stream_options": None},
    "audio-modalities": {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}},
    "audio-custom-voice": {"modalities": ["audio"], "audio": {"voice": {"id": "voice_1234"}, "format": "pcm16"}},
    "prediction": {"prediction": {"type": "content", "content": "The weather in Paris is"}},
    "prediction-parts": {"prediction": {"type": "content", "content": [{"type": "text", "text": "The weather"}]}},
    "web_search_options": {
        "web_search_options": {
            "search_context_size": "low",
            "user_location": {"type": "approximate", "approximate": {"city": "Paris", "country": "FR"}},
        }
    },
    "metadata-store": {"metadata": {"team": "a"}, "store": True},
    "service_tier": {"service_tier": "flex"},
    "reasoning_effort-none": {"reasoning_effort": "none"},
    "reasoning_effort-xhigh": {"reasoning_effort": "xhigh"},
    "verbosity": {"verbosity": "low"},
    "user-and-safety_identifier": {"user": "u1", "safety_identifier": "s" * 64},
    "prompt_cache": {"prompt_cache_key": "k", "prompt_cache_retention": "24h", "prompt_cache_options": {"ttl": "30m"}},
    "moderation": {"moderation": {"model": "omni-moderation-latest", "policy": {"input": {"mode": "block"}}}},
}


def post(http: httpx.Client, body: Any) -> httpx.Response:
    return http.post("/v1/chat/completions", content=json.dumps(body), headers={"content-type": "application/json"})


def assert_answered(response: httpx.Response, body: dict[str, Any]) -> None:
    sent = json.dumps(body, ensure_ascii=False)[:400]
    assert response.status_code == 200, f"{response.status_code} for a spec-valid body {sent}: {response.text[:500]}"
    if body.get("stream"):
        assert response.text.rstrip().endswith("data: [DONE]"), response.text[-300:]
    else:
        assert response.json()["choices"], response.text[:300]


@pytest.mark.parametrize("patch", list(VALID.values()), ids=list(VALID))
def test_spec_valid_body_is_accepted(http: httpx.Client, patch: dict[str, Any]) -> None:
    body = body_with(patch)
    assert spec_errors(body) == [], "the case itself must be valid per the spec"
    assert_answered(post(http, body), body)


# Drawn from the spec, per top-level parameter, beside a minimal valid body. Not drawn: ``model``
# (the served name), ``messages`` (drawn apart below: a random history may break the call/result
# pairing, which is a 400 by design), tools and their choices (the hand-written cases cover each
# form; a drawn name need not follow the documented name rule); ``top_logprobs`` needs
# ``logprobs: true``; the token budgets (no bounds in the schema) stay within a 32-bit count, as
# no model's context is larger, and ``seed`` within int64 (the schema's bounds are 2**63 rounded).
GENERATED = sorted(set(top_level()) - {"model", "messages", "tools", "tool_choice", "functions", "function_call"})
COMPANIONS: dict[str, dict[str, Any]] = {"top_logprobs": {"logprobs": True}}
NARROWED: dict[str, dict[str, Any]] = {
    "max_completion_tokens": {"type": ["integer", "null"], "minimum": 0, "maximum": 2**31 - 1},
    "max_tokens": {"type": ["integer", "null"], "minimum": 1, "maximum": 2**31 - 1},
    "seed": {"type": ["integer", "null"], "minimum": -(2**63), "maximum": 2**63 - 1},
}
_SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


@pytest.mark.parametrize("name", GENERATED)
def test_generated_parameter_is_accepted(http: httpx.Client, name: str) -> None:
    @_SETTINGS
    @given(values(NARROWED.get(name, top_level()[name])))
    def check(value: Any) -> None:
        body = body_with({**COMPANIONS.get(name, {}), name: value})
        assert spec_errors(body) == []
        assert_answered(post(http, body), body)

    check()


_LEAD = st.lists(st.sampled_from(["ChatCompletionRequestSystemMessage", "ChatCompletionRequestDeveloperMessage"]))


@_SETTINGS
@given(st.data())
def test_generated_messages_are_accepted(http: httpx.Client, data: st.DataObject) -> None:
    """System/developer turns, then a user turn, each drawn from its own schema (every content form)."""
    lead = [data.draw(values({"$ref": f"#/$defs/{ref}"})) for ref in data.draw(_LEAD.map(lambda x: x[:2]))]
    user = data.draw(values(DEFS["ChatCompletionRequestUserMessage"]))
    body = body_with({"messages": [*lead, user]})
    assert spec_errors(body) == []
    assert_answered(post(http, body), body)


# --- invalid bodies: 400, and error.param names the parameter ----------------------------------


def normalized(param: str) -> str:
    """``messages[0].role`` / ``messages.[0].role`` / ``messages.0.role`` → ``messages.0.role``."""
    return ".".join(p for p in param.replace("[", ".").replace("]", ".").split(".") if p)


def names_param(got: str | None, want: str) -> bool:
    """``got`` names ``want``: the same path, a deeper one, or a shorter one that still reaches the
    offending item (``messages.0`` for ``messages.0.role``; the parameter itself where no list)."""
    if not got:
        return False
    path = normalized(got)
    if path == want or path.startswith(want + "."):
        return True
    parts = want.split(".")
    index = next((i for i, p in enumerate(parts) if p.isdigit()), None)
    least = index + 1 if index is not None else 1
    return want.startswith(path + ".") and len(path.split(".")) >= least


INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "model-missing": ({"model": DROP}, "model"),
    "model-number": ({"model": 5}, "model"),
    "messages-missing": ({"messages": DROP}, "messages"),
    "messages-empty": ({"messages": []}, "messages"),
    "messages-string": ({"messages": "hi"}, "messages"),
    "message-role-unknown": ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
    "message-user-no-content": ({"messages": [{"role": "user"}]}, "messages.0.content"),
    "message-content-empty-parts": ({"messages": [{"role": "user", "content": []}]}, "messages.0.content"),
    "message-content-part-unknown": (
        {"messages": [{"role": "user", "content": [{"type": "video", "video": "x"}]}]},
        "messages.0.content.0",
    ),
    "message-tool-no-tool_call_id": (
        {"messages": [*FUNCTION_CALL_HISTORY[:2], {"role": "tool", "content": "sunny"}], "tools": [WEATHER]},
        "messages.2.tool_call_id",
    ),
    "message-tool_call-no-function": (
        {"messages": [*ASK, {"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]}]},
        "messages.1.tool_calls.0",
    ),
    "temperature-high": ({"temperature": 2.5}, "temperature"),
    "temperature-negative": ({"temperature": -0.1}, "temperature"),
    "temperature-string": ({"temperature": "hot"}, "temperature"),
    "top_p-high": ({"top_p": 1.5}, "top_p"),
    "presence_penalty-high": ({"presence_penalty": 3}, "presence_penalty"),
    "frequency_penalty-low": ({"frequency_penalty": -2.5}, "frequency_penalty"),
    "n-0": ({"n": 0}, "n"),
    "n-129": ({"n": 129}, "n"),
    "n-float": ({"n": 1.5}, "n"),
    "top_logprobs-21": ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    "stop-5": ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    "stop-empty-list": ({"stop": []}, "stop"),
    "stop-number": ({"stop": 5}, "stop"),
    "stream-string": ({"stream": "yes"}, "stream"),
    "stream_options-string": ({"stream": True, "stream_options": "usage"}, "stream_options"),
    "stream_options-include_usage-string": (
        {"stream": True, "stream_options": {"include_usage": "yes"}},
        "stream_options.include_usage",
    ),
    "tools-object": ({"tools": {"type": "function"}}, "tools"),
    "tools-type-unknown": ({"tools": [{"type": "banana", "banana": {}}]}, "tools.0.type"),
    "tools-function-no-name": (
        {"tools": [{"type": "function", "function": {"description": "x"}}]},
        "tools.0.function.name",
    ),
    "tools-custom-no-name": ({"tools": [{"type": "custom", "custom": {"description": "x"}}]}, "tools.0.custom.name"),
    "tools-custom-grammar-syntax": (
        {
            "tools": [
                {
                    "type": "custom",
                    "custom": {
                        "name": "x",
                        "format": {"type": "grammar", "grammar": {"syntax": "ebnf", "definition": "a"}},
                    },
                }
            ]
        },
        "tools.0.custom.format",
    ),
    "tool_choice-unknown-string": ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
    "tool_choice-function-missing": ({"tools": [WEATHER], "tool_choice": {"type": "function"}}, "tool_choice"),
    "tool_choice-allowed_tools-mode": (
        {"tools": [WEATHER], "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "maybe", "tools": []}}},
        "tool_choice.allowed_tools.mode",
    ),
    "parallel_tool_calls-string": ({"tools": [WEATHER], "parallel_tool_calls": "yes"}, "parallel_tool_calls"),
    "response_format-type-unknown": ({"response_format": {"type": "xml"}}, "response_format"),
    "response_format-json_schema-no-name": (
        {"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}},
        "response_format.json_schema.name",
    ),
    "max_completion_tokens-string": ({"max_completion_tokens": "many"}, "max_completion_tokens"),
    "max_tokens-float": ({"max_tokens": 1.5}, "max_tokens"),
    "seed-string": ({"seed": "x"}, "seed"),
    "logprobs-string": ({"logprobs": "yes"}, "logprobs"),
    "logit_bias-value-string": ({"logit_bias": {"50256": "ban"}}, "logit_bias"),
    "safety_identifier-65": ({"safety_identifier": "s" * 65}, "safety_identifier"),
    "service_tier-unknown": ({"service_tier": "gold"}, "service_tier"),
    "reasoning_effort-unknown": ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    "verbosity-unknown": ({"verbosity": "loud"}, "verbosity"),
    "modalities-unknown": ({"modalities": ["video"]}, "modalities"),
    "metadata-value-number": ({"metadata": {"k": 1}}, "metadata"),
    "user-number": ({"user": 5}, "user"),
    "audio-no-format": ({"audio": {"voice": "alloy"}}, "audio.format"),
    "functions-empty": ({"functions": []}, "functions"),
    "function_call-unknown": ({"functions": [WEATHER["function"]], "function_call": "sometimes"}, "function_call"),
    "prediction-type-unknown": ({"prediction": {"type": "other", "content": "x"}}, "prediction"),
    "store-string": ({"store": "yes"}, "store"),
    "web_search_options-size": ({"web_search_options": {"search_context_size": "huge"}}, "web_search_options"),
    "prompt_cache_retention-unknown": ({"prompt_cache_retention": "forever"}, "prompt_cache_retention"),
}


def assert_rejected(response: httpx.Response, want: str) -> None:
    assert response.status_code == 400, f"{response.status_code} for a spec-invalid body: {response.text[:300]}"
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert names_param(error.get("param"), want), f"error.param {error.get('param')!r} does not name {want!r}: {error}"


@pytest.mark.parametrize(("patch", "want"), list(INVALID.values()), ids=list(INVALID))
def test_spec_invalid_body_is_rejected_naming_param(http: httpx.Client, patch: dict[str, Any], want: str) -> None:
    body = body_with(patch)
    assert spec_errors(body), "the case itself must be invalid per the spec"
    assert_rejected(post(http, body), want)


_WRONG_TYPES: list[Any] = [{"wrong": "type"}, "wrong-type", 12345, True, [1, 2]]


def _wrong_value(name: str) -> Any:
    """The first value of another JSON type that the spec rejects for ``name``."""
    for value in _WRONG_TYPES:
        if spec_errors(body_with({name: value})):
            return value
    raise AssertionError(f"no wrong-typed value for {name}")


@pytest.mark.parametrize("name", sorted(top_level()))
def test_wrong_type_for_each_parameter_is_rejected(http: httpx.Client, name: str) -> None:
    value = _wrong_value(name)
    response = post(http, body_with({name: value}))
    assert response.status_code == 400, f"{response.status_code} for {name}={value!r}: {response.text[:300]}"
    param = response.json()["error"].get("param") or ""
    assert normalized(param) == name or normalized(param).startswith(name + "."), f"param {param!r} for {name}"
