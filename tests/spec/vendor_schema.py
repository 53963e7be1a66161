"""Rebuild ``server/dialects/chat/request.schema.json`` from the official OpenAI OpenAPI
document (repository ``openai/openai-openapi``, file ``openapi.json``):

    python -m tests.spec.vendor_schema PATH/TO/openapi.json COMMIT

It keeps ``CreateChatCompletionRequest`` and every schema it references, as one JSON Schema
(draft 2020-12) with the references under ``$defs``; OpenAPI's ``nullable: true`` becomes an
explicit ``null`` alternative; descriptions, titles, examples and ``x-`` annotations are dropped
(they do not constrain a value). The source commit is recorded in ``x-source``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT_SCHEMA = "CreateChatCompletionRequest"
# the chat door validates pass-through fields against it (server/dialects/chat/spec.py)
OUT = Path(__file__).resolve().parents[2] / "server" / "dialects" / "chat" / "request.schema.json"
_DROP = {"description", "title", "example", "examples", "discriminator"}


def _refs(node: Any, schemas: dict[str, Any], seen: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                _refs(schemas[name], schemas, seen)
        for value in node.values():
            _refs(value, schemas, seen)
    elif isinstance(node, list):
        for value in node:
            _refs(value, schemas, seen)


def _convert(node: Any, *, in_properties: bool = False) -> Any:
    if isinstance(node, list):
        return [_convert(v) for v in node]
    if not isinstance(node, dict):
        return node
    if in_properties:  # keys are property names, not keywords
        return {k: _convert(v) for k, v in node.items()}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key.startswith("x-") or key == "nullable":
            continue
        if key == "$ref":
            out[key] = "#/$defs/" + value.rsplit("/", 1)[-1]
        else:
            out[key] = _convert(value, in_properties=key == "properties")
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def build(openapi: dict[str, Any], commit: str) -> dict[str, Any]:
    schemas = openapi["components"]["schemas"]
    names = {ROOT_SCHEMA}
    _refs(schemas[ROOT_SCHEMA], schemas, names)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "x-source": {
            "repository": "openai/openai-openapi",
            "commit": commit,
            "file": "openapi.json",
            "schema": f"#/components/schemas/{ROOT_SCHEMA}",
            "info.version": openapi["info"]["version"],
            "rebuild": "python -m tests.spec.vendor_schema PATH/TO/openapi.json COMMIT",
        },
        "$ref": f"#/$defs/{ROOT_SCHEMA}",
        "$defs": {name: _convert(schemas[name]) for name in sorted(names)},
    }


def main() -> None:
    source, commit = Path(sys.argv[1]), sys.argv[2]
    schema = build(json.loads(source.read_text()), commit)
    OUT.write_text(json.dumps(schema, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
