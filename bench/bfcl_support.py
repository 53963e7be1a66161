"""BFCL (the PyPI package ``bfcl-eval``) as a library: its data, its tool docs as OpenAI tools, its scorer.

This module owns everything toolrelay needs from the Berkeley Function Calling Leaderboard, for the
accuracy bench (``bench/bfcl.py``) and the oracle tests (``tests/oracles/``):

* ``load_entries(category)``: a category's questions, function docs and possible answers, read from
  the data files the package ships (``bfcl_eval/data/BFCL_v4_<category>.json`` and
  ``possible_answer/``). Function descriptions get the same Python-syntax hint BFCL's own generation
  step appends, so a model sees what it sees on the leaderboard.
* ``to_openai_tools(functions)``: BFCL's schema dialect turned into JSON Schema (``dict`` -> object,
  ``float`` -> number, ``tuple`` -> array, ``any`` -> no type, recursively), and function names made
  valid OpenAI names (``[A-Za-z0-9_-]{1,64}``; ``math.factorial`` -> ``math_factorial``), with the
  map back to BFCL's names.
* ``score(entry, answer)``: BFCL's own AST checker (``ast_checker``) on an answer in BFCL's form, a
  list of ``{function_name: {arg: value}}``; for ``irrelevance`` the answer must hold no call.

Importing the checker imports ``bfcl_eval.constants.model_config``, which imports every model
handler bfcl-eval has (and with them torch, anthropic, google-genai ...). The checker only reads one
flag from it (``underscore_to_dot``, for models that cannot send dots in names), so a small stand-in
module is put in ``sys.modules`` first. Its answer is always "no": answers reach the checker with
BFCL's original dotted names, mapped back by ``ToolSet.bfcl_name``.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

CATEGORIES: tuple[str, ...] = (
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "irrelevance",
    "live_simple",
    "live_multiple",
)
# Known but not run by default: 884 items whose answer is no call (the `auto` decision's hard case).
EXTRA_CATEGORIES: tuple[str, ...] = ("live_irrelevance",)
# Categories whose right answer is no call at all (they ship no possible answers).
NO_CALL: frozenset[str] = frozenset({"irrelevance", "live_irrelevance"})
# Older BFCL releases called simple_python just "simple"; accept both spellings.
ALIASES: dict[str, str] = {"simple": "simple_python"}

# What BFCL's generation step appends to every Python function description (utils.py,
# ``_get_language_specific_hint``); the leaderboard's models all saw it.
PYTHON_HINT = " Note that the provided function is in Python 3 syntax."

_VERSION_PREFIX = "BFCL_v4"
_TYPE_MAP: dict[str, str | None] = {
    "dict": "object",
    "object": "object",
    "float": "number",
    "number": "number",
    "integer": "integer",
    "int": "integer",
    "string": "string",
    "str": "string",
    "boolean": "boolean",
    "bool": "boolean",
    "array": "array",
    "list": "array",
    "tuple": "array",
    "any": None,  # no "type" key: JSON Schema's way of saying any value
}
# BFCL-only keys that are not JSON Schema and would only confuse a validator or a constraint compiler.
_DROPPED_KEYS = frozenset({"optional"})
_NAME_OK = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAME_BAD_CHARS = re.compile(r"[^A-Za-z0-9_-]")

Answer = list[dict[str, dict[str, Any]]]


class UnknownCategory(ValueError):
    """A category name that is neither one of ``CATEGORIES`` nor an alias of one."""


class AnswerError(ValueError):
    """A model's tool call whose arguments are not a JSON object: it cannot be scored as a call."""


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class Entry:
    """One BFCL test item. ``possible_answer`` is None for irrelevance (the right answer is no call)."""

    id: str
    category: str
    messages: tuple[dict[str, Any], ...]
    functions: tuple[dict[str, Any], ...]
    possible_answer: tuple[dict[str, dict[str, list[Any]]], ...] | None


def resolve_category(name: str) -> str:
    category = ALIASES.get(name, name)
    if category not in CATEGORIES + EXTRA_CATEGORIES:
        known = ", ".join(CATEGORIES + EXTRA_CATEGORIES)
        raise UnknownCategory(f"unknown BFCL category {name!r}; known: {known}")
    return category


def _data_file(*parts: str) -> str:
    return resources.files("bfcl_eval").joinpath("data", *parts).read_text(encoding="utf-8")


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _with_hint(function: Mapping[str, Any]) -> dict[str, Any]:
    hinted = dict(function)
    hinted["description"] = str(function.get("description", "")) + PYTHON_HINT
    return hinted


def load_entries(category: str, limit: int | None = None, *, hint: bool = True) -> list[Entry]:
    """The first ``limit`` items of ``category`` (all when None), in the order BFCL ships them."""
    category = resolve_category(category)
    questions = _json_lines(_data_file(f"{_VERSION_PREFIX}_{category}.json"))[:limit]
    answers: dict[str, Any] = {}
    if category not in NO_CALL:
        answer_rows = _json_lines(_data_file("possible_answer", f"{_VERSION_PREFIX}_{category}.json"))
        answers = {row["id"]: row["ground_truth"] for row in answer_rows}
    entries = []
    for q in questions:
        functions = tuple(_with_hint(f) if hint else dict(f) for f in q["function"])
        truth = answers.get(q["id"])
        entries.append(
            Entry(
                id=q["id"],
                category=category,
                messages=tuple(q["question"][0]),  # these categories are all single-turn
                functions=functions,
                possible_answer=tuple(truth) if truth is not None else None,
            )
        )
    return entries


# --------------------------------------------------------------------------- tools


def to_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A BFCL parameter schema as JSON Schema, recursively (properties, items, additionalProperties)."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "type":
            mapped = _TYPE_MAP.get(value, "string") if isinstance(value, str) else value
            if mapped is not None:
                out["type"] = mapped
        elif key == "properties" and isinstance(value, Mapping):
            out["properties"] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = to_json_schema(value)
        else:
            out[key] = value
    return out


def openai_name(name: str, taken: Iterable[str] = ()) -> str:
    """``name`` made a valid OpenAI function name, different from every name in ``taken``."""
    if _NAME_OK.fullmatch(name) and name not in taken:
        return name
    base = _NAME_BAD_CHARS.sub("_", name)[:64] or "f"
    candidate, n = base, 1
    taken_set = set(taken)
    while candidate in taken_set:
        n += 1
        suffix = f"_{n}"
        candidate = base[: 64 - len(suffix)] + suffix
    return candidate


@dataclass(frozen=True, slots=True)
class ToolSet:
    """One entry's functions as OpenAI ``tools``, and the two-way map between the two name spaces."""

    tools: tuple[dict[str, Any], ...]
    to_bfcl: Mapping[str, str]  # OpenAI name -> BFCL name
    to_openai: Mapping[str, str]  # BFCL name -> OpenAI name

    def bfcl_name(self, name: str) -> str:
        # A name the model made up stays as it is: the checker then reports the wrong function.
        return self.to_bfcl.get(name, name)


def to_openai_tools(functions: Sequence[Mapping[str, Any]]) -> ToolSet:
    tools: list[dict[str, Any]] = []
    to_bfcl: dict[str, str] = {}
    to_openai: dict[str, str] = {}
    for function in functions:
        name = openai_name(str(function["name"]), to_bfcl)
        to_bfcl[name] = str(function["name"])
        to_openai[str(function["name"])] = name
        parameters = to_json_schema(function.get("parameters") or {})
        parameters["type"] = "object"  # BFCL writes "dict" at the top; OpenAI requires "object"
        parameters.setdefault("properties", {})
        spec = {"name": name, "description": str(function.get("description", "")), "parameters": parameters}
        tools.append({"type": "function", "function": spec})
    return ToolSet(tuple(tools), to_bfcl, to_openai)


# --------------------------------------------------------------------------- answers


def answer_from_calls(calls: Iterable[tuple[str, str]], toolset: ToolSet) -> Answer:
    """OpenAI tool calls, as ``(name, arguments JSON string)`` pairs, in BFCL's answer form."""
    answer: Answer = []
    for name, arguments in calls:
        try:
            args = json.loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            raise AnswerError(f"arguments of {name!r} are not JSON: {arguments[:200]!r}") from exc
        if not isinstance(args, dict):
            raise AnswerError(f"arguments of {name!r} are not an object: {arguments[:200]!r}")
        answer.append({toolset.bfcl_name(name): args})
    return answer


def _first_value(possible: list[Any], required: bool = False) -> tuple[bool, Any]:
    """(present, value): the first possible value; BFCL marks an argument that may be left out with ``""``.

    A few entries list ``""`` first for a *required* argument (simple_python_200's fuel_efficiency);
    the checker rejects leaving those out, so a required argument takes its first real value.
    """
    if possible and possible[0] != "":
        return True, possible[0]
    if required:
        for value in possible:
            if value != "":
                return True, value
    return False, None


def _truth_dict(possible: Mapping[str, list[Any]]) -> dict[str, Any]:
    # A dict-typed argument's possible value is itself {key: [values]} (see BFCL's dict_checker).
    out: dict[str, Any] = {}
    for key, values in possible.items():
        present, value = _first_value(values)
        if present:
            out[key] = value
    return out


def _truth_value(value: Any, schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "dict" and isinstance(value, dict):
        return _truth_dict(value)
    items = schema.get("items")
    if kind in ("array", "tuple") and isinstance(items, Mapping) and items.get("type") == "dict":
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return [_truth_dict(v) for v in value]
    return value


def ground_truth(entry: Entry) -> Answer:
    """The reference answer: for every call, the first possible value of each argument."""
    if entry.possible_answer is None:
        return []
    docs = {f["name"]: f for f in entry.functions}
    answer: Answer = []
    for call in entry.possible_answer:
        ((name, possible_args),) = call.items()
        parameters = docs[name].get("parameters", {})
        properties = parameters.get("properties", {})
        required = set(parameters.get("required", ()))
        args: dict[str, Any] = {}
        for arg, values in possible_args.items():
            # An argument the function does not declare (parallel_multiple_26's "type") can only be
            # right when left out: the checker calls any undeclared argument unexpected.
            present, value = _first_value(values, arg in required)
            if present and arg in properties:
                args[arg] = _truth_value(value, properties.get(arg, {}))
        answer.append({name: args})
    return answer


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True, slots=True)
class Verdict:
    valid: bool
    error: str = ""


class _NoUnderscoreToDot:
    """Stand-in for bfcl-eval's ``ModelConfig``: only ``underscore_to_dot`` is ever read."""

    underscore_to_dot = False


class _AnyModel(dict[str, _NoUnderscoreToDot]):
    def __missing__(self, key: str) -> _NoUnderscoreToDot:
        return _NoUnderscoreToDot()


_MODEL_CONFIG = "bfcl_eval.constants.model_config"


def install_model_config_stub() -> None:
    """Put the stand-in ``bfcl_eval.constants.model_config`` in ``sys.modules`` (see the module docstring).

    Call before importing any bfcl-eval module that imports it (the checker, the model handlers).
    Does nothing when a ``model_config`` module is already loaded.
    """
    if _MODEL_CONFIG not in sys.modules:
        stub = types.ModuleType(_MODEL_CONFIG, "toolrelay's stand-in: the checker needs one flag only")
        stub.MODEL_CONFIG_MAPPING = _AnyModel()  # type: ignore[attr-defined]
        sys.modules[_MODEL_CONFIG] = stub


@functools.cache  # the import is not free; do it once, on first use
def _load_checker() -> Callable[..., dict[str, Any]]:
    install_model_config_stub()
    from bfcl_eval.constants.enums import Language  # type: ignore[import-untyped]
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker  # type: ignore[import-untyped]

    def check(functions: list[dict[str, Any]], answer: Answer, truth: list[Any], category: str) -> Any:
        return ast_checker(functions, answer, truth, Language.PYTHON, category, "toolrelay")

    return check


def _check(functions: list[dict[str, Any]], answer: Answer, truth: list[Any], category: str) -> dict[str, Any]:
    return _load_checker()(functions, answer, truth, category)


def score(entry: Entry, answer: Answer) -> Verdict:
    """BFCL's verdict on ``answer`` (names in BFCL's spelling, arguments decoded)."""
    if entry.possible_answer is None:
        return Verdict(True) if not answer else Verdict(False, f"irrelevance: made {len(answer)} call(s)")
    try:
        result = _check(list(entry.functions), answer, list(entry.possible_answer), entry.category)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # The checker assumes well-typed answers; a model's odd one can trip it. That is a wrong answer.
        return Verdict(False, f"checker raised {type(exc).__name__}: {exc}")
    if result["valid"]:
        return Verdict(True)
    return Verdict(False, json.dumps(result.get("error", []), default=str)[:500])
