"""Turning a tool call's raw arguments into the canonical JSON string a client receives.

This module owns the rules every call goes through, local (parsed from model text) or upstream
(a hosted API's response): ``finalize_arguments`` is the one entry point, shared by all families
and by the server's upstream backend, so both paths repair, coerce and serialise identically.

Rules, in order:

1. ``None``, an empty string or whitespace means a parameterless call: ``"{}"``.
2. A mapping (upstreams that send an object instead of a string) is taken as is.
3. A string is parsed strictly as JSON. An object is ``parsed``. A JSON *string* holding an object
   (double-encoded arguments) is unwrapped and counted as ``repaired``.
4. Otherwise, if the text starts like an object (``{``), ``json_repair`` mends it (truncated by
   ``max_tokens``, trailing commas, unquoted keys ...); an object result is ``repaired``.
5. Anything else (a list, a number, prose, NaN/Infinity) is ``invalid``: the caller leaves the raw
   text as content.
6. The object is coerced towards the tool's JSON schema where that is unambiguous (see
   ``coerce_to_schema``). A call that still violates its schema is *kept* with its outcome
   unchanged: models sometimes break schemas, and a client that sees the call (and can answer
   with an error message) does better than one that silently gets prose. ``schema_errors``
   validates with ``jsonschema`` for callers that log or count such violations.
7. Serialised with ``json.dumps(obj, ensure_ascii=False)``: unicode stays as characters.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import string
from collections.abc import Mapping
from typing import Any

import json_repair
import jsonschema
import orjson
from jsonschema.exceptions import SchemaError

from adapters.base import Outcome, ToolSpec

_ALNUM = string.ascii_letters + string.digits
_INT_TEXT = re.compile(r"[+-]?\d+")
_NUM_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# 19 digits in a row may be an integer past 64 bits, which orjson reads as a float (the stdlib: an int).
_LONG_DIGITS = re.compile(r"\d{19}")


def new_call_id(length: int = 24, prefix: str = "call_") -> str:
    """A fresh tool-call id: ``prefix`` + ``length`` random ASCII letters/digits.

    OpenAI style is the default (``call_`` + 24); Mistral wants exactly 9 characters and no prefix:
    ``new_call_id(9, "")``.
    """
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def stable_id(text: str, length: int) -> str:
    """A deterministic id of ``length`` (at most 43) ASCII letters/digits derived from ``text``: the
    same input always maps to the same id, so a call and its result keep matching across turns and
    replicas. The whole 256-bit digest is used, so no position of a long id is a constant."""
    if length > 43:  # 256 bits are 43 base-62 characters
        raise ValueError("stable_id: at most 43 characters")
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")
    out = []
    for _ in range(length):
        digest, r = divmod(digest, len(_ALNUM))
        out.append(_ALNUM[r])
    return "".join(out)


def _reject_constant(name: str) -> Any:
    # NaN/Infinity are not JSON; letting them through would produce arguments no client can parse.
    raise ValueError(name)


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses NaN/Infinity; raises ``ValueError`` on anything that is not JSON."""
    return json.loads(text, parse_constant=_reject_constant)


def _loads(text: str) -> Any:
    """``loads_strict``'s value, read by orjson (several times faster) wherever the two agree: it
    refuses NaN/Infinity too and reads every other number alike, except integers past 64 bits
    (guarded by ``_LONG_DIGITS``). What orjson refuses (a lone surrogate escape, ``1e400``) the
    stdlib decides, so the outcome is the same as ``loads_strict``'s for every text."""
    if not _LONG_DIGITS.search(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return loads_strict(text)


def load_object(text: str) -> tuple[dict[str, Any] | None, bool]:
    """Parse ``text`` as a JSON object, repairing it if needed.

    Returns ``(obj, repaired)``; ``obj`` is None when no object can be had. Families use this for
    envelopes such as hermes' ``{"name": ..., "arguments": ...}`` before handing the arguments to
    ``finalize_arguments``.
    """
    try:
        value = loads_strict(text)
    except ValueError:
        value = None
    else:
        return (value, False) if isinstance(value, dict) else (None, False)
    if not text.lstrip().startswith("{"):
        return None, False
    try:
        value = json_repair.loads(text)
    except Exception:  # json_repair is best effort; any failure of its own means "cannot repair"
        return None, False
    if isinstance(value, dict) and _finite(value):
        return value, True
    return None, False


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _to_object(raw: str | Mapping[str, Any] | None) -> tuple[Outcome, dict[str, Any] | None]:
    if raw is None:
        return Outcome.PARSED, {}
    if isinstance(raw, Mapping):
        return Outcome.PARSED, dict(raw)
    if not raw.strip():
        return Outcome.PARSED, {}
    try:
        value = _loads(raw)
    except ValueError:
        obj, repaired = load_object(raw)
        return (Outcome.REPAIRED, obj) if obj is not None else (Outcome.INVALID, None)
    if isinstance(value, dict):
        return Outcome.PARSED, value
    if isinstance(value, str):
        inner, _ = load_object(value)
        if inner is not None:
            return Outcome.REPAIRED, inner
    return Outcome.INVALID, None


# ``json.dumps(obj, ensure_ascii=False, allow_nan=False)``, with the encoder built once.
_canonical = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


def finalize_arguments(raw: str | Mapping[str, Any] | None, tool: ToolSpec | None) -> tuple[Outcome, str | None]:
    """Canonical JSON text for one call's arguments, and how it came out.

    ``(Outcome.INVALID, None)`` when no JSON object can be made of ``raw``; otherwise
    ``(PARSED | REPAIRED, json_text)``. ``tool`` (may be None: no schema known) drives coercion.
    """
    outcome, obj = _to_object(raw)
    if obj is None:
        return Outcome.INVALID, None
    schema = tool.parameters if tool is not None else None
    if schema and not _fits(obj, schema):  # most calls already fit: no copy to build
        coerced = coerce_to_schema(obj, schema)
        if isinstance(coerced, dict):
            obj = coerced
    try:
        text = _canonical(obj)
    except (ValueError, TypeError):
        return Outcome.INVALID, None
    return outcome, text


def schema_errors(arguments: Mapping[str, Any], tool: ToolSpec) -> list[str]:
    """Messages for every way ``arguments`` violates the tool's schema ([] when valid or no schema)."""
    schema = dict(tool.parameters)
    if not schema:
        return []
    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
    except SchemaError:
        return []  # a client's malformed schema cannot be held against the model
    validator = cls(schema)
    return [e.message for e in validator.iter_errors(dict(arguments))]


# --------------------------------------------------------------------------- coercion


def schema_types(schema: Mapping[str, Any]) -> list[str]:
    """The type names a JSON schema declares (``properties`` alone implies ``object``); shared by
    coercion here, the constraint regexes and the families that type text values by schema."""
    t = schema.get("type")
    if isinstance(t, str):
        return [t]
    if isinstance(t, list):
        return [x for x in t if isinstance(x, str)]
    if "properties" in schema:
        return ["object"]
    return []


def _matches(value: Any, t: str) -> bool:
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "string":
        return isinstance(value, str)
    if t == "array":
        return isinstance(value, list)
    if t == "object":
        return isinstance(value, dict)
    if t == "null":
        return value is None
    return True  # unknown type names: leave the value alone


def keeps_type(value: Any, schema: Any) -> bool:
    """Whether ``coerce_to_schema`` leaves ``value`` itself alone under ``schema`` (it may still
    recurse into an object's members or an array's items): no schema, no declared type, or a
    declared type the value already has. ``arg_stream`` holds back a value for which this is false."""
    if not isinstance(schema, Mapping):
        return True
    types = schema_types(schema)
    return not types or any(_matches(value, t) for t in types)


_NO = object()

# The Python types decoded JSON has for each schema type name (exact types: a bool is no integer).
_DECODED_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _fits(value: Any, schema: Any) -> bool:
    """Whether ``coerce_to_schema`` would leave decoded JSON ``value`` as it is, found without
    building its copy: every value has one of its schema's types, down the same ``properties``,
    ``additionalProperties`` and ``items`` that coercion follows. ``False`` sends the value
    through coercion, which may still change nothing."""
    if type(schema) is not dict and not isinstance(schema, Mapping):  # the ABC check is slow: dicts first
        return True
    declared = schema.get("type")
    if isinstance(declared, str) and declared in _DECODED_TYPES:  # the common case, checked fast
        if type(value) not in _DECODED_TYPES[declared]:
            return False
    else:
        types = schema_types(schema)
        if types and not any(_matches(value, t) for t in types):
            return False
    if isinstance(value, dict):
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        extra = schema.get("additionalProperties")
        extra = extra if isinstance(extra, Mapping) else None
        for key, item in value.items():
            sub = props.get(key, extra)
            if type(item) in _SCALARS and type(sub) is dict:  # a leaf: its type is all there is to check
                declared = sub.get("type")
                if isinstance(declared, str) and declared in _DECODED_TYPES:
                    if type(item) not in _DECODED_TYPES[declared]:
                        return False
                    continue
            if not _fits(item, sub):
                return False
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for item in value:
                if not _fits(item, items):
                    return False
    return True


def _convert(value: Any, t: str) -> Any:
    """One unambiguous conversion of ``value`` to type ``t``, or ``_NO``."""
    if isinstance(value, str):
        text = value.strip()
        if t == "integer" and _INT_TEXT.fullmatch(text):
            return int(text)
        if t == "number" and _NUM_TEXT.fullmatch(text):
            return int(text) if _INT_TEXT.fullmatch(text) else float(text)
        if t == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if t == "null" and text.lower() in ("null", "none"):
            return None
        if t in ("array", "object") and text[:1] in "[{":
            try:
                inner = loads_strict(text)
            except ValueError:
                return _NO
            return inner if _matches(inner, t) else _NO
        return _NO
    if t == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if t == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(value)
    return _NO


def coerce_to_schema(value: Any, schema: Mapping[str, Any]) -> Any:
    """Return ``value`` nudged towards ``schema`` where only one reading is possible.

    Conversions: digit strings to integers/numbers, ``"true"``/``"false"`` to booleans, numbers to
    their text for string fields, JSON text to arrays/objects, whole floats to integers. Recurses
    through ``properties``, ``additionalProperties`` and ``items``. A value that already fits one of
    the schema's types is left alone; ``anyOf``/``oneOf``/``$ref`` are not interpreted (ambiguous).
    """
    if not isinstance(schema, Mapping):
        return value
    types = schema_types(schema)
    if types and not any(_matches(value, t) for t in types):
        for t in types:
            converted = _convert(value, t)
            if converted is not _NO:
                value = converted
                break
    if isinstance(value, dict):
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        extra = schema.get("additionalProperties")
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, Mapping) else None)
            out[key] = coerce_to_schema(item, sub) if isinstance(sub, Mapping) else item
        return out
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            return [coerce_to_schema(item, items) for item in value]
    return value
