"""gpt_oss specifics beyond the shared suite: constraints, reasoning effort, history, the parser's
hold-back bound. The prompt and parse oracles are in test_gpt_oss_oracle.py."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from adapters import REGISTRY
from adapters.base import CallRecord, Message, Outcome, ReasoningDelta, TextDelta, ToolChoice
from adapters.gpt_oss import CALL_OPENER, HEADER_LIMIT, GptOssAdapter
from adapters.render import TemplateError
from tests.adapters.tools_common import TOOLS, WEATHER

REQUIRED = ToolChoice("required")
NAMED = ToolChoice("required", "get_weather")
ADAPTER = REGISTRY["gpt_oss"]


def _calls(text: str) -> list[tuple[str, dict[str, object], Outcome]]:
    msg = ADAPTER.parser(TOOLS).parse(text)
    assert msg.content == "" and msg.reasoning == "" and not msg.rejected
    return [(c.name, json.loads(c.arguments), c.outcome) for c in msg.tool_calls]


def test_stop_strings_end_a_call_or_an_answer() -> None:
    assert ADAPTER.stop == ("<|call|>", "<|return|>")


@pytest.mark.parametrize("choice", [ToolChoice("auto"), ToolChoice("none")])
def test_no_constraint_unless_forced(choice: ToolChoice) -> None:
    assert ADAPTER.constraint(TOOLS, choice) is None


def test_named_choice_prefills_the_call_header_and_types_the_arguments() -> None:
    c = ADAPTER.constraint(TOOLS, NAMED)
    assert c is not None
    assert c.prefill == "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
    schema = c.structured_outputs["json"]
    assert schema == dict(WEATHER.parameters)
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"city": "Paris", "days": 2})
    assert not validator.is_valid({"days": 2}) and not validator.is_valid({"city": "P", "days": "2"})
    # what vLLM generates under it, read back after the prefill as the server feeds it
    assert _calls(c.prefill + '{"city": "Paris", "days": 2}') == [
        ("get_weather", {"city": "Paris", "days": 2}, "parsed")
    ]


def test_required_choice_lets_the_model_pick_one_tool_by_regex() -> None:
    c = ADAPTER.constraint(TOOLS, REQUIRED, parallel_tool_calls=True)
    assert c is not None and c.prefill == CALL_OPENER
    pattern = re.compile(c.structured_outputs["regex"])
    good = {
        'get_weather <|constrain|>json<|message|>{"city": "Oslo", "days": 3}': (
            "get_weather",
            {"city": "Oslo", "days": 3},
        ),
        "now <|constrain|>json<|message|>{}": ("now", {}),
        'save_note <|constrain|>json<|message|>{"text": "hi", "tags": ["a"]}': (
            "save_note",
            {"text": "hi", "tags": ["a"]},
        ),
    }
    for text, (name, arguments) in good.items():
        assert pattern.fullmatch(text), text
        assert _calls(c.prefill + text) == [(name, arguments, Outcome.PARSED)]
    bad = [
        'get_weather <|constrain|>json<|message|>{"days": 3}',  # city is required
        'get_weather <|constrain|>json<|message|>{"city": 3}',  # typed
        "nope <|constrain|>json<|message|>{}",  # not offered
        'save_note <|constrain|>json<|message|>{"city": "Oslo"}',  # another tool's arguments
        "get_weather<|message|>{}",  # the header as the prompt taught it
    ]
    for text in bad:
        assert not pattern.fullmatch(text), text


def test_forced_call_has_one_call_whatever_parallel_says() -> None:
    assert ADAPTER.constraint(TOOLS, REQUIRED, parallel_tool_calls=False) == ADAPTER.constraint(
        TOOLS, REQUIRED, parallel_tool_calls=True
    )


# --------------------------------------------------------------------------- reasoning effort


def _effort_line(prompt: str) -> list[str]:
    return re.findall(r"^Reasoning: .*$", prompt, re.MULTILINE)


@pytest.mark.parametrize(("configured", "requested", "line"), [
    ("medium", None, ["Reasoning: medium"]),
    ("high", None, ["Reasoning: high"]),
    ("low", "high", ["Reasoning: high"]),
    ("high", "minimal", ["Reasoning: low"]),  # OpenAI's "minimal": gpt-oss has no lower level than low
    ("medium", "none", ["Reasoning: low"]),  # nor can it stop reasoning
    ("low", "xhigh", ["Reasoning: high"]),
    (None, None, []),
    (None, "medium", ["Reasoning: medium"]),
])  # fmt: skip
def test_reasoning_effort_configured_and_per_request(
    configured: str | None, requested: str | None, line: list[str]
) -> None:
    adapter = GptOssAdapter(reasoning_effort=configured)
    prompt = adapter.render([Message("user", "hi")], [], ToolChoice(), reasoning_effort=requested)
    assert _effort_line(prompt) == line


def test_unknown_effort_is_refused_at_configuration_and_per_request() -> None:
    with pytest.raises(ValueError, match="reasoning_effort"):
        GptOssAdapter(reasoning_effort="extreme")
    with pytest.raises(TemplateError, match="reasoning_effort"):
        ADAPTER.render([Message("user", "hi")], [], ToolChoice(), reasoning_effort="maximal")


def test_current_date_and_identity_reach_the_system_message() -> None:
    prompt = GptOssAdapter(current_date="2026-01-15", model_identity="You are Bob.").render(
        [Message("user", "hi")], [], ToolChoice()
    )
    assert prompt.startswith(
        "<|start|>system<|message|>You are Bob.\nKnowledge cutoff: 2024-06\nCurrent date: 2026-01-15\n\n"
    )


def test_own_chat_template_receives_the_effort_it_reads() -> None:
    own = "{{ model_identity }}|{{ reasoning_effort }}|{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}"
    adapter = GptOssAdapter(chat_template=own, reasoning_effort="low")
    assert adapter.render([Message("user", "hi")], [], ToolChoice()).endswith("|low|user:hi;")
    assert adapter.render([Message("user", "hi")], [], ToolChoice(), reasoning_effort="high").endswith("|high|user:hi;")
    assert adapter.template_vars["reasoning_effort"] == "low"  # a request's effort does not stick


# --------------------------------------------------------------------------- history


def test_tool_result_names_its_call_by_id_then_by_name() -> None:
    call = CallRecord("call_x", "now", "")
    by_id = ADAPTER.render(
        [Message("assistant", None, (call,)), Message("tool", "12:00", tool_call_id="call_x")], [], ToolChoice()
    )
    assert "<|start|>functions.now to=assistant<|channel|>commentary<|message|>12:00<|end|>" in by_id
    by_name = ADAPTER.render([Message("tool", "12:00", tool_call_id="gone", name="now")], [], ToolChoice())
    assert "<|start|>functions.now to=assistant" in by_name
    with pytest.raises(TemplateError, match="answers no earlier call"):
        ADAPTER.render([Message("tool", "12:00", tool_call_id="gone")], [], ToolChoice())


def test_reasoning_of_a_tool_loop_stays_and_of_answered_turns_goes() -> None:
    call = CallRecord("c1", "now", "{}")
    loop = [
        Message("user", "time?"),
        Message("assistant", None, (call,), reasoning="LOOP"),
        Message("tool", "12:00", tool_call_id="c1"),
    ]
    prompt = ADAPTER.render(loop, TOOLS, ToolChoice())
    assert "<|start|>assistant<|channel|>analysis<|message|>LOOP<|end|><|start|>assistant to=functions.now" in prompt
    answered = [*loop, Message("assistant", "It is noon.", reasoning="DONE"), Message("user", "thanks")]
    prompt = ADAPTER.render(answered, TOOLS, ToolChoice())
    assert "LOOP" not in prompt and "DONE" not in prompt
    assert prompt.endswith(
        "<|start|>assistant<|channel|>final<|message|>It is noon.<|end|>"
        "<|start|>user<|message|>thanks<|end|><|start|>assistant"
    )


def test_without_generation_prompt() -> None:
    prompt = ADAPTER.render([Message("user", "hi")], [], ToolChoice(), add_generation_prompt=False)
    assert prompt.endswith("<|start|>user<|message|>hi<|end|>")


# --------------------------------------------------------------------------- parser


def test_text_without_header_is_held_back_at_most_the_header_limit() -> None:
    parser = ADAPTER.parser(TOOLS)
    prose = "No harmony markers here, just a long answer. " * 12
    out = []
    for ch in prose:
        out += parser.feed(ch)
    streamed = "".join(e.text for e in out if isinstance(e, TextDelta))
    assert len(prose) - len(streamed) <= 16  # only a possible marker prefix is still held
    assert streamed == prose[: len(streamed)] and len(streamed) >= HEADER_LIMIT
    rest = parser.finish()
    assert streamed + "".join(e.text for e in rest if isinstance(e, TextDelta)) == prose


def test_reasoning_streams_before_the_message_ends() -> None:
    parser = ADAPTER.parser(TOOLS)
    events = parser.feed("<|channel|>analysis<|message|>Thinking about it")
    assert events == [ReasoningDelta("Thinking about it")]
    assert parser.feed("<|end|><|start|>assistant<|channel|>final<|message|>Yes") == [TextDelta("Yes")]


def test_a_call_is_emitted_when_the_stream_stops_at_call() -> None:
    parser = ADAPTER.parser(TOOLS)
    assert parser.feed("<|channel|>commentary to=functions.now <|constrain|>json<|message|>{}") == []
    assert [type(e).__name__ for e in parser.finish()] == ["ToolCallStart", "ToolCallArgsDelta", "ToolCallEnd"]
    assert parser.calls_emitted == 1
