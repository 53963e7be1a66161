"""The chat door's fields checked against the official OpenAI spec (``request.schema.json``: the
``CreateChatCompletionRequest`` schema of ``openai/openai-openapi``, its source commit in ``x-source``).

The wire models (``wire.py``) validate what toolrelay reads — messages, tools, choices — in detail
and fast. The other top-level fields pass through to hosted APIs untouched; each present one is
checked here against its own sub-schema, so a spec-invalid value is a 400 naming its param rather
than an upstream's error (or silence from a local model). Validating the whole body with the schema
would cost milliseconds per request; a field at a time costs microseconds, and only when present.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from server.errors import InvalidRequest

SCHEMA_FILE = Path(__file__).with_name("request.schema.json")
# Validated by the wire models as the spec does, or in more detail (names, histories, tool shapes,
# the scalars' types and ranges): checking them again would cost every request for nothing.
_BY_WIRE = frozenset(
    {
        "model", "messages", "tools", "functions", "tool_choice", "function_call", "stream", "temperature",
        "top_p", "n", "presence_penalty", "frequency_penalty", "seed", "parallel_tool_calls", "logprobs",
        "top_logprobs",
    }
)  # fmt: skip


def _properties(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    ref = node.get("$ref")
    if isinstance(ref, str):
        yield from _properties(defs[ref.rsplit("/", 1)[-1]], defs)
    for part in node.get("allOf", ()):
        yield from _properties(part, defs)
    yield from node.get("properties", {}).items()


@functools.cache
def _validators() -> dict[str, Draft202012Validator]:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    defs = schema["$defs"]
    return {
        name: Draft202012Validator({"$defs": defs, **sub})
        for name, sub in _properties(schema, defs)
        if name not in _BY_WIRE
    }


def check_fields(body: Mapping[str, Any]) -> None:
    """A 400 naming the first present field whose value the spec does not allow."""
    validators = _validators()
    for name, value in body.items():
        validator = validators.get(name)
        if validator is None:
            continue
        error = next(iter(validator.iter_errors(value)), None)
        if error is not None:
            param = ".".join([name, *(str(p) for p in error.absolute_path)])
            raise InvalidRequest(f"invalid value for '{param}': {error.message}", param=param, code="invalid_value")
