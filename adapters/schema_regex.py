"""Regular expressions for JSON text that follows a JSON schema, for vLLM ``{"regex": ...}`` constraints.

Families whose call format puts the function name *outside* the JSON arguments (glm4's
``name\\n{...}``, deepseek's ``name<｜tool▁sep｜>{...}``, mistral v11's ``[TOOL_CALLS]name[ARGS]{...}``)
cannot force "one call of any of these tools" with a single ``{"json": schema}`` constraint, and
glm45's ``<arg_value>`` values are not JSON at all. They build a regex instead, from the pieces here.

The regexes are deliberately conservative (a subset of valid JSON, never a superset):

- fixed layout: ``", "`` between members and items, ``": "`` after keys (``json.dumps`` style);
- object properties: the required ones first, always present, in declared order; then the optional
  ones in declared order, each of which may be left out (when nothing is required, a leading run
  of the optional ones);
- ``enum``/``const`` as alternations, ``string``/``integer``/``number``/``boolean``/``null``/``array``
  typed; anything the schema does not pin down (``anyOf``, ``$ref``, free objects) falls back to a
  depth-limited generic JSON value.

Only plain groups ``(...)``, alternation, classes, ``?``, ``*`` and ``{m,n}`` are used, a syntax
every structured-output backend of vLLM (xgrammar, guidance, outlines) accepts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from adapters.calls import schema_types

_SPECIAL = set("\\.^$*+?()[]{}|/-")

STRING = r'"([^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'
INTEGER = r"-?(0|[1-9][0-9]*)"
NUMBER = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"
BOOLEAN = r"(true|false)"
NULL = r"null"


def escape(text: str) -> str:
    """``text`` as a literal: regex metacharacters and control characters escaped, nothing else."""
    out = []
    for c in text:
        if c in _SPECIAL:
            out.append("\\" + c)
        elif c == "\n":
            out.append(r"\n")
        elif c == "\t":
            out.append(r"\t")
        elif ord(c) < 0x20:
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    return "".join(out)


def alternation(options: Sequence[str]) -> str:
    """``(a|b|c)`` of already-built regexes (a single option is returned unwrapped)."""
    if len(options) == 1:
        return options[0]
    return "(" + "|".join(options) + ")"


def any_json(depth: int = 2) -> str:
    """Any JSON value nested at most ``depth`` containers deep."""
    scalar = alternation([STRING, NUMBER, BOOLEAN, NULL])
    if depth <= 0:
        return scalar
    inner = any_json(depth - 1)
    array = r"\[(" + inner + "(, " + inner + r")*)?\]"
    member = STRING + ": " + inner
    obj = r"\{(" + member + "(, " + member + r")*)?\}"
    return alternation([scalar, array, obj])


def _literal(value: Any) -> str:
    return escape(json.dumps(value, ensure_ascii=False))


def json_regex(schema: Mapping[str, Any] | None, depth: int = 3) -> str:
    """A regex for JSON text valid against ``schema`` (see the module docstring for the subset)."""
    if not isinstance(schema, Mapping):
        return any_json()
    if "const" in schema:
        return _literal(schema["const"])
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return alternation([_literal(v) for v in enum])
    types = schema_types(schema)
    if not types:
        return any_json()
    return alternation([_typed(t, schema, depth) for t in types])


def _typed(t: str, schema: Mapping[str, Any], depth: int) -> str:
    if t == "string":
        return STRING
    if t == "integer":
        return INTEGER
    if t == "number":
        return NUMBER
    if t == "boolean":
        return BOOLEAN
    if t == "null":
        return NULL
    if depth <= 0:
        return any_json(1)
    if t == "array":
        items = schema.get("items")
        item = json_regex(items, depth - 1) if isinstance(items, Mapping) else any_json(1)
        return r"\[(" + item + "(, " + item + r")*)?\]"
    if t == "object":
        return object_regex(schema, depth)
    return any_json(1)


def object_regex(schema: Mapping[str, Any], depth: int = 3) -> str:
    """A JSON object with the schema's properties in declared order (see the module docstring)."""
    props = schema.get("properties")
    if not isinstance(props, Mapping) or not props:
        if schema.get("additionalProperties") is False:
            return r"\{\}"
        return any_json(1) if depth <= 1 else r"\{(" + _free_members(depth) + r")?\}"
    required = [k for k in props if k in set(schema.get("required") or ())]
    optional = [k for k in props if k not in required]

    def member(key: str) -> str:
        sub = props[key]
        return _literal(key) + ": " + json_regex(sub if isinstance(sub, Mapping) else None, depth - 1)

    if required:
        body = ", ".join(member(k) for k in required)
        body += "".join("(, " + member(k) + ")?" for k in optional)
        return r"\{" + body + r"\}"
    # nothing required: the empty object, or a leading run of the optional properties
    return r"\{(" + member(optional[0]) + _prefix_run(optional[1:], member) + r")?\}"


def _prefix_run(keys: Sequence[str], member: Callable[[str], str]) -> str:
    """``(, a(, b(, c)?)?)?``: each optional property only after the previous one."""
    out = ""
    for key in reversed(keys):
        out = "(, " + member(key) + out + ")?"
    return out


def _free_members(depth: int) -> str:
    value = any_json(max(depth - 1, 0))
    member = STRING + ": " + value
    return member + "(, " + member + ")*"
