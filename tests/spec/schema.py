"""The vendored ``CreateChatCompletionRequest`` schema (data/, see vendor_schema.py): a validator, the
top-level properties, and Hypothesis strategies that draw values from a property's own schema.

The strategies cover the keywords this schema uses (``$ref``, ``allOf``/``anyOf``/``oneOf``, ``enum``,
``type`` lists, bounds, ``minItems``/``maxItems``, ``maxLength``, ``properties``/``required``/
``additionalProperties``); every drawn value is checked against the schema itself, so a strategy
that is looser than the schema only costs a filtered example, never an invalid request.
(hypothesis-jsonschema would do this, but its 0.23 release fails on objects with current Hypothesis.)
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import strategies as st

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "server" / "dialects" / "chat" / "request.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
DEFS: dict[str, Any] = SCHEMA["$defs"]
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

_URIS = ["https://example.com/cat.png", "data:image/png;base64,iVBORw0KGgo="]
_CHARS = st.characters(exclude_categories=["Cs"])  # no lone surrogates: they are not JSON text
_TEXT = st.text(_CHARS, max_size=12)


def spec_errors(body: Any) -> list[str]:
    """What the spec says is wrong with a request body (empty: valid)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}" for e in VALIDATOR.iter_errors(body)]


def is_valid(schema: dict[str, Any], value: Any) -> bool:
    return jsonschema.Draft202012Validator({"$defs": DEFS, **schema}).is_valid(value)


@cache
def top_level() -> dict[str, dict[str, Any]]:
    """Each top-level request property → its schema (``allOf`` of every branch that declares it)."""
    found: dict[str, list[Any]] = {}

    def walk(node: dict[str, Any]) -> None:
        if "$ref" in node:
            walk(DEFS[node["$ref"].rsplit("/", 1)[-1]])
            return
        for branch in node.get("allOf", []):
            walk(branch)
        for name, sub in node.get("properties", {}).items():
            found.setdefault(name, []).append(sub)

    walk(DEFS["CreateChatCompletionRequest"])
    return {name: subs[0] if len(subs) == 1 else {"allOf": subs} for name, subs in found.items()}


def values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid against ``schema`` (resolved in the vendored document)."""
    return _values(json.dumps(schema, sort_keys=True)).filter(lambda v: is_valid(schema, v))


@cache
def _values(key: str) -> st.SearchStrategy[Any]:
    return _draw(json.loads(key))


def _draw(node: dict[str, Any]) -> st.SearchStrategy[Any]:  # noqa: C901 - one branch per keyword
    if "$ref" in node:
        return _draw(DEFS[node["$ref"].rsplit("/", 1)[-1]])
    if "allOf" in node:
        return st.one_of([_draw(b) for b in node["allOf"]])  # filtered against all of them by values()
    for key in ("anyOf", "oneOf"):
        if key in node:
            return st.one_of([_draw(b) for b in node[key]])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if isinstance(kind, list):
        return st.one_of([_draw({**node, "type": k}) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(node.get("minimum"), node.get("maximum"))
    if kind == "number":
        lo, hi = node.get("minimum"), node.get("maximum")
        return st.integers(lo, hi) | st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    if kind == "string":
        if node.get("format") == "uri":
            return st.sampled_from(_URIS)
        return st.text(_CHARS, max_size=node.get("maxLength", 12))
    if kind == "array":
        lo = node.get("minItems", 0)
        return st.lists(_draw(node.get("items", {})), min_size=lo, max_size=node.get("maxItems", lo + 2))
    if kind == "object" or "properties" in node:
        return _object(node)
    return st.one_of(st.none(), st.booleans(), st.integers(-5, 5), _TEXT)


def _object(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    props: dict[str, Any] = node.get("properties", {})
    required = set(node.get("required", []))
    extra = node.get("additionalProperties")
    if not props and isinstance(extra, dict):  # a map, e.g. metadata or logit_bias
        return st.dictionaries(_TEXT, _draw(extra), max_size=3)
    return st.fixed_dictionaries(
        {k: _draw(v) for k, v in props.items() if k in required},
        optional={k: _draw(v) for k, v in props.items() if k not in required},
    )
