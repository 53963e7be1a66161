"""``adapters.calls``: the finalizer every call goes through (local parsers and upstream responses)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from adapters.base import Outcome, ToolSpec
from adapters.calls import coerce_to_schema, finalize_arguments, load_object, new_call_id, schema_errors, stable_id

TOOL = ToolSpec(
    "book",
    parameters={
        "type": "object",
        "properties": {
            "guests": {"type": "integer"},
            "price": {"type": "number"},
            "vip": {"type": "boolean"},
            "note": {"type": "string"},
            "dates": {"type": "array", "items": {"type": "integer"}},
            "room": {"type": "object", "properties": {"floor": {"type": "integer"}}},
            "maybe": {"type": ["integer", "null"]},
            "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        },
        "required": ["guests"],
    },
)


def fin(raw: Any, tool: ToolSpec | None = TOOL) -> tuple[Outcome, Any]:
    outcome, text = finalize_arguments(raw, tool)
    return outcome, (None if text is None else json.loads(text))


@pytest.mark.parametrize("raw", [None, "", "  \n", {}])
def test_parameterless_is_an_empty_object(raw: Any) -> None:
    assert finalize_arguments(raw, TOOL) == (Outcome.PARSED, "{}")


def test_valid_json_is_parsed_and_unicode_stays_characters() -> None:
    assert finalize_arguments('{"note": "K\\u00f6ln \\ud83d\\ude00"}', TOOL) == (
        Outcome.PARSED,
        '{"note": "Köln 😀"}',
    )


def test_mapping_from_an_upstream_is_taken_as_is() -> None:
    assert finalize_arguments({"guests": 2}, TOOL) == (Outcome.PARSED, '{"guests": 2}')


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"guests": 2, "note": "cut', {"guests": 2, "note": "cut"}),
        ('{"guests": 2,}', {"guests": 2}),
        ("{guests: 2}", {"guests": 2}),
        ("{'guests': 2}", {"guests": 2}),
        ('"{\\"guests\\": 3}"', {"guests": 3}),  # double-encoded
    ],
)
def test_broken_json_is_repaired(raw: str, expected: dict[str, Any]) -> None:
    assert fin(raw) == (Outcome.REPAIRED, expected)


@pytest.mark.parametrize("raw", ["[1, 2]", "42", '"text"', "call the tool", '{"guests": NaN}', "null"])
def test_non_objects_are_invalid(raw: str) -> None:
    assert finalize_arguments(raw, TOOL) == (Outcome.INVALID, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"guests": "10"}, {"guests": 10}),
        ({"guests": " -3 "}, {"guests": -3}),
        ({"guests": 4.0}, {"guests": 4}),
        ({"price": "12.5"}, {"price": 12.5}),
        ({"price": "7"}, {"price": 7}),
        ({"vip": "true"}, {"vip": True}),
        ({"vip": "False"}, {"vip": False}),
        ({"note": 42}, {"note": "42"}),
        ({"note": 1.5}, {"note": "1.5"}),
        ({"dates": "[1, 2]"}, {"dates": [1, 2]}),
        ({"dates": ["1", 2]}, {"dates": [1, 2]}),
        ({"room": '{"floor": "3"}'}, {"room": {"floor": 3}}),
        ({"maybe": "null"}, {"maybe": None}),
        ({"maybe": "5"}, {"maybe": 5}),
    ],
)
def test_safe_coercion(raw: dict[str, Any], expected: dict[str, Any]) -> None:
    assert fin(raw) == (Outcome.PARSED, expected)


@pytest.mark.parametrize(
    "raw",
    [
        {"guests": "ten"},  # not a number: left for the client to see
        {"guests": "1.5"},  # would lose information
        {"vip": "yes"},  # not unambiguous
        {"note": True},  # a boolean for a string: ambiguous spelling
        {"either": "10"},  # anyOf: more than one reading
        {"unknown": "10"},  # no schema for it
    ],
)
def test_ambiguous_values_are_left_alone(raw: dict[str, Any]) -> None:
    assert fin(raw) == (Outcome.PARSED, raw)


def test_schema_violations_keep_the_call_and_are_reported() -> None:
    outcome, text = finalize_arguments('{"note": "no guests"}', TOOL)
    assert outcome is Outcome.PARSED and text == '{"note": "no guests"}'
    assert schema_errors(json.loads(text), TOOL) == ["'guests' is a required property"]
    assert schema_errors({"guests": 1}, TOOL) == []


def test_a_broken_client_schema_does_not_break_validation() -> None:
    bad = ToolSpec("x", parameters={"type": "object", "properties": {"a": {"type": 5}}})
    assert finalize_arguments('{"a": "1"}', bad) == (Outcome.PARSED, '{"a": "1"}')
    assert schema_errors({"a": 1}, bad) == []


def test_no_tool_means_no_coercion() -> None:
    assert finalize_arguments('{"guests": "10"}', None) == (Outcome.PARSED, '{"guests": "10"}')


def test_coerce_leaves_matching_values() -> None:
    assert coerce_to_schema({"guests": 3}, TOOL.parameters) == {"guests": 3}
    assert coerce_to_schema("x", {"type": "string"}) == "x"


def test_load_object() -> None:
    assert load_object('{"a": 1}') == ({"a": 1}, False)
    assert load_object('{"a": [1, ') == ({"a": [1]}, True)
    assert load_object("[1]") == (None, False)
    assert load_object("prose") == (None, False)


def test_call_ids_are_fresh_and_well_formed() -> None:
    ids = {new_call_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(re.fullmatch(r"call_[A-Za-z0-9]{24}", i) for i in ids)
    assert re.fullmatch(r"[A-Za-z0-9]{9}", new_call_id(9, ""))


def test_stable_id_uses_the_whole_digest() -> None:
    ids = [stable_id(f"call_{i}", 40) for i in range(64)]
    assert all(re.fullmatch(r"[A-Za-z0-9]{40}", x) for x in ids)
    assert ids[0] == stable_id("call_0", 40) and ids[0][:9] == stable_id("call_0", 9)
    assert len({x[-8:] for x in ids}) == 64  # the tail of a long id varies with its input too
    with pytest.raises(ValueError):
        stable_id("call_0", 44)


# The fast paths (orjson reading, no coercion copy when every value fits) must give exactly what
# the stdlib reading and a full coercion give.
_TEXTS = [
    '{"guests": 2, "price": 1.5, "note": "x"}',
    '{"guests": 123456789012345678901234567890}',  # past 64 bits: orjson would read a float
    '{"guests": 1e400}',  # infinity: invalid either way
    '{"note": "\\ud800"}',  # a lone surrogate: orjson refuses it, the stdlib reads it
    '{"guests": -0, "price": -0.0, "dates": [1, 2.0, "3"]}',
    '{"room": {"floor": "2"}, "maybe": null, "either": "7"}',
    '{"vip": "true", "guests": 2.0}',
    '{"guests": NaN}',
    '"{\\"guests\\": 3}"',
]


@pytest.mark.parametrize("raw", _TEXTS)
def test_fast_reading_and_fitting_change_nothing(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters import calls

    fast = finalize_arguments(raw, TOOL)
    monkeypatch.setattr(calls, "_loads", calls.loads_strict)
    monkeypatch.setattr(calls, "_fits", lambda value, schema: False)
    assert finalize_arguments(raw, TOOL) == fast


@pytest.mark.parametrize(
    ("value", "fits"),
    [({"guests": 1, "dates": [1, 2]}, True), ({"maybe": None, "extra": [1]}, True), ({"price": 2}, True),
     ({"guests": True}, False), ({"dates": [1, "2"]}, False), ({"room": {"floor": 1.0}}, False),
     ({"either": 1.5}, True)],
)  # fmt: skip
def test_fits_only_when_coercion_changes_nothing(value: dict[str, Any], fits: bool) -> None:
    from adapters.calls import _fits

    assert _fits(value, TOOL.parameters) is fits
    if fits:
        assert json.dumps(coerce_to_schema(value, TOOL.parameters)) == json.dumps(value)
