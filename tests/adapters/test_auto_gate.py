"""The ``auto`` decision (adapters/auto_gate.py) and its lexical relevance (adapters/relevance.py)."""

from __future__ import annotations

import asyncio

import pytest

from adapters.auto_gate import Decision, Features, GateWeights, MarkerScore, decide, pending_tools, score
from adapters.base import CallRecord, Message, ToolChoice, ToolSpec
from adapters.hermes import HermesAdapter
from adapters.relevance import Relevance, bm25, current_request, relevance, stem, terms
from server.config import ConfigError, parse_settings
from tests.adapters.tools_common import TOOLS

AREA = ToolSpec(
    "calculate_triangle_area",
    "Calculate the area of a triangle given its base and height.",
    {"type": "object", "properties": {"base": {"type": "integer"}, "height": {"type": "integer"}}},
)
BMI = ToolSpec(
    "determine_body_mass_index",
    "Calculate body mass index given weight and height.",
    {"type": "object", "properties": {"weight": {"type": "number"}, "height": {"type": "number"}}},
)


def ask(text: str) -> list[Message]:
    return [Message("user", text)]


# --------------------------------------------------------------------------- relevance


def test_terms_drop_function_words_and_generic_tool_verbs_and_stem() -> None:
    assert terms("Calculate the areas of triangles, please") == ["area", "triangl"]
    assert terms("getWeatherForecast for HTTPServer 2024") == ["weath", "forecas", "http", "serv"]
    assert stem("calculation") == stem("calculations")
    assert terms("calculated") == []  # a form of a generic verb is generic too
    assert stem("current") != stem("currency")  # the weather is not a currency question


def test_the_tool_the_request_is_about_scores_higher() -> None:
    question = ask("Find the area of a triangle with a base of 10 units and height of 5 units.")
    right, wrong = relevance(question, [AREA]), relevance(question, [BMI])
    assert right.name_overlap == pytest.approx(2 / 2)  # triangle, area
    assert wrong.name_overlap == 0.0
    assert right.bm25 > wrong.bm25 > 0.0  # "height" is shared, the subject is not


def test_bm25_is_normalised_to_the_unit_interval() -> None:
    query = terms("triangle area base height")
    docs = [terms("triangle area base height triangle"), terms("body mass index"), []]
    scores = bm25(query, docs)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] > 0.5 and scores[1] == scores[2] == 0.0
    assert bm25(query, []) == []


def test_no_tools_or_no_words_is_no_relevance() -> None:
    assert relevance(ask("triangle area"), []) == Relevance(0.0, 0.0)
    assert relevance(ask("hi, thanks!"), [AREA]) == Relevance(0.0, 0.0)


def test_the_request_is_the_latest_user_turns_and_called_tools_are_done() -> None:
    call = CallRecord("c1", "calculate_triangle_area", '{"base": 1, "height": 2}')
    history = [
        Message("system", "Be brief."),
        Message("user", "What is the BMI of a 70 kg person?"),
        Message("assistant", "About 22."),
        Message("user", "Now the area of a triangle,"),
        Message("user", "base 3 and height 4."),
        Message("assistant", None, tool_calls=(call,)),
        Message("tool", "6", tool_call_id="c1"),
    ]
    text, called = current_request(history)
    assert text == "Now the area of a triangle,\nbase 3 and height 4."
    assert called == {"calculate_triangle_area"}
    # the area tool was called for this request: what is left (BMI) does not match it
    assert relevance(history, [AREA, BMI]).name_overlap == 0.0
    assert current_request([Message("system", "x")]) == ("", frozenset())


# --------------------------------------------------------------------------- decision


class FakeScorer:
    def __init__(self, marker: float, best: float) -> None:
        self.result = MarkerScore(marker, best)
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, prompt: str, marker: str) -> MarkerScore:
        self.calls.append((prompt, marker))
        return self.result


def run_decide(weights: GateWeights, messages: list[Message], tools: list[ToolSpec], scorer: FakeScorer) -> Decision:
    return asyncio.run(
        decide(weights, prompt="PROMPT", marker="<tool_call>", messages=messages, tools=tools, scorer=scorer)
    )


def test_score_is_the_documented_linear_rule() -> None:
    w = GateWeights(bias=-1.0, margin=0.5, marker=0.25, name_overlap=2.0, bm25=4.0)
    f = Features(Relevance(0.5, 0.25), MarkerScore(marker=-4.0, best=-1.0))
    assert score(w, f) == pytest.approx(-1.0 + 0.5 * -3.0 + 0.25 * -4.0 + 2.0 * 0.5 + 4.0 * 0.25)


def test_marker_weights_ask_the_scorer_once_with_the_prompt_and_marker() -> None:
    weights = GateWeights(bias=2.0, margin=1.0)  # call while the marker is within 2 nats of the best token
    likely, unlikely = FakeScorer(-2.5, -1.0), FakeScorer(-6.0, -1.0)
    assert run_decide(weights, ask("hello"), [AREA], likely).call
    assert not run_decide(weights, ask("hello"), [AREA], unlikely).call
    assert likely.calls == [("PROMPT", "<tool_call>")]


def test_no_request_when_the_lexical_part_already_says_text() -> None:
    # margin <= 0 always, so with a non-negative margin weight it can only lower the score
    weights = GateWeights(bias=-1.0, margin=0.5, name_overlap=2.0)
    scorer = FakeScorer(-0.1, -0.1)
    unrelated = run_decide(weights, ask("Find the area of a triangle."), [BMI], scorer)
    assert not unrelated.call and unrelated.features.marker is None and scorer.calls == []
    related = run_decide(weights, ask("Find the area of a triangle."), [AREA], scorer)
    assert related.call and related.features.marker == MarkerScore(-0.1, -0.1)
    assert related.score == pytest.approx(-1.0 + 2.0 + 0.0)
    # a negative marker weight could raise the score: then the scorer is always asked
    asked = FakeScorer(-9.0, -1.0)
    assert run_decide(GateWeights(bias=-1.0, marker=-1.0), ask("x y"), [BMI], asked).call
    assert len(asked.calls) == 1


def test_lexical_weights_alone_make_no_request() -> None:
    weights = GateWeights(bias=-0.5, name_overlap=1.0)
    scorer = FakeScorer(0.0, 0.0)
    question = ask("Find the area of a triangle with base 10 and height 5.")
    assert run_decide(weights, question, [AREA], scorer).call
    assert not run_decide(weights, question, [BMI], scorer).call
    assert scorer.calls == []


def test_after_every_tool_was_called_the_gate_answers_without_asking() -> None:
    call = CallRecord("c1", "calculate_triangle_area", "{}")
    history = [
        *ask("area of a triangle, base 3, height 4"),
        Message("assistant", None, tool_calls=(call,)),
        Message("tool", "6", tool_call_id="c1"),
    ]
    scorer = FakeScorer(0.0, 0.0)  # would say "call" with any positive bias
    decision = run_decide(GateWeights(bias=5.0, margin=1.0), history, [AREA], scorer)
    assert not decision.call and scorer.calls == []
    assert not run_decide(GateWeights(bias=5.0), ask("x"), [], scorer).call


def test_a_call_on_a_follow_up_turn_may_only_use_tools_not_yet_called() -> None:
    call = CallRecord("c1", "calculate_triangle_area", "{}")
    history = [*ask("triangle area, then the BMI"), Message("assistant", None, tool_calls=(call,))]
    assert pending_tools(history, [AREA, BMI]) == [BMI]
    assert pending_tools(ask("triangle area"), [AREA, BMI]) == [AREA, BMI]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"bias": 1, "treshold": 2}, "unknown key"), ({"bias": "high"}, "expected a number"), ({"bm25": True}, "number")],
)
def test_weights_are_validated(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GateWeights.from_options(options)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- hermes and the config


def test_hermes_gated_policy_keeps_text_triggered_and_exposes_its_gate() -> None:
    adapter = HermesAdapter(auto_policy="gated", auto_gate={"bias": -1.0, "name_overlap": 2.0})
    assert adapter.auto_gate == GateWeights(bias=-1.0, name_overlap=2.0)
    assert adapter.call_marker == "<tool_call>"
    text_branch = adapter.constraint(TOOLS, ToolChoice("auto"))
    assert text_branch is not None and "structural_tag" in text_branch.structured_outputs
    assert HermesAdapter().auto_gate is None


@pytest.mark.parametrize(
    "options",
    [
        {"auto_policy": "gated"},  # weights are per model: there is no default to fall back on
        {"auto_policy": "triggered", "auto_gate": {"bias": 1}},
        {"auto_policy": "gated", "auto_gate": {"bias": 1, "weight": 2}},
    ],
)
def test_bad_gate_options_fail_at_config_load(options: dict[str, object]) -> None:
    raw = {
        "backends": {"local": {"kind": "vllm", "urls": ["http://127.0.0.1:1/v1"]}},
        "models": {"m": {"backend": "local", "family": "hermes", "family_options": options}},
    }
    with pytest.raises(ConfigError, match="family_options"):
        parse_settings(raw)
