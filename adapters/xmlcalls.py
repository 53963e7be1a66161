"""Calls written as tags whose argument values are raw text, typed by the tool's JSON schema.

Three families write calls this way: glm45/glm47 (``<arg_key>k</arg_key><arg_value>v</arg_value>``),
qwen3_coder (``<function=f><parameter=k>\\nv\\n</parameter></function>``) and minimax_m2
(``<invoke name="f"><parameter name="k">v</parameter></invoke>``). This module owns what they share:

- ``typed_value(text, schema, untyped)``: one value as the schema wants it. A schema that allows a
  string keeps the text verbatim (``"007"`` stays ``"007"``); ``null`` becomes None only where the
  schema allows null; any other typed value is read as JSON, and left as text when it is not JSON
  (``calls.coerce_to_schema`` then gets its chance: ``" 3 "`` → 3, ``True`` → true). A key the
  schema does not describe is read as JSON (``untyped="json"``, glm) or kept as text
  (``untyped="text"``, as vLLM's qwen3_coder and minimax_m2 parsers do). Types come from ``type``,
  ``enum``/``const`` and the members of ``anyOf``/``oneOf`` (pydantic's ``Optional[int]``).
- ``value_regex(schema, end)``: what a forcing constraint lets one value hold: for strings any text
  that does not contain the value's end tag (``text_without``), so code with ``<`` in it is still
  allowed; JSON of the schema's type otherwise. ``tag_call_constraint`` builds one forced call of
  any of these formats from its layout.
- ``InvokeParser``: a ``BlockParser`` whose blocks are single calls (``<function=`` … ``</function>``,
  ``<invoke name=`` … ``</invoke>``) and whose section tags around them (``<tool_call>``,
  ``<minimax:tool_call>``) are layout: dropped wherever they stand, and an unclosed call is ended by
  the section's end tag or the next call. A call is its name, then ``param`` matches; a value whose
  end tag is missing runs to the next parameter (vLLM's parsers read it the same way).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from adapters.base import Constraint, ToolSpec
from adapters.calls import loads_strict, schema_types
from adapters.parsing import BlockParser, Decoded
from adapters.schema_regex import INTEGER, NUMBER, alternation, escape, json_regex

Untyped = Literal["json", "text"]
NAME = re.compile(r"[\w.:-]+")


def value_types(schema: Any) -> set[str]:
    """The JSON types a value may take under ``schema`` (empty: the schema does not say)."""
    if not isinstance(schema, Mapping):
        return set()
    types = set(schema_types(schema))
    for key in ("anyOf", "oneOf"):
        members = schema.get(key)
        if isinstance(members, list):
            for member in members:
                types |= value_types(member)
    for key in ("enum", "const"):
        values = schema.get(key) if key == "enum" else [schema.get(key)] if key in schema else None
        if isinstance(values, list) and values:
            types |= {"string" if isinstance(v, str) else "json" for v in values}
    return types


def typed_value(text: str, schema: Any, untyped: Untyped = "json") -> Any:
    """One value's text as the schema wants it (see the module docstring)."""
    types = value_types(schema)
    if "null" in types and text.strip() in ("null", "None"):
        return None
    if "string" in types or (not types and untyped == "text"):
        return text
    try:
        return loads_strict(text)
    except ValueError:
        return text


def strip_newline(text: str) -> str:
    """The value inside ``>\\n…\\n<``: one newline on each side is the template's layout."""
    if text.startswith("\n"):
        text = text[1:]
    return text[:-1] if text.endswith("\n") else text


# --------------------------------------------------------------------------- constraints


def text_without(word: str) -> str:
    """A regex for any text that does not contain ``word`` (its first character must not occur
    again in it, true of every closing tag): the automaton of "how much of ``word`` has just been
    seen", written as one loop, so a string value may hold ``<`` and other tags but not its end."""
    first, rest = word[0], word[1:]
    if first in rest or not rest:
        raise ValueError("text_without needs a word whose first character occurs only once")
    f = _cls(first)
    # back to the start of ``word`` from a partial match: a fresh first character, or any other
    # character that does not continue the match
    again, leave = "", ""
    for i in range(len(rest) - 1, -1, -1):
        nxt = escape(rest[i])
        again = f"({f}|{nxt}{again})" if again else f
        leave = f"([^{_cls(first, rest[i])}]|{nxt}{leave})" if leave else f"[^{_cls(first, rest[i])}]"
    # ``again`` loops back to "first seen"; the last partial match (all but the final character)
    # may end the text
    tail = ""
    for i in range(len(rest) - 2, -1, -1):
        tail = f"({escape(rest[i])}{tail})?"
    return f"([^{f}]|{f}{again}*{leave})*({f}{again}*{tail})?"


def _cls(*chars: str) -> str:
    """Characters for use inside ``[...]`` (class metacharacters escaped)."""
    return "".join("\\" + c if c in "\\]^-[" else escape(c) if c in "\n\t" else c for c in chars)


def value_regex(schema: Any, end: str) -> str:
    """What one value may hold under a forcing constraint: raw text for strings (anything but
    ``end``), the enum's values, or JSON text of the schema's type."""
    if isinstance(schema, Mapping) and isinstance(schema.get("enum"), list) and schema["enum"]:
        return alternation([escape(v if isinstance(v, str) else json.dumps(v)) for v in schema["enum"]])
    types = value_types(schema)
    if "string" in types or not types:
        return text_without(end)
    if types == {"integer"}:
        return INTEGER
    if types == {"number"}:
        return NUMBER
    return json_regex(schema)


def properties(schema: Mapping[str, Any] | None) -> tuple[dict[str, Any], set[str]]:
    """A tool schema's properties (in declared order) and its required keys."""
    props = schema.get("properties") if schema else None
    required = schema.get("required") if schema else None
    return (
        dict(props) if isinstance(props, Mapping) else {},
        {k for k in required if isinstance(k, str)} if isinstance(required, list) else set(),
    )


def args_regex(schema: Mapping[str, Any] | None, line: str, end: str) -> str:
    """Every property as ``line`` (a format with ``{key}`` and ``{value}``), in declared order:
    required ones always, the others optionally."""
    props, required = properties(schema)
    out = []
    for key, sub in props.items():
        one = line.format(key=escape(key), value=value_regex(sub, end))
        out.append(one if key in required else f"({one})?")
    return "".join(out)


def tag_call_constraint(
    allowed: Sequence[ToolSpec], prefill: str, head: Callable[[str], str], line: str, end: str, close: str
) -> Constraint:
    """Force exactly one call (see hermes_constraint for why one even when parallel is allowed).

    ``prefill`` opens the call; ``head(name)`` is the text from there to the first argument;
    ``line`` lays out one argument (``{key}``, ``{value}``: see ``args_regex``); ``end`` is a
    value's end tag and ``close`` what ends the call. One allowed tool has its head prefilled too,
    so only its arguments are generated; several are an alternation the model picks from.
    """

    def args(tool: ToolSpec) -> str:
        return args_regex(tool.parameters, line, end)

    if len(allowed) == 1:
        tool = allowed[0]
        return Constraint(prefill + head(tool.name), {"regex": args(tool) + escape(close)})
    calls = alternation([escape(head(t.name)) + args(t) for t in allowed])
    return Constraint(prefill, {"regex": calls + escape(close)})


# --------------------------------------------------------------------------- parser


class InvokeParser(BlockParser):
    """One call per block; the subclass sets the markers (``BlockParser``), ``head`` (the name at
    the start of a block body), ``param`` (key in group 1, value in group 2) and ``untyped``."""

    head: re.Pattern[str] = re.compile(r"\s*([^<>\n]*)>")
    param: re.Pattern[str] = re.compile(r"(?!)")
    untyped: Untyped = "text"

    def value(self, raw: str) -> str:
        """The value text inside its tags (subclasses drop layout newlines)."""
        return raw

    def decode(self, body: str, complete: bool) -> Decoded | None:
        m = self.head.match(body)
        if m is None:
            return None
        name = m.group(1).strip()
        if not NAME.fullmatch(name):
            return None
        tool = self.tools.get(name)
        props, _ = properties(tool.parameters if tool is not None else None)
        args: dict[str, Any] = {}
        for p in self.param.finditer(body, m.end()):
            key = p.group(1).strip()
            args[key] = typed_value(self.value(p.group(2)), props.get(key), self.untyped)
        # a block cut off by max_tokens still names its call; what it had is kept, marked mended
        return Decoded(name, args, repaired=not complete)
