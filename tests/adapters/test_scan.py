"""``adapters.scan``: the incremental primitives, checked against plain string operations."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.scan import Balanced, MarkerSet, Meter, UntilMarker


def test_marker_set_earliest_and_longest() -> None:
    markers = MarkerSet(["<a>", "<ab>", "x"])
    assert markers.search("..<ab>..x") == (2, "<ab>")
    assert markers.search("..x<a>") == (2, "x")
    assert markers.search("nothing") is None
    assert markers.held("text <a") == 2
    assert markers.held("text <") == 1
    assert markers.held("text") == 0


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab<>/ x", max_size=30))
def test_marker_set_cut_splits_at_the_earliest_marker_or_holds_a_prefix(text: str) -> None:
    markers = MarkerSet(["<a>", "</a>", "x"])
    before, marker, after = markers.cut(text)
    hits = [(i, m) for m in markers.markers if (i := text.find(m)) >= 0]
    if hits:
        i, m = min(hits, key=lambda h: (h[0], -len(h[1])))
        assert (before, marker, after) == (text[:i], m, text[i + len(m) :])
    else:
        assert marker is None and before + after == text
        # what is held is the longest suffix that may still grow into a marker, and nothing more
        assert all(not any(mk.startswith(text[k:]) for mk in markers.markers) for k in range(len(before)))
        assert not after or any(mk.startswith(after) and mk != after for mk in markers.markers)


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="ab<>/_ x", max_size=60),
    st.lists(st.integers(0, 60), max_size=10),
)
def test_until_marker_matches_str_find_for_any_split(text: str, cuts: list[int]) -> None:
    end = "</a_b>"
    until = UntilMarker([end])
    points = sorted({c for c in cuts if 0 < c < len(text)})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    found = None
    consumed = 0
    for piece in pieces:
        consumed += len(piece)
        found = until.add(piece)
        if found is not None:
            break
    i = text.find(end)
    if i < 0:
        assert found is None and until.text() == text
    else:
        assert found is not None
        body, marker, rest = found
        assert body == text[:i] and marker == end
        assert body + marker + rest == text[:consumed]


def test_balanced_ignores_brackets_in_strings_and_escapes() -> None:
    value = '{"a": "}\\"{", "b": [1, {"c": "]"}]}'
    b = Balanced()
    assert b.add(value + " tail") == len(value)
    assert b.text() == value


def test_balanced_across_pieces_and_closing() -> None:
    b = Balanced("()[]{}", "\"'")
    for ch in "[f(a='x)', b=[1, {2":
        assert b.add(ch) is None
    assert b.closing() == "}])]"
    b2 = Balanced("()[]{}", "\"'")
    b2.add("[f(a='it\\")
    assert b2.ends_in_escape and b2.closing() == "')]"


def test_meters_count_each_character_about_once() -> None:
    meter = Meter()
    until = UntilMarker(["</tool_call>"], meter)
    text = '{"x": "' + "ab/<" * 5000 + '"}'
    for ch in text:
        until.add(ch)
    # each character is searched once, plus a short overlap when it could begin the marker
    assert meter.chars < 4 * len(text)


def test_gated_markers_inside_strings_cost_linear_time() -> None:
    """Many end markers inside a string argument: each character is still examined about once."""
    from adapters.scan import QuoteTracker

    meter = Meter()
    until = UntilMarker(["</tool_call>"], meter, QuoteTracker(meter))
    body = '{"text": "' + "</tool_call>" * 4000 + '"}'
    assert until.add(body) is None
    assert until.add("\n</tool_call>tail") == (body + "\n", "</tool_call>", "tail")
    assert meter.chars < 3 * len(body)
