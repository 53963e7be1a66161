"""The conformance suite every registered family must pass (cases in ``cases_<family>.py``).

Streaming and one-shot parsing must agree for every split of every case — one character at a
time, random splits, many tokens per chunk — the events must obey the OpenAI delta rules, arbitrary
text must never raise, ids must be fresh, and streamed cost must grow linearly with the text.
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters import REGISTRY
from adapters.base import ParsedMessage
from tests.adapters.conformance import (
    DEFAULT_ID,
    Case,
    check_case,
    check_delta_rules,
    chunks_of,
    feed_chunks,
    split_at,
    summary,
)

FAMILIES = sorted(REGISTRY)


def cases_module(family: str) -> ModuleType:
    return importlib.import_module(f"tests.adapters.cases_{family}")


def _all_cases() -> list[tuple[str, Case]]:
    out = []
    for family in FAMILIES:
        try:
            module = cases_module(family)
        except ModuleNotFoundError:
            continue  # reported by test_every_family_has_cases
        out += [(family, case) for case in module.CASES]
    return out


ALL_CASES = _all_cases()
CASE_IDS = [f"{family}-{case.id}" for family, case in ALL_CASES]


def id_pattern(family: str) -> re.Pattern[str]:
    pattern: re.Pattern[str] = getattr(cases_module(family), "ID_PATTERN", DEFAULT_ID)
    return pattern


def one_shot(family: str, text: str) -> ParsedMessage:
    return REGISTRY[family].parser(cases_module(family).TOOLS).parse(text)


def streamed(family: str, chunks: list[str]) -> ParsedMessage:
    events = feed_chunks(REGISTRY[family], cases_module(family).TOOLS, chunks)
    check_delta_rules(events, id_pattern(family))
    return ParsedMessage.from_events(events)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_has_cases(family: str) -> None:
    module = cases_module(family)
    assert len(module.CASES) >= 10
    assert callable(module.big_call)


@pytest.mark.parametrize(("family", "case"), ALL_CASES, ids=CASE_IDS)
def test_case_one_shot(family: str, case: Case) -> None:
    check_case(one_shot(family, case.text), case)


@pytest.mark.parametrize(("family", "case"), ALL_CASES, ids=CASE_IDS)
def test_case_one_character_at_a_time(family: str, case: Case) -> None:
    msg = streamed(family, list(case.text))
    check_case(msg, case)


@pytest.mark.parametrize(("family", "case"), ALL_CASES, ids=CASE_IDS)
@pytest.mark.parametrize("size", [2, 3, 7, 64, 10_000])
def test_case_many_characters_per_chunk(family: str, case: Case, size: int) -> None:
    check_case(streamed(family, chunks_of(case.text, size)), case)


@pytest.mark.parametrize(("family", "case"), ALL_CASES, ids=CASE_IDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_case_random_splits(family: str, case: Case, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, max(len(case.text), 1)), max_size=12))
    check_case(streamed(family, split_at(case.text, cuts)), case)


@pytest.mark.parametrize(("family", "case"), ALL_CASES, ids=CASE_IDS)
def test_ids_are_fresh(family: str, case: Case) -> None:
    first = one_shot(family, case.text).tool_calls
    second = one_shot(family, case.text).tool_calls
    if getattr(cases_module(family), "STABLE_IDS", False):
        # the format carries its own call ids (kimi_k2's functions.NAME:IDX): the same text gives
        # the same ids, still unique within the message
        assert [c.id for c in first] == [c.id for c in second]
        assert len({c.id for c in first}) == len(first)
        return
    ids = [c.id for c in first + second]
    assert len(set(ids)) == len(ids)


def _fragments(family: str) -> list[str]:
    pieces: list[str] = []
    for case in cases_module(family).CASES:
        pieces.append(case.text)
        pieces += [case.text[i : i + 9] for i in range(0, len(case.text), 9)]
        pieces += [case.text[i : i + 4] for i in range(2, len(case.text), 13)]
    return pieces


@pytest.mark.parametrize("family", FAMILIES)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_fuzz_never_raises_and_stream_matches(family: str, data: st.DataObject) -> None:
    pieces = data.draw(st.lists(st.one_of(st.text(max_size=6), st.sampled_from(_fragments(family))), max_size=10))
    text = "".join(pieces)
    whole = one_shot(family, text)
    cuts = data.draw(st.lists(st.integers(0, max(len(text), 1)), max_size=20))
    assert summary(streamed(family, split_at(text, cuts))) == summary(whole)
    assert summary(streamed(family, list(text))) == summary(whole)


@pytest.mark.parametrize("family", FAMILIES)
def test_big_argument_is_parsed_intact(family: str) -> None:
    text = cases_module(family).big_call(20_000)
    msg = streamed(family, chunks_of(text, 3))
    assert len(msg.tool_calls) == 1
    assert summary(msg) == summary(one_shot(family, text))
    assert len(msg.tool_calls[0].arguments) > 20_000


@pytest.mark.parametrize("family", FAMILIES)
def test_streamed_cost_is_linear(family: str) -> None:
    """Characters examined (a deterministic counter) when fed one character at a time.

    Doubling the argument must about double the work (no rescans of the whole buffer), and
    streaming must cost a bounded multiple of one-shot parsing (the overlap kept for markers that
    straddle two deltas).
    """
    module = cases_module(family)
    adapter = REGISTRY[family]

    def work(n: int, size: int) -> int:
        parser = adapter.parser(module.TOOLS)
        text = module.big_call(n)
        for chunk in chunks_of(text, size):
            parser.feed(chunk)
        parser.finish()
        meter = getattr(parser, "meter", None)
        assert meter is not None, "parsers built on adapters.parsing expose a Meter"
        chars: int = meter.chars
        return chars

    small, large = work(4_000, 1), work(8_000, 1)
    assert large <= 2.2 * small
    assert work(8_000, 1) <= 4 * work(8_000, 8_000)
