"""Oracle: each family's bundled template renders exactly what the model maker's own template renders.

The vendor templates are in ``tests/adapters/vendor/`` (sources and licences in its README). Both
are rendered with the same environment (transformers' settings, ``adapters.render``), over
conversations with tools, parallel calls and their results, parameterless calls, multi-turn
history, earlier turns' reasoning (interleaved thinking), typed argument values and the thinking
switches. A vendor template is fed what vLLM feeds it: ``None`` content as ``""``.

Forced ``tool_choice`` is left out: the bundled templates then add an instruction the vendor
templates have no place for (a deliberate difference, covered by the golden files).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from adapters.base import Adapter, CallRecord, Message, ToolChoice, ToolSpec
from adapters.glm47 import Glm47Adapter
from adapters.minimax_m2 import MiniMaxM2Adapter
from adapters.qwen3_coder import Qwen3CoderAdapter
from adapters.render import render_with_template
from tests.adapters.conformance import RENDER_SCENARIOS, RENDER_TOOLS

VENDOR = Path(__file__).parent / "vendor"


@dataclass(frozen=True)
class Family:
    adapter: Adapter
    template: str  # file in tests/adapters/vendor/
    variables: dict[str, Any] = field(default_factory=dict)  # what the vendor template is given


FAMILIES: dict[str, Family] = {
    "qwen3_coder": Family(Qwen3CoderAdapter(), "Qwen3-Coder.jinja"),
    "glm47": Family(Glm47Adapter(), "GLM-4.7.jinja", {"enable_thinking": True, "clear_thinking": True}),
    "glm47-no-thinking": Family(Glm47Adapter(thinking=False), "GLM-4.7.jinja", {"enable_thinking": False}),
    "glm47-keep-thinking": Family(Glm47Adapter(clear_thinking=False), "GLM-4.7.jinja", {"clear_thinking": False}),
    "glm46": Family(Glm47Adapter(dialect="4.6"), "GLM-4.6.jinja"),
    "glm46-no-thinking": Family(
        Glm47Adapter(dialect="4.6", thinking=False), "GLM-4.6.jinja", {"enable_thinking": False}
    ),
    "minimax_m2": Family(MiniMaxM2Adapter(), "MiniMax-M2.jinja"),
}

BOOK = ToolSpec(
    "book_table",
    "  Book a table.\nSay how many people.  ",
    {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Who books", "minLength": 1},
            "people": {"type": "integer", "minimum": 1},
            "price": {"type": "number"},
            "vip": {"type": "boolean", "default": False},
            "code": {"type": ["string", "null"]},
            "dishes": {"type": "array", "items": {"type": "string"}},
            "notes": {"type": "object", "properties": {"window": {"type": "boolean"}}},
            "when": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["name", "people"],
        "additionalProperties": False,
    },
)
BOOK_ARGS = (
    '{"name": "Zoë «A»", "people": 4, "price": 9.5, "vip": true, "code": null, '
    '"dishes": ["soup", "tea"], "notes": {"window": true}, "when": "19:00\\nat the door"}'
)

_WEATHER = (CallRecord("call_a", "get_weather", '{"city": "Paris"}'),)
_TIME = (CallRecord("call_t", "get_time", "{}"),)

CONVERSATIONS: dict[str, tuple[list[Message], list[ToolSpec]]] = {
    **{
        name: (list(s.messages), list(s.tools))
        for name, s in RENDER_SCENARIOS.items()
        if s.tool_choice.mode != "required"
    },
    "reasoning_in_history": (
        [
            Message("system", "Be brief."),
            Message("user", "Weather in Paris?"),
            Message("assistant", None, _WEATHER, reasoning="The user wants Paris."),
            Message("tool", "sunny", tool_call_id="call_a"),
            Message("assistant", "Sunny in Paris.", reasoning="It is sunny."),
            Message("user", "And the time?"),
            Message("assistant", "Checking.", _TIME, reasoning="  A clock call.\n"),
            Message("tool", "12:00", tool_call_id="call_t"),
            Message("assistant", "It is noon.", reasoning="Done."),
        ],
        RENDER_TOOLS,
    ),
    "tool_loop_after_last_user": (
        [
            Message("user", "Weather, then time."),
            Message("assistant", None, _WEATHER, reasoning="First the weather."),
            Message("tool", "sunny", tool_call_id="call_a"),
            Message("assistant", None, _TIME, reasoning="Now the time."),
            Message("tool", "12:00", tool_call_id="call_t"),
        ],
        RENDER_TOOLS,
    ),
    "think_tags_in_content": (
        [
            Message("user", "Hi"),
            Message("assistant", "<think>\nGreet back.\n</think>\n\nHello!"),
            Message("user", "Weather in Paris?"),
        ],
        RENDER_TOOLS,
    ),
    "typed_arguments": (
        [
            Message("system", "You book tables."),
            Message("user", "Book for four."),
            Message("assistant", "Booking.", (CallRecord("call_b", "book_table", BOOK_ARGS),)),
            Message("tool", '{"ok": true}', tool_call_id="call_b"),
            Message("user", "Thanks."),
        ],
        [BOOK, *RENDER_TOOLS],
    ),
}


def _vendor_view(messages: Sequence[Message]) -> list[Message]:
    return [replace(m, content=m.content or "") for m in messages]


CASES = [(family, name) for family in FAMILIES for name in CONVERSATIONS]


@pytest.mark.parametrize(("family", "conversation"), CASES, ids=[f"{f}-{c}" for f, c in CASES])
@pytest.mark.parametrize("add_generation_prompt", [True, False], ids=["prompt", "history"])
def test_bundled_template_renders_the_vendor_prompt(
    family: str, conversation: str, add_generation_prompt: bool
) -> None:
    spec = FAMILIES[family]
    messages, tools = CONVERSATIONS[conversation]
    vendor = (VENDOR / spec.template).read_text(encoding="utf-8")
    theirs = render_with_template(
        vendor, _vendor_view(messages), tools, add_generation_prompt=add_generation_prompt, **spec.variables
    )
    ours = spec.adapter.render(messages, tools, ToolChoice(), add_generation_prompt=add_generation_prompt)
    assert ours == theirs


def test_the_conversations_reach_what_differs() -> None:
    """The oracle is only as good as its inputs: reasoning is kept somewhere and dropped somewhere,
    and typed values of every kind are rendered (so a template that ignored them would fail)."""
    glm = FAMILIES["glm47"].adapter
    messages, tools = CONVERSATIONS["reasoning_in_history"]
    prompt = glm.render(messages, tools, ToolChoice())
    assert "<think>A clock call.</think>" in prompt and "<think>Done.</think>" in prompt
    assert "The user wants Paris." not in prompt  # before the last user turn: cleared
    messages, tools = CONVERSATIONS["typed_arguments"]
    coder = FAMILIES["qwen3_coder"].adapter.render(messages, tools, ToolChoice())
    assert "<parameter=vip>\nTrue\n</parameter>" in coder and "<parameter=code>\nNone\n</parameter>" in coder
    assert '<parameter=notes>\n{"window": true}\n</parameter>' in coder
