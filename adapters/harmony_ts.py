"""Tool declarations in the harmony format: JSON schemas written as harmony's TypeScript-like types.

gpt-oss was trained on tools declared in the developer message as a ``namespace``::

    # Tools

    ## functions

    namespace functions {

    // Current weather for a city.
    type get_weather = (_: {
    // City name
    city: string,
    unit?: "celsius" | "fahrenheit", // default: celsius
    }) => any;

    // The current time in UTC.
    type get_time = () => any;

    } // namespace functions

The rules follow what the ``openai-harmony`` renderer writes (its ``json_schema_to_typescript``),
quirks included, because the model saw exactly that text: ``integer`` is ``number``; a property is
optional (``?``) unless ``required``; ``title``/``description``/``examples`` become ``//`` lines
above it and ``default`` a trailing comment (a string default is quoted unless the property is an
enum); ``oneOf`` becomes ``|`` alternatives on their own lines; ``nullable`` adds ``| null``; an
array without ``items`` is ``Array<any>``; anything else (``anyOf``, ``$ref``, no ``type``) is
``any``. Nested objects indent by four spaces (their closing brace too). A tool sent without
parameters is ``() => any``. ``tests/adapters/test_gpt_oss_oracle.py`` checks the text against the
package for real tool sets.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from adapters.base import ToolSpec


def _compact(value: Any) -> str:
    # harmony prints non-string defaults with serde_json's Display: compact JSON, unicode as is
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _is_enum(schema: Mapping[str, Any]) -> bool:
    values = schema.get("enum")
    return isinstance(values, list) and bool(values)


def _text(schema: Mapping[str, Any], key: str) -> str | None:
    value = schema.get(key)
    return value if isinstance(value, str) else None


def _default(schema: Mapping[str, Any], *, quote_enum: bool) -> str | None:
    """``default: …`` for a comment, as harmony spells it (see the module docstring)."""
    if "default" not in schema:
        return None
    value = schema["default"]
    if isinstance(value, str) and not _is_enum(schema):
        return f'default: "{value}"'
    if isinstance(value, str) and not quote_enum:
        return f"default: {value}"
    return f"default: {_compact(value)}"


def _nullable(schema: Mapping[str, Any], type_text: str) -> str:
    if schema.get("nullable") is True and "null" not in type_text:
        return f"{type_text} | null"
    return type_text


def _variant(
    variant: Any, indent: str, *, skip_description: bool, property_description: str | None, quote_enum: bool
) -> str:
    """One ``| type // comments`` alternative of a ``oneOf`` (the leading ``|`` not included)."""
    schema = variant if isinstance(variant, Mapping) else {}
    out = _nullable(schema, schema_type(schema, indent + "   "))
    comments = []
    description = _text(schema, "description")
    if not skip_description and description is not None and description != property_description:
        comments.append(description)
    default = _default(schema, quote_enum=quote_enum)
    if default is not None:
        comments.append(default)
    return out + (" // " + " ".join(comments) if comments else "")


def _one_of(variants: list[Any], indent: str) -> str:
    parts = []
    for variant in variants:
        # a top-level variant's enum default is printed as JSON text (quoted), unlike a property's
        text = _variant(variant, indent, skip_description=False, property_description=None, quote_enum=True)
        parts.append(f"\n{indent} | {text}")
    return "".join(parts)


def _property(key: str, schema: Mapping[str, Any], required: bool, indent: str) -> str:
    mark = "" if required else "?"
    out = []
    title = _text(schema, "title")
    if title is not None:
        out.append(f"{indent}// {title}\n{indent}//\n")
    variants = schema.get("oneOf")
    description = _text(schema, "description")
    if "oneOf" not in schema and description is not None:
        out.append(f"{indent}// {description}\n")
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        out.append(f"{indent}// Examples:\n")
        out += [f'{indent}// - "{ex}"\n' for ex in examples if isinstance(ex, str)]
    if isinstance(variants, list):
        first = variants[0] if variants and isinstance(variants[0], Mapping) else {}
        above = description is not None and _text(first, "description") != description
        if above:
            out.append(f"{indent}// {description}\n")
        default = _default(schema, quote_enum=False)
        if default is not None:
            out.append(f"{indent}// {default}\n")
        out.append(f"{indent}{key}{mark}:\n")
        for i, variant in enumerate(variants):
            skip = i == 0 and above
            text = _variant(variant, indent, skip_description=skip, property_description=description, quote_enum=False)
            out.append(f"{indent} | {text}\n")
        out.append(f"{indent},\n")
        return "".join(out)
    out.append(f"{indent}{key}{mark}: {_nullable(schema, schema_type(schema, indent + '    '))},")
    default = _default(schema, quote_enum=False) if "oneOf" not in schema else None
    if default is not None:
        out.append(f" // {default}")
    out.append("\n")
    return "".join(out)


def _object(schema: Mapping[str, Any], indent: str) -> str:
    out = []
    description = _text(schema, "description")
    if description is not None:
        out.append(f"{indent}// {description}\n")
    out.append("{\n")
    props = schema.get("properties")
    if isinstance(props, Mapping):
        required = schema.get("required")
        names = {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
        for key, sub in props.items():
            out.append(_property(key, sub if isinstance(sub, Mapping) else {}, key in names, indent))
    out.append(f"{indent}}}")
    return "".join(out)


def _string(schema: Mapping[str, Any], indent: str) -> str:
    values = schema.get("enum")
    if isinstance(values, list):
        quoted = [f'"{v}"' for v in values if isinstance(v, str)]
        if quoted:
            return " | ".join(quoted)
    return "string"


def _array(schema: Mapping[str, Any], indent: str) -> str:
    if "items" not in schema:
        return "Array<any>"
    items = schema["items"]
    return schema_type(items if isinstance(items, Mapping) else {}, indent) + "[]"


_BY_TYPE: Mapping[str, Callable[[Mapping[str, Any], str], str]] = {
    "object": _object,
    "string": _string,
    "array": _array,
    "number": lambda s, i: "number",
    "integer": lambda s, i: "number",
    "boolean": lambda s, i: "boolean",
}


def schema_type(schema: Mapping[str, Any], indent: str = "") -> str:
    """The TypeScript-like type harmony writes for one JSON schema."""
    variants = schema.get("oneOf")
    if isinstance(variants, list):
        return _one_of(variants, indent)
    kind = schema.get("type")
    if isinstance(kind, list):
        names = ["number" if t == "integer" else t for t in kind if isinstance(t, str)]
        if names:
            return " | ".join(names)
    if isinstance(kind, str):
        render = _BY_TYPE.get(kind)
        return render(schema, indent) if render is not None else "any"
    return "any"


def _lines(text: str) -> list[str]:
    # Rust's str::lines(): split at \n, a trailing \r dropped, no empty last line
    parts = text.split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    return [p.removesuffix("\r") for p in parts]


def tools_section(tools: Sequence[ToolSpec], namespace: str = "functions") -> str:
    """``# Tools`` with one ``namespace`` holding every tool (empty string when there are none)."""
    if not tools:
        return ""
    lines = [f"## {namespace}\n", f"namespace {namespace} {{\n"]
    for tool in tools:
        lines += [f"// {line}" for line in _lines(tool.description)]
        if tool.parameters:
            lines.append(f"type {tool.name} = (_: {schema_type(tool.parameters)}) => any;\n")
        else:  # the client sent no parameters: nothing to pass
            lines.append(f"type {tool.name} = () => any;\n")
    lines.append(f"}} // namespace {namespace}")
    return "# Tools\n\n" + "\n".join(lines)
